/** What the scientific-format readers (DM3/DM4, MRC) hand to decoding and calibration. */
import type { RawRaster } from './raster.js';

/** A pixel size as a file states it, before unit conversion (calibration.ts converts and judges it). */
export interface PixelSizeField {
  /** Length of one pixel along x, in `unit`. */
  readonly x: number;
  /** Along y, when the file gives it. */
  readonly y?: number;
  /** As written in the file: "nm", "µm", "Å", "m", "1/nm", ... */
  readonly unit: string;
  /** Where it was read, as a person would look it up (a tag path, a header field, a TIFF tag). */
  readonly field: string;
}

export type ScientificFormat = 'dm3' | 'dm4' | 'mrc';

export interface ScientificImage {
  readonly format: ScientificFormat;
  /** The first 2-D image (frame, section) of the file. */
  readonly raster: RawRaster;
  /** Frames or sections in the file; only the first is analysed. */
  readonly pages: number;
  readonly pixelSize?: PixelSizeField;
  readonly warnings: string[];
}
