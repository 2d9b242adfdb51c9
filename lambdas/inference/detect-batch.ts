/**
 * The detect Lambda's logic, without the handler: for every item of a
 * Distributed Map batch, fetch the image, run the pipeline, write the
 * result JSON and the overlay. A bad image becomes an ImageErrorRecord at its
 * result key and the batch goes on; anything else (model missing or
 * unreadable, S3 unreachable or refusing, a bug) fails the invocation by
 * name, so that Step Functions retries what is transient and stops on the rest.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  IMAGE_RESULT_SCHEMA_VERSION,
  type BatchItem,
  type DetectEvent,
  type DetectItemStatus,
  type DetectOutput,
  type ImageErrorRecord,
} from '../shared/contracts.js';
import { isNotFound } from '../shared/s3-objects.js';
import { mapWithConcurrency } from '../shared/concurrency.js';
import { ConfigError, ImageError } from '../shared/errors.js';
import { imageResultKey, overlayKey, previewKey } from '../shared/keys.js';
import type { LoadedModel } from '../detect/model.js';
import { processImage, type PipelineConfig } from '../detect/pipeline.js';

/** Powertools Logger, or anything with the same three methods. */
export type DetectLogger = Pick<Logger, 'info' | 'warn' | 'error'>;

/** The little of a metrics sink this needs (Powertools Metrics fits). */
export interface DetectMetrics {
  addMetric(name: string, unit: 'Count' | 'Milliseconds', value: number): unknown;
}

export interface ModelProvider {
  get(bucket: string, key: string): Promise<LoadedModel>;
}

export interface DetectBatchDeps {
  readonly s3: S3Client;
  readonly models: ModelProvider;
  readonly logger?: DetectLogger;
  readonly metrics?: DetectMetrics;
  /** Images processed at once. Default 2: one decodes or writes while another runs the model. */
  readonly concurrency?: number;
  /** Objects larger than this are not downloaded (TOO_LARGE). Default 256 MiB. */
  readonly maxObjectBytes?: number;
  readonly pipeline?: PipelineConfig;
  /** Default: new Date(). */
  readonly now?: () => Date;
}

export const DEFAULT_MAX_OBJECT_BYTES = 256 * 1024 * 1024;

export function validateDetectEvent(event: DetectEvent): void {
  if (!event || typeof event !== 'object') throw new ConfigError(`detect event must be an object, got ${JSON.stringify(event)}`);
  if (!Array.isArray(event.Items)) throw new ConfigError(`detect event has no Items array (got ${JSON.stringify(event.Items)})`);
  const input = event.BatchInput;
  for (const field of ['bucket', 'batchId', 'modelKey'] as const) {
    if (typeof input?.[field] !== 'string' || input[field] === '') {
      throw new ConfigError(`detect event BatchInput.${field} must be a non-empty string, got ${JSON.stringify(input?.[field])}`);
    }
  }
  const params = input.params;
  if (params !== undefined) {
    if (params.nm_per_px !== undefined && !(params.nm_per_px > 0)) {
      throw new ConfigError(`detect event params.nm_per_px must be > 0, got ${JSON.stringify(params.nm_per_px)}`);
    }
    if (params.score_threshold !== undefined && !(params.score_threshold >= 0 && params.score_threshold <= 1)) {
      throw new ConfigError(`detect event params.score_threshold must be in [0, 1], got ${JSON.stringify(params.score_threshold)}`);
    }
    const gate = params.size_gate_nm;
    if (gate !== undefined && !(Array.isArray(gate) && gate.length === 2 && gate[0] >= 0 && gate[1] > gate[0])) {
      throw new ConfigError(`detect event params.size_gate_nm must be [min, max] with 0 <= min < max, got ${JSON.stringify(gate)}`);
    }
  }
  for (const item of event.Items) {
    if (typeof item?.Key !== 'string' || item.Key === '') throw new ConfigError(`detect event item without a Key: ${JSON.stringify(item)}`);
  }
}

async function fetchImage(s3: S3Client, bucket: string, item: BatchItem, maxBytes: number): Promise<Uint8Array> {
  if (item.Size !== undefined && item.Size > maxBytes) {
    throw new ImageError(item.Key, 'TOO_LARGE', `file is ${item.Size} bytes, above the limit of ${maxBytes}`);
  }
  let object;
  try {
    object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: item.Key }));
  } catch (err) {
    // Gone since it was listed: that image's problem. Anything else (403, network) is the invocation's.
    if (isNotFound(err)) {
      throw new ImageError(item.Key, 'UNREADABLE', 'object no longer exists in S3', { cause: err });
    }
    throw err;
  }
  if (object.ContentLength !== undefined && object.ContentLength > maxBytes) {
    object.Body?.transformToWebStream().cancel().catch(() => undefined);
    throw new ImageError(item.Key, 'TOO_LARGE', `file is ${object.ContentLength} bytes, above the limit of ${maxBytes}`);
  }
  if (!object.Body) return new Uint8Array(0);
  return object.Body.transformToByteArray();
}

export async function runDetectBatch(event: DetectEvent, deps: DetectBatchDeps): Promise<DetectOutput> {
  validateDetectEvent(event);
  const { bucket, batchId, modelKey, params } = event.BatchInput;
  const { s3, logger, metrics } = deps;
  const maxBytes = deps.maxObjectBytes ?? DEFAULT_MAX_OBJECT_BYTES;
  const now = deps.now ?? (() => new Date());

  // Model problems fail the whole invocation, before any image is touched.
  const model = await deps.models.get(bucket, modelKey);

  const processItem = async (item: BatchItem): Promise<DetectItemStatus> => {
    let resultKey: string;
    let overlay: string;
    let preview: string;
    try {
      resultKey = imageResultKey(batchId, item.Key);
      overlay = overlayKey(batchId, item.Key);
      preview = previewKey(batchId, item.Key);
    } catch (err) {
      logger?.error('image key outside the batch', { key: item.Key, batchId });
      return { key: item.Key, status: 'error', resultKey: '', error: `NOT_IN_BATCH: ${(err as Error).message}` };
    }

    try {
      const bytes = await fetchImage(s3, bucket, item, maxBytes);
      const pictures = await processImage({
        bytes,
        imageKey: item.Key,
        batchId,
        overlayKey: overlay,
        previewKey: preview,
        model,
        params,
        config: deps.pipeline,
        now,
      });
      const { result } = pictures;
      // All at once (round trips saved per image). If any fails the invocation fails and
      // its retry rewrites them all; the batch summary only runs after every invocation succeeded.
      await Promise.all([
        s3.send(new PutObjectCommand({ Bucket: bucket, Key: overlay, Body: pictures.overlay, ContentType: 'image/jpeg' })),
        s3.send(new PutObjectCommand({ Bucket: bucket, Key: preview, Body: pictures.preview, ContentType: 'image/jpeg' })),
        s3.send(new PutObjectCommand({ Bucket: bucket, Key: resultKey, Body: JSON.stringify(result), ContentType: 'application/json' })),
      ]);
      logger?.info('image processed', { key: item.Key, detections: result.counts.total, timings_ms: result.timings_ms });
      metrics?.addMetric('ImagesProcessed', 'Count', 1);
      metrics?.addMetric('Detections', 'Count', result.counts.total);
      metrics?.addMetric('ImageProcessingTime', 'Milliseconds', result.timings_ms.total ?? 0);
      return { key: item.Key, status: 'ok', resultKey, detections: result.counts.total };
    } catch (err) {
      // Only a problem of the image itself is the image's record. Anything else (S3, the model, a
      // configuration error, a bug such as a TypeError) fails the invocation under its own name, so
      // Step Functions retries what is transient and a bug cannot pass for a batch of bad images.
      if (!(err instanceof ImageError)) throw err;
      const imageError = err;
      const record: ImageErrorRecord = {
        schema: 'exodetect.image-result',
        schema_version: IMAGE_RESULT_SCHEMA_VERSION,
        status: 'error',
        batch_id: batchId,
        image_key: item.Key,
        error: { code: imageError.code, message: imageError.message },
        created_at: now().toISOString(),
      };
      await s3.send(
        new PutObjectCommand({ Bucket: bucket, Key: resultKey, Body: JSON.stringify(record), ContentType: 'application/json' }),
      );
      logger?.warn('image failed', { key: item.Key, code: imageError.code, reason: imageError.message });
      metrics?.addMetric('ImagesFailed', 'Count', 1);
      return { key: item.Key, status: 'error', resultKey, error: truncate(`${imageError.code}: ${imageError.message}`) };
    }
  };

  const items = await mapWithConcurrency(event.Items, deps.concurrency ?? 2, processItem);
  return { items };
}

/** The state payload carries one status per image: keep reasons short (the record in S3 has all of it). */
const MAX_STATUS_ERROR_CHARS = 300;
function truncate(text: string): string {
  return text.length <= MAX_STATUS_ERROR_CHARS ? text : `${text.slice(0, MAX_STATUS_ERROR_CHARS - 1)}…`;
}
