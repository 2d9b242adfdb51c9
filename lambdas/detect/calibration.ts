/**
 * The one rule set for an image's nm/px, used by inference (pipeline.ts)
 * and by training-side dataset ingestion (image-calibration.ts). In order:
 *   1. batch      the batch manifest or CLI (`nm_per_px`), or a dataset's own manifest in training;
 *   2. file       the file's own metadata: DM3/DM4 calibration, MRC cell, vendor TIFF tags (FEI,
 *                 Gatan, Olympus SIS, TVIPS), the ImageJ description, TIFF resolution tags;
 *   3. scale-bar  the burned-in scale bar and its label;
 *   4. assumed    the model's training scale: an assumption, flagged wherever a size is shown.
 * The result names its source and, in `detail`, the field, tag or bar it came from. Sources that
 * disagree, and scales outside what TEM of vesicles uses, are warnings.
 */
import type { ScaleSource } from '../shared/contracts.js';
import type { PixelSizeField } from './readers/types.js';
import type { TiffTags } from './tiff-tags.js';

export interface Calibration {
  readonly nmPerPx: number;
  readonly source: ScaleSource;
  /** Where exactly: the manifest field, the file's tag or header field with its value, the bar and its label. */
  readonly detail: string;
  readonly warnings: string[];
}

/** A file value outside this is not a calibration at all (a nominal 72 dpi is 352,778 nm/px). */
export const METADATA_NM_PER_PX: readonly [number, number] = [0.001, 1000];
/** What TEM of vesicles uses: a scale outside this is kept but warned about (a factor-10 typo?). */
export const PLAUSIBLE_NM_PER_PX: readonly [number, number] = [0.1, 20];
/** Two sources further apart than this (relative) are a warning. */
export const DISAGREEMENT = 0.05;

const NM_PER_UNIT: Record<string, number> = {
  pm: 0.001,
  å: 0.1,
  a: 0.1,
  angstrom: 0.1,
  ångström: 0.1,
  nm: 1,
  nanometer: 1,
  nanometre: 1,
  nanometers: 1,
  µm: 1000,
  μm: 1000,
  '\\u00b5m': 1000,
  um: 1000,
  micron: 1000,
  microns: 1000,
  micrometer: 1000,
  micrometre: 1000,
  micrometers: 1000,
  mm: 1e6,
  cm: 1e7,
  m: 1e9,
  inch: 25.4e6,
};
const TIFF_UNIT_NM: Record<number, number> = { 2: 25.4e6, 3: 1e7 };

/** nm in one `unit` ("nm", "µm", "Å", "m", ...); undefined for anything that is not a length. */
export function nmPerUnit(unit: string): number | undefined {
  return NM_PER_UNIT[unit.trim().toLowerCase()];
}

const show = (v: number): string => String(Number(v.toPrecision(4)));
const relativeDifference = (a: number, b: number): number => Math.abs(a - b) / Math.min(a, b);

/** ImageJ's `unit=` line (the file is ImageJ's when the description starts with `ImageJ=`). */
export function imageJUnit(description: string | undefined): string | undefined {
  if (!description || !/^ImageJ=/m.test(description)) return undefined;
  const match = /^unit=(.*)$/m.exec(description);
  return match?.[1]?.trim();
}

/** The file's scale with the field it came from, or reasons in `warnings` why there is none. */
export interface FileScale {
  readonly nmPerPx?: number;
  readonly detail?: string;
  readonly warnings: string[];
}

/** A pixel size as the file states it, converted to nm/px and judged. */
function fromField(field: PixelSizeField): FileScale {
  const perUnit = nmPerUnit(field.unit);
  const stated = `${field.field} = ${show(field.x)} ${field.unit}`;
  if (perUnit === undefined) {
    if (/^1\s*\//.test(field.unit.trim())) return { warnings: [`${stated} is a reciprocal unit (a diffraction pattern?), not a pixel size: ignored`] };
    return { warnings: [`${stated}: "${field.unit}" is not a length unit: ignored`] };
  }
  const nmPerPx = field.x * perUnit;
  if (!(nmPerPx >= METADATA_NM_PER_PX[0] && nmPerPx <= METADATA_NM_PER_PX[1])) {
    return { warnings: [`${stated} (${show(nmPerPx)} nm/px) is not a plausible pixel size: ignored`] };
  }
  const warnings: string[] = [];
  if (field.y !== undefined && relativeDifference(field.x, field.y) > 1e-3) {
    warnings.push(`pixels are not square (${field.field}: x ${show(field.x)}, y ${show(field.y)} ${field.unit}): using x`);
  }
  return { nmPerPx, detail: stated, warnings };
}

/** The TIFF resolution tags (pixels per inch or cm), or the ImageJ description's unit over XResolution. */
function fromTiffResolution(tags: TiffTags): FileScale {
  if (tags.xResolution === undefined || !(tags.xResolution > 0)) return { warnings: [] };
  const unit = imageJUnit(tags.imageDescription);
  const y = tags.yResolution !== undefined ? 1 / tags.yResolution : undefined;
  if (unit !== undefined) {
    if (unit.toLowerCase() === 'pixel' || unit.toLowerCase() === 'pixels') return { warnings: [] };
    return fromField({ x: 1 / tags.xResolution, y, unit, field: 'ImageJ description unit over TIFF XResolution' });
  }
  const nmPerUnitLength = TIFF_UNIT_NM[tags.resolutionUnit];
  if (nmPerUnitLength === undefined) return { warnings: [] };
  const nmPerPx = nmPerUnitLength / tags.xResolution;
  // Most writers put a nominal 72 or 300 dpi there: that is not a calibration, and not worth a warning.
  if (!(nmPerPx >= METADATA_NM_PER_PX[0] && nmPerPx <= METADATA_NM_PER_PX[1])) return { warnings: [] };
  const unitName = tags.resolutionUnit === 3 ? 'cm' : 'inch';
  return fromField({ x: nmPerPx, y: y !== undefined ? nmPerUnitLength * y : undefined, unit: 'nm', field: `TIFF XResolution (${show(tags.xResolution)} px per ${unitName})` });
}

/**
 * The file's own calibration, most trusted first: what DM3/DM4/MRC state, vendor TIFF tags, the
 * ImageJ description, the TIFF resolution tags. Warnings say what was found and not used.
 */
export function scaleFromFile(file: { readonly pixelSize?: PixelSizeField; readonly tiffTags?: TiffTags }): FileScale {
  const candidates: (() => FileScale)[] = [];
  if (file.pixelSize) candidates.push(() => fromField(file.pixelSize!));
  for (const field of file.tiffTags?.vendorPixelSizes ?? []) candidates.push(() => fromField(field));
  if (file.tiffTags) candidates.push(() => fromTiffResolution(file.tiffTags!));
  const warnings: string[] = [];
  for (const candidate of candidates) {
    const scale = candidate();
    if (scale.nmPerPx !== undefined) return { ...scale, warnings: [...warnings, ...scale.warnings] };
    warnings.push(...scale.warnings);
  }
  return { warnings };
}

/** What the scale-bar reader gives calibration. */
export interface ScaleBarScale {
  readonly nmPerPx: number;
  readonly barPx: number;
  /** The label as understood, e.g. "200 nm". */
  readonly labelText: string;
  /** The bar's far end was hidden, so its length came from one end and the label's centre. */
  readonly estimated?: boolean;
}

export interface ResolveCalibrationProps {
  /** nm/px from the batch manifest or CLI: wins when set. */
  readonly batchNmPerPx?: number;
  /** What to call it in `detail`. Default "nm_per_px of the batch (batch.json or --nm-per-px)". */
  readonly batchField?: string;
  /** The file's own tags (TIFF). */
  readonly tiffTags?: TiffTags;
  /** The pixel size a DM3/DM4/MRC file states. */
  readonly pixelSize?: PixelSizeField;
  /** The burned-in scale bar, when one was read. */
  readonly scaleBar?: ScaleBarScale;
  /** Why a bar that was found could not be read (shown when the scale ends up assumed). */
  readonly scaleBarProblem?: string;
  /** The model's training scale: the assumption of last resort. */
  readonly modelNmPerPx?: number;
}

function describeBar(bar: ScaleBarScale): string {
  return `scale bar of ${show(bar.barPx)} px labelled "${bar.labelText}"${bar.estimated ? ' (one end hidden: length from the other end and the label\'s centre)' : ''}`;
}

function plausibility(nmPerPx: number, what: string): string[] {
  if (nmPerPx >= PLAUSIBLE_NM_PER_PX[0] && nmPerPx <= PLAUSIBLE_NM_PER_PX[1]) return [];
  return [
    `${show(nmPerPx)} nm/px (${what}) is outside ${PLAUSIBLE_NM_PER_PX[0]}-${PLAUSIBLE_NM_PER_PX[1]} nm/px, the range TEM of vesicles uses: check it (a factor of 10?)`,
  ];
}

/** `undefined` when no source gives a scale (a model without a training scale and nothing else). */
export function resolveCalibration(props: ResolveCalibrationProps): Calibration | undefined {
  const file = scaleFromFile(props);
  const read = props.scaleBar;
  // A label misread by orders of magnitude ("250 mm") is no scale at all.
  const barUsable = read !== undefined && read.nmPerPx >= METADATA_NM_PER_PX[0] && read.nmPerPx <= METADATA_NM_PER_PX[1];
  const bar = barUsable ? read : undefined;
  if (read && !barUsable) file.warnings.push(`the ${describeBar(read)} gives ${show(read.nmPerPx)} nm/px, not a plausible pixel size: ignored`);
  const barCheck = (nmPerPx: number, what: string): string[] =>
    bar && relativeDifference(bar.nmPerPx, nmPerPx) > DISAGREEMENT
      ? [`the burned-in ${describeBar(bar)} gives ${show(bar.nmPerPx)} nm/px, ${Math.round(relativeDifference(bar.nmPerPx, nmPerPx) * 100)}% away from the ${show(nmPerPx)} nm/px of ${what}: check which is right`]
      : [];

  if (props.batchNmPerPx !== undefined) {
    const nmPerPx = props.batchNmPerPx;
    if (!(nmPerPx > 0) || !Number.isFinite(nmPerPx)) throw new RangeError(`batch nm_per_px must be > 0, got ${nmPerPx}`);
    const field = props.batchField ?? 'nm_per_px of the batch (batch.json or --nm-per-px)';
    const warnings = [...plausibility(nmPerPx, field), ...barCheck(nmPerPx, field)];
    if (file.nmPerPx !== undefined && relativeDifference(file.nmPerPx, nmPerPx) > DISAGREEMENT) {
      warnings.push(`${field} ${show(nmPerPx)} nm/px overrides the file's own ${show(file.nmPerPx)} nm/px (${file.detail}): check which is right`);
    }
    return { nmPerPx, source: 'batch', detail: `${field} = ${show(nmPerPx)}`, warnings };
  }
  if (file.nmPerPx !== undefined) {
    const warnings = [...file.warnings, ...plausibility(file.nmPerPx, file.detail!), ...barCheck(file.nmPerPx, `the file's ${file.detail}`)];
    return { nmPerPx: file.nmPerPx, source: 'file', detail: file.detail!, warnings };
  }
  if (bar) {
    const warnings = [...file.warnings, ...plausibility(bar.nmPerPx, 'from the scale bar')];
    if (bar.estimated) warnings.push(`the scale bar's far end is hidden in a dark area: its length was estimated from the other end and the label's centre (a few % uncertain)`);
    return { nmPerPx: bar.nmPerPx, source: 'scale-bar', detail: describeBar(bar), warnings };
  }
  if (props.modelNmPerPx !== undefined && props.modelNmPerPx > 0) {
    const why = props.scaleBarProblem ? [props.scaleBarProblem] : [];
    return {
      nmPerPx: props.modelNmPerPx,
      source: 'assumed',
      detail: "the model's training scale (no calibration found)",
      warnings: [
        ...file.warnings,
        ...why,
        `ASSUMED SCALE: no nm/px in the batch, the file or a scale bar; sizes use the model's training scale ${show(props.modelNmPerPx)} nm/px, which may be wrong: set nm_per_px in batch.json (or --nm-per-px)`,
      ],
    };
  }
  return undefined;
}
