/**
 * The S3 key layout: one data bucket, one prefix per concern. Every part of
 * exodetect (handlers, state machines, CDK IAM policies, the local runner, the
 * CLI) builds keys through these helpers so that the layout changes in one place.
 *
 *   batches/<batchId>/images/<file>         uploaded micrographs
 *   batches/<batchId>/batch.json            the commit marker: starts inference
 *   results/<batchId>/images/<file>.json    one ImageResult or ImageError per image
 *   results/<batchId>/overlays/<file>.jpg   overlay with boxes and a scale bar
 *   results/<batchId>/previews/<file>.jpg   the micrograph without boxes (the report's review view)
 *   results/<batchId>/map/                  Distributed Map ResultWriter output
 *   results/<batchId>/summary.json, detections.csv, detections.coco.json,
 *     annotations.coco.json, report.html
 *   analytics/detections/batch_id=<batchId>/detections.jsonl   for Athena/Glue
 *   datasets/<name>/...                     annotated training data
 *   training/<runId>/channels/<channel>/    the channel's images and truth.json
 *   training/<runId>/manifests/<channel>.manifest, split.json, problems.json, failure.json
 *   training/<runId>/output/, checkpoints/  the training job's output and checkpoints
 *   models/<version>/model.onnx, metrics.json, card.md
 *   models/champion.json                    the model inference uses
 */
export const PREFIX = {
  batches: 'batches/',
  results: 'results/',
  analytics: 'analytics/detections/',
  datasets: 'datasets/',
  training: 'training/',
  models: 'models/',
} as const;

export const BATCH_MANIFEST_NAME = 'batch.json';
export const CHAMPION_KEY = 'models/champion.json';
export const DEFAULT_MODEL_VERSION = 'default';

export const batchPrefix = (batchId: string): string => `${PREFIX.batches}${batchId}/`;
export const batchImagesPrefix = (batchId: string): string => `${batchPrefix(batchId)}images/`;
export const batchManifestKey = (batchId: string): string => `${PREFIX.batches}${batchId}/${BATCH_MANIFEST_NAME}`;
export const resultsPrefix = (batchId: string): string => `${PREFIX.results}${batchId}/`;
export const mapResultsPrefix = (batchId: string): string => `${resultsPrefix(batchId)}map/`;
/** Why a batch failed as a whole (written by notify). */
export const batchFailureKey = (batchId: string): string => `${resultsPrefix(batchId)}${BATCH_FAILURE_FILE}`;
export const analyticsPrefix = (batchId: string): string => `${PREFIX.analytics}batch_id=${batchId}/`;
export const analyticsKey = (batchId: string): string => `${analyticsPrefix(batchId)}detections.jsonl`;
export const modelKey = (version: string): string => `${PREFIX.models}${version}/model.onnx`;
export const modelWeightsKey = (version: string): string => `${PREFIX.models}${version}/model.pt`;
export const modelMetricsKey = (version: string): string => `${PREFIX.models}${version}/metrics.json`;
export const modelCardKey = (version: string): string => `${PREFIX.models}${version}/card.md`;
/** What registration records of a model: its dataset, run and files. */
export const modelRegistrationKey = (version: string): string => `${PREFIX.models}${version}/registration.json`;
/** The promotion's decision on a model (promoted or not), with both models' figures through the inference path. */
export const modelPromotionKey = (version: string): string => `${PREFIX.models}${version}/promotion.json`;
/**
 * A refit model's held-out check: the validated run's model (trained on the train split only), which the
 * validation figures describe and which is scored on the held-out images in its place.
 */
export const modelHeldOutCheckKey = (version: string): string => `${PREFIX.models}${version}/validated.onnx`;

/** One training run's keys (`trainingRunKeys(ANY)` gives the IAM patterns of every run). */
export function trainingRunKeys(runId: string) {
  const root = `${PREFIX.training}${runId}/`;
  return {
    root,
    channels: `${root}channels/`,
    channel: (channel: string): string => `${root}channels/${channel}/`,
    manifest: (channel: string): string => `${root}manifests/${channel}.manifest`,
    manifests: `${root}manifests/`,
    split: `${root}split.json`,
    problems: `${root}problems.json`,
    failure: `${root}failure.json`,
    output: `${root}output/`,
    checkpoints: `${root}checkpoints/`,
  };
}

/** Put for an id in a key helper to get an IAM object pattern, e.g. `${trainingRunKeys(ANY).output}${ANY}` = training/*\/output/*. */
export const ANY = '*';

/** The image's path below `batches/<batchId>/images/` (sub-folders are kept). */
export function imageRelativePath(batchId: string, imageKey: string): string {
  const prefix = batchImagesPrefix(batchId);
  if (!imageKey.startsWith(prefix)) {
    throw new Error(`image key "${imageKey}" is not under "${prefix}"`);
  }
  return imageKey.slice(prefix.length);
}

export const imageResultKey = (batchId: string, imageKey: string): string =>
  `${resultsPrefix(batchId)}images/${imageRelativePath(batchId, imageKey)}.json`;
export const overlayKey = (batchId: string, imageKey: string): string =>
  `${resultsPrefix(batchId)}overlays/${imageRelativePath(batchId, imageKey)}.jpg`;
export const previewKey = (batchId: string, imageKey: string): string =>
  `${resultsPrefix(batchId)}previews/${imageRelativePath(batchId, imageKey)}.jpg`;

export const RESULT_FILES = {
  summary: 'summary.json',
  csv: 'detections.csv',
  cocoResults: 'detections.coco.json',
  cocoDataset: 'annotations.coco.json',
  report: 'report.html',
} as const;
/** Written beside the results by notify when a batch fails as a whole (not one of summarize's outputs). */
export const BATCH_FAILURE_FILE = 'failure.json';

/** `batches/<id>/batch.json` -> `<id>`, or undefined for any other key. */
export function batchIdFromManifestKey(key: string): string | undefined {
  const m = /^batches\/([^/]+)\/batch\.json$/.exec(key);
  return m?.[1];
}

/** Dataset names become S3 prefixes under datasets/ (and part of training run records). */
export const DATASET_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Batch ids become S3 prefixes and execution names: keep them to a safe alphabet. */
export const BATCH_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$/;
