/**
 * `exodetect evaluate`: annotated images through the production inference
 * path (the local workflow: state machine, detect handler, same model) with
 * the score floor lowered to 0.01, then the trainer's metrics on the result.
 * Writes predictions.coco.json (COCO results format) and metrics.json.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { MODEL_METADATA_KEYS, type ImageRecord } from '../../lambdas/core/contracts.js';
import { modelKey, resultsPrefix } from '../../lambdas/core/keys.js';
import { readOnnxMetadata } from '../../lambdas/core/onnx-metadata.js';
import { InputError } from '../errors.js';
import { evaluateDetections, type DetectionMetrics, type ImageEval, type XyxyBox } from '../../lambdas/core/detection-metrics.js';
import { progressBar } from '../progress.js';
import { findImages, LocalWorkflow, type LocalWorkflowProps } from '../workflow.js';
import { BUNDLED_MODEL_DIR, readModelFile } from './run.js';

/** Every detection down to this score is kept, so AP sees the whole precision-recall curve. */
export const EVALUATION_SCORE_FLOOR = 0.01;

export interface EvaluateOptions {
  readonly imagesDir: string;
  /** A COCO json file, or a folder of YOLO txt labels (one per image, same relative path or name). */
  readonly annotations: string;
  /** A .onnx file or a folder with model.onnx. Default: models/default. */
  readonly model?: string;
  readonly outDir: string;
  readonly nmPerPx?: number;
  readonly progress?: boolean;
  readonly workflowProps?: Partial<LocalWorkflowProps>;
  /** A running local workflow to use (left running). Default: a fresh one in a temporary folder. */
  readonly workflow?: LocalWorkflow;
}

export interface EvaluateResult {
  readonly metrics: DetectionMetrics;
  readonly predictionsFile: string;
  readonly metricsFile: string;
}

/** Ground truth of one image, in its original pixels; class 0 (single class, as the trainer's default). */
interface GroundTruth {
  readonly boxes: XyxyBox[];
  readonly imageId?: number;
}

interface Annotations {
  /** By relative path (with '/') and by base name. */
  lookup(relative: string): GroundTruth | undefined;
  readonly source: string;
}

async function loadCoco(file: string): Promise<Annotations> {
  let coco: { images?: { id: number; file_name: string }[]; annotations?: { image_id: number; bbox: number[]; iscrowd?: number }[] };
  try {
    coco = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new InputError(`cannot read COCO annotations ${file}: ${(err as Error).message}`);
  }
  if (!Array.isArray(coco.images) || !Array.isArray(coco.annotations)) throw new InputError(`${file}: a COCO file needs "images" and "annotations" arrays`);
  const byId = new Map<number, GroundTruth>();
  const byName = new Map<string, GroundTruth>();
  for (const image of coco.images) {
    const gt: GroundTruth = { boxes: [], imageId: image.id };
    byId.set(image.id, gt);
    byName.set(image.file_name.replace(/\\/g, '/'), gt);
    byName.set(path.posix.basename(image.file_name.replace(/\\/g, '/')), gt);
  }
  coco.annotations.forEach((a, i) => {
    const gt = byId.get(a.image_id);
    if (!gt) throw new InputError(`${file}: annotations[${i}] refers to image_id ${a.image_id}, which is not in "images"`);
    const [x, y, w, h] = a.bbox ?? [];
    if (![x, y, w, h].every((v) => typeof v === 'number' && Number.isFinite(v)) || w! <= 0 || h! <= 0) {
      throw new InputError(`${file}: annotations[${i}] has an invalid bbox ${JSON.stringify(a.bbox)}`);
    }
    gt.boxes.push([x!, y!, x! + w!, y! + h!]);
  });
  return { lookup: (relative) => byName.get(relative) ?? byName.get(path.posix.basename(relative)), source: file };
}

async function loadYolo(dir: string, imagesDir: string, images: string[]): Promise<Annotations> {
  const byRelative = new Map<string, GroundTruth>();
  for (const image of images) {
    const relative = path.relative(imagesDir, image).split(path.sep).join('/');
    const stem = relative.replace(/\.[^./]+$/, '');
    const candidates = [path.join(dir, `${stem}.txt`), path.join(dir, `${path.posix.basename(stem)}.txt`)];
    const labelFile = candidates.find((c) => existsSync(c));
    // YOLO convention: an image without a label file has no objects.
    if (!labelFile) {
      byRelative.set(relative, { boxes: [] });
      continue;
    }
    const { width, height } = await sharp(image).metadata();
    if (!width || !height) throw new InputError(`${image}: cannot read the image size needed for its YOLO labels`);
    const boxes: XyxyBox[] = [];
    (await readFile(labelFile, 'utf8')).split(/\r?\n/).forEach((line, i) => {
      if (line.trim() === '') return;
      const fields = line.trim().split(/\s+/).map(Number);
      if (fields.length < 5 || fields.some((v) => !Number.isFinite(v))) {
        throw new InputError(`${labelFile} line ${i + 1}: expected "class cx cy w h" (normalised), got "${line.trim()}"`);
      }
      const [, cx, cy, w, h] = fields as [number, number, number, number, number];
      boxes.push([(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height]);
    });
    byRelative.set(relative, { boxes });
  }
  return { lookup: (relative) => byRelative.get(relative), source: dir };
}

export async function evaluateLocally(options: EvaluateOptions): Promise<EvaluateResult> {
  const images = await findImages(options.imagesDir);
  if (!existsSync(options.annotations)) throw new InputError(`annotations ${options.annotations} do not exist`);
  const annotations = (await stat(options.annotations)).isDirectory()
    ? await loadYolo(options.annotations, options.imagesDir, images)
    : await loadCoco(options.annotations);
  const modelPath = options.model ?? BUNDLED_MODEL_DIR;
  const modelBytes = await readModelFile(modelPath);
  const metadata = readOnnxMetadata(modelBytes);
  const threshold = Number(metadata[MODEL_METADATA_KEYS.scoreThreshold] ?? 0.5);
  const version = `eval-${createHash('sha256').update(modelBytes).digest('hex').slice(0, 12)}`;

  const evaluated = images
    .map((file) => ({ file, relative: path.relative(options.imagesDir, file).split(path.sep).join('/') }))
    .map((i) => ({ ...i, gt: annotations.lookup(i.relative) }));
  const unannotated = evaluated.filter((i) => !i.gt).map((i) => i.relative);
  const annotated = evaluated.filter((i): i is typeof i & { gt: GroundTruth } => i.gt !== undefined);
  if (annotated.length === 0) throw new InputError(`none of the images in ${options.imagesDir} appears in ${annotations.source}`);

  const dataDir = options.workflow ? undefined : await mkdtemp(path.join(os.tmpdir(), 'exodetect-evaluate-'));
  const workflow = options.workflow ?? (await LocalWorkflow.start({ dataDir: dataDir!, ...options.workflowProps }));
  const batchId = `evaluate-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
  let records: Map<string, ImageRecord>;
  try {
    await workflow.putObject(modelKey(version), modelBytes);
    const bar = (options.progress ?? true) ? progressBar({ label: 'Detecting', total: images.length }) : undefined;
    let done = 0;
    const onObject = (r: { eventName: string; s3: { object: { key: string } } }) => {
      if (r.eventName.startsWith('ObjectCreated') && decodeURIComponent(r.s3.object.key).startsWith(`${resultsPrefix(batchId)}images/`)) bar?.update(++done);
    };
    workflow.server.events.on('object', onObject);
    try {
      // Only the annotated images: the batch is the evaluation set.
      for (const image of annotated) await workflow.uploadFile(image.file, `batches/${batchId}/images/${image.relative}`);
      const { outcome } = await workflow.commitBatch(batchId, {
        score_threshold: EVALUATION_SCORE_FLOOR,
        model_version: version,
        ...(options.nmPerPx !== undefined && { nm_per_px: options.nmPerPx }),
      });
      if (outcome.status !== 'SUCCEEDED') throw new InputError(`inference failed: ${outcome.error ?? ''} ${outcome.cause ?? ''}`.slice(0, 2000));
    } finally {
      workflow.server.events.off('object', onObject);
      bar?.stop();
    }
    records = new Map();
    for (const key of await workflow.listKeys(`${resultsPrefix(batchId)}images/`)) {
      const record = await workflow.getJson<ImageRecord>(key);
      records.set(record.image_key.slice(`batches/${batchId}/images/`.length), record);
    }
  } finally {
    if (dataDir) {
      await workflow.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  }

  const evals: ImageEval[] = [];
  const predictions: { image_id: number; file_name: string; category_id: number; bbox: number[]; score: number }[] = [];
  const failedImages: { file: string; error: string }[] = [];
  annotated.forEach((image, index) => {
    const record = records.get(image.relative);
    const imageId = image.gt.imageId ?? index + 1;
    if (!record || record.status !== 'ok') {
      failedImages.push({ file: image.relative, error: record?.status === 'error' ? `${record.error.code}: ${record.error.message}` : 'no result' });
      evals.push({ predBoxes: [], predScores: [], predClasses: [], gtBoxes: image.gt.boxes, gtClasses: image.gt.boxes.map(() => 0), nmPerPx: 1 });
      return;
    }
    const boxes = record.detections.map((d) => d.box_px as XyxyBox);
    for (const d of record.detections) {
      const [x1, y1, x2, y2] = d.box_px;
      predictions.push({ image_id: imageId, file_name: image.relative, category_id: 1, bbox: [x1, y1, x2 - x1, y2 - y1], score: d.score });
    }
    evals.push({
      predBoxes: boxes,
      predScores: record.detections.map((d) => d.score),
      predClasses: record.detections.map(() => 0),
      gtBoxes: image.gt.boxes,
      gtClasses: image.gt.boxes.map(() => 0),
      nmPerPx: record.nm_per_px,
    });
  });
  const metrics = evaluateDetections(evals, 1, threshold);

  await mkdir(options.outDir, { recursive: true });
  const predictionsFile = path.join(options.outDir, 'predictions.coco.json');
  const metricsFile = path.join(options.outDir, 'metrics.json');
  await writeFile(predictionsFile, JSON.stringify(predictions));
  await writeFile(
    metricsFile,
    JSON.stringify(
      {
        format: 'exodetect-evaluation',
        version: 1,
        model: { path: path.resolve(modelPath), version: metadata[MODEL_METADATA_KEYS.modelVersion] ?? version, score_threshold: threshold },
        annotations: path.resolve(options.annotations),
        score_floor: EVALUATION_SCORE_FLOOR,
        evaluation: metrics,
        failed_images: failedImages,
        unannotated_images: unannotated,
      },
      null,
      2,
    ),
  );
  return { metrics, predictionsFile, metricsFile };
}
