/**
 * Pixel sizes that TEM software writes into private TIFF tags:
 * - Thermo Fisher / FEI (34680 FEI_SFEG, 34682 FEI_HELIOS): INI text, [Scan] PixelWidth in metres
 *   ([EScan] when [Scan] lacks it).
 * - Gatan DigitalMicrograph "save as TIFF" (65009 / 65010 scale as doubles, 65003 / 65004 units).
 * - Olympus SIS / iTEM (33560 OlympusSIS, in any page): a binary block "SIS0"; its general-data
 *   entry holds the pixel size as a double times 10^exponent, in metres.
 * - TVIPS EM-MENU (37706): TemData v2, PixelSizeX / PixelSizeY in nm.
 * Layouts as read by tifffile and RosettaSciIO (no vendor publishes a specification).
 */
import type { PixelSizeField } from './types.js';

export const VENDOR_TAGS = {
  olympusSis: 33560,
  feiSfeg: 34680,
  feiHelios: 34682,
  tvips: 37706,
  gatanUnitX: 65003,
  gatanUnitY: 65004,
  gatanScaleX: 65009,
  gatanScaleY: 65010,
} as const;

/** What the TIFF reader offers: the file's bytes and typed access to the first page's tags. */
export interface TiffTagAccess {
  readonly bytes: Uint8Array;
  readonly little: boolean;
  ascii(tag: number): string | undefined;
  double(tag: number): number | undefined;
  integer(tag: number): number | undefined;
  /** The value of a LONG tag found in any page (Olympus puts its block in the second). */
  integerInAnyPage(tag: number): number | undefined;
}

const TVIPS_V1_BYTES = 244;
const TVIPS_PIXEL_SIZE_X = 2724;
const TVIPS_MAGIC_AT = 6064;
const TVIPS_MAGIC = 0xaaaaaaaa;

/** INI text: the value of `key` in `[section]`. */
function iniValue(text: string, section: string, key: string): string | undefined {
  let current = '';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    const header = /^\[(.*)\]$/.exec(line);
    if (header) current = header[1]!;
    else if (current === section) {
      const i = line.indexOf('=');
      if (i > 0 && line.slice(0, i).trim() === key) return line.slice(i + 1).trim();
    }
  }
  return undefined;
}

function fei(tags: TiffTagAccess): PixelSizeField | undefined {
  for (const [tag, name] of [
    [VENDOR_TAGS.feiHelios, 'FEI_HELIOS'],
    [VENDOR_TAGS.feiSfeg, 'FEI_SFEG'],
  ] as const) {
    const text = tags.ascii(tag);
    if (text === undefined) continue;
    for (const section of ['Scan', 'EScan']) {
      const x = Number(iniValue(text, section, 'PixelWidth'));
      const y = Number(iniValue(text, section, 'PixelHeight'));
      if (x > 0) return { x, ...(y > 0 && { y }), unit: 'm', field: `TIFF tag ${tag} ${name} [${section}] PixelWidth` };
    }
  }
  return undefined;
}

function gatan(tags: TiffTagAccess): PixelSizeField | undefined {
  const x = tags.double(VENDOR_TAGS.gatanScaleX);
  const unit = tags.ascii(VENDOR_TAGS.gatanUnitX);
  if (!(x !== undefined && x > 0) || !unit) return undefined;
  const y = tags.double(VENDOR_TAGS.gatanScaleY);
  const sameUnit = tags.ascii(VENDOR_TAGS.gatanUnitY) === unit;
  return { x, ...(y !== undefined && y > 0 && sameUnit && { y }), unit, field: `TIFF tag ${VENDOR_TAGS.gatanScaleX} (Gatan DigitalMicrograph scale, unit from tag ${VENDOR_TAGS.gatanUnitX})` };
}

function olympusSis(tags: TiffTagAccess): PixelSizeField | undefined {
  const at = tags.integerInAnyPage(VENDOR_TAGS.olympusSis);
  const { bytes } = tags;
  if (at === undefined || at + 60 > bytes.length) return undefined;
  if (String.fromCharCode(bytes[at]!, bytes[at + 1]!, bytes[at + 2]!, bytes[at + 3]!) !== 'SIS0') return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint16(at + 58, true);
  for (let i = 0; i < count; i++) {
    const entry = at + 60 + i * 8;
    if (entry + 8 > bytes.length) return undefined;
    if (view.getInt16(entry, true) !== 1) continue; // 1: general data, with the calibration
    const data = view.getUint32(entry + 4, true);
    if (data + 28 > bytes.length) return undefined;
    const exponent = view.getInt16(data + 10, true);
    const factor = 10 ** exponent;
    const x = view.getFloat64(data + 12, true) * factor;
    const y = view.getFloat64(data + 20, true) * factor;
    if (!(x > 0)) return undefined;
    return { x, ...(y > 0 && { y }), unit: 'm', field: `TIFF tag ${VENDOR_TAGS.olympusSis} OlympusSIS pixel size` };
  }
  return undefined;
}

function tvips(tags: TiffTagAccess): PixelSizeField | undefined {
  const at = tags.integer(VENDOR_TAGS.tvips);
  const { bytes, little } = tags;
  if (at === undefined || at + TVIPS_V1_BYTES + TVIPS_MAGIC_AT + 4 > bytes.length) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getInt32(at, little) !== 2) return undefined; // version 1 has no pixel size in nm
  const v2 = at + TVIPS_V1_BYTES;
  if (view.getUint32(v2 + TVIPS_MAGIC_AT, little) !== TVIPS_MAGIC) return undefined;
  const x = view.getFloat32(v2 + TVIPS_PIXEL_SIZE_X, little);
  const y = view.getFloat32(v2 + TVIPS_PIXEL_SIZE_X + 4, little);
  if (!(x > 0)) return undefined;
  return { x, ...(y > 0 && { y }), unit: 'nm', field: `TIFF tag ${VENDOR_TAGS.tvips} TVIPS TemData PixelSizeX` };
}

/** Every vendor pixel size the file carries, in this order of trust (instrument software first). */
export function vendorPixelSizes(tags: TiffTagAccess): PixelSizeField[] {
  return [fei(tags), gatan(tags), olympusSis(tags), tvips(tags)].filter((p): p is PixelSizeField => p !== undefined);
}
