/**
 * Where an image's nm/px comes from, in order: the batch parameters, the
 * file's own metadata (ImageJ description, then TIFF resolution tags), the
 * model's training scale. The result names the source it used.
 */
import type { ScaleSource } from './contracts.js';
import type { TiffTags } from './tiff-tags.js';

export interface Calibration {
  readonly nmPerPx: number;
  readonly source: ScaleSource;
  readonly warnings: string[];
}

/** Scales outside this range are treated as "not calibrated" (e.g. a default 72 dpi is 352,778 nm/px). */
export const PLAUSIBLE_NM_PER_PX: readonly [number, number] = [0.001, 1000];

const NM_PER_UNIT: Record<string, number> = {
  nm: 1,
  nanometer: 1,
  nanometre: 1,
  micron: 1000,
  microns: 1000,
  um: 1000,
  'µm': 1000,
  'μm': 1000,
  '\\u00b5m': 1000,
  micrometer: 1000,
  micrometre: 1000,
  mm: 1e6,
  cm: 1e7,
  inch: 25.4e6,
};
const TIFF_UNIT_NM: Record<number, number> = { 2: 25.4e6, 3: 1e7 };

function plausible(nmPerPx: number): boolean {
  return Number.isFinite(nmPerPx) && nmPerPx >= PLAUSIBLE_NM_PER_PX[0] && nmPerPx <= PLAUSIBLE_NM_PER_PX[1];
}

/** ImageJ's `unit=` line (the file is ImageJ's when the description starts with `ImageJ=`). */
export function imageJUnit(description: string | undefined): string | undefined {
  if (!description || !/^ImageJ=/m.test(description)) return undefined;
  const match = /^unit=(.*)$/m.exec(description);
  return match?.[1]?.trim();
}

export interface FileCalibration {
  readonly nmPerPx?: number;
  readonly source?: 'tiff-resolution' | 'imagej';
  readonly warnings: string[];
}

/** nm/px from the TIFF's own tags, or a reason in `warnings` why not. */
export function calibrationFromTiff(tags: TiffTags | undefined): FileCalibration {
  if (!tags || tags.xResolution === undefined || tags.xResolution <= 0) return { warnings: [] };
  const warnings: string[] = [];
  if (tags.yResolution !== undefined && Math.abs(tags.yResolution - tags.xResolution) > 1e-6 * tags.xResolution) {
    warnings.push(`pixels are not square (XResolution ${tags.xResolution}, YResolution ${tags.yResolution}): using XResolution`);
  }
  const unit = imageJUnit(tags.imageDescription);
  if (unit !== undefined) {
    const nmPerUnit = NM_PER_UNIT[unit.toLowerCase()];
    if (nmPerUnit === undefined) {
      if (unit.toLowerCase() !== 'pixel' && unit.toLowerCase() !== 'pixels') warnings.push(`ImageJ unit "${unit}" is not a length unit: ignored`);
      return { warnings };
    }
    const nmPerPx = nmPerUnit / tags.xResolution;
    if (!plausible(nmPerPx)) return { warnings: [...warnings, `ImageJ calibration ${nmPerPx} nm/px is implausible: ignored`] };
    return { nmPerPx, source: 'imagej', warnings };
  }
  const nmPerUnit = TIFF_UNIT_NM[tags.resolutionUnit];
  if (nmPerUnit === undefined) return { warnings };
  const nmPerPx = nmPerUnit / tags.xResolution;
  // Most writers put a nominal 72 or 300 dpi there: that is not a calibration.
  if (!plausible(nmPerPx)) return { warnings };
  return { nmPerPx, source: 'tiff-resolution', warnings };
}

export interface ResolveCalibrationProps {
  /** nm/px from the batch manifest: wins when set. */
  readonly batchNmPerPx?: number;
  /** The file's own tags (TIFF only). */
  readonly tiffTags?: TiffTags;
  /** The model's training scale: the fallback. */
  readonly modelNmPerPx?: number;
}

/** `undefined` when no source gives a scale (a model without a training scale and an uncalibrated file). */
export function resolveCalibration(props: ResolveCalibrationProps): Calibration | undefined {
  if (props.batchNmPerPx !== undefined) {
    if (!(props.batchNmPerPx > 0)) throw new RangeError(`batch nm_per_px must be > 0, got ${props.batchNmPerPx}`);
    return { nmPerPx: props.batchNmPerPx, source: 'batch', warnings: [] };
  }
  const file = calibrationFromTiff(props.tiffTags);
  if (file.nmPerPx !== undefined && file.source !== undefined) {
    return { nmPerPx: file.nmPerPx, source: file.source, warnings: file.warnings };
  }
  if (props.modelNmPerPx !== undefined && props.modelNmPerPx > 0) {
    return {
      nmPerPx: props.modelNmPerPx,
      source: 'model',
      warnings: [...file.warnings, `no calibration in the batch or the file: assuming the model's ${props.modelNmPerPx} nm/px`],
    };
  }
  return undefined;
}
