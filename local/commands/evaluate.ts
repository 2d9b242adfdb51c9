/**
 * `exodetect evaluate <dataset-dir>`: a model scored on an annotated folder,
 * the same folders `exodetect train` takes (every annotation format, the
 * scales of dataset.json, the COCO file and the files' own calibration, read
 * by the same ingestion), through the production inference path with the
 * score floor lowered to 0.01, by the trainer's metric code: the figures the
 * promotion head-to-head computes. Where the annotations have outlines
 * (polygons), sizes are scored against them (sizing_* and *_diameter_* in the
 * metrics; sizingLines says them in words). Writes predictions.coco.json (COCO
 * results format), metrics.json (with each image's found, false positives and
 * misses at the threshold) and pictures/ (each image's outcome drawn in).
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CHAMPION_KEY, DEFAULT_MODEL_VERSION, modelHeldOutCheckKey, modelKey } from '../../lambdas/shared/keys.js';
import { loadModel, type LoadedModel } from '../../lambdas/detect/model.js';
import type { DetectionMetrics } from '../../lambdas/evaluation/detection-metrics.js';
import type { OutlineMethod } from '../../lambdas/shared/contracts.js';
import { formatProblem, type TruthDocument, type TruthImage } from '../../lambdas/training/ingest/truth.js';
import { truthDocument } from '../../lambdas/training/ingest/ingest.js';
import { isPseudoLabelled, PSEUDO_LABEL_FOLDER } from '../../lambdas/training/dataset-files.js';
import { SCORE_FLOOR, scoreModelsOnTruth, type ModelOnTruth } from '../../lambdas/evaluation/truth-scoring.js';
import { InputError } from '../errors.js';
import { progressBar } from '../progress.js';
import { decodeImage } from '../../lambdas/detect/image-decode.js';
import { renderOutcomePicture, shapeOf, type OutcomeShapes } from '../../lambdas/evaluation/outcome-picture.js';
import { createS3Client } from '../../lambdas/shared/s3-client.js';
import { getObjectBytes, getObjectText } from '../../lambdas/shared/s3-objects.js';
import { startLocalS3Server } from '../s3-server.js';
import { LOCAL_BUCKET } from '../workflow.js';
import { folderDatasetSource } from '../files.js';
import { checkDatasetFolder } from './check.js';
import { channelImages, scoredTrainingImages, storeTrainingImages, type SplitRecord as SplitFile, type TrainingImages } from './trained-on.js';
import { BUNDLED_MODEL_DIR, DEFAULT_DATA_DIR, readModelFile } from './run.js';
import { percent } from './wording.js';

export { OUTCOME_LEGEND } from '../../lambdas/evaluation/outcome-picture.js';

/** Every detection down to this score is kept, so AP sees the whole precision-recall curve. */
export const EVALUATION_SCORE_FLOOR = SCORE_FLOOR;

export interface EvaluateOptions {
  /** The annotated folder (images and their annotation files, as `exodetect train` takes it). */
  readonly datasetDir: string;
  /** An annotation file or folder outside the dataset folder (older usage: --images DIR --annotations FILE). */
  readonly annotations?: string;
  /**
   * 'default' (the bundled model), 'champion', a model version in the local store (as results and
   * summary.json print it), a .onnx file or a folder with model.onnx. Default: as `exodetect run`: the champion, else the bundled model.
   */
  readonly model?: string;
  readonly outDir: string;
  /** nm/px of every image: overrides the dataset's own scales. */
  readonly nmPerPx?: number;
  /** The local store, for champion and version references. Default .exodetect/s3. */
  readonly dataDir?: string;
  /** Score only objects of this size in nm (as `run --size-gate` counts them). Default: every object. */
  readonly sizeGateNm?: readonly [number, number];
  /** The threshold the figures are given at. Default: the model's recommended one. */
  readonly scoreThreshold?: number;
  readonly progress?: boolean;
  /** Write a picture of each image's outcome (found, false positives, missed) under pictures/. Default true. */
  readonly pictures?: boolean;
  /** A training run's split.json (as `exodetect train` writes it beside the card): score only the images it held out. */
  readonly heldOutFrom?: string;
}

/** One scored image: what it came to at the threshold, and its picture. */
export interface ImageReview {
  readonly file: string;
  readonly found: number;
  readonly falsePositives: number;
  readonly missed: number;
  /** The outcome picture, when pictures were written. */
  readonly picture: string | null;
}

export interface EvaluateResult {
  readonly metrics: DetectionMetrics;
  /** The same detections at the threshold that maximises F1 on this set (optimistic: tuned on the images it scores). */
  readonly atBestF1: ModelOnTruth['atBestF1'];
  /** At the threshold these images recommend (their best-F1 one drawn toward the prior, as the trainer chooses). */
  readonly atRecommended: ModelOnTruth['atRecommended'];
  readonly predictionsFile: string;
  readonly metricsFile: string;
  /** The model, in words (which reference, which version). */
  readonly model: string;
  /** True when the model scored is a refit model's validated run's (--held-out), not the model `exodetect run` uses. */
  readonly heldOutCheck: boolean;
  readonly images: number;
  readonly problems: string[];
  readonly failedImages: { readonly file: string; readonly error: string }[];
  /** Images scored at an assumed scale (no scale in the dataset or the file). */
  readonly assumedScale: number;
  /** Images an annotation file for the whole folder names but the folder lacks (not scored). */
  readonly missingImages: { readonly file: string; readonly images: number }[];
  /** Images under pseudo-labels/ (labelled by a model, for self-training): not scored. */
  readonly pseudoLabelledLeftOut: number;
  /** Labelled images left out because the --held-out run trained on them. */
  readonly trainedOnLeftOut: number;
  /** Scored images the model trained on (a store model scored without --held-out): its figures on them flatter it. */
  readonly trainedOnScored: number;
  /** The run that trained the model, when the store has its record. */
  readonly trainedOnRun: string | null;
  /** Detections at or above the model's threshold by how they were outlined (the model's outline output, fitted in the image, or none). */
  readonly outlineMethods: Record<OutlineMethod, number>;
  /** Every scored image, most errors (false positives plus misses) first. */
  readonly reviews: ImageReview[];
  /** The folder of outcome pictures, or null when none were written. */
  readonly picturesDir: string | null;
}

/**
 * The sizing figures in words, together so they read as one story: the reported diameter against the true
 * outlines, the found boxes against the same outlines (what box-only tools would report), and the found boxes
 * against the true boxes (small, because annotators draw boxes with a margin and the model learns it).
 */
export function sizingLines(m: DetectionMetrics, methods: Readonly<Record<OutlineMethod, number>>): string[] {
  const boxVsBox = m.diameter_median_abs_error_nm === null ? 'n/a' : `${m.diameter_median_abs_error_nm.toFixed(1)} nm`;
  if (m.sizing_n === 0) {
    return [
      `Sizing: the annotations give boxes only, so sizes were not scored against outlines; each found box's sqrt(w*h) against its true box's: median |error| ${boxVsBox}.`,
    ];
  }
  const how = (Object.entries(methods) as [OutlineMethod, number][])
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${n} ${k === 'model' ? "by the model's outline output" : k === 'image-fit' ? 'fitted in the image' : 'box ellipse (no outline found)'}`)
    .join(', ');
  const figures = (abs: number | null, nm: number | null, bias: number | null, within: number | null): string =>
    abs === null ? 'n/a' : `median |error| ${percent(abs)} (${nm!.toFixed(1)} nm), median bias ${percent(bias!, true)}, ${percent(within!)} within 10%`;
  return [
    `Sizing against the true outlines (the ${m.sizing_n} found objects matched to a true object that has one; area-equivalent diameters):`,
    `  the reported diameter (how the outlines of all ${Object.values(methods).reduce((a, b) => a + b, 0)} detections at the threshold were drawn: ${how || 'none'}): ${figures(m.outline_diameter_median_abs_rel_error, m.outline_diameter_median_abs_error_nm, m.outline_diameter_median_rel_bias, m.outline_diameter_within_10pct)}`,
    `  the found boxes' sqrt(w*h) instead (what box-only tools report): ${figures(m.box_diameter_median_abs_rel_error, m.box_diameter_median_abs_error_nm, m.box_diameter_median_rel_bias, m.box_diameter_within_10pct)}`,
    `  (against the true boxes instead of the outlines, the found boxes are off by ${boxVsBox} (median): the annotators' boxes have a margin around the outline, as the found boxes do)`,
  ];
}

interface ResolvedModel {
  readonly bytes: Buffer;
  readonly description: string;
  readonly path: string;
  /** A refit model's validated run's model, standing in for it on the images it was refit on. */
  readonly heldOutCheck?: boolean;
  /** The images a store model trained on, from its run's record. */
  readonly trainedOn?: TrainingImages;
}

/**
 * A model reference as `exodetect run` takes it; the local store is read only when the reference needs it. A model
 * refit on the images `heldOutOfRun` held out (that run's own, when it refit) is replaced by its validated run's
 * model, which never saw them.
 */
async function resolveModel(given: string | undefined, dataDir: string, heldOutOfRun?: string): Promise<ResolvedModel> {
  // <version>:validated (or champion:validated): a refit model's validated run's model, on any images.
  const validatedOf = given === undefined ? null : /^(.+):validated$/.exec(given);
  const reference = validatedOf ? validatedOf[1]! : given;
  if (validatedOf && reference === DEFAULT_MODEL_VERSION) throw new InputError(`model ${given}: the bundled default model has no validated model (only refit models do)`);
  if (reference !== undefined && reference !== 'champion' && reference !== DEFAULT_MODEL_VERSION && existsSync(reference)) {
    if (validatedOf) {
      // A model folder as the trainer writes it: validated.onnx beside model.onnx when it refit.
      const file = path.join(reference, 'validated.onnx');
      if (!existsSync(file)) throw new InputError(`model ${given}: there is no ${file} (only a refit model's folder has one)`);
      return { bytes: await readFile(file), description: `${reference}'s validated model`, path: path.resolve(file), heldOutCheck: true };
    }
    return { bytes: await readModelFile(reference), description: reference, path: path.resolve(reference) };
  }
  if (reference === DEFAULT_MODEL_VERSION) return { bytes: await readModelFile(BUNDLED_MODEL_DIR), description: 'the bundled default model', path: BUNDLED_MODEL_DIR };
  if (reference !== undefined && !/^[A-Za-z0-9._-]+$/.test(reference)) {
    throw new InputError(`model ${reference} is neither a file, a folder with model.onnx, default, champion, nor a model version name`);
  }
  if (!existsSync(dataDir)) {
    if (reference === undefined) return { bytes: await readModelFile(BUNDLED_MODEL_DIR), description: 'the bundled default model (no local store yet)', path: BUNDLED_MODEL_DIR };
    throw new InputError(`model ${reference}: there is no local store at ${dataDir} (models are stored there by exodetect train)`);
  }
  // Only the local S3 server: nothing runs here but reads.
  const server = await startLocalS3Server({ directory: dataDir, buckets: [LOCAL_BUCKET] });
  const s3 = createS3Client({ EXODETECT_S3_ENDPOINT: server.endpoint });
  try {
    const champion = await getObjectText(s3, LOCAL_BUCKET, CHAMPION_KEY);
    let version = reference;
    if (reference === undefined || reference === 'champion') {
      if (champion === undefined) {
        if (reference === 'champion') throw new InputError(`model champion: the local store ${dataDir} has no champion yet`);
        return { bytes: await readModelFile(BUNDLED_MODEL_DIR), description: 'the bundled default model (there is no champion)', path: BUNDLED_MODEL_DIR };
      }
      version = (JSON.parse(champion) as { version: string }).version;
    }
    if (validatedOf || version === heldOutOfRun) {
      const checkKey = modelHeldOutCheckKey(version!);
      const check = await getObjectBytes(s3, LOCAL_BUCKET, checkKey);
      if (check !== undefined) {
        const why = version === heldOutOfRun ? `${version} itself was refit on these images too; this is the same recipe without them` : `the run before ${version} was refit on every labelled image`;
        const trainedOn = version === heldOutOfRun ? undefined : await storeTrainingImages(s3, version!, true);
        return { bytes: Buffer.from(check), description: `version ${version}'s validated model (${why})`, path: checkKey, heldOutCheck: true, trainedOn };
      }
      if (validatedOf) throw new InputError(`model ${given}: ${checkKey} is not in the local store ${dataDir} (only a refit model has a validated model; see \`exodetect models\`)`);
    }
    const key = modelKey(version!);
    const bytes = await getObjectBytes(s3, LOCAL_BUCKET, key);
    if (bytes === undefined) throw new InputError(`model ${reference}: ${key} is not in the local store ${dataDir} (see \`exodetect models\`; give --data-dir with the store \`exodetect train\` used)`);
    const trainedOn = await storeTrainingImages(s3, version!, false);
    return { bytes: Buffer.from(bytes), description: `${reference === undefined || reference === 'champion' ? 'the champion ' : 'version '}${version}`, path: key, trainedOn };
  } finally {
    s3.destroy();
    await server.close();
  }
}

/** An annotation file or folder given apart from the dataset folder, as files the ingestion sees inside it. */
async function extraAnnotationFiles(annotations: string | undefined, datasetDir: string): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  if (annotations === undefined) return files;
  if (!existsSync(annotations)) throw new InputError(`annotations ${annotations} do not exist`);
  const inside = !path.relative(path.resolve(datasetDir), path.resolve(annotations)).startsWith('..');
  if (inside) return files; // already part of the folder
  if ((await stat(annotations)).isDirectory()) {
    for (const entry of await readdir(annotations, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const full = path.join(entry.parentPath, entry.name);
      files.set(path.relative(annotations, full).split(path.sep).join('/'), await readFile(full));
    }
  } else {
    files.set(path.basename(annotations), await readFile(annotations));
  }
  return files;
}

export async function evaluateLocally(options: EvaluateOptions): Promise<EvaluateResult> {
  const split = options.heldOutFrom !== undefined ? await readSplitRecord(options.heldOutFrom) : undefined;
  // A run's held-out images are for that run's model: without --model, that is the one scored.
  const resolved = await resolveModel(options.model ?? split?.runId, path.resolve(options.dataDir ?? DEFAULT_DATA_DIR), split?.runId);
  let model: LoadedModel;
  try {
    model = await loadModel(resolved.bytes, { key: resolved.path });
  } catch (err) {
    throw new InputError(`model ${resolved.description} is not a readable ONNX model: ${(err as Error).message}`);
  }
  let ingested;
  let scorable: TruthImage[];
  let truth;
  let scores;
  let source: Awaited<ReturnType<typeof folderDatasetSource>>;
  let pseudoLabelledLeftOut = 0;
  let trainedOnLeftOut = 0;
  let trainedOnScored: string[] = [];
  try {
    const extraFiles = await extraAnnotationFiles(options.annotations, options.datasetDir);
    ({ ingested } = await checkDatasetFolder({ datasetDir: options.datasetDir, nmPerPx: options.nmPerPx, extraFiles }));
    // A model's own labels are no truth to score a model against.
    scorable = ingested.images.filter((i) => !isPseudoLabelled(i.file));
    pseudoLabelledLeftOut = ingested.images.length - scorable.length;
    if (split) {
      const humanLabelled = scorable.length;
      scorable = scorable.filter((i) => split.heldOut.has(i.file));
      trainedOnLeftOut = humanLabelled - scorable.length;
      if (scorable.length === 0) {
        throw new InputError(
          `none of the ${split.heldOut.size} images ${options.heldOutFrom} held out is labelled in ${options.datasetDir}: give the folder run ${split.runId ?? '?'} trained on (dataset ${split.dataset ?? '?'})`,
        );
      }
    }
    // Without --held-out, a store model may be scored on images it trained on: said, since its figures there flatter it.
    if (!split && resolved.trainedOn) trainedOnScored = await scoredTrainingImages(options.datasetDir, scorable.map((i) => i.file), resolved.trainedOn);
    if (scorable.length === 0) {
      const first = ingested.problems.slice(0, 10).map((p) => `\n  ${formatProblem(p)}`).join('');
      const pseudo = ingested.images.length ? ` (${ingested.images.length} pseudo-labelled images under ${PSEUDO_LABEL_FOLDER}/ are not scored)` : '';
      throw new InputError(`no labelled image in ${options.datasetDir} can be scored${pseudo} (${ingested.problems.length} problems)${first}`);
    }
    truth = truthDocument(path.basename(path.resolve(options.datasetDir)), 'all', ingested, scorable, ingested.problems);
    source = await folderDatasetSource(options.datasetDir);
    const bar = (options.progress ?? true) ? progressBar({ label: 'Detecting', total: truth.images.length }) : undefined;
    try {
      scores = await scoreModelsOnTruth(truth, [model], {
        read: (file) => source.read(file).catch(() => undefined),
        onImage: (done) => bar?.update(done),
        sizeGateNm: options.sizeGateNm,
        scoreThreshold: options.scoreThreshold,
      });
    } finally {
      bar?.stop();
    }
  } finally {
    await model.session.release().catch(() => undefined);
  }
  const scored = scores.models[0]!;
  const predictions = scored.predictions.flatMap((p, index) =>
    p.detections.map((d) => ({
      // The annotation file's own id when it has one (COCO), so COCO tools match these predictions to it.
      image_id: p.sourceImageId ?? index + 1,
      file_name: p.file,
      category_id: 1,
      bbox: [d.box[0], d.box[1], d.box[2] - d.box[0], d.box[3] - d.box[1]],
      score: d.score,
    })),
  );
  const assumedScale = scored.predictions.filter((p) => p.nmPerPxSource === 'model').length;
  const outlineMethods: Record<OutlineMethod, number> = { model: 0, 'image-fit': 0, box: 0 };
  for (const p of scored.predictions) for (const d of p.detections) if (d.score >= scored.metrics.threshold) outlineMethods[d.outlineMethod]++;

  await mkdir(options.outDir, { recursive: true });
  const picturesDir = (options.pictures ?? true) ? path.join(options.outDir, 'pictures') : null;
  const modelCaption = `model ${model.version}${resolved.heldOutCheck ? ' (its validated run)' : ''}`;
  const reviews = await reviewImages(truth, scored, { read: (file) => source.read(file), picturesDir, progress: options.progress ?? true, modelCaption });
  const predictionsFile = path.join(options.outDir, 'predictions.coco.json');
  const metricsFile = path.join(options.outDir, 'metrics.json');
  await writeFile(predictionsFile, JSON.stringify(predictions));
  const problems = ingested.problems.map(formatProblem);
  await writeFile(
    metricsFile,
    JSON.stringify(
      {
        format: 'exodetect-evaluation',
        version: 2,
        model: { reference: options.model ?? null, description: resolved.description, path: resolved.path, version: model.version, score_threshold: model.scoreThreshold ?? null },
        dataset: path.resolve(options.datasetDir),
        score_floor: EVALUATION_SCORE_FLOOR,
        size_gate_nm: options.sizeGateNm ?? null,
        held_out_from: options.heldOutFrom ?? null,
        trained_on_left_out: trainedOnLeftOut,
        scored_images_the_model_trained_on: trainedOnScored.length,
        evaluation: scored.metrics,
        at_best_f1_threshold: scored.atBestF1,
        at_recommended_threshold: scored.atRecommended,
        sizing: { diameter: 'area-equivalent diameter of the outline', outline_methods_at_threshold: outlineMethods },
        // At the threshold of `evaluation`, over every image.
        outcome_totals: {
          found: reviews.reduce((n, r) => n + r.found, 0),
          false_positives: reviews.reduce((n, r) => n + r.falsePositives, 0),
          missed: reviews.reduce((n, r) => n + r.missed, 0),
        },
        images: scored.predictions.map((p, i) => ({
          file: p.file,
          nm_per_px: p.nmPerPx,
          nm_per_px_source: p.nmPerPxSource,
          // Every detection down to score_floor (what AP ranks); the three counts below are at the threshold.
          detections: p.detections.length,
          found: reviews[i]!.found,
          false_positives: reviews[i]!.falsePositives,
          missed: reviews[i]!.missed,
          picture: reviews[i]!.picture,
        })),
        failed_images: scores.failed,
        annotation_problems: problems,
      },
      null,
      2,
    ),
  );
  return {
    metrics: scored.metrics,
    atBestF1: scored.atBestF1,
    atRecommended: scored.atRecommended,
    predictionsFile,
    metricsFile,
    model: resolved.description.includes(model.version) ? resolved.description : `${resolved.description}, version ${model.version}`,
    heldOutCheck: resolved.heldOutCheck ?? false,
    images: truth.images.length,
    problems,
    failedImages: scores.failed,
    assumedScale,
    missingImages: ingested.missingImages.map((m) => ({ file: m.file, images: m.images.length })),
    pseudoLabelledLeftOut,
    trainedOnLeftOut,
    trainedOnScored: trainedOnScored.length,
    trainedOnRun: resolved.trainedOn?.run ?? null,
    outlineMethods,
    reviews: [...reviews].sort((a, b) => b.falsePositives + b.missed - (a.falsePositives + a.missed)),
    picturesDir,
  };
}

interface SplitRecord {
  /** The images it held out (validation and test), as paths relative to the dataset folder. */
  readonly heldOut: Set<string>;
  /** The run, which is also its model's version. */
  readonly runId?: string;
  readonly dataset?: string;
}

/** A training run's split.json (a folder holding one will do). */
async function readSplitRecord(given: string): Promise<SplitRecord> {
  const file = existsSync(given) && (await stat(given)).isDirectory() ? path.join(given, 'split.json') : given;
  const expected = 'give the split.json that `exodetect train` writes beside the model card';
  let record: SplitFile;
  try {
    record = JSON.parse(await readFile(file, 'utf8')) as typeof record;
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : `not JSON (${(err as Error).message})`;
    throw new InputError(`--held-out ${file}: ${why}; ${expected}`);
  }
  if (record?.format !== 'exodetect-split' || !record.channels) throw new InputError(`--held-out ${file}: not a split record; ${expected}`);
  return { heldOut: new Set(channelImages(record, ['validation', 'test'])), runId: record.run_id, dataset: record.dataset };
}

interface ReviewProps {
  readonly read: (file: string) => Promise<Uint8Array>;
  /** Where the pictures go; null: no pictures. */
  readonly picturesDir: string | null;
  readonly progress: boolean;
  /** Which model, for each picture's key. */
  readonly modelCaption: string;
}

/** Each scored image's outcome (in the order of `scored.predictions`), with its picture drawn when asked for. */
async function reviewImages(truth: TruthDocument, scored: ModelOnTruth, props: ReviewProps): Promise<ImageReview[]> {
  const truthByFile = new Map(truth.images.map((image) => [image.file, image]));
  const reviews: ImageReview[] = [];
  const bar = props.picturesDir && props.progress ? progressBar({ label: 'Drawing', total: scored.predictions.length }) : undefined;
  try {
    for (const [i, p] of scored.predictions.entries()) {
      const outcome = scored.outcomes[i]!;
      let picture: string | null = null;
      if (props.picturesDir) {
        const objects = truthByFile.get(p.file)!.objects;
        const shapes: OutcomeShapes = {
          found: outcome.found.map((d) => shapeOf(p.detections[d]!.outline, p.detections[d]!.box)),
          falsePositives: outcome.falsePositives.map((d) => shapeOf(p.detections[d]!.outline, p.detections[d]!.box)),
          missed: outcome.missed.map((o) => shapeOf(objects[o]!.polygon, objects[o]!.box)),
        };
        const image = await decodeImage(await props.read(p.file), p.file);
        picture = path.join(props.picturesDir, `${p.file.replace(/[/\\]/g, '__').replace(/\.[^.]*$/, '')}.jpg`);
        await mkdir(props.picturesDir, { recursive: true });
        await writeFile(picture, await renderOutcomePicture(image, shapes, { nmPerPx: p.nmPerPx, threshold: scored.metrics.threshold, caption: `${p.file} · ${props.modelCaption}` }));
      }
      reviews.push({ file: p.file, found: outcome.found.length, falsePositives: outcome.falsePositives.length, missed: outcome.missed.length, picture });
      bar?.update(i + 1);
    }
  } finally {
    bar?.stop();
  }
  return reviews;
}
