/**
 * Summarize Lambda: after the Distributed Map, turn a batch's per-image
 * results into summary.json, detections.csv, COCO files, the analytics JSON
 * Lines and report.html. Input {bucket, batchId, ...} (the rest of the
 * state is ignored); output small, for the state payload.
 */
import type { Context } from 'aws-lambda';
import type { SummarizeOutput } from './core/contracts.js';
import { intEnv } from './core/env.js';
import { createObservability } from './core/observability.js';
import { createS3Client } from './core/s3.js';
import { summarizeBatch, SummarizeInputError } from './results/summarize-batch.js';

const { logger, tracer } = createObservability('summarize');
const s3 = tracer.captureAWSv3Client(createS3Client());
/** Result documents read in parallel (env SUMMARIZE_CONCURRENCY, default 32). */
const concurrency = intEnv('SUMMARIZE_CONCURRENCY', 32);
/** Multipart part size for the streamed outputs (env SUMMARIZE_PART_SIZE_MIB, default 8, minimum 5). */
const partSize = intEnv('SUMMARIZE_PART_SIZE_MIB', 8) * 1024 * 1024;

export interface SummarizeEvent {
  readonly bucket: string;
  readonly batchId: string;
  readonly [other: string]: unknown;
}

export type { SummarizeOutput };

export async function handler(event: SummarizeEvent, context?: Context): Promise<SummarizeOutput> {
  if (context) logger.addContext(context);
  if (!event || typeof event !== 'object') throw new SummarizeInputError(`summarize expects {bucket, batchId}, got ${JSON.stringify(event)}`);
  const started = Date.now();
  const result = await summarizeBatch({ s3, bucket: event.bucket, batchId: event.batchId, concurrency, partSize });
  logger.info('batch summarized', { ...result, durationMs: Date.now() - started });
  return {
    batchId: result.batchId,
    images: result.images,
    failed: result.failed,
    detections: result.detections,
    summaryKey: result.summaryKey,
    reportKey: result.reportKey,
  };
}
