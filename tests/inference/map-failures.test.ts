import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { batchImagesPrefix, mapResultsPrefix } from '../../lambdas/shared/keys.js';
import { readDetectStepFailures } from '../../lambdas/inference/map-failures.js';
import { writeMapResults, type ChildExecutionRecord } from '../../local/stepfunctions/result-writer.js';
import { startS3Fixture, type S3Fixture } from './s3-helpers.js';

const batchId = 'map-failures-1';
const image = (name: string) => `${batchImagesPrefix(batchId)}${name}`;
let fx: S3Fixture;

const child = (status: ChildExecutionRecord['status'], names: string[], failure?: { error: string; cause: string }): ChildExecutionRecord => ({
  executionArn: `arn:aws:states:eu-west-1:123456789012:execution:inference/map:${names[0]}`,
  name: names[0]!,
  stateMachineArn: 'arn:aws:states:eu-west-1:123456789012:stateMachine:inference/map',
  input: { Items: names.map((n) => ({ Key: image(n), Size: 10 })), BatchInput: { bucket: 'b', batchId, modelKey: 'models/x.onnx' } },
  status,
  output: status === 'SUCCEEDED' ? { items: [] } : undefined,
  error: failure?.error,
  cause: failure?.cause,
  startDate: new Date(),
  stopDate: new Date(),
});

beforeAll(async () => {
  fx = await startS3Fixture();
}, 60_000);

afterAll(async () => {
  await fx?.close();
});

describe('readDetectStepFailures', () => {
  it('is empty when the map wrote nothing', async () => {
    expect((await readDetectStepFailures(fx.s3, fx.bucket, 'never-ran')).size).toBe(0);
  });

  it('maps every image of a failed child to its error and the readable part of the cause, from the ResultWriter layout', async () => {
    // Causes as Step Functions records them: Lambda's JSON with a stack trace, and a plain States.Timeout.
    const lambdaCause = JSON.stringify({
      errorType: 'Error',
      errorMessage: 'Runtime exited with error: signal: killed',
      trace: ['Error: Runtime exited', '    at process.exit'],
    });
    await writeMapResults(fx.s3, { bucket: fx.bucket, prefix: mapResultsPrefix(batchId), mapRunArn: 'arn:run', mapRunId: 'run-1' }, [
      child('SUCCEEDED', ['a.png', 'b.png']),
      child('FAILED', ['c.png', 'd.png'], { error: 'Lambda.Unknown', cause: lambdaCause }),
      child('FAILED', ['e.png'], { error: 'States.Timeout', cause: `Task timed out after 360 seconds${'.'.repeat(400)}` }),
    ]);
    const failures = await readDetectStepFailures(fx.s3, fx.bucket, batchId);
    expect([...failures.keys()].sort()).toEqual([image('c.png'), image('d.png'), image('e.png')]);
    expect(failures.get(image('c.png'))).toEqual({ error: 'Lambda.Unknown', cause: 'Runtime exited with error: signal: killed' });
    const timeout = failures.get(image('e.png'))!;
    expect(timeout.error).toBe('States.Timeout');
    expect(timeout.cause.startsWith('Task timed out after 360 seconds')).toBe(true);
    expect(timeout.cause).toHaveLength(300);
  });

  it('skips a results file that is not JSON instead of failing the summary', async () => {
    const id = 'map-failures-2';
    const prefix = mapResultsPrefix(id);
    await fx.s3.send(new PutObjectCommand({ Bucket: fx.bucket, Key: `${prefix}run-2/FAILED_0.json`, Body: '[{"Input": ' }));
    await fx.s3.send(
      new PutObjectCommand({
        Bucket: fx.bucket,
        Key: `${prefix}run-2/manifest.json`,
        Body: JSON.stringify({ ResultFiles: { FAILED: [{ Key: `${prefix}run-2/FAILED_0.json`, Size: 11 }], SUCCEEDED: [], PENDING: [] } }),
      }),
    );
    expect((await readDetectStepFailures(fx.s3, fx.bucket, id)).size).toBe(0);
  });
});
