/** First state of the training state machine: has datasets/<name>/ changed since the champion was trained? */
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { createS3Client } from './shared/s3-client.js';
import { checkDataset, type DatasetCheck } from './training/dataset-check.js';
import { EventShapeError } from './shared/errors.js';
import { createObservability } from './shared/observability.js';

const { logger, tracer } = createObservability('check-dataset');
const s3 = tracer.captureAWSv3Client(createS3Client());

const EventSchema = z.object({ bucket: z.string().min(1), request: z.unknown() });

export async function handler(event: unknown, context?: Context): Promise<DatasetCheck> {
  if (context) logger.addContext(context);
  const parsed = EventSchema.safeParse(event);
  if (!parsed.success) throw new EventShapeError(`check-dataset expects {bucket, request}: ${z.prettifyError(parsed.error)}`);
  const result = await checkDataset(s3, { bucket: parsed.data.bucket, request: parsed.data.request });
  logger.info('dataset checked', { dataset: result.dataset, changed: result.changed, reason: result.reason, runId: result.runId });
  return result;
}
