/**
 * What `exodetect run` prints after a batch, from its summary.json: the
 * size distribution of calibrated images, and, loudly, how many images
 * were sized at an assumed scale and what to do about it.
 */
import { readFile } from 'node:fs/promises';
import type { BatchSummary } from '../../lambdas/inference/summary.js';
import { formatScaleRange, scaleGroups, scaleWarnings } from '../../lambdas/inference/scale-notes.js';

/** Short words for the console; the report spells each source out. */
const SCALE_WORDS: Readonly<Record<string, string>> = {
  batch: 'from batch.json or --nm-per-px',
  file: "from the files' metadata",
  'scale-bar': 'from the burned-in scale bars',
  assumed: "ASSUMED (the model's training scale)",
};

const f = (x: number | undefined | null, digits = 1) => (x === undefined || x === null ? '?' : x.toFixed(digits));

/** Which diameter the figures are and how the outlines were obtained, with the boxes' median beside; undefined before outlines. */
export function sizingLine(summary: Pick<BatchSummary, 'sizing'>): string | undefined {
  const sizing = summary.sizing;
  if (!sizing) return undefined;
  const methods = Object.entries(sizing.outline_methods).filter(([, n]) => n > 0);
  const how = methods
    .map(([m, n]) => `${m === 'model' ? "the model's outlines" : m === 'image-fit' ? 'outlines fitted in the image' : 'box ellipses (no outline found)'}${methods.length > 1 ? ` ${n}` : ''}`)
    .join(', ');
  return `Sized by the area-equivalent diameter of each outline (${how || 'none'}); the boxes alone: median ${f(sizing.box_d50_nm)} nm.`;
}

export interface DescribeSummaryProps {
  /** Which of the two gave the batch's nm/px, when the caller knows: named instead of "batch.json or --nm-per-px". */
  readonly batchScaleFrom?: '--nm-per-px' | 'batch.json';
}

/** The size distribution in one line, with how many detections it holds and why the others are left out. */
export function diameterLine(summary: Pick<BatchSummary, 'diameter_nm' | 'diameter_nm_assumed_scale' | 'detections'>): string | undefined {
  const d = summary.diameter_nm;
  if (!d.d50) return undefined;
  const det = summary.detections;
  const leftOut = [
    det.on_edge > 0 && d.population.includes('border') ? `${det.on_edge} touching the image border` : '',
    det.out_of_size_range > 0 ? `${det.out_of_size_range} outside the size gate` : '',
    summary.diameter_nm_assumed_scale?.count ? `${summary.diameter_nm_assumed_scale.count} at an assumed scale` : '',
  ].filter(Boolean);
  const population = d.count < det.total ? `n=${d.count} of ${det.total}${leftOut.length ? `; left out: ${leftOut.join(', ')}` : ''}` : `n=${d.count}`;
  return `Diameter (${population}): median ${f(d.d50.value)} nm (95% CI ${f(d.d50.ci?.[0])}-${f(d.d50.ci?.[1])}), D10 ${f(d.d10?.value)}, D90 ${f(d.d90?.value)}, mean ${f(d.mean?.value)} nm.`;
}

export function describeSummary(summary: BatchSummary, props: DescribeSummaryProps = {}): string[] {
  const lines: string[] = [];
  const diameters = diameterLine(summary);
  if (diameters) {
    lines.push(diameters);
    const sizing = sizingLine(summary);
    if (sizing) lines.push(sizing);
  }
  const groups = scaleGroups(summary);
  if (groups.length > 0) {
    const words = (source: string) => (source === 'batch' && props.batchScaleFrom ? `from ${props.batchScaleFrom}` : (SCALE_WORDS[source] ?? source));
    const said = groups.map((g) => `${words(g.source)} for ${g.images} image${g.images === 1 ? '' : 's'} (${formatScaleRange(g.minNmPerPx, g.maxNmPerPx)})`);
    lines.push(`Scale: ${said.join('; ')}; each image's in the report and summary.json.`);
  }
  const assumed = summary.images.assumed_scale ?? 0;
  if (assumed > 0) {
    const scales = [...new Set(summary.calibration.filter((c) => c.source === 'assumed').map((c) => c.nm_per_px))].join(', ');
    const a = summary.diameter_nm_assumed_scale;
    const files = summary.per_image.filter((r) => r.scale_assumed).map((r) => r.file);
    const named = files.length <= 5 ? files.join(', ') : `${files.slice(0, 5).join(', ')} and ${files.length - 5} more`;
    lines.push(
      `WARNING: ${assumed} of ${summary.images.processed} image${summary.images.processed === 1 ? ' was' : 's were'} sized at an ASSUMED scale (${scales} nm/px, the model's training scale): no nm/px in batch.json, the file or a readable scale bar: ${named}.`,
      `         Their sizes${a?.d50 ? ` (n=${a.count}, median ${f(a.d50.value)} nm at that scale)` : ''} are kept out of the statistics above. Set --nm-per-px or nm_per_px in batch.json.`,
    );
  }
  // Scale problems (a bar that disagrees, a factor-10 typo, sizes that make no sense) deserve the console too.
  const questioned = scaleWarnings(summary);
  if (questioned.length > 0) {
    lines.push('Check the scale:');
    for (const w of questioned.slice(0, 3)) lines.push(`  ${w}`);
    if (questioned.length > 3) lines.push(`  ... and ${questioned.length - 3} more (report.html, summary.json)`);
  }
  return lines;
}

/** The lines for a summary.json on disk; none when it cannot be read (the run's own message says why). */
export async function describeSummaryFile(file: string, props: DescribeSummaryProps = {}): Promise<string[]> {
  try {
    return describeSummary(JSON.parse(await readFile(file, 'utf8')) as BatchSummary, props);
  } catch {
    return [];
  }
}
