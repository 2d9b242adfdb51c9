/**
 * A small reader for the TIFF tags that sharp does not expose: the first
 * page's resolution (XResolution, YResolution, ResolutionUnit) and its
 * ImageDescription (ImageJ writes `unit=micron` there), the page count, and
 * the pixel sizes TEM software keeps in private tags (readers/vendor-tiff.ts).
 * Classic TIFF only; BigTIFF and malformed files give `undefined` and the
 * caller falls back to other calibration sources.
 */
import type { PixelSizeField } from './readers/types.js';
import { vendorPixelSizes } from './readers/vendor-tiff.js';

export interface TiffTags {
  readonly width?: number;
  readonly height?: number;
  /** Pixels per resolution unit. */
  readonly xResolution?: number;
  readonly yResolution?: number;
  /** 1 none, 2 inch, 3 centimetre (TIFF 6.0; default 2). */
  readonly resolutionUnit: number;
  readonly imageDescription?: string;
  /** Number of IFDs (pages) in the chain. */
  readonly pages: number;
  /** Pixel sizes from FEI, Gatan, Olympus SIS and TVIPS tags, most trusted first. */
  readonly vendorPixelSizes: PixelSizeField[];
}

const TAG = {
  width: 256,
  height: 257,
  imageDescription: 270,
  xResolution: 282,
  yResolution: 283,
  resolutionUnit: 296,
} as const;

const TYPE_SIZE: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8 };
/** Stop walking absurd IFD chains (and loops) early. */
const MAX_PAGES = 100_000;
/** Pages searched for a tag that vendors put outside the first. */
const MAX_SEARCHED_PAGES = 8;

export function isTiff(bytes: Uint8Array): boolean {
  return (
    bytes.length >= 4 &&
    ((bytes[0] === 0x49 && bytes[1] === 0x49 && bytes[2] === 0x2a && bytes[3] === 0x00) ||
      (bytes[0] === 0x4d && bytes[1] === 0x4d && bytes[2] === 0x00 && bytes[3] === 0x2a))
  );
}

export function readTiffTags(bytes: Uint8Array): TiffTags | undefined {
  if (!isTiff(bytes) || bytes.length < 8) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const little = bytes[0] === 0x49;
  const u16 = (at: number) => view.getUint16(at, little);
  const u32 = (at: number) => view.getUint32(at, little);
  const inBounds = (at: number, length: number) => at >= 0 && at + length <= bytes.length;

  const firstIfd = u32(4);
  if (!inBounds(firstIfd, 2)) return undefined;

  const values = new Map<number, { type: number; count: number; offset: number }>();
  const entries = u16(firstIfd);
  if (!inBounds(firstIfd + 2, entries * 12 + 4)) return undefined;
  for (let i = 0; i < entries; i++) {
    const entry = firstIfd + 2 + i * 12;
    const type = u16(entry + 2);
    const count = u32(entry + 4);
    const size = (TYPE_SIZE[type] ?? 0) * count;
    const offset = size <= 4 ? entry + 8 : u32(entry + 8);
    if (size > 0 && inBounds(offset, size)) values.set(u16(entry), { type, count, offset });
  }

  const integer = (tag: number): number | undefined => {
    const v = values.get(tag);
    if (!v) return undefined;
    return v.type === 3 ? u16(v.offset) : v.type === 4 ? u32(v.offset) : undefined;
  };
  const rational = (tag: number): number | undefined => {
    const v = values.get(tag);
    if (!v || v.type !== 5) return undefined;
    const denominator = u32(v.offset + 4);
    return denominator === 0 ? undefined : u32(v.offset) / denominator;
  };
  const ascii = (tag: number): string | undefined => {
    const v = values.get(tag);
    if (!v || v.type !== 2) return undefined;
    const text = Buffer.from(bytes.buffer, bytes.byteOffset + v.offset, v.count).toString('latin1');
    return text.replace(/\0+$/, '');
  };
  const double = (tag: number): number | undefined => {
    const v = values.get(tag);
    return v?.type === 12 ? view.getFloat64(v.offset, little) : undefined;
  };

  let pages = 0;
  const ifds: number[] = [];
  const seen = new Set<number>();
  for (let ifd = firstIfd; ifd !== 0 && pages < MAX_PAGES && !seen.has(ifd); ) {
    if (!inBounds(ifd, 2)) break;
    const count = u16(ifd);
    if (!inBounds(ifd + 2, count * 12 + 4)) break;
    seen.add(ifd);
    if (ifds.length < MAX_SEARCHED_PAGES) ifds.push(ifd);
    pages++;
    ifd = u32(ifd + 2 + count * 12);
  }
  // Olympus writes its calibration block into a later page (the thumbnail's).
  const integerInAnyPage = (tag: number): number | undefined => {
    for (const ifd of ifds) {
      for (let i = 0, count = u16(ifd); i < count; i++) {
        const entry = ifd + 2 + i * 12;
        if (u16(entry) !== tag) continue;
        const type = u16(entry + 2);
        if (type === 4) return u32(entry + 8);
        if (type === 3) return u16(entry + 8);
      }
    }
    return undefined;
  };

  return {
    width: integer(TAG.width),
    height: integer(TAG.height),
    xResolution: rational(TAG.xResolution),
    yResolution: rational(TAG.yResolution),
    resolutionUnit: integer(TAG.resolutionUnit) ?? 2,
    imageDescription: ascii(TAG.imageDescription),
    pages,
    vendorPixelSizes: vendorPixelSizes({ bytes, little, ascii, double, integer, integerInAnyPage }),
  };
}
