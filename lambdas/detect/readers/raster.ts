/**
 * From the sample types cameras and processing software write (DM3/DM4,
 * MRC) to the one grey channel the detector reads, keeping intensities:
 * 8- and 16-bit values are kept exactly (signed ones shifted by a fixed
 * offset, which keeps every value and its spacing); 32- and 64-bit integers
 * are kept when they fit in 16 bits, else scaled by their range; floats are
 * always scaled by their range to 0..65535. Anything but "kept" is said in
 * `intensity`, which the result records. The model normalises each image
 * itself, so a linear mapping changes nothing it sees.
 */
import type { GreyImage } from '../image-decode.js';

export type SampleType = 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'float16' | 'float32' | 'float64';

export const SAMPLE_BYTES: Record<SampleType, number> = {
  int8: 1,
  uint8: 1,
  int16: 2,
  uint16: 2,
  int32: 4,
  uint32: 4,
  int64: 8,
  uint64: 8,
  float16: 2,
  float32: 4,
  float64: 8,
};

export interface RawRaster {
  readonly width: number;
  readonly height: number;
  readonly type: SampleType;
  readonly littleEndian: boolean;
  /** Exactly width * height samples, row-major from the top-left pixel. */
  readonly bytes: Uint8Array;
}

export interface ConvertedRaster extends GreyImage {
  /** How file values became pixel values, when not kept as they are. */
  readonly intensity?: string;
}

/** IEEE 754 half precision (MRC mode 12). */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? Number.NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

function sampleReader(raster: RawRaster): (i: number) => number {
  const view = new DataView(raster.bytes.buffer, raster.bytes.byteOffset, raster.bytes.byteLength);
  const le = raster.littleEndian;
  switch (raster.type) {
    case 'int8':
      return (i) => view.getInt8(i);
    case 'uint8':
      return (i) => view.getUint8(i);
    case 'int16':
      return (i) => view.getInt16(i * 2, le);
    case 'uint16':
      return (i) => view.getUint16(i * 2, le);
    case 'int32':
      return (i) => view.getInt32(i * 4, le);
    case 'uint32':
      return (i) => view.getUint32(i * 4, le);
    case 'int64':
      return (i) => Number(view.getBigInt64(i * 8, le));
    case 'uint64':
      return (i) => Number(view.getBigUint64(i * 8, le));
    case 'float16':
      return (i) => halfToFloat(view.getUint16(i * 2, le));
    case 'float32':
      return (i) => view.getFloat32(i * 4, le);
    case 'float64':
      return (i) => view.getFloat64(i * 8, le);
  }
}

const format = (v: number): string => String(Number(v.toPrecision(6)));

export function convertRaster(raster: RawRaster): ConvertedRaster {
  const { width, height, type } = raster;
  const count = width * height;
  if (raster.bytes.length !== count * SAMPLE_BYTES[type]) {
    throw new RangeError(`raster of ${width}x${height} ${type} needs ${count * SAMPLE_BYTES[type]} bytes, got ${raster.bytes.length}`);
  }
  const read = sampleReader(raster);
  if (type === 'uint8' || type === 'int8') {
    const offset = type === 'int8' ? 128 : 0;
    const pixels = new Uint8Array(count);
    for (let i = 0; i < count; i++) pixels[i] = read(i) + offset;
    return { width, height, bitDepth: 8, pixels, ...(offset && { intensity: 'signed 8-bit values shifted by +128' }) };
  }
  if (type === 'uint16' || type === 'int16') {
    const offset = type === 'int16' ? 32768 : 0;
    const pixels = new Uint16Array(count);
    for (let i = 0; i < count; i++) pixels[i] = read(i) + offset;
    return { width, height, bitDepth: 16, pixels, ...(offset && { intensity: 'signed 16-bit values shifted by +32768' }) };
  }

  let lo = Infinity;
  let hi = -Infinity;
  let nonFinite = 0;
  for (let i = 0; i < count; i++) {
    const v = read(i);
    if (!Number.isFinite(v)) {
      nonFinite++;
      continue;
    }
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const pixels = new Uint16Array(count);
  const isInteger = !type.startsWith('float');
  if (isInteger && lo >= 0 && hi <= 65535) {
    for (let i = 0; i < count; i++) pixels[i] = read(i);
    return { width, height, bitDepth: 16, pixels };
  }
  if (!(hi > lo)) {
    // Constant (or no finite value): nothing to scale; every pixel is 0.
    const what = hi === lo ? `every value is ${format(lo)}` : 'no value is a finite number';
    return { width, height, bitDepth: 16, pixels, intensity: `${type} image without contrast (${what}): all pixels set to 0` };
  }
  const scale = 65535 / (hi - lo);
  for (let i = 0; i < count; i++) {
    const v = read(i);
    pixels[i] = Number.isFinite(v) ? Math.round((v - lo) * scale) : 0;
  }
  const notFinite = nonFinite ? `; ${nonFinite} values that are not finite numbers set to 0` : '';
  return {
    width,
    height,
    bitDepth: 16,
    pixels,
    intensity: `${type} values scaled linearly from their range [${format(lo)}, ${format(hi)}] to 0..65535${notFinite}`,
  };
}
