import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { describeError, formatNotification, parseNotificationEvent, recordBatchFailure } from '../../lambdas/shared/notification.js';
import { FakeBucket } from './fake-bucket.js';

const lambdaCause = JSON.stringify({ errorType: 'BatchManifestError', errorMessage: 'batches/g7/batch.json: not valid JSON (Unexpected end)' });

describe('formatNotification', () => {
  it('summarises a finished batch with where its results are', () => {
    const n = formatNotification({
      kind: 'batch.succeeded',
      detail: {
        bucket: 'exodetect-data',
        batchId: 'g7',
        imageCount: 12,
        modelVersion: 'default',
        resultsPrefix: 'results/g7/',
        summary: { batchId: 'g7', images: 12, failed: 1, detections: 340, reportKey: 'results/g7/report.html' },
      },
    });
    expect(n.subject).toBe('exodetect: batch g7 done, 340 detections');
    expect(n.message).toContain('Images: 12 (failed: 1), detections: 340, model: default.');
    expect(n.message).toContain('Results: s3://exodetect-data/results/g7/');
    expect(n.message).toContain('Report: s3://exodetect-data/results/g7/report.html');
  });

  it('explains a failed batch with the Lambda error message, even before the batch id was known', () => {
    const n = formatNotification({
      kind: 'batch.failed',
      detail: { bucket: 'exodetect-data', key: 'batches/g7/batch.json', error: { Error: 'BatchManifestError', Cause: lambdaCause } },
    });
    expect(n.subject).toBe('exodetect: batch g7 FAILED (BatchManifestError)');
    expect(n.message.split('\n')[0]).toBe('Batch g7 failed: BatchManifestError: batches/g7/batch.json: not valid JSON (Unexpected end)');
    expect(n.message).toContain('upload batch.json again');
  });

  it('reports promotion and rejection with the validation figures and the reason', () => {
    const detail = {
      dataset: 'visn',
      runId: 'r1',
      trainingJobName: 'exodetect-r1',
      promotion: { promoted: false, reason: 'not promoted: F1 is not higher', candidate: { version: 'r1', modelKey: 'models/r1/model.onnx', validation: { ap50: 0.83, f1: 0.8195 } } },
    };
    const rejected = formatNotification({ kind: 'model.rejected', detail });
    expect(rejected.subject).toBe('exodetect: model r1 not promoted');
    expect(rejected.message).toContain('Validation: AP50 0.83, F1 0.8195');
    expect(rejected.message).toContain('Kept the current champion: not promoted: F1 is not higher');
    expect(formatNotification({ kind: 'model.promoted', detail }).subject).toBe('exodetect: model r1 promoted to champion');
  });

  it('keeps SNS subjects within 100 printable ASCII characters', () => {
    const n = formatNotification({ kind: 'batch.failed', detail: { batchId: `b${'x'.repeat(120)}`, error: { Error: 'Ä' } } });
    expect(n.subject.length).toBeLessThanOrEqual(100);
    expect(n.subject).toMatch(/^[\x20-\x7e]+$/);
  });

  it('rejects unknown kinds', () => {
    expect(() => parseNotificationEvent({ kind: 'party', detail: {} })).toThrow(/notify expects \{kind, detail\}/);
  });
});

describe('describeError / recordBatchFailure', () => {
  it('falls back to the raw cause when it is not Lambda JSON', () => {
    expect(describeError({ Error: 'States.ExceedToleratedFailureThreshold', Cause: 'too many failed' })).toEqual({
      error: 'States.ExceedToleratedFailureThreshold',
      cause: 'too many failed',
    });
  });
  it('writes results/<id>/failure.json', async () => {
    const bucket = new FakeBucket();
    const key = await recordBatchFailure(bucket.client, { bucket: 'exodetect-data', key: 'batches/g7/batch.json', error: { Error: 'X', Cause: lambdaCause } }, new Date(0));
    expect(key).toBe('results/g7/failure.json');
    expect(bucket.json(key!)).toEqual({
      schema: 'exodetect.batch-failure',
      batch_id: 'g7',
      error: 'X',
      cause: 'batches/g7/batch.json: not valid JSON (Unexpected end)',
      manifest_key: 'batches/g7/batch.json',
      failed_at: '1970-01-01T00:00:00.000Z',
    });
    expect(await recordBatchFailure(bucket.client, { bucket: 'exodetect-data', key: 'nonsense' })).toBeUndefined();
  });
});

describe('notify handler', () => {
  const sns = mockClient(SNSClient);
  const s3 = mockClient(S3Client);
  beforeEach(() => {
    vi.resetModules();
    sns.reset();
    s3.reset();
    sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
    s3.on(PutObjectCommand).resolves({});
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'true');
  });
  afterEach(() => vi.unstubAllEnvs());

  it('publishes to the topic when NOTIFY_TOPIC_ARN is set', async () => {
    vi.stubEnv('NOTIFY_TOPIC_ARN', 'arn:aws:sns:eu-west-1:123456789012:exodetect');
    const { handler } = await import('../../lambdas/notify.js');
    const out = await handler({ kind: 'batch.failed', detail: { bucket: 'exodetect-data', batchId: 'g7', error: { Error: 'E', Cause: 'c' } } });
    expect(out).toMatchObject({ kind: 'batch.failed', published: true, failureKey: 'results/g7/failure.json' });
    const publish = sns.commandCalls(PublishCommand)[0]!.args[0].input;
    expect(publish).toMatchObject({ TopicArn: 'arn:aws:sns:eu-west-1:123456789012:exodetect', Subject: 'exodetect: batch g7 FAILED (E)' });
    expect(s3.commandCalls(PutObjectCommand)[0]!.args[0].input.Key).toBe('results/g7/failure.json');
  });

  it('only logs when no topic is configured', async () => {
    vi.stubEnv('NOTIFY_TOPIC_ARN', '');
    const { handler } = await import('../../lambdas/notify.js');
    const out = await handler({ kind: 'model.promoted', detail: { promotion: { candidate: { version: 'v1' } } } });
    expect(out).toEqual({ kind: 'model.promoted', subject: 'exodetect: model v1 promoted to champion', published: false });
    expect(sns.commandCalls(PublishCommand)).toHaveLength(0);
  });
});
