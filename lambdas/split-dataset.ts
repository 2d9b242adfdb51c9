/** Training state machine: split datasets/<name>/ into SageMaker channels under training/<runId>/. */
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { ConfigError } from './shared/errors.js';
import { optionalEnv } from './shared/env.js';
import { createS3Client } from './shared/s3-client.js';
import { splitDataset, validateSplitProps, type SplitResult } from './training/dataset-split.js';
import { EventShapeError } from './shared/errors.js';
import { createObservability } from './shared/observability.js';

const { logger, tracer } = createObservability('split-dataset');
const s3 = tracer.captureAWSv3Client(createS3Client());

/** TRAINING_DEFAULT_HYPERPARAMETERS: a JSON object of strings, set by the stack from its props. */
function readDefaultHyperparameters(): Record<string, string> {
  const raw = optionalEnv('TRAINING_DEFAULT_HYPERPARAMETERS', '{}');
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    json = undefined;
  }
  const parsed = z.record(z.string(), z.string()).safeParse(json);
  if (!parsed.success) {
    throw new ConfigError(`environment variable TRAINING_DEFAULT_HYPERPARAMETERS must be a JSON object of strings, got ${raw}`);
  }
  return parsed.data;
}
const props = validateSplitProps({ defaultHyperparameters: readDefaultHyperparameters() });

const EventSchema = z.object({
  bucket: z.string().min(1),
  dataset: z.string().min(1),
  datasetPrefix: z.string().min(1),
  runId: z.string().min(1),
  fingerprint: z.string().min(1),
  request: z.unknown(),
});

export async function handler(event: unknown, context?: Context): Promise<SplitResult> {
  if (context) logger.addContext(context);
  const parsed = EventSchema.safeParse(event);
  if (!parsed.success) throw new EventShapeError(`split-dataset expects {bucket, dataset, datasetPrefix, runId, fingerprint, request}: ${z.prettifyError(parsed.error)}`);
  const result = await splitDataset(s3, { ...parsed.data, request: parsed.data.request }, props);
  logger.info('dataset split', { runId: parsed.data.runId, counts: result.counts });
  return result;
}
