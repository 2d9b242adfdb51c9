/**
 * MRC / MRC2014 (cryo-EM and tomography software, SerialEM, IMOD): a
 * 1024-byte header, an extended header of NSYMBT bytes (skipped), then the
 * sections. Header fields used (32-bit words, byte order from the machine
 * stamp at byte 212):
 *   0 NX, 4 NY, 8 NZ, 12 MODE, 28 MX, 32 MY, 40 CELLA.x, 44 CELLA.y (Å),
 *   92 NSYMBT, 104 EXTTYP, 108 NVERSION, 152 IMOD stamp, 156 IMOD flags,
 *   208 "MAP ", 212 machine stamp (0x44 0x44 little, 0x11 0x11 big).
 * Modes: 0 int8 (unsigned in files before MRC2014 unless IMOD flags say
 * signed), 1 int16, 2 float32, 6 uint16, 12 float16. Pixel size = CELLA / MX
 * (and / MY), in Å.
 */
import { ImageError } from '../../shared/errors.js';
import { ByteView } from './byte-view.js';
import { SAMPLE_BYTES, type SampleType } from './raster.js';
import type { ScientificImage } from './types.js';

const HEADER_BYTES = 1024;
const IMOD_STAMP = 1146047817;
const UNSUPPORTED_MODES: Record<number, string> = {
  3: 'complex 16-bit integers (a Fourier transform)',
  4: 'complex 32-bit floats (a Fourier transform)',
  101: '4-bit integers',
};

/** MRC files carry "MAP " at byte 208 (older ones may not: those are recognised by their extension). */
export function looksLikeMrc(bytes: Uint8Array): boolean {
  return bytes.length >= HEADER_BYTES && bytes[208] === 0x4d && bytes[209] === 0x41 && bytes[210] === 0x50 && (bytes[211] === 0x20 || bytes[211] === 0);
}

function byteOrder(b: ByteView): boolean {
  const stamp = b.u8(212);
  if (stamp === 0x44 || stamp === 0x41) return true;
  if (stamp === 0x11) return false;
  // No usable stamp (very old files): the order in which NX reads as a sane size.
  const little = b.i32(0, true);
  return little > 0 && little <= 1_000_000;
}

export function readMrc(bytes: Uint8Array, key: string): ScientificImage {
  const b = new ByteView(bytes, key, 'MRC');
  b.need(0, HEADER_BYTES, 'the 1024-byte header');
  const little = byteOrder(b);
  const word = (at: number) => b.i32(at, little);
  const [nx, ny, nz, mode] = [word(0), word(4), word(8), word(12)];
  if (!(nx > 0 && ny > 0 && nz > 0)) throw b.damaged(`header says ${nx} x ${ny} x ${nz} voxels`);
  if (UNSUPPORTED_MODES[mode]) throw new ImageError(key, 'UNSUPPORTED_FORMAT', `MRC mode ${mode} (${UNSUPPORTED_MODES[mode]}) is not supported: use modes 0, 1, 2, 6 or 12`);
  const nversion = word(108);
  const signedBytes = nversion >= 20140 || (word(152) === IMOD_STAMP && (word(156) & 1) === 1);
  const types: Record<number, SampleType> = { 0: signedBytes ? 'int8' : 'uint8', 1: 'int16', 2: 'float32', 6: 'uint16', 12: 'float16' };
  const type = types[mode];
  if (!type) throw b.damaged(`unknown mode ${mode}`);
  const extended = word(92);
  if (extended < 0) throw b.damaged(`extended header size NSYMBT is ${extended}`);
  const dataAt = HEADER_BYTES + extended;
  const sectionBytes = nx * ny * SAMPLE_BYTES[type];
  b.need(dataAt, sectionBytes * nz, `${nz} section${nz === 1 ? '' : 's'} of ${nx} x ${ny} ${type} after ${extended} bytes of extended header`);

  const warnings: string[] = [];
  if (nz > 1) warnings.push(`file holds ${nz} sections: only the first was analysed`);
  const [mx, my] = [word(28), word(32)];
  const [cellX, cellY] = [b.f32(40, little), b.f32(44, little)];
  const calibrated = mx > 0 && cellX > 0 && Number.isFinite(cellX);
  // MRC's default cell is the pixel count itself (1 Å/px), which many writers leave: not a calibration.
  const defaultCell = calibrated && cellX === mx && (my <= 0 || cellY === my);
  const pixelSize =
    calibrated && !defaultCell
      ? { x: cellX / mx, ...(my > 0 && cellY > 0 && { y: cellY / my }), unit: 'Å', field: 'MRC header CELLA.x / MX' }
      : undefined;
  if (defaultCell) warnings.push(`MRC header cell equals its grid (${mx} Å over ${mx} px), the writers' default: not used as a calibration`);
  // MRC's first row is the bottom of the image in most viewers; kept as stored, which is how IMOD and SerialEM number rows.
  return {
    format: 'mrc',
    raster: { width: nx, height: ny, type, littleEndian: little, bytes: bytes.subarray(dataAt, dataAt + sectionBytes) },
    pages: nz,
    pixelSize,
    warnings,
  };
}
