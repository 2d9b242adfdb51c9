/**
 * The detect Lambda: one Distributed Map ItemBatcher batch of micrographs in,
 * a small per-image status list out (results are in S3). The S3 client and
 * the model (loaded once, kept while its ETag holds) live for the container.
 *
 * Environment (all optional):
 *   DETECT_CONCURRENCY       images in flight per invocation (default 2)
 *   DETECT_MAX_OBJECT_BYTES  larger objects are not downloaded (default 256 MiB)
 *   DETECT_MAX_PIXELS        decompression-bomb limit (default 100,000,000)
 *   DETECT_INTRA_OP_THREADS  onnxruntime threads (default: the vCPUs available)
 *   EXODETECT_S3_ENDPOINT    local S3 (s3rver) endpoint
 */
import os from 'node:os';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import type { DetectEvent, DetectOutput } from './shared/contracts.js';
import { DEFAULT_MAX_OBJECT_BYTES, runDetectBatch } from './inference/detect-batch.js';
import { intEnv } from './shared/env.js';
import { DEFAULT_MAX_PIXELS } from './detect/image-decode.js';
import { ModelCache } from './detect/model-cache.js';
import { createObservability } from './shared/observability.js';
import { createS3Client } from './shared/s3-client.js';

const concurrency = intEnv('DETECT_CONCURRENCY', 2);
const maxObjectBytes = intEnv('DETECT_MAX_OBJECT_BYTES', DEFAULT_MAX_OBJECT_BYTES);
const maxPixels = intEnv('DETECT_MAX_PIXELS', DEFAULT_MAX_PIXELS);
const intraOpThreads = intEnv('DETECT_INTRA_OP_THREADS', os.availableParallelism());

const { logger, metrics, tracer } = createObservability('detect');
const s3 = tracer.captureAWSv3Client(createS3Client());
const models = new ModelCache({ s3, loadProps: { intraOpThreads } });

export async function handler(event: DetectEvent, context?: Context): Promise<DetectOutput> {
  if (context) logger.addContext(context);
  try {
    return await runDetectBatch(event, {
      s3,
      models,
      logger,
      metrics: { addMetric: (name, unit, value) => metrics.addMetric(name, unit === 'Count' ? MetricUnit.Count : MetricUnit.Milliseconds, value) },
      concurrency,
      maxObjectBytes,
      pipeline: { decode: { maxPixels } },
    });
  } catch (err) {
    logger.error('detect invocation failed', err as Error);
    throw err;
  } finally {
    metrics.publishStoredMetrics();
  }
}
