/** EventBridge target: batch.json uploaded -> start the inference state machine once per object version. */
import { SFNClient } from '@aws-sdk/client-sfn';
import type { Context } from 'aws-lambda';
import { requireEnv } from './shared/env.js';
import { startInference, type StartResult } from './inference/inference-start.js';
import { createObservability } from './shared/observability.js';

const { logger, tracer } = createObservability('start-inference');
const stateMachineArn = requireEnv('INFERENCE_STATE_MACHINE_ARN');
const sfn = tracer.captureAWSv3Client(new SFNClient({}));

export async function handler(event: unknown, context?: Context): Promise<StartResult> {
  if (context) logger.addContext(context);
  const result = await startInference(sfn, stateMachineArn, event);
  logger.info(result.reason, { executionName: result.executionName, started: result.started });
  return result;
}
