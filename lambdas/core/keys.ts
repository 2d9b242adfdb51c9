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
 *   training/<runId>/...                    split manifests, checkpoints, job output
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
export const analyticsPrefix = (batchId: string): string => `${PREFIX.analytics}batch_id=${batchId}/`;
export const analyticsKey = (batchId: string): string => `${analyticsPrefix(batchId)}detections.jsonl`;
export const modelKey = (version: string): string => `${PREFIX.models}${version}/model.onnx`;
export const modelMetricsKey = (version: string): string => `${PREFIX.models}${version}/metrics.json`;
export const modelCardKey = (version: string): string => `${PREFIX.models}${version}/card.md`;

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

/** `batches/<id>/batch.json` -> `<id>`, or undefined for any other key. */
export function batchIdFromManifestKey(key: string): string | undefined {
  const m = /^batches\/([^/]+)\/batch\.json$/.exec(key);
  return m?.[1];
}

/** Batch ids become S3 prefixes and execution names: keep them to a safe alphabet. */
export const BATCH_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$/;
