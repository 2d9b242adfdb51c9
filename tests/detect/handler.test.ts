import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ImageErrorRecord, ImageResult } from '../../lambdas/shared/contracts.js';
import { runDetectBatch } from '../../lambdas/inference/detect-batch.js';
import { ConfigError, ModelError } from '../../lambdas/shared/errors.js';
import { ModelCache } from '../../lambdas/detect/model-cache.js';
import { loadModel } from '../../lambdas/detect/model.js';
import { goodPng, goodTiff, loadEvent, notAnImage, testModelBytes } from './fixtures.js';

const s3Mock = mockClient(S3Client);
const body = (bytes: Uint8Array) => ({ transformToByteArray: async () => new Uint8Array(bytes) }) as never;
const MODEL_KEY = 'models/default/model.onnx';

function sdkError(name: string, status: number): Error {
  return Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
}

async function stubBucket(): Promise<void> {
  s3Mock.reset();
  s3Mock.on(HeadObjectCommand, { Key: MODEL_KEY }).resolves({ ETag: '"model-1"' });
  s3Mock.on(GetObjectCommand, { Key: MODEL_KEY }).resolves({ Body: body(testModelBytes) });
  s3Mock.on(GetObjectCommand, { Key: 'batches/b1/images/good-1.png' }).resolves({ Body: body(await goodPng()) });
  s3Mock.on(GetObjectCommand, { Key: 'batches/b1/images/notes.png' }).resolves({ Body: body(notAnImage) });
  s3Mock.on(GetObjectCommand, { Key: 'batches/b1/images/sub/good-2.tif' }).resolves({ Body: body(goodTiff()) });
  s3Mock.on(PutObjectCommand).resolves({});
}

function puts(): Map<string, { body: unknown; contentType?: string }> {
  return new Map(
    s3Mock.commandCalls(PutObjectCommand).map((c) => [c.args[0].input.Key!, { body: c.args[0].input.Body, contentType: c.args[0].input.ContentType }]),
  );
}

describe('runDetectBatch', () => {
  let s3: S3Client;
  let models: ModelCache;
  let loads = 0;
  beforeEach(async () => {
    await stubBucket();
    s3 = new S3Client({ region: 'us-east-1' });
    loads = 0;
    // Counts real loads: what the cache is for is loading as few times as it can.
    models = new ModelCache({ s3, loadProps: { intraOpThreads: 1 }, loader: (bytes, props) => (loads++, loadModel(bytes, props)) });
  });
  afterEach(() => s3Mock.reset());

  it('writes a result and an overlay per good image, an error record for the bad one, and goes on', async () => {
    const output = await runDetectBatch(loadEvent('batch-event.json'), { s3, models, now: () => new Date('2026-11-25T09:00:00Z') });
    expect(output.items).toEqual([
      { key: 'batches/b1/images/good-1.png', status: 'ok', resultKey: 'results/b1/images/good-1.png.json', detections: 2 },
      {
        key: 'batches/b1/images/notes.png',
        status: 'error',
        resultKey: 'results/b1/images/notes.png.json',
        error: expect.stringMatching(/^NOT_AN_IMAGE: batches\/b1\/images\/notes\.png: /),
      },
      { key: 'batches/b1/images/sub/good-2.tif', status: 'ok', resultKey: 'results/b1/images/sub/good-2.tif.json', detections: 2 },
    ]);
    const written = puts();
    expect([...written.keys()].sort()).toEqual([
      'results/b1/images/good-1.png.json',
      'results/b1/images/notes.png.json',
      'results/b1/images/sub/good-2.tif.json',
      'results/b1/overlays/good-1.png.jpg',
      'results/b1/overlays/sub/good-2.tif.jpg',
      'results/b1/previews/good-1.png.jpg',
      'results/b1/previews/sub/good-2.tif.jpg',
    ]);
    const ok = JSON.parse(written.get('results/b1/images/good-1.png.json')!.body as string) as ImageResult;
    expect(ok).toMatchObject({ status: 'ok', batch_id: 'b1', image_key: 'batches/b1/images/good-1.png', nm_per_px_source: 'batch', preview_key: 'results/b1/previews/good-1.png.jpg' });
    expect(ok.detections.map((d) => d.box_px)).toEqual([
      [10, 10, 50, 50],
      [60, 60, 70, 70],
    ]);
    expect(ok.detections.map((d) => d.in_size_range)).toEqual([true, false]);
    const failed = JSON.parse(written.get('results/b1/images/notes.png.json')!.body as string) as ImageErrorRecord;
    expect(failed).toEqual({
      schema: 'exodetect.image-result',
      schema_version: '1.2',
      status: 'error',
      batch_id: 'b1',
      image_key: 'batches/b1/images/notes.png',
      error: { code: 'NOT_AN_IMAGE', message: expect.stringContaining('batches/b1/images/notes.png') },
      created_at: '2026-11-25T09:00:00.000Z',
    });
    const overlay = written.get('results/b1/overlays/good-1.png.jpg')!;
    expect(overlay.contentType).toBe('image/jpeg');
    expect(Buffer.from(overlay.body as Uint8Array).subarray(0, 3)).toEqual(Buffer.from([0xff, 0xd8, 0xff]));
    const preview = written.get('results/b1/previews/good-1.png.jpg')!;
    expect(preview.contentType).toBe('image/jpeg');
    expect(Buffer.from(preview.body as Uint8Array).subarray(0, 3)).toEqual(Buffer.from([0xff, 0xd8, 0xff]));
  });

  it('loads the model once per container and again only when its ETag changes', async () => {
    const event = loadEvent('batch-event.json');
    await runDetectBatch(event, { s3, models });
    await runDetectBatch(event, { s3, models });
    expect(loads).toBe(1);
    s3Mock.on(HeadObjectCommand, { Key: MODEL_KEY }).resolves({ ETag: '"model-2"' });
    await runDetectBatch(event, { s3, models });
    expect(loads).toBe(2);
  });

  it('throws, writing nothing, when the model is missing or unreadable', async () => {
    s3Mock.on(HeadObjectCommand, { Key: MODEL_KEY }).rejects(sdkError('NotFound', 404));
    await expect(runDetectBatch(loadEvent('batch-event.json'), { s3, models })).rejects.toThrow(ModelError);
    s3Mock.on(HeadObjectCommand, { Key: MODEL_KEY }).resolves({ ETag: '"garbage"' });
    s3Mock.on(GetObjectCommand, { Key: MODEL_KEY }).resolves({ Body: body(Buffer.from('not a model')) });
    await expect(runDetectBatch(loadEvent('batch-event.json'), { s3, models })).rejects.toThrow(/not a valid ONNX|cannot load/);
    expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  it('throws when S3 itself fails, so Step Functions retries the batch', async () => {
    s3Mock.on(GetObjectCommand, { Key: 'batches/b1/images/good-1.png' }).rejects(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    await expect(runDetectBatch(loadEvent('batch-event.json'), { s3, models })).rejects.toThrow(/ECONNREFUSED/);

    await stubBucket();
    s3Mock.on(PutObjectCommand).rejects(sdkError('AccessDenied', 403));
    await expect(runDetectBatch(loadEvent('batch-event.json'), { s3, models })).rejects.toThrow(/AccessDenied/);
  });

  it('records images that vanished or are too large without failing the batch', async () => {
    s3Mock.on(GetObjectCommand, { Key: 'batches/b1/images/good-1.png' }).rejects(sdkError('NoSuchKey', 404));
    const event = loadEvent('batch-event.json');
    const bigItem = { ...event.Items[2]!, Size: 10_000 };
    const output = await runDetectBatch({ ...event, Items: [event.Items[0]!, bigItem] }, { s3, models, maxObjectBytes: 5000 });
    expect(output.items.map((i) => [i.status, i.error?.split(':')[0]])).toEqual([
      ['error', 'UNREADABLE'],
      ['error', 'TOO_LARGE'],
    ]);
    const fetched = s3Mock.commandCalls(GetObjectCommand).map((c) => c.args[0].input.Key);
    expect(fetched).not.toContain('batches/b1/images/sub/good-2.tif');
    expect([...puts().keys()].sort()).toEqual(['results/b1/images/good-1.png.json', 'results/b1/images/sub/good-2.tif.json']);
  });

  it('rejects a malformed event with the field it lacks, and items outside the batch', async () => {
    await expect(runDetectBatch(loadEvent('event-missing-bucket.json'), { s3, models })).rejects.toThrow(ConfigError);
    await expect(runDetectBatch(loadEvent('event-missing-bucket.json'), { s3, models })).rejects.toThrow(/BatchInput\.bucket/);
    const event = loadEvent('batch-event.json');
    const output = await runDetectBatch({ ...event, Items: [{ Key: 'batches/other/images/x.png' }] }, { s3, models });
    expect(output.items[0]).toMatchObject({ status: 'error', resultKey: '', error: expect.stringMatching(/^NOT_IN_BATCH/) });
  });
});

describe('handler', () => {
  beforeEach(stubBucket);
  afterEach(() => s3Mock.reset());

  it('runs the batch with the module-level client and model cache', async () => {
    process.env.POWERTOOLS_METRICS_DISABLED = 'true';
    process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
    const { handler } = await import('../../lambdas/detect.js');
    const output = await handler(loadEvent('batch-event.json'));
    expect(output.items.map((i) => i.status)).toEqual(['ok', 'error', 'ok']);
    // Per good image: result, overlay, preview; the broken one: its error record.
    expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(7);
  });
});

describe('event validation', () => {
  it('rejects batch parameters out of range, quoting the value', async () => {
    const s3 = new S3Client({ region: 'us-east-1' });
    const models = { get: async () => Promise.reject(new Error('not reached')) };
    const event = loadEvent('batch-event.json');
    for (const [params, pattern] of [
      [{ nm_per_px: 0 }, /nm_per_px must be > 0, got 0/],
      [{ score_threshold: 1.5 }, /score_threshold must be in \[0, 1\], got 1.5/],
      [{ size_gate_nm: [200, 20] }, /size_gate_nm .* got \[200,20\]/],
    ] as const) {
      await expect(runDetectBatch({ ...event, BatchInput: { ...event.BatchInput, params: params as never } }, { s3, models })).rejects.toThrow(pattern);
    }
  });
});
