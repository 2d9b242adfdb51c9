/**
 * Decodes a micrograph (PNG, JPEG, TIFF; 8- or 16-bit; grey or RGB) into one
 * grey channel at its own bit depth. Intensities stay linear: the tensor is
 * filled later with value / 255 or value / 65535 (see `intensityScale`).
 * Everything that can go wrong with the bytes becomes an `ImageError` whose
 * code is decided from the bytes (image-integrity.ts), so one broken file never
 * fails a batch and the same file always gets the same code.
 */
import sharp, { type Metadata } from 'sharp';
import { ImageError, ConfigError } from '../shared/errors.js';
import { checkImageIntegrity } from './image-integrity.js';
import { isTiff, readTiffTags, type TiffTags } from './tiff-tags.js';
import { decodeScientific, sniffScientific } from './readers/index.js';
import type { PixelSizeField, ScientificFormat } from './readers/types.js';

export type ImageFormat = 'png' | 'jpeg' | 'tiff' | ScientificFormat;

export interface GreyImage {
  readonly width: number;
  readonly height: number;
  readonly bitDepth: 8 | 16;
  /** Row-major, one value per pixel. */
  readonly pixels: Uint8Array | Uint16Array;
}

export interface DecodedImage extends GreyImage {
  readonly format: ImageFormat;
  /** Channels in the file (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA). */
  readonly channels: number;
  readonly pages: number;
  /** The first page's TIFF tags, for calibration; undefined for PNG and JPEG. */
  readonly tiffTags?: TiffTags;
  /** The pixel size a DM3/DM4/MRC file states, for calibration. */
  readonly pixelSize?: PixelSizeField;
  /** How file values became pixel values when not kept as they are (floats scaled by their range). */
  readonly intensity?: string;
  readonly warnings: string[];
}

export interface DecodeProps {
  /** Largest width x height accepted (decompression bombs). Default 100 megapixels. */
  readonly maxPixels?: number;
}

export const DEFAULT_MAX_PIXELS = 100_000_000;

/** Multiply a pixel value by this to get linear intensity in 0..1. */
export function intensityScale(bitDepth: 8 | 16): number {
  return bitDepth === 16 ? 1 / 65535 : 1 / 255;
}

function isBigTiff(bytes: Uint8Array): boolean {
  return (
    bytes.length >= 4 &&
    ((bytes[0] === 0x49 && bytes[1] === 0x49 && bytes[2] === 0x2b && bytes[3] === 0x00) ||
      (bytes[0] === 0x4d && bytes[1] === 0x4d && bytes[2] === 0x00 && bytes[3] === 0x2b))
  );
}

export function sniffFormat(bytes: Uint8Array): 'png' | 'jpeg' | 'tiff' | undefined {
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (isTiff(bytes) || isBigTiff(bytes)) return 'tiff';
  return undefined;
}

/**
 * A decoder failure on a file whose structure is whole: the pixel data itself is
 * damaged (or the variant is one libvips cannot read). The code never depends on
 * libvips' text, which another decode in flight may have replaced; it is kept as detail.
 */
export function decoderFailure(key: string, format: ImageFormat, err: unknown): ImageError {
  const message = err instanceof Error ? err.message : String(err);
  return new ImageError(key, 'UNREADABLE', `damaged ${format}: its structure is whole but the decoder cannot read it (${message.trim() || 'no detail'})`, { cause: err });
}

/** A view of sharp's output as 16-bit values (sharp emits native byte order), copying only if misaligned. */
function asUint16(data: Buffer): Uint16Array {
  if (data.byteOffset % 2 === 0) return new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2);
  return new Uint16Array(Uint8Array.from(data).buffer);
}

/** The file's format, once its bytes show it is a whole PNG, JPEG or TIFF; else the ImageError that says why not. */
async function wholeFileFormat(bytes: Uint8Array, key: string): Promise<'png' | 'jpeg' | 'tiff'> {
  if (bytes.length === 0) throw new ImageError(key, 'EMPTY_FILE', 'file is empty (0 bytes)');
  const format = sniffFormat(bytes);
  if (format === undefined) {
    const known = await sharp(bytes).metadata().then((m) => m.format, () => undefined);
    if (known) throw new ImageError(key, 'UNSUPPORTED_FORMAT', `${known} images are not supported: use PNG, JPEG, TIFF, DM3/DM4 or MRC`);
    throw new ImageError(key, 'NOT_AN_IMAGE', 'not an image: the content is not PNG, JPEG, TIFF, DM3/DM4 or MRC');
  }
  // Truncation and damage are decided here, from the bytes; the decoder only reads whole files.
  const problem = checkImageIntegrity(bytes, format);
  if (problem) {
    // Say what it means first; the offsets are for whoever looks at the file.
    throw new ImageError(key, problem.code, `${problem.code === 'TRUNCATED' ? 'the file is cut short' : 'the file is damaged'} (${problem.detail})`);
  }
  return format;
}

export async function decodeImage(bytes: Uint8Array, key: string, props: DecodeProps = {}): Promise<DecodedImage> {
  const maxPixels = props.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (!Number.isInteger(maxPixels) || maxPixels <= 0) throw new ConfigError(`maxPixels must be a positive integer, got ${maxPixels}`);
  if (bytes.length === 0) throw new ImageError(key, 'EMPTY_FILE', 'file is empty (0 bytes)');
  // DM3/DM4 and MRC are read by our own readers (lambdas/detect/readers/), which check their own structure.
  const scientific = sniffScientific(bytes, key);
  if (scientific !== undefined) return { ...decodeScientific(bytes, key, scientific, maxPixels), channels: 1 };
  const format = await wholeFileFormat(bytes, key);

  const options = { limitInputPixels: maxPixels, failOn: 'error' as const };
  let metadata: Metadata;
  try {
    // Header only: the size check below gives a clearer message than sharp's own limit.
    metadata = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw decoderFailure(key, format, err);
  }
  const { width, height } = metadata;
  if (!width || !height) throw new ImageError(key, 'UNREADABLE', `${format} header has no size`);
  if (width * height > maxPixels) {
    throw new ImageError(key, 'TOO_LARGE', `image is ${width}x${height} = ${width * height} pixels, above the limit of ${maxPixels}`);
  }

  const warnings: string[] = [];
  const tiffTags = format === 'tiff' ? readTiffTags(bytes) : undefined;
  const pages = Math.max(metadata.pages ?? 1, tiffTags?.pages ?? 1);
  if (pages > 1) warnings.push(`file has ${pages} pages: only the first was analysed`);

  let bitDepth: 8 | 16;
  if (metadata.depth === 'uchar') bitDepth = 8;
  else if (metadata.depth === 'ushort') bitDepth = 16;
  else throw new ImageError(key, 'UNSUPPORTED_FORMAT', `${metadata.depth} pixels are not supported: use 8- or 16-bit unsigned integers`);

  try {
    const pipeline = sharp(bytes, { ...options, page: 0, pages: 1 }).removeAlpha();
    if (bitDepth === 16) {
      const { data, info } = await pipeline.toColourspace('grey16').raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
      if (info.channels !== 1 || info.width !== width || info.height !== height) {
        throw new Error(`decoder returned ${info.width}x${info.height}x${info.channels}, expected ${width}x${height}x1`);
      }
      return { width, height, bitDepth, pixels: asUint16(data), format, channels: metadata.channels ?? 1, pages, tiffTags, warnings };
    }
    const { data, info } = await pipeline.toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 1 || info.width !== width || info.height !== height) {
      throw new Error(`decoder returned ${info.width}x${info.height}x${info.channels}, expected ${width}x${height}x1`);
    }
    const pixels = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return { width, height, bitDepth, pixels, format, channels: metadata.channels ?? 1, pages, tiffTags, warnings };
  } catch (err) {
    throw decoderFailure(key, format, err);
  }
}

export interface ImageHeader {
  readonly format: ImageFormat;
  readonly width: number;
  readonly height: number;
  /** The first page's TIFF tags, for calibration; undefined for PNG and JPEG. */
  readonly tiffTags?: TiffTags;
}

/**
 * What a dataset's ingestion needs of an image without decoding its pixels: its
 * size and calibration tags, after the same checks as `decodeImage` (empty, not an
 * image, truncated or damaged, unsupported). Throws ImageError.
 */
export async function inspectImage(bytes: Uint8Array, key: string): Promise<ImageHeader> {
  const format = await wholeFileFormat(bytes, key);
  let metadata: Metadata;
  try {
    metadata = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw decoderFailure(key, format, err);
  }
  if (!metadata.width || !metadata.height) throw new ImageError(key, 'UNREADABLE', `${format} header has no size`);
  return { format, width: metadata.width, height: metadata.height, tiffTags: format === 'tiff' ? readTiffTags(bytes) : undefined };
}
