/**
 * Summarize Lambda: after the Distributed Map, turn a batch's per-image
 * results into summary.json, detections.csv, COCO files, the analytics JSON
 * Lines and report.html, then (when GLUE_DATABASE is set, i.e. on AWS)
 * register the batch's partition in the Glue table so Athena sees it at once.
 * Input {bucket, batchId, ...} (the rest of the state is ignored); output
 * small, for the state payload.
 */
import { GlueClient } from '@aws-sdk/client-glue';
import type { Context } from 'aws-lambda';
import type { SummarizeOutput } from './shared/contracts.js';
import { intEnv, optionalEnv } from './shared/env.js';
import { createObservability } from './shared/observability.js';
import { createS3Client } from './shared/s3-client.js';
import { registerBatchPartition } from './inference/glue-partition.js';
import { summarizeBatch, SummarizeInputError } from './inference/summarize-batch.js';

const { logger, tracer } = createObservability('summarize');
const s3 = tracer.captureAWSv3Client(createS3Client());
/** Result documents read in parallel (env SUMMARIZE_CONCURRENCY, default 32). */
const concurrency = intEnv('SUMMARIZE_CONCURRENCY', 32);
/** Multipart part size for the streamed outputs (env SUMMARIZE_PART_SIZE_MIB, default 8, minimum 5). */
const partSize = intEnv('SUMMARIZE_PART_SIZE_MIB', 8) * 1024 * 1024;
/** Glue database of the detections table (env GLUE_DATABASE). Unset (locally): no partition is registered. */
const glueDatabase = optionalEnv('GLUE_DATABASE', '');
/** Glue table (env GLUE_TABLE, default `detections`). */
const glueTable = optionalEnv('GLUE_TABLE', 'detections');
const glue = glueDatabase ? tracer.captureAWSv3Client(new GlueClient({})) : undefined;

export interface SummarizeEvent {
  readonly bucket: string;
  readonly batchId: string;
  /** From the state machine's settings: above this share of failed images the batch fails. Default: no limit. */
  readonly toleratedFailurePercentage?: number;
  readonly [other: string]: unknown;
}

export interface SummarizeHandlerOutput extends SummarizeOutput {
  /** Only when GLUE_DATABASE is set: whether Athena can see this batch's partition now. */
  readonly partitionRegistered?: boolean;
}

export type { SummarizeOutput };

/**
 * A Glue failure is logged and reported as `partitionRegistered: false`, not
 * thrown: by then every result file is written, so failing the step would
 * retry the whole summary and finally mail "batch failed" for a batch whose
 * report and CSV are fine. Only the Athena view lags, and MSCK REPAIR TABLE
 * (or rerunning the batch) recovers it; the error log says so.
 */
async function registerPartition(bucket: string, batchId: string): Promise<boolean | undefined> {
  if (!glue) return undefined;
  try {
    const { status, location } = await registerBatchPartition(glue, { database: glueDatabase, table: glueTable, bucket, batchId });
    logger.info('analytics partition registered', { status, location, database: glueDatabase, table: glueTable });
    return true;
  } catch (err) {
    logger.error(
      'analytics partition not registered: the batch results are complete, but Athena misses this batch until MSCK REPAIR TABLE',
      // The replacer formats a nested Error (name, message, stack).
      { database: glueDatabase, table: glueTable, batchId, error: err as Error },
    );
    return false;
  }
}

export async function handler(event: SummarizeEvent, context?: Context): Promise<SummarizeHandlerOutput> {
  if (context) logger.addContext(context);
  if (!event || typeof event !== 'object') throw new SummarizeInputError(`summarize expects {bucket, batchId}, got ${JSON.stringify(event)}`);
  const started = Date.now();
  const result = await summarizeBatch({
    s3,
    bucket: event.bucket,
    batchId: event.batchId,
    concurrency,
    partSize,
    summary: event.toleratedFailurePercentage === undefined ? undefined : { toleratedFailurePercentage: event.toleratedFailurePercentage },
  });
  logger.info('batch summarized', { ...result, durationMs: Date.now() - started });
  const partitionRegistered = await registerPartition(event.bucket, result.batchId);
  return {
    batchId: result.batchId,
    images: result.images,
    failed: result.failed,
    detections: result.detections,
    summaryKey: result.summaryKey,
    reportKey: result.reportKey,
    failedPercentage: result.failedPercentage,
    toleratedFailurePercentage: result.toleratedFailurePercentage,
    withinTolerance: result.withinTolerance,
    outcomeReason: result.outcomeReason,
    ...(partitionRegistered === undefined ? {} : { partitionRegistered }),
  };
}
