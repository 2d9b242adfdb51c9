/**
 * Head-to-head promotion on the run's validation split, with real ONNX models
 * through the inference path on local S3: the bundled default model against a
 * constant detector that always reports the same box. The split is the real
 * split step's output for a dataset of demo images with one COCO file.
 */
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { objectExists } from '../../lambdas/shared/s3-objects.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../lambdas/shared/s3-client.js';
import { splitDataset } from '../../lambdas/training/dataset-split.js';
import { createModelComparer } from '../../lambdas/training/model-comparison.js';
import { parseTruthDocument } from '../../lambdas/evaluation/truth-scoring.js';
import type { RegisteredModel } from '../../lambdas/training/model-registration.js';
import { promoteModel } from '../../lambdas/training/promotion.js';
import { startLocalS3Server, type LocalS3Server } from '../../local/s3-server.js';
import { buildConstantDetectorModel } from '../helpers/onnx-builder.js';
import { exodetectMetadata } from '../helpers/model-metadata.js';

const BUCKET = 'exodetect-data';
const RUN = '20261125-090000-abcdef01';
const CHANNEL = `training/${RUN}/channels/validation/`;
const IMAGES = ['exo-demo-01.png', 'exo-demo-02.png', 'exo-demo-03.png', 'exo-demo-04.png'];
let split: Awaited<ReturnType<typeof splitDataset>>;
const root = new URL('../..', import.meta.url).pathname;
const SAMPLES = path.join(root, 'samples', 'demo-batch');
let dir: string;
let server: LocalS3Server;
let s3: S3Client;
const put = (Key: string, Body: Uint8Array | string) => s3.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body }));

const candidate: RegisteredModel = {
  version: 'cand',
  modelKey: 'models/cand/model.onnx',
  metricsKey: 'models/cand/metrics.json',
  cardKey: 'models/cand/card.md',
  registrationKey: 'models/cand/registration.json',
  weightsKey: null,
  // Recorded figures that alone would lose to the champion's recorded ones.
  validation: { ap50: 0.1, f1: 0.1 },
  test: null,
  scoreThreshold: null,
  datasetFingerprint: 'fp',
  dataset: 'demo',
};
const championRecord = {
  version: 'champ',
  model_key: 'models/champ/model.onnx',
  metrics: { validation: { ap50: 0.99, f1: 0.99 } },
};

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'exodetect-compare-'));
  server = await startLocalS3Server({ directory: dir, buckets: [BUCKET] });
  s3 = createS3Client({ EXODETECT_S3_ENDPOINT: server.endpoint });
  await put(candidate.modelKey, await readFile(path.join(root, 'models', 'default', 'model.onnx')));
  // The "champion": one fixed box per image, whatever the image shows.
  const constant = buildConstantDetectorModel({
    layout: 'exodetect',
    rows: [[10, 10, 60, 60, 0.9, 0]],
    metadata: exodetectMetadata({ nmPerPx: 1.5, scoreThreshold: 0.5 }),
  });
  await put(championRecord.model_key, constant);
  // A dataset as a user uploads it: four images and the one COCO file that labels the whole folder (its info says 1.5 nm/px).
  for (const name of IMAGES) await put(`datasets/demo/${name}`, await readFile(path.join(SAMPLES, name)));
  await put('datasets/demo/ground-truth.coco.json', await readFile(path.join(SAMPLES, 'ground-truth.coco.json')));
  split = await splitDataset(s3, { bucket: BUCKET, dataset: 'demo', datasetPrefix: 'datasets/demo/', runId: RUN, fingerprint: 'fp', request: { dataset: 'demo', split: { validationFraction: 0.5 } } });
}, 60_000);

afterAll(async () => {
  s3?.destroy();
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('head-to-head on the validation split', () => {
  it('has a validation channel whose truth.json holds exactly its images and their COCO boxes', async () => {
    const text = new TextDecoder().decode((await (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${CHANNEL}truth.json` }))).Body!.transformToByteArray()));
    const truth = parseTruthDocument(text, 'truth.json');
    expect(split.counts.validation!.images).toBe(2);
    const record = JSON.parse(await (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: split.splitKey }))).Body!.transformToString());
    expect(truth.images.map((i) => i.file)).toEqual(record.channels.validation.images);
    expect(record.channels.train.images).toHaveLength(2);
    const coco = JSON.parse(await readFile(path.join(SAMPLES, 'ground-truth.coco.json'), 'utf8'));
    const idOf = (file: string) => coco.images.find((i: { file_name: string }) => i.file_name === file).id;
    for (const image of truth.images) {
      expect(image.objects).toHaveLength(coco.annotations.filter((a: { image_id: number }) => a.image_id === idOf(image.file)).length);
      expect(image).toMatchObject({ nm_per_px: 1.5, nm_per_px_detail: 'ground-truth.coco.json info.nm_per_px = 1.5', labelled_by: 'ground-truth.coco.json' });
    }
    // No label of the other channel's images counts against this one.
    expect(truth.problems).toEqual([]);
  });

  it('promotes on figures both models earned on this split, not on the recorded ones', async () => {
    await put('models/champion.json', JSON.stringify(championRecord));
    const result = await promoteModel(
      s3,
      { bucket: BUCKET, dataset: 'demo', runId: RUN, fingerprint: 'fp', candidate },
      new Date(0),
      createModelComparer(s3, BUCKET, { intraOpThreads: 1 }),
      // Two synthetic images hold a handful of objects: below the default, no promotion would be decided.
      { minValidationObjects: 1 },
    );
    expect(result.comparison).toBe('head-to-head');
    expect(result.headToHead!.images).toBe(2);
    expect(result.headToHead!.candidate.ap50).toBeGreaterThan(0.5);
    expect(result.headToHead!.champion.ap50).toBeLessThan(0.1);
    expect(result.promoted).toBe(true);
    expect(result.reason).toMatch(/both models on this run's validation split \(2 images, inference path\)/);
  }, 120_000);

  it('falls back to the recorded metrics, and says why, when the champion model is missing', async () => {
    await put('models/champion.json', JSON.stringify({ ...championRecord, model_key: 'models/gone/model.onnx' }));
    const result = await promoteModel(
      s3,
      { bucket: BUCKET, dataset: 'demo', runId: RUN, fingerprint: 'fp', candidate },
      new Date(0),
      createModelComparer(s3, BUCKET, { intraOpThreads: 1 }),
    );
    expect(result.comparison).toBe('recorded');
    expect(result.promoted).toBe(false);
    expect(result.reason).toMatch(/no head-to-head: the champion champ's model models\/gone\/model\.onnx is missing/);
  });

  it('without a champion, makes the bundled default model the contender and rejects a worse first model', async () => {
    await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'models/champion.json' }));
    await put('models/default/model.onnx', await readFile(path.join(root, 'models', 'default', 'model.onnx')));
    const worse: RegisteredModel = { ...candidate, version: 'worse', modelKey: championRecord.model_key };
    const result = await promoteModel(
      s3,
      { bucket: BUCKET, dataset: 'demo', runId: RUN, fingerprint: 'fp', candidate: worse },
      new Date(0),
      createModelComparer(s3, BUCKET, { intraOpThreads: 1 }),
    );
    expect(result).toMatchObject({ promoted: false, contender: 'bundled-default', comparison: 'head-to-head' });
    expect(result.reason).toMatch(/^not promoted: .*\(the bundled default model\); both models on this run's validation split/);
    expect(await objectExists(s3, BUCKET, 'models/champion.json')).toBe(false);
  }, 120_000);
});
