/**
 * The scientific formats decodeImage hands to our own readers rather than
 * sharp: DigitalMicrograph (.dm3, .dm4) and MRC (.mrc and its aliases).
 */
import { ImageError } from '../../shared/errors.js';
import { isTiff } from '../tiff-tags.js';
import { dmVersion, readDm } from './dm.js';
import { looksLikeMrc, readMrc } from './mrc.js';
import { convertRaster } from './raster.js';
import type { PixelSizeField, ScientificFormat } from './types.js';

/** MRC's extensions: maps, stacks (.mrcs, .st, .ali) and reconstructions (.rec). */
const MRC_EXTENSIONS = /\.(mrc|mrcs|rec|st|ali|map)$/i;
// What a folder listing picks up as DM or MRC micrographs: CAMERA_IMAGE_EXTENSIONS in lambdas/shared/image-files.ts
// (.st, .ali, .rec are too ambiguous to list, but a file with one of them is still read as MRC).

/** PNG, JPEG or TIFF by their signatures: such a file is never read as MRC, whatever its name. */
function hasCommonSignature(bytes: Uint8Array): boolean {
  return (bytes[0] === 0x89 && bytes[1] === 0x50) || (bytes[0] === 0xff && bytes[1] === 0xd8) || isTiff(bytes);
}

export function sniffScientific(bytes: Uint8Array, key: string): ScientificFormat | undefined {
  const dm = dmVersion(bytes);
  if (dm !== undefined) return dm === 3 ? 'dm3' : 'dm4';
  if (looksLikeMrc(bytes) || (MRC_EXTENSIONS.test(key) && !hasCommonSignature(bytes))) return 'mrc';
  return undefined;
}

export interface ScientificDecoded {
  readonly format: ScientificFormat;
  readonly width: number;
  readonly height: number;
  readonly bitDepth: 8 | 16;
  readonly pixels: Uint8Array | Uint16Array;
  readonly pages: number;
  readonly pixelSize?: PixelSizeField;
  readonly intensity?: string;
  readonly warnings: string[];
}

/** Decodes a DM3/DM4/MRC file, or throws an ImageError naming the file. */
export function decodeScientific(bytes: Uint8Array, key: string, format: ScientificFormat, maxPixels: number): ScientificDecoded {
  const image = format === 'mrc' ? readMrc(bytes, key) : readDm(bytes, key);
  const { width, height } = image.raster;
  if (width * height > maxPixels) {
    throw new ImageError(key, 'TOO_LARGE', `image is ${width}x${height} = ${width * height} pixels, above the limit of ${maxPixels}`);
  }
  const raster = convertRaster(image.raster);
  return {
    format,
    width,
    height,
    bitDepth: raster.bitDepth,
    pixels: raster.pixels,
    pages: image.pages,
    pixelSize: image.pixelSize,
    intensity: raster.intensity,
    warnings: image.warnings,
  };
}
