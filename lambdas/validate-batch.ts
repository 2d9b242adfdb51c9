/** First state of the inference state machine: {bucket, key} of batch.json -> the validated batch. */
import type { Context } from 'aws-lambda';
import { createS3Client } from './shared/s3-client.js';
import { parseValidateBatchInput, validateBatch, type ValidatedBatch } from './inference/batch-validation.js';
import { createObservability } from './shared/observability.js';

const { logger, tracer } = createObservability('validate-batch');
const s3 = tracer.captureAWSv3Client(createS3Client());

export async function handler(event: unknown, context?: Context): Promise<ValidatedBatch> {
  if (context) logger.addContext(context);
  const input = parseValidateBatchInput(event);
  const batch = await validateBatch(s3, input);
  logger.info('batch validated', { batchId: batch.batchId, imageCount: batch.imageCount, modelKey: batch.modelKey });
  return batch;
}
