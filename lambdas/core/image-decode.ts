/**
 * Decodes a micrograph (PNG, JPEG, TIFF; 8- or 16-bit; grey or RGB) into one
 * grey channel at its own bit depth. Intensities stay linear: the tensor is
 * filled later with value / 255 or value / 65535 (see `intensityScale`).
 * Everything that can go wrong with the bytes becomes an `ImageError` with a
 * stable code, so one broken file never fails a batch.
 */
import sharp, { type Metadata } from 'sharp';
import { ImageError, ConfigError } from './errors.js';
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

export function sniffFormat(bytes: Uint8Array): ImageFormat | undefined {
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (isTiff(bytes)) return 'tiff';
  return undefined;
}

function classifySharpError(key: string, format: string, err: unknown): ImageError {
  const message = err instanceof Error ? err.message : String(err);
  if (/pixel limit|exceeds/i.test(message)) return new ImageError(key, 'TOO_LARGE', `image is too large: ${message}`, { cause: err });
  if (/truncat|premature|unexpected end|end of (file|data)|EOF|not enough|short read|incomplete|read error|out of data/i.test(message)) {
    return new ImageError(key, 'TRUNCATED', `${format} file is truncated: ${message}`, { cause: err });
  }
  if (/unsupported image format|Input buffer contains unsupported/i.test(message)) {
    // The signature said PNG/JPEG/TIFF, so the file is damaged rather than something else.
    return new ImageError(key, 'UNREADABLE', `damaged or truncated ${format} (its header cannot be read): ${message}`, { cause: err });
  }
  return new ImageError(key, 'UNREADABLE', `cannot decode ${format}: ${message}`, { cause: err });
}

/** A view of sharp's output as 16-bit values (sharp emits native byte order), copying only if misaligned. */
function asUint16(data: Buffer): Uint16Array {
  if (data.byteOffset % 2 === 0) return new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2);
  return new Uint16Array(Uint8Array.from(data).buffer);
}

export async function decodeImage(bytes: Uint8Array, key: string, props: DecodeProps = {}): Promise<DecodedImage> {
  const maxPixels = props.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (!Number.isInteger(maxPixels) || maxPixels <= 0) throw new ConfigError(`maxPixels must be a positive integer, got ${maxPixels}`);
  if (bytes.length === 0) throw new ImageError(key, 'EMPTY_FILE', 'file is empty (0 bytes)');

  const scientific = sniffScientific(bytes, key);
  if (scientific !== undefined) return { ...decodeScientific(bytes, key, scientific, maxPixels), channels: 1 };

  const format = sniffFormat(bytes);
  if (format === undefined) {
    const known = await sharp(bytes).metadata().then((m) => m.format, () => undefined);
    if (known) throw new ImageError(key, 'UNSUPPORTED_FORMAT', `${known} images are not supported: use PNG, JPEG, TIFF, DM3/DM4 or MRC`);
    throw new ImageError(key, 'NOT_AN_IMAGE', 'not an image: the content is not PNG, JPEG, TIFF, DM3/DM4 or MRC');
  }

  const options = { limitInputPixels: maxPixels, failOn: 'error' as const };
  let metadata: Metadata;
  try {
    // Header only: the size check below gives a clearer message than sharp's own limit.
    metadata = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw classifySharpError(key, format, err);
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
    throw classifySharpError(key, format, err);
  }
}
