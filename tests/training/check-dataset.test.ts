import { beforeEach, describe, expect, it } from 'vitest';
import { checkDataset, datasetFingerprint, runIdFor } from '../../lambdas/training/dataset-check.js';
import { DatasetError } from '../../lambdas/training/errors.js';
import { FakeBucket } from './fake-bucket.js';
import { fixture } from './fixtures.js';

const NOW = new Date('2026-11-25T08:30:00.000Z');
let bucket: FakeBucket;

beforeEach(() => {
  bucket = new FakeBucket();
  bucket.put('datasets/visn/images/0001.png', 'png-1').put('datasets/visn/images/0002.png', 'png-2');
  bucket.put('datasets/visn/annotations.coco.json', '{"images":[]}');
});

const check = (request: unknown) => checkDataset(bucket.client, { bucket: 'exodetect-data', request }, NOW);

describe('datasetFingerprint', () => {
  const objects = [
    { key: 'datasets/d/a.png', size: 3, etag: 'e1' },
    { key: 'datasets/d/b.txt', size: 5, etag: 'e2' },
  ];
  it('ignores listing order and changes with any key, size or ETag', () => {
    const base = datasetFingerprint(objects, 'datasets/d/');
    expect(datasetFingerprint([...objects].reverse(), 'datasets/d/')).toBe(base);
    expect(base).toMatch(/^[0-9a-f]{64}$/);
    for (const changed of [
      [{ ...objects[0]!, etag: 'e9' }, objects[1]!],
      [{ ...objects[0]!, size: 4 }, objects[1]!],
      [{ ...objects[0]!, key: 'datasets/d/c.png' }, objects[1]!],
      [objects[0]!],
    ]) {
      expect(datasetFingerprint(changed, 'datasets/d/')).not.toBe(base);
    }
  });
});

describe('checkDataset', () => {
  it('trains when there is no champion yet, with a run id usable as a SageMaker job name', async () => {
    const out = await check({ dataset: 'visn' });
    expect(out).toMatchObject({
      bucket: 'exodetect-data',
      dataset: 'visn',
      datasetPrefix: 'datasets/visn/',
      changed: true,
      championVersion: null,
      imageCount: 2,
      annotationFiles: 1,
      request: { dataset: 'visn' },
    });
    expect(out.reason).toMatch(/no trained champion yet: .* beats the bundled default model/);
    expect(out.runId).toBe(`20261125-083000-${out.fingerprint.slice(0, 8)}`);
    expect(out.modelVersion).toBe(out.runId);
    expect(out.trainingJobName).toMatch(/^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/);
  });

  it('stops when the dataset is what the champion was trained on, unless forced', async () => {
    const first = await check({ dataset: 'visn' });
    bucket.put('models/champion.json', { ...fixture('champion.json'), dataset_listing_fingerprint: first.fingerprint });
    const again = await check({ dataset: 'visn' });
    expect(again.changed).toBe(false);
    // A record written before the field's rename is still understood.
    bucket.put('models/champion.json', { ...fixture('champion.json'), dataset_fingerprint: first.fingerprint });
    expect((await check({ dataset: 'visn' })).changed).toBe(false);
    expect(again.reason).toMatch(/nothing changed/);
    expect(again.championVersion).toBe('20261101-020000-0badcafe');

    const forced = await check({ dataset: 'visn', force: true });
    expect(forced.changed).toBe(true);
    expect(forced.reason).toMatch(/forced/);
    // Only the data is compared, and the reason says so: new settings alone do not read as a change.
    const tuned = await check({ dataset: 'visn', hyperparameters: { ema_half_life_epochs: '2' } });
    expect(tuned.changed).toBe(false);
    expect(tuned.reason).toMatch(/\(only the data is compared, not hyperparameters or where training starts\)$/);

    bucket.put('datasets/visn/images/0003.png', 'png-3').put('datasets/visn/images/0003.txt', '0 0.5 0.5 0.1 0.1');
    const grown = await check({ dataset: 'visn' });
    expect(grown.changed).toBe(true);
    expect(grown.reason).toMatch(/changed since the champion/);
    expect(grown.fingerprint).not.toBe(first.fingerprint);
  });

  it('trains when the champion came from another dataset', async () => {
    bucket.put('models/champion.json', { ...fixture('champion.json'), dataset: 'other' });
    await expect(check({ dataset: 'visn' })).resolves.toMatchObject({ changed: true, reason: expect.stringMatching(/"other"/) });
  });

  it('rejects a missing dataset, one without images and one without annotations', async () => {
    await expect(check({ dataset: 'nothing' })).rejects.toThrow(/s3:\/\/exodetect-data\/datasets\/nothing\/ is empty or does not exist/);
    bucket.put('datasets/labels-only/a.txt', '0 0.5 0.5 0.1 0.1');
    await expect(check({ dataset: 'labels-only' })).rejects.toThrow(/holds no images/);
    bucket.put('datasets/images-only/a.png', 'png').put('datasets/images-only/dataset.json', '{"nm_per_px": 1}');
    await expect(check({ dataset: 'images-only' })).rejects.toThrow(/holds 1 images but no annotation files/);
  });

  it.each([
    [{}, /dataset/],
    [{ dataset: '../etc' }, /folder name under datasets/],
    [{ dataset: 'visn', epochs: 3 }, /epochs/],
    [{ dataset: 'visn', split: { validationFraction: 1.5 } }, /validationFraction/],
  ])('rejects the request %j with a DatasetError', async (request, message) => {
    const attempt = check(request);
    await expect(attempt).rejects.toBeInstanceOf(DatasetError);
    await expect(attempt).rejects.toThrow(message);
  });
});

describe('runIdFor', () => {
  it('is sortable by time', () => {
    expect(runIdFor(new Date('2026-01-02T03:04:05.678Z'), 'abcdef0123')).toBe('20260102-030405-abcdef01');
  });
});
