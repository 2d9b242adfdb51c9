/** Paths of an image and its outputs relative to the batch, for files people open. */
import { batchImagesPrefix, resultsPrefix } from '../shared/keys.js';

/** `batches/<id>/images/a/b.tif` -> `a/b.tif`; a key outside the batch is returned as is. */
export function imageFileName(batchId: string, imageKey: string): string {
  const prefix = batchImagesPrefix(batchId);
  return imageKey.startsWith(prefix) ? imageKey.slice(prefix.length) : imageKey;
}

/** `results/<id>/overlays/a/b.tif.jpg` -> `overlays/a/b.tif.jpg` (relative to report.html). */
export function resultRelativePath(batchId: string, key: string): string {
  const prefix = resultsPrefix(batchId);
  return key.startsWith(prefix) ? key.slice(prefix.length) : key;
}

/** `results/<id>/images/a/b.tif.json` -> `batches/<id>/images/a/b.tif`: the image an unreadable result belongs to. */
export function imageKeyFromResultKey(batchId: string, resultKey: string): string {
  const prefix = `${resultsPrefix(batchId)}images/`;
  const rel = resultKey.startsWith(prefix) ? resultKey.slice(prefix.length) : resultKey;
  return `${batchImagesPrefix(batchId)}${rel.replace(/\.json$/, '')}`;
}
