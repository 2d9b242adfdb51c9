/** Training state machine: make the registered model the champion if it beats the current one. */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { createS3Client } from './shared/s3-client.js';
import { EventShapeError } from './shared/errors.js';
import { createObservability } from './shared/observability.js';
import { createModelComparer } from './training/model-comparison.js';
import { DEFAULT_MIN_VALIDATION_OBJECTS, PromoteModelEventSchema, promoteModel, type PromotionResult } from './training/promotion.js';
import { optionalEnv } from './shared/env.js';

const { logger, metrics, tracer } = createObservability('promote-model');
const s3 = tracer.captureAWSv3Client(createS3Client());
/** PROMOTION_HEAD_TO_HEAD=false compares recorded metrics only (no inference in this step). */
const headToHead = optionalEnv('PROMOTION_HEAD_TO_HEAD', 'true') !== 'false';
/** PROMOTION_MIN_VALIDATION_OBJECTS: no promotion is decided on fewer annotated objects than this (default 30). */
const minValidationObjects = Number(optionalEnv('PROMOTION_MIN_VALIDATION_OBJECTS', String(DEFAULT_MIN_VALIDATION_OBJECTS)));

export async function handler(event: unknown, context?: Context): Promise<PromotionResult> {
  if (context) logger.addContext(context);
  const parsed = PromoteModelEventSchema.safeParse(event);
  if (!parsed.success) throw new EventShapeError(`promote-model expects {bucket, dataset, runId, fingerprint, candidate}: ${z.prettifyError(parsed.error)}`);
  const compare = headToHead ? createModelComparer(s3, parsed.data.bucket) : undefined;
  const result = await promoteModel(s3, parsed.data, new Date(), compare, { minValidationObjects });
  metrics.addMetric(result.promoted ? 'ModelsPromoted' : 'ModelsRejected', MetricUnit.Count, 1);
  metrics.publishStoredMetrics();
  logger.info(result.promoted ? 'model promoted' : 'model rejected', {
    version: result.candidate.version,
    reason: result.reason,
    comparison: result.comparison,
  });
  return result;
}
