/** Training state machine: file the trained model under models/<version>/. */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { createS3Client } from './shared/s3-client.js';
import { EventShapeError } from './shared/errors.js';
import { registerModel, type RegisteredModel } from './training/model-registration.js';
import { createObservability } from './shared/observability.js';

const { logger, metrics, tracer } = createObservability('register-model');
const s3 = tracer.captureAWSv3Client(createS3Client());

const EventSchema = z.object({
  bucket: z.string().min(1),
  dataset: z.string().min(1),
  runId: z.string().min(1),
  modelVersion: z.string().min(1),
  fingerprint: z.string().min(1),
  trainingJobName: z.string().min(1),
  modelArtifacts: z.string().min(1),
  split: z.unknown().optional(),
});

export async function handler(event: unknown, context?: Context): Promise<RegisteredModel> {
  if (context) logger.addContext(context);
  const parsed = EventSchema.safeParse(event);
  if (!parsed.success) throw new EventShapeError(`register-model expects ${Object.keys(EventSchema.shape).join(', ')}: ${z.prettifyError(parsed.error)}`);
  const registered = await registerModel(s3, parsed.data);
  metrics.addMetric('CandidateAP50', MetricUnit.NoUnit, registered.validation.ap50);
  metrics.addMetric('CandidateF1', MetricUnit.NoUnit, registered.validation.f1);
  metrics.publishStoredMetrics();
  logger.info('model registered', { version: registered.version, validation: registered.validation });
  return registered;
}
