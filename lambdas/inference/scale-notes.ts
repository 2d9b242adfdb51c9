/**
 * What a batch's scales come to, in words, for the report and the console:
 * where each image's nm/px came from, grouped so a batch of 500 scale-bar
 * images is one line, and the warnings that question a scale.
 */
import type { BatchSummary } from './summary.js';

export const SCALE_SOURCE_LABELS: Readonly<Record<string, string>> = {
  batch: 'set in the batch manifest (batch.json) or on the command line',
  file: "read from the file's own metadata",
  'scale-bar': 'read from the burned-in scale bar and its label',
  assumed: "ASSUMED equal to the model's training scale (no calibration found)",
};

export interface ScaleGroup {
  readonly source: string;
  readonly label: string;
  readonly images: number;
  readonly minNmPerPx: number;
  readonly maxNmPerPx: number;
  /** The detail of each distinct value (e.g. the bar that gave it), when the group holds only one. */
  readonly detail?: string;
}

/** One group per source, most images first. */
export function scaleGroups(summary: Pick<BatchSummary, 'calibration'>): ScaleGroup[] {
  const groups = new Map<string, { images: number; min: number; max: number; details: Set<string> }>();
  for (const c of summary.calibration) {
    const g = groups.get(c.source) ?? { images: 0, min: Infinity, max: -Infinity, details: new Set<string>() };
    g.images += c.images;
    g.min = Math.min(g.min, c.nm_per_px);
    g.max = Math.max(g.max, c.nm_per_px);
    if (c.detail) g.details.add(c.detail);
    groups.set(c.source, g);
  }
  return [...groups]
    .map(([source, g]) => ({
      source,
      label: SCALE_SOURCE_LABELS[source] ?? source,
      images: g.images,
      minNmPerPx: g.min,
      maxNmPerPx: g.max,
      ...(g.details.size === 1 && { detail: [...g.details][0] }),
    }))
    .sort((a, b) => b.images - a.images);
}

/** "3.005 nm/px" or "2.99-3.012 nm/px": four significant digits, one value when the range rounds to one. */
export function formatScaleRange(min: number, max: number): string {
  const show = (v: number) => String(Number(v.toPrecision(4)));
  return show(min) === show(max) ? `${show(min)} nm/px` : `${show(min)}-${show(max)} nm/px`;
}

/** Warnings that question an image's scale (a bar that disagrees with the batch value, a factor-10 typo, sizes that make no sense). */
export function scaleWarnings(summary: Pick<BatchSummary, 'warnings'>): string[] {
  return summary.warnings.examples.filter((w) => /nm\/px|scale/i.test(w) && !/ASSUMED SCALE/.test(w));
}
