/**
 * The detect handler against a real S3 API (s3rver on loopback): a batch with
 * one broken image among good ones, and every object it writes checked.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DetectEvent, ImageRecord } from '../../lambdas/shared/contracts.js';
import { createS3Client } from '../../lambdas/shared/s3-client.js';
import { startLocalS3Server, type LocalS3Server } from '../../local/s3-server.js';
import { goodPng, goodTiff, notAnImage, testModelBytes } from './fixtures.js';

const BUCKET = 'exodetect-data';
let server: LocalS3Server;
let directory: string;
let s3: S3Client;

beforeAll(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), 'exodetect-detect-it-'));
  server = await startLocalS3Server({ directory, buckets: [BUCKET] });
  process.env.EXODETECT_S3_ENDPOINT = server.endpoint;
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  s3 = createS3Client();
});

afterAll(async () => {
  s3?.destroy();
  await server?.close();
  await rm(directory, { recursive: true, force: true });
});

async function put(key: string, body: Uint8Array): Promise<number> {
  await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
  return body.length;
}

async function get(key: string): Promise<Buffer> {
  const object = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from(await object.Body!.transformToByteArray());
}

describe('detect handler on s3rver', () => {
  it('processes the good images, records the broken one, and writes exactly the expected objects', async () => {
    await put('models/default/model.onnx', testModelBytes);
    const png = await goodPng();
    const truncated = png.subarray(0, Math.floor(png.length * 0.6));
    const items = [
      { Key: 'batches/it-1/images/a.png', Size: await put('batches/it-1/images/a.png', png) },
      { Key: 'batches/it-1/images/broken.png', Size: await put('batches/it-1/images/broken.png', truncated) },
      { Key: 'batches/it-1/images/b.tif', Size: await put('batches/it-1/images/b.tif', goodTiff()) },
      { Key: 'batches/it-1/images/readme.png', Size: await put('batches/it-1/images/readme.png', notAnImage) },
    ];
    const event: DetectEvent = {
      Items: items,
      BatchInput: { bucket: BUCKET, batchId: 'it-1', modelKey: 'models/default/model.onnx', params: { nm_per_px: 1 } },
    };

    const { handler } = await import('../../lambdas/detect.js');
    const output = await handler(event);
    expect(output.items.map((i) => [i.key, i.status])).toEqual([
      ['batches/it-1/images/a.png', 'ok'],
      ['batches/it-1/images/broken.png', 'error'],
      ['batches/it-1/images/b.tif', 'ok'],
      ['batches/it-1/images/readme.png', 'error'],
    ]);
    // The state payload stays small: no detections in it.
    expect(JSON.stringify(output).length).toBeLessThan(2000);

    const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'results/' }));
    const keys = (listed.Contents ?? []).map((o) => o.Key).sort();
    expect(keys).toEqual([
      'results/it-1/images/a.png.json',
      'results/it-1/images/b.tif.json',
      'results/it-1/images/broken.png.json',
      'results/it-1/images/readme.png.json',
      'results/it-1/overlays/a.png.jpg',
      'results/it-1/overlays/b.tif.jpg',
      'results/it-1/previews/a.png.jpg',
      'results/it-1/previews/b.tif.jpg',
    ]);

    const a = JSON.parse((await get('results/it-1/images/a.png.json')).toString()) as ImageRecord;
    expect(a).toMatchObject({ status: 'ok', image_key: 'batches/it-1/images/a.png', width: 128, height: 96, overlay_key: 'results/it-1/overlays/a.png.jpg' });
    if (a.status !== 'ok') throw new Error('expected ok');
    expect(a.detections).toHaveLength(2);
    expect(a.model.version).toBe('test-1');

    const b = JSON.parse((await get('results/it-1/images/b.tif.json')).toString()) as ImageRecord;
    expect(b).toMatchObject({ status: 'ok', bit_depth: 16, format: 'tiff' });

    const broken = JSON.parse((await get('results/it-1/images/broken.png.json')).toString()) as ImageRecord;
    expect(broken).toMatchObject({ status: 'error', image_key: 'batches/it-1/images/broken.png', error: { code: 'TRUNCATED' } });
    const readme = JSON.parse((await get('results/it-1/images/readme.png.json')).toString()) as ImageRecord;
    expect(readme).toMatchObject({ status: 'error', error: { code: 'NOT_AN_IMAGE' } });

    // The overlay is the image with its key beneath; the preview, the image alone.
    for (const [key, width, height] of [
      ['results/it-1/overlays/a.png.jpg', 128, 96],
      ['results/it-1/overlays/b.tif.jpg', 100, 80],
      ['results/it-1/previews/a.png.jpg', 128, 96],
      ['results/it-1/previews/b.tif.jpg', 100, 80],
    ] as const) {
      const meta = await sharp(await get(key)).metadata();
      expect([meta.format, meta.width]).toEqual(['jpeg', width]);
      if (key.includes('/overlays/')) expect(meta.height).toBeGreaterThan(height + 10);
      else expect(meta.height).toBe(height);
    }
  });

  it('fails the invocation when the model does not exist', async () => {
    const { handler } = await import('../../lambdas/detect.js');
    await expect(
      handler({ Items: [{ Key: 'batches/it-2/images/a.png' }], BatchInput: { bucket: BUCKET, batchId: 'it-2', modelKey: 'models/nope/model.onnx' } }),
    ).rejects.toThrow(/models\/nope\/model\.onnx does not exist/);
  });
});
