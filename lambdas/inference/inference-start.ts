/**
 * start-inference's logic. EventBridge cannot name a Step Functions
 * execution, and the name is what makes a start idempotent: a Standard
 * workflow refuses a second execution with the same name (for 90 days). So a
 * tiny function turns the S3 "Object Created" event into StartExecution with
 * the name <batchId>-<object version id, or ETag when versioning is off>.
 * A re-delivered event, or the same object version announced twice, maps to
 * the same name and is dropped; a new upload of batch.json is a new version
 * and runs the batch again on purpose. The name comes from lambdas/shared/events.ts,
 * shared with the local event bridge.
 */
import { ExecutionAlreadyExists, StartExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { z } from 'zod';
import { announcedVersion, inferenceExecutionName, ObjectCreatedEventSchema } from '../shared/events.js';
import { BATCH_ID_PATTERN, batchIdFromManifestKey } from '../shared/keys.js';
import { EventShapeError } from '../shared/errors.js';

export interface StartResult {
  readonly started: boolean;
  readonly executionName: string;
  readonly executionArn?: string;
  readonly reason: string;
}

export async function startInference(sfn: SFNClient, stateMachineArn: string, event: unknown): Promise<StartResult> {
  const parsed = ObjectCreatedEventSchema.safeParse(event);
  if (!parsed.success) throw new EventShapeError(`start-inference expects an S3 Object Created event: ${z.prettifyError(parsed.error)}`);
  const { bucket, object } = parsed.data.detail;
  const batchId = batchIdFromManifestKey(object.key);
  if (batchId === undefined || !BATCH_ID_PATTERN.test(batchId)) {
    // The rule only matches batches/*/batch.json; anything else is not a batch to start.
    return { started: false, executionName: '', reason: `${object.key} is not batches/<batch-id>/batch.json with a valid batch id` };
  }
  const objectVersion = announcedVersion(parsed.data);
  if (objectVersion === undefined) throw new EventShapeError(`${object.key}: the event carries neither version-id, etag nor sequencer`);
  const executionName = inferenceExecutionName(batchId, objectVersion);
  try {
    const res = await sfn.send(
      new StartExecutionCommand({
        stateMachineArn,
        name: executionName,
        input: JSON.stringify({ bucket: bucket.name, key: object.key }),
      }),
    );
    return { started: true, executionName, executionArn: res.executionArn, reason: `started batch ${batchId}` };
  } catch (error) {
    if (error instanceof ExecutionAlreadyExists || (error as { name?: string }).name === 'ExecutionAlreadyExists') {
      return { started: false, executionName, reason: `batch ${batchId} was already started for this version of batch.json` };
    }
    throw error;
  }
}
