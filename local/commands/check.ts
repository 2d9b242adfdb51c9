/**
 * `exodetect check <dataset-dir>`: what training would make of an annotated
 * folder, before any training: the images it labels, the scale of each and
 * where it came from, and every annotation problem with file and line (the
 * same ingestion the training state machine runs). `--truth-out` writes the
 * canonical truth.json, which makes the folder a channel the trainer can read
 * on its own (python -m exodetect_train).
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ingestDataset, truthDocument, type IngestedDataset } from '../../lambdas/training/ingest/ingest.js';
import { formatProblem, TRUTH_FILE, type TruthImage } from '../../lambdas/training/ingest/truth.js';
import { folderDatasetSource, type SkippedPath } from '../files.js';
import { isPseudoLabelled, PSEUDO_LABEL_FOLDER } from '../../lambdas/training/dataset-files.js';
import { InputError } from '../errors.js';
import { badShareVerdict, DEFAULT_MAX_BAD_FRACTION, problemLines } from './problems-report.js';

export interface CheckDatasetOptions {
  readonly datasetDir: string;
  /** nm/px of every image (overrides dataset.json and the files). */
  readonly nmPerPx?: number;
  /** Write the truth document here (a channel's truth.json sits in the dataset folder itself). */
  readonly truthOut?: string;
  /** Extra annotation files from outside the folder, by the name they get in it. */
  readonly extraFiles?: ReadonlyMap<string, Uint8Array>;
}

export interface CheckDatasetResult {
  readonly ingested: IngestedDataset;
  readonly skipped: SkippedPath[];
  readonly truthFile?: string;
}

export async function checkDatasetFolder(options: CheckDatasetOptions): Promise<CheckDatasetResult> {
  const source = await folderDatasetSource(options.datasetDir);
  const ingested = await ingestDataset(source, { nmPerPx: options.nmPerPx, extraFiles: options.extraFiles });
  if (ingested.annotationFiles.length === 0) {
    throw new InputError(
      `no annotation files in ${options.datasetDir}: expected YOLO .txt (with classes.txt), COCO .json, Pascal VOC .xml or makesense .csv files (in sub-folders too)`,
    );
  }
  let truthFile: string | undefined;
  if (options.truthOut) {
    truthFile = path.resolve(options.truthOut);
    const name = path.basename(path.resolve(options.datasetDir));
    await writeFile(truthFile, `${JSON.stringify(truthDocument(name, 'all', ingested, ingested.images, ingested.problems), null, 1)}\n`);
  }
  return { ingested, skipped: source.skipped, truthFile };
}


/** Where an image's scale came from, said once for all images that share the source. */
function scaleSourceLabel(image: TruthImage): string {
  switch (image.nm_per_px_source) {
    case null:
      return "nothing: the model's (or the trainer's) scale is assumed; give dataset.json or --nm-per-px";
    case 'dataset':
      return (image.nm_per_px_detail ?? 'the dataset').replace(/\["[^"]*"\]/, '[<image>]').replace(/ = [\d.e+-]+$/, '');
    case 'file':
      return "the files' own metadata";
    case 'scale-bar':
      return 'the burned-in scale bars';
    default:
      return image.nm_per_px_source;
  }
}

/** The report a person reads. */
export function describeCheck(result: CheckDatasetResult, datasetDir: string): string[] {
  const { ingested } = result;
  const objects = ingested.images.reduce((n, i) => n + i.objects.length, 0);
  const seen = [...new Set(ingested.images.flatMap((i) => i.objects.map((o) => o.class_name)))].sort();
  // Training merges every class into one unless told otherwise (hyperparameter single_class); say so when there are several.
  const single = ingested.declaredClasses?.[0] ?? 'exosome';
  const declared = seen.length > 1 || (seen.length === 1 && seen[0] !== single) ? `; trained as one class, "${single}", unless --hyperparameter single_class=false` : '';
  const lines = [
    `${datasetDir}: ${ingested.images.length} labelled images, ${objects} objects (${seen.join(', ') || 'none'}${declared}), from ${ingested.annotationFiles.length} annotation file${ingested.annotationFiles.length === 1 ? '' : 's'}.`,
  ];
  const pseudo = ingested.images.filter((i) => isPseudoLabelled(i.file));
  if (pseudo.length) {
    lines.push(
      `  ${pseudo.length} of the images (${pseudo.reduce((n, i) => n + i.objects.length, 0)} objects) are pseudo-labelled, under ${PSEUDO_LABEL_FOLDER}/: ` +
        'trained on, never held out (validation and promotion use the other images)',
    );
  }
  const bySource = new Map<string, { n: number; min: number; max: number; minFile: string; maxFile: string; unscaled: string[] }>();
  for (const image of ingested.images) {
    const key = scaleSourceLabel(image);
    const entry = bySource.get(key) ?? { n: 0, min: Infinity, max: -Infinity, minFile: '', maxFile: '', unscaled: [] };
    entry.n++;
    if (image.nm_per_px !== null) {
      if (image.nm_per_px < entry.min) [entry.min, entry.minFile] = [image.nm_per_px, image.file];
      if (image.nm_per_px > entry.max) [entry.max, entry.maxFile] = [image.nm_per_px, image.file];
    } else entry.unscaled.push(image.file);
    bySource.set(key, entry);
  }
  const show = (v: number) => String(Number(v.toPrecision(4)));
  for (const [source, s] of bySource) {
    // The extremes by name: a misread bar or a wrong entry shows up as one of them.
    const range = Number.isFinite(s.min)
      ? show(s.min) === show(s.max)
        ? `${show(s.min)} nm/px`
        : `${show(s.min)}-${show(s.max)} nm/px (${show(s.min)}: ${s.minFile}; ${show(s.max)}: ${s.maxFile})`
      : 'no scale';
    const named = s.unscaled.length ? `: ${s.unscaled.slice(0, 5).join(', ')}${s.unscaled.length > 5 ? ` and ${s.unscaled.length - 5} more` : ''} (give their nm_per_px in dataset.json)` : '';
    lines.push(`  scale of ${s.n} image${s.n === 1 ? '' : 's'}: ${range}, from ${source}${named}`);
  }
  const byKind = { file: 0, image: 0, object: 0 };
  for (const p of ingested.problems) byKind[p.kind]++;
  lines.push(
    ...problemLines({
      count: ingested.problems.length,
      byKind,
      first: ingested.problems.map(formatProblem),
      missingImages: ingested.missingImages.map((m) => ({ file: m.file, images: m.images.length, objects: m.objects, first: m.images.slice(0, 3) })),
    }, result.truthFile ? `${result.truthFile} (problems)` : undefined),
  );
  const verdict = badShareVerdict(ingested.problems.length, objects);
  if (ingested.problems.length === 0) lines.push('No problems: every annotation in the folder is used.');
  else if (verdict.fails) {
    lines.push(
      `Training would stop: ${(verdict.share * 100).toFixed(1)}% of the annotations and images are bad, more than the ${DEFAULT_MAX_BAD_FRACTION * 100}% it tolerates (hyperparameter max_bad_annotation_fraction). Fix the files above, or raise the limit if you accept them (exodetect train --hyperparameter max_bad_annotation_fraction=${Math.min(1, (Math.floor(verdict.share * 20) + 1) / 20)}).`,
    );
  } else lines.push(`Training would skip them (${(verdict.share * 100).toFixed(1)}% of the annotations and images; it tolerates ${DEFAULT_MAX_BAD_FRACTION * 100}%).`);
  for (const s of result.skipped) lines.push(`Skipped ${s.path}: ${s.reason}`);
  if (ingested.ignoredFiles.length) lines.push(`Not annotation files, ignored: ${ingested.ignoredFiles.slice(0, 10).join(', ')}${ingested.ignoredFiles.length > 10 ? ', ...' : ''}`);
  if (result.truthFile) lines.push(`Wrote ${result.truthFile}${path.basename(result.truthFile) === TRUTH_FILE ? '' : ` (the trainer reads it as ${TRUTH_FILE} in a channel folder)`}`);
  return lines;
}
