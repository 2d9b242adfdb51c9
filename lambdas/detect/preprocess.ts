/**
 * From decoded pixels to model input: resample to the model's nm/px (sharp),
 * and fill float32 NCHW tensors tile by tile (value / 255 or / 65535, edge
 * pixels replicated into the padding up to a multiple of 32), reusing one
 * buffer per tensor size.
 */
import sharp from 'sharp';
import { intensityScale, type GreyImage } from './image-decode.js';

/** Scales closer to 1 than this are not resampled (resampling blurs, and shifts by half a pixel). */
export const RESAMPLE_TOLERANCE = 0.01;

export interface Resampled {
  readonly image: GreyImage;
  /** resampled px per original px, per axis (1 when not resampled). */
  readonly scaleX: number;
  readonly scaleY: number;
}

/** Resamples by `factor` (model px per original px). */
export async function resampleImage(image: GreyImage, factor: number): Promise<Resampled> {
  if (!(factor > 0) || !Number.isFinite(factor)) throw new RangeError(`resample factor must be > 0, got ${factor}`);
  if (Math.abs(factor - 1) < RESAMPLE_TOLERANCE) return { image, scaleX: 1, scaleY: 1 };
  const width = Math.max(1, Math.round(image.width * factor));
  const height = Math.max(1, Math.round(image.height * factor));
  const input = sharp(image.pixels, { raw: { width: image.width, height: image.height, channels: 1 }, limitInputPixels: false }).resize(
    width,
    height,
    { fit: 'fill', kernel: factor < 1 ? 'lanczos3' : 'cubic' },
  );
  let pixels: Uint8Array | Uint16Array;
  if (image.bitDepth === 16) {
    const data = await input.toColourspace('grey16').raw({ depth: 'ushort' }).toBuffer();
    pixels = data.byteOffset % 2 === 0 ? new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2) : new Uint16Array(Uint8Array.from(data).buffer);
  } else {
    const data = await input.toColourspace('b-w').raw().toBuffer();
    pixels = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  if (pixels.length !== width * height) throw new Error(`resampling gave ${pixels.length} values, expected ${width * height}`);
  return { image: { width, height, bitDepth: image.bitDepth, pixels }, scaleX: width / image.width, scaleY: height / image.height };
}

const intensityTables = new Map<8 | 16, Float32Array>();

/** value -> value / 255 (or / 65535) as float32, computed once: a lookup beats a multiply and a conversion. */
function intensityTable(bitDepth: 8 | 16): Float32Array {
  let table = intensityTables.get(bitDepth);
  if (!table) {
    const scale = intensityScale(bitDepth);
    table = new Float32Array(bitDepth === 16 ? 65536 : 256);
    for (let v = 0; v < table.length; v++) table[v] = v * scale;
    intensityTables.set(bitDepth, table);
  }
  return table;
}

export interface TensorRegion {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/**
 * Writes `region` of `image` into `target` laid out [channels, tensorHeight,
 * tensorWidth]; columns and rows beyond the region repeat its last column / row.
 */
export function fillTensor(
  image: GreyImage,
  region: TensorRegion,
  target: Float32Array,
  tensorWidth: number,
  tensorHeight: number,
  channels: number,
): void {
  const plane = tensorWidth * tensorHeight;
  if (target.length < plane * channels) throw new RangeError(`tensor buffer holds ${target.length} values, needs ${plane * channels}`);
  if (region.width > tensorWidth || region.height > tensorHeight) throw new RangeError('region larger than the tensor');
  const lut = intensityTable(image.bitDepth);
  const { pixels, width: stride } = image;
  for (let row = 0; row < region.height; row++) {
    const src = (region.y + row) * stride + region.x;
    const dst = row * tensorWidth;
    // One loop per pixel type: a loop that sees both array types is slower for each.
    if (pixels instanceof Uint8Array) lookupRow8(pixels, src, target, dst, region.width, lut);
    else lookupRow16(pixels, src, target, dst, region.width, lut);
    if (region.width < tensorWidth) target.fill(target[dst + region.width - 1]!, dst + region.width, dst + tensorWidth);
  }
  const lastRow = (region.height - 1) * tensorWidth;
  for (let row = region.height; row < tensorHeight; row++) target.copyWithin(row * tensorWidth, lastRow, lastRow + tensorWidth);
  for (let c = 1; c < channels; c++) target.copyWithin(c * plane, 0, plane);
}

function lookupRow8(pixels: Uint8Array, src: number, target: Float32Array, dst: number, count: number, lut: Float32Array): void {
  for (let col = 0; col < count; col++) target[dst + col] = lut[pixels[src + col]!]!;
}

function lookupRow16(pixels: Uint16Array, src: number, target: Float32Array, dst: number, count: number, lut: Float32Array): void {
  for (let col = 0; col < count; col++) target[dst + col] = lut[pixels[src + col]!]!;
}
