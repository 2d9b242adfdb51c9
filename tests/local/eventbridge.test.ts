import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchManifestEventPattern, inferenceExecutionName, type EventPattern } from '../../lambdas/shared/events.js';
import { createS3Client } from '../../lambdas/shared/s3-client.js';
import { BatchManifestBridge, matchesEventPattern, toObjectCreatedEvent } from '../../local/eventbridge.js';
import { startLocalS3Server, type LocalS3Server } from '../../local/s3-server.js';
import { parseDefinition } from '../../local/stepfunctions/definition.js';
import { LocalStepFunctions, type ExecutionOutcome } from '../../local/stepfunctions/runner.js';
import { tableHandlerResolver } from '../../local/stepfunctions/lambda.js';

const BUCKET = 'exodetect-data';
let server: LocalS3Server;
let dir: string;
let s3: S3Client;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'exodetect-eb-'));
  server = await startLocalS3Server({ directory: dir, buckets: [BUCKET] });
  s3 = createS3Client({ EXODETECT_S3_ENDPOINT: server.endpoint });
});
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

const pattern = batchManifestEventPattern(BUCKET) as unknown as EventPattern;
const record = (key: string, eventName = 'ObjectCreated:Put', bucket = BUCKET) => ({
  eventName,
  eventTime: new Date().toISOString(),
  s3: { bucket: { name: bucket }, object: { key, size: 10, eTag: '"abc123"', sequencer: '1' } },
});

describe('S3 -> EventBridge events', () => {
  it('has the S3 "Object Created" shape', () => {
    const event = toObjectCreatedEvent(record('batches/b1/batch.json'))!;
    expect(event.source).toBe('aws.s3');
    expect(event['detail-type']).toBe('Object Created');
    expect(event.detail.bucket.name).toBe(BUCKET);
    expect(event.detail.object).toEqual({ key: 'batches/b1/batch.json', size: 10, etag: 'abc123', sequencer: '1' });
    expect(toObjectCreatedEvent(record('batches/b1/batch.json', 'ObjectRemoved:Delete'))).toBeUndefined();
    expect(toObjectCreatedEvent(record('batches/b1/images/a+b%281%29.png'))!.detail.object.key).toBe('batches/b1/images/a b(1).png');
  });

  it('matches the rule pattern for manifests only, in the data bucket only', () => {
    expect(matchesEventPattern(toObjectCreatedEvent(record('batches/b1/batch.json')), pattern)).toBe(true);
    expect(matchesEventPattern(toObjectCreatedEvent(record('batches/b1/images/x.png')), pattern)).toBe(false);
    expect(matchesEventPattern(toObjectCreatedEvent(record('results/b1/batch.json')), pattern)).toBe(false);
    expect(matchesEventPattern(toObjectCreatedEvent(record('batches/b1/batch.json', 'ObjectCreated:Put', 'other')), pattern)).toBe(false);
    expect(matchesEventPattern({ a: 'x' }, { a: [{ prefix: 'x' }], b: [{ exists: false }] })).toBe(true);
    expect(matchesEventPattern({ a: 'x' }, { a: [{ 'anything-but': ['x'] }] })).toBe(false);
  });

  it('names executions per manifest version, within Step Functions limits', () => {
    expect(inferenceExecutionName('b1', '"abc"')).toBe('b1-abc');
    const long = inferenceExecutionName('x'.repeat(80), 'd41d8cd98f00b204e9800998ecf8427e-12');
    expect(long.length).toBeLessThanOrEqual(80);
    expect(long).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(inferenceExecutionName('a.b', 'e')).toBe('a_b-e');
  });
});

describe('batch manifest bridge over s3rver', () => {
  it('starts one execution per manifest version and ignores images and re-uploads', async () => {
    const inputs: unknown[] = [];
    const sfn = new LocalStepFunctions({ s3, handlers: tableHandlerResolver({ Record: async (e) => (inputs.push(e), e) }) });
    const machine = sfn.createStateMachine(
      'Inference',
      parseDefinition(JSON.stringify({ StartAt: 'R', States: { R: { Type: 'Task', Resource: 'arn:aws:lambda:local:000000000000:function:Record', End: true } } })),
    );
    const bridge = new BatchManifestBridge({ objectEvents: server.events, bucket: BUCKET, inference: machine });
    const started: string[] = [];
    const duplicates: string[] = [];
    const finished: ExecutionOutcome[] = [];
    bridge.on('started', (s: { execution: { name: string } }) => started.push(s.execution.name));
    bridge.on('duplicate', (d: { executionName: string }) => duplicates.push(d.executionName));
    bridge.on('finished', (o: ExecutionOutcome) => finished.push(o));
    const put = (key: string, body: string) => s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
    /** Resolves when the bridge has decided about the next manifest event (started or duplicate). */
    const decided = () => new Promise<void>((resolve) => {
      const done = () => {
        bridge.off('started', done);
        bridge.off('duplicate', done);
        resolve();
      };
      bridge.on('started', done);
      bridge.on('duplicate', done);
    });

    await put('batches/b1/images/a.png', 'png');
    let next = decided();
    await put('batches/b1/batch.json', '{}');
    await next;
    await bridge.idle();
    next = decided();
    await put('batches/b1/batch.json', '{}'); // same content, same ETag
    await next;
    next = decided();
    await put('batches/b1/batch.json', '{"nm_per_px": 1.5}'); // a new version
    await next;
    await bridge.idle();
    bridge.close();

    expect(started).toHaveLength(2);
    expect(duplicates).toEqual([started[0]]);
    expect(started[0]).toMatch(/^b1-[0-9a-f]{32}$/);
    expect(inputs).toEqual([
      { bucket: BUCKET, key: 'batches/b1/batch.json' },
      { bucket: BUCKET, key: 'batches/b1/batch.json' },
    ]);
    expect(finished.map((f) => f.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
  });
});
