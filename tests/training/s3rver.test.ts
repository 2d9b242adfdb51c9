/**
 * The orchestration handlers end to end against the real local S3 (s3rver):
 * the training chain check -> split -> register -> promote -> check again,
 * then a batch validated against the new champion, and a failure record.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalS3Server, type LocalS3Server } from '../../local/s3-server.js';
import { greyPng } from '../detect/fixtures/png-chunks.js';
import { fixtureText } from './fixtures.js';
import { tarGz } from './tar-archive.js';

const BUCKET = 'exodetect-data';
let server: LocalS3Server;
let directory: string;
let s3: S3Client;
let handlers: {
  check: (e: unknown) => Promise<any>;
  split: (e: unknown) => Promise<any>;
  register: (e: unknown) => Promise<any>;
  promote: (e: unknown) => Promise<any>;
  validate: (e: unknown) => Promise<any>;
  notify: (e: unknown) => Promise<any>;
};

const put = (key: string, body: string | Uint8Array) => s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
const text = async (key: string) => (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body!.transformToString();

beforeAll(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), 'exodetect-training-lambdas-'));
  server = await startLocalS3Server({ directory, buckets: [BUCKET] });
  process.env.EXODETECT_S3_ENDPOINT = server.endpoint;
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  delete process.env.NOTIFY_TOPIC_ARN;
  const { createS3Client } = await import('../../lambdas/shared/s3-client.js');
  s3 = createS3Client();
  handlers = {
    check: (await import('../../lambdas/check-dataset.js')).handler,
    split: (await import('../../lambdas/split-dataset.js')).handler,
    register: (await import('../../lambdas/register-model.js')).handler,
    promote: (await import('../../lambdas/promote-model.js')).handler,
    validate: (await import('../../lambdas/validate-batch.js')).handler,
    notify: (await import('../../lambdas/notify.js')).handler,
  };
  // A small dataset with a shared COCO file and spaces in keys (URL-encoded in CopySource). s3rver decodes
  // CopySource with decodeURI, so a "+" (which AWS needs as %2B) would not round-trip locally.
  const names = Array.from({ length: 6 }, (_, i) => `images/grid ${i % 2}/img ${i}.png`);
  for (const [i, name] of names.entries()) await put(`datasets/tiny/${name}`, greyPng(40, 30, 90 + i));
  const coco = {
    images: names.map((file_name, i) => ({ id: i + 1, file_name, width: 40, height: 30 })),
    annotations: names.map((_, i) => ({ id: i + 1, image_id: i + 1, category_id: 1, bbox: [5, 5, 10 + i, 8] })),
    categories: [{ id: 1, name: 'exosome' }],
  };
  await put('datasets/tiny/annotations.coco.json', JSON.stringify(coco));
  await put('datasets/tiny/dataset.json', '{"nm_per_px": 1.5}');
});

afterAll(async () => {
  s3?.destroy();
  await server?.close();
  await rm(directory, { recursive: true, force: true });
});

describe('training chain on local S3', () => {
  it('checks, splits, registers, promotes, and then finds nothing new', async () => {
    const check = await handlers.check({ bucket: BUCKET, request: { dataset: 'tiny', split: { by: 'group', validationFraction: 0.5 } } });
    expect(check).toMatchObject({ changed: true, imageCount: 6, annotationFiles: 1 });

    const split = await handlers.split(check);
    expect(split.counts).toMatchObject({ by: 'group', train: { images: 3, groups: 1 }, validation: { images: 3, groups: 1 } });
    const manifest = JSON.parse(await text(`training/${check.runId}/manifests/train.manifest`)) as [{ prefix: string }, ...string[]];
    const prefix = manifest[0].prefix.replace(`s3://${BUCKET}/`, '');
    const files = manifest.slice(1) as string[];
    expect(files).toContain('truth.json');
    for (const file of files) {
      const copy = await text(`${prefix}${file}`);
      if (file.endsWith('.png')) expect(copy).toBe(await text(`datasets/tiny/${file}`));
    }
    const truth = JSON.parse(await text(`${prefix}truth.json`));
    expect(truth.images.map((i: { objects: unknown[] }) => i.objects.length)).toEqual([1, 1, 1]);
    expect(truth.problems).toEqual([]);

    const artifact = `training/${check.runId}/output/${check.trainingJobName}/output/model.tar.gz`;
    await put(artifact, tarGz({ 'model.onnx': Buffer.from('onnx'), 'metrics.json': fixtureText('candidate-metrics.json') }));
    const registered = await handlers.register({
      bucket: BUCKET,
      dataset: check.dataset,
      runId: check.runId,
      modelVersion: check.modelVersion,
      fingerprint: check.fingerprint,
      trainingJobName: check.trainingJobName,
      modelArtifacts: `s3://${BUCKET}/${artifact}`,
      split: split.counts,
    });
    expect(await text(registered.modelKey)).toBe('onnx');

    const promotion = await handlers.promote({ bucket: BUCKET, dataset: 'tiny', runId: check.runId, fingerprint: check.fingerprint, candidate: registered });
    // No champion and no bundled default in this bucket: nothing to compare with, so the model is promoted unopposed.
    expect(promotion).toMatchObject({ promoted: true, champion: null, contender: null });
    expect(JSON.parse(await text('models/champion.json'))).toMatchObject({ version: check.modelVersion, dataset_listing_fingerprint: check.fingerprint });

    // s3rver's ETags and sizes feed the same fingerprint: the next scheduled run stops early.
    const again = await handlers.check({ bucket: BUCKET, request: { dataset: 'tiny' } });
    expect(again).toMatchObject({ changed: false, championVersion: check.modelVersion });

    // Inference now uses the champion.
    await put('batches/b1/images/a.png', 'png');
    await put('batches/b1/batch.json', '{"nm_per_px": 2}');
    const batch = await handlers.validate({ bucket: BUCKET, key: 'batches/b1/batch.json' });
    expect(batch).toMatchObject({ batchId: 'b1', imageCount: 1, modelKey: registered.modelKey, modelSource: 'champion', params: { nm_per_px: 2 } });
  });

  it('records a failed batch next to its results', async () => {
    const out = await handlers.notify({
      kind: 'batch.failed',
      detail: { bucket: BUCKET, key: 'batches/b2/batch.json', error: { Error: 'BatchManifestError', Cause: '{"errorMessage":"bad"}' } },
    });
    expect(out).toMatchObject({ published: false, failureKey: 'results/b2/failure.json' });
    expect(JSON.parse(await text('results/b2/failure.json'))).toMatchObject({ batch_id: 'b2', error: 'BatchManifestError', cause: 'bad' });
  });
});
