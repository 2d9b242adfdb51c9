import { ExecutionAlreadyExists, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { startInference } from '../../lambdas/inference/inference-start.js';
import { fixture } from '../training/fixtures.js';

const ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:exodetect-inference';
const sfnMock = mockClient(SFNClient);
const sfn = new SFNClient({ region: 'eu-west-1' });

beforeEach(() => sfnMock.reset());

describe('startInference', () => {
  it('starts one execution named after the batch and the object version, with {bucket, key} as input', async () => {
    sfnMock.on(StartExecutionCommand).resolves({ executionArn: `${ARN}:x`, startDate: new Date() });
    const out = await startInference(sfn, ARN, fixture('object-created-event.json'));
    expect(out).toMatchObject({ started: true, executionName: 'grid-7-IYV3p45BT0ac8hjHg1houSdS1a_Mro8e' });
    const input = sfnMock.commandCalls(StartExecutionCommand)[0]!.args[0].input;
    expect(input).toEqual({
      stateMachineArn: ARN,
      name: 'grid-7-IYV3p45BT0ac8hjHg1houSdS1a_Mro8e',
      input: JSON.stringify({ bucket: 'exodetect-data', key: 'batches/grid-7/batch.json' }),
    });
  });

  it('falls back to the ETag when the bucket is not versioned', async () => {
    sfnMock.on(StartExecutionCommand).resolves({ executionArn: 'a' });
    const event = fixture('object-created-event.json');
    delete event.detail.object['version-id'];
    const out = await startInference(sfn, ARN, event);
    expect(out.executionName).toBe('grid-7-b1946ac92492d2347c6235b4d2611184');
  });

  it('drops a second start of the same manifest version instead of processing the batch twice', async () => {
    sfnMock.on(StartExecutionCommand).rejects(new ExecutionAlreadyExists({ message: 'exists', $metadata: {} }));
    const out = await startInference(sfn, ARN, fixture('object-created-event.json'));
    expect(out).toMatchObject({ started: false, reason: expect.stringMatching(/already started/) });
  });

  it('ignores keys that are not a batch manifest and rethrows other errors', async () => {
    const event = fixture('object-created-event.json');
    event.detail.object.key = 'batches/grid-7/images/a.png';
    await expect(startInference(sfn, ARN, event)).resolves.toMatchObject({ started: false });
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);

    sfnMock.on(StartExecutionCommand).rejects(Object.assign(new Error('throttled'), { name: 'ThrottlingException' }));
    await expect(startInference(sfn, ARN, fixture('object-created-event.json'))).rejects.toThrow('throttled');
    await expect(startInference(sfn, ARN, { detail: {} })).rejects.toThrow(/expects an S3 Object Created event/);
  });
});
