/**
 * Head-to-head on the candidate's held-out split: the champion and the
 * candidate run through the production inference path (the same ONNX files,
 * decoding, scaling, tiling and decoding of boxes that batches get) over the
 * validation channel of the run, and are scored by the same metric code as
 * the trainer (AP50, AP50:95, F1 at each model's recommended threshold),
 * class-agnostic. The promotion then compares like with like.
 *
 * Ground truth: COCO json, Pascal VOC xml and YOLO txt (per image, with
 * classes.txt). A split whose labels are only in makesense CSV is not scored
 * here; promotion then falls back to the recorded metrics and says so.
 */
import { posix } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Box } from '../core/contracts.js';
import { PREFIX } from '../core/keys.js';
import { loadModel, type LoadedModel } from '../core/model.js';
import { processImage } from '../core/pipeline.js';
import { parseCocoDataset, parseVocXml, parseYoloLabels } from '../results/annotation-import.js';
import { evaluateDetections, type DetectionMetrics, type ImageEval, type XyxyBox } from '../core/detection-metrics.js';
import { indexImagesByStem, isImage, ownerImage } from './dataset-files.js';
import type { CompareModels } from './promotion.js';
import { getObjectBytes, getObjectText, listAllObjects } from './s3-objects.js';

/** Every detection down to this score is kept, so AP sees the whole precision-recall curve (as `exodetect evaluate`). */
export const COMPARISON_SCORE_FLOOR = 0.01;

export interface ChannelGroundTruth {
  /** Relative image path -> its boxes in original pixels; `undefined` until a YOLO file can be read with the image size. */
  readonly images: ReadonlyMap<string, { readonly boxes?: Box[]; readonly yoloText?: string }>;
  readonly classNames: readonly string[];
  /** Per-image nm/px from dataset.json (falls back to its dataset-wide value). */
  readonly nmPerPx: (image: string) => number | undefined;
  /** Why the split cannot be scored, when it cannot. */
  readonly unavailable?: string;
}

interface DatasetJson {
  nm_per_px?: number;
  images?: Record<string, { nm_per_px?: number }>;
}

const baseName = (p: string): string => posix.basename(p);

/** Reads the channel's files (a copy of the dataset's files for this split, plus split.json). */
export async function loadChannelGroundTruth(s3: S3Client, bucket: string, channelPrefix: string): Promise<ChannelGroundTruth> {
  const keys = (await listAllObjects(s3, bucket, channelPrefix)).map((o) => o.key.slice(channelPrefix.length));
  const read = async (rel: string): Promise<string> => (await getObjectText(s3, bucket, `${channelPrefix}${rel}`)) ?? '';
  const splitText = keys.includes('split.json') ? await read('split.json') : undefined;
  const splitImages: string[] = splitText ? (JSON.parse(splitText) as { images: string[] }).images : keys.filter(isImage);
  const datasetJson: DatasetJson = keys.includes('dataset.json') ? (JSON.parse(await read('dataset.json')) as DatasetJson) : {};
  const classesFile = keys.find((k) => baseName(k) === 'classes.txt');
  const classNames = classesFile ? (await read(classesFile)).split(/\r?\n/).map((l) => l.trim()).filter(Boolean) : ['exosome'];

  const boxesByImage = new Map<string, { boxes?: Box[]; yoloText?: string }>();
  const byStem = indexImagesByStem(splitImages);
  const byBase = new Map(splitImages.map((i) => [baseName(i), i]));
  const resolve = (file: string): string | undefined => (splitImages.includes(file) ? file : byBase.get(baseName(file)));
  const add = (image: string | undefined, boxes: Box[]) => {
    if (image === undefined) return; // a label for an image outside this split: ignored, as the trainer does
    const entry = boxesByImage.get(image) ?? { boxes: [] };
    entry.boxes = [...(entry.boxes ?? []), ...boxes];
    boxesByImage.set(image, entry);
  };
  let sawCsvOnly = false;
  for (const rel of keys) {
    const base = baseName(rel);
    if (base === 'split.json' || base === 'dataset.json' || base === 'classes.txt' || isImage(rel)) continue;
    const ext = posix.extname(rel).toLowerCase();
    if (ext === '.json') {
      for (const img of parseCocoDataset(await read(rel), rel)) add(resolve(img.file), img.objects.map((o) => o.box));
    } else if (ext === '.xml') {
      const img = parseVocXml(await read(rel), rel);
      add(resolve(img.file) ?? ownerImage(rel, byStem), img.objects.map((o) => o.box));
    } else if (ext === '.txt') {
      const owner = ownerImage(rel, byStem);
      if (owner !== undefined) boxesByImage.set(owner, { yoloText: await read(rel) });
    } else if (ext === '.csv') {
      sawCsvOnly = true;
    }
  }
  const labelled = [...boxesByImage.keys()].length;
  const unavailable =
    labelled === 0
      ? sawCsvOnly
        ? 'the split is labelled in makesense CSV, which the head-to-head does not read'
        : 'no annotations found for the split images'
      : undefined;
  return {
    images: new Map(splitImages.map((i) => [i, boxesByImage.get(i) ?? { boxes: [] }])),
    classNames,
    nmPerPx: (image) => datasetJson.images?.[image]?.nm_per_px ?? datasetJson.images?.[baseName(image)]?.nm_per_px ?? datasetJson.nm_per_px,
    ...(unavailable !== undefined && { unavailable }),
  };
}

export interface ModelScore {
  readonly version: string;
  readonly validation: DetectionMetrics;
}

/** Runs each model over every split image and scores it. Images that fail to decode are left out, for both models alike. */
export async function scoreModels(
  s3: S3Client,
  bucket: string,
  channelPrefix: string,
  truth: ChannelGroundTruth,
  models: readonly LoadedModel[],
): Promise<ModelScore[]> {
  const evals: ImageEval[][] = models.map(() => []);
  for (const [image, labels] of truth.images) {
    const bytes = await getObjectBytes(s3, bucket, `${channelPrefix}${image}`);
    if (!bytes) continue;
    const nm = truth.nmPerPx(image);
    const perModel: ImageEval[] = [];
    try {
      for (const model of models) {
        const { result } = await processImage({
          bytes,
          imageKey: `${channelPrefix}${image}`,
          batchId: 'promotion',
          overlayKey: '',
          model,
          params: { score_threshold: COMPARISON_SCORE_FLOOR, ...(nm !== undefined && { nm_per_px: nm }) },
        });
        const gt =
          labels.boxes ??
          parseYoloLabels(labels.yoloText ?? '', result.width, result.height, truth.classNames, image).map((o) => o.box);
        perModel.push({
          predBoxes: result.detections.map((d) => d.box_px as unknown as XyxyBox),
          predScores: result.detections.map((d) => d.score),
          predClasses: result.detections.map(() => 0),
          gtBoxes: gt as unknown as XyxyBox[],
          gtClasses: gt.map(() => 0),
          nmPerPx: result.nm_per_px,
        });
      }
    } catch (error) {
      if ((error as Error).name === 'ImageError') continue;
      throw error;
    }
    perModel.forEach((e, i) => evals[i]!.push(e));
  }
  return models.map((model, i) => ({ version: model.version, validation: evaluateDetections(evals[i]!, 1, model.scoreThreshold) }));
}

export interface ComparerProps {
  /** onnxruntime intra-op threads per model. Default: loadModel's default (the vCPUs available). */
  readonly intraOpThreads?: number;
}

/** The CompareModels that promote-model uses: loads both ONNX files from S3 and scores them on training/<runId>/channels/validation/. */
export function createModelComparer(s3: S3Client, bucket: string, props: ComparerProps = {}): CompareModels {
  return async (champion, candidate, runId) => {
    const channelPrefix = `${PREFIX.training}${runId}/channels/validation/`;
    const truth = await loadChannelGroundTruth(s3, bucket, channelPrefix);
    if (truth.unavailable) return { unavailable: truth.unavailable };
    const load = async (key: string): Promise<LoadedModel | undefined> => {
      const bytes = await getObjectBytes(s3, bucket, key);
      return bytes ? loadModel(bytes, { key, ...(props.intraOpThreads !== undefined && { intraOpThreads: props.intraOpThreads }) }) : undefined;
    };
    const championModel = await load(champion.model_key);
    if (!championModel) return { unavailable: `the champion's model ${champion.model_key} is missing` };
    const candidateModel = await load(candidate.modelKey);
    if (!candidateModel) return { unavailable: `the candidate's model ${candidate.modelKey} is missing` };
    try {
      const [c, n] = await scoreModels(s3, bucket, channelPrefix, truth, [championModel, candidateModel]);
      return { champion: { ...c!.validation }, candidate: { ...n!.validation }, images: n!.validation.n_images };
    } finally {
      await championModel.session.release().catch(() => undefined);
      await candidateModel.session.release().catch(() => undefined);
    }
  };
}
