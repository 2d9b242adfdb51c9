import { beforeEach, describe, expect, it } from 'vitest';
import { BatchManifestError, ModelError } from '../../lambdas/shared/errors.js';
import { parseValidateBatchInput, validateBatch } from '../../lambdas/inference/batch-validation.js';
import { FakeBucket } from '../training/fake-bucket.js';
import { fixture, fixtureText } from '../training/fixtures.js';

const KEY = 'batches/grid-7/batch.json';
let bucket: FakeBucket;

beforeEach(() => {
  bucket = new FakeBucket('exodetect-data', 2); // page size 2: listing must follow continuation tokens
  for (const name of ['a.png', 'b.tif', 'sub/c.png', 'd.jpg', 'e.png']) bucket.put(`batches/grid-7/images/${name}`, 'img');
  bucket.put('models/default/model.onnx', 'onnx-default');
});

describe('validateBatch', () => {
  it('returns the batch, its image count, the DetectParams from batch.json and the default model', async () => {
    bucket.put(KEY, fixtureText('batch-valid.json'));
    const out = await validateBatch(bucket.client, { bucket: 'exodetect-data', key: KEY });
    expect(out).toEqual({
      bucket: 'exodetect-data',
      batchId: 'grid-7',
      imagesPrefix: 'batches/grid-7/images/',
      imageCount: 5,
      modelKey: 'models/default/model.onnx',
      modelVersion: 'default',
      modelSource: 'default',
      params: { nm_per_px: 1.5, score_threshold: 0.35, size_gate_nm: [30, 150] },
      resultsPrefix: 'results/grid-7/',
      mapResultsPrefix: 'results/grid-7/map/',
    });
  });

  it('prefers the champion over the default model, and batch.json model_version over both', async () => {
    const champion = fixture('champion.json');
    bucket.put('models/champion.json', champion).put(champion.model_key, 'onnx-champion').put('models/v7/model.onnx', 'onnx-v7');
    bucket.put(KEY, '{}');
    const viaChampion = await validateBatch(bucket.client, { bucket: 'exodetect-data', key: KEY });
    expect(viaChampion).toMatchObject({ modelKey: champion.model_key, modelVersion: champion.version, modelSource: 'champion', params: {} });

    bucket.put(KEY, { model_version: 'v7' });
    const viaManifest = await validateBatch(bucket.client, { bucket: 'exodetect-data', key: KEY });
    expect(viaManifest).toMatchObject({ modelKey: 'models/v7/model.onnx', modelVersion: 'v7', modelSource: 'manifest' });
  });

  it('treats an empty batch.json as all defaults', async () => {
    bucket.put(KEY, '');
    await expect(validateBatch(bucket.client, { bucket: 'exodetect-data', key: KEY })).resolves.toMatchObject({ params: {} });
  });

  it.each([
    ['batch-unknown-field.json', /batches\/grid-7\/batch\.json: invalid batch manifest: .*scale/s],
    ['batch-bad-gate.json', /batches\/grid-7\/batch\.json: invalid batch manifest: .*min < max/s],
  ])('rejects %s with a BatchManifestError naming the key and the problem', async (name, message) => {
    bucket.put(KEY, fixtureText(name));
    const attempt = validateBatch(bucket.client, { bucket: 'exodetect-data', key: KEY });
    await expect(attempt).rejects.toBeInstanceOf(BatchManifestError);
    await expect(attempt).rejects.toThrow(message);
  });

  it('rejects JSON that does not parse', async () => {
    bucket.put(KEY, '{"nm_per_px": 1.5,');
    await expect(validateBatch(bucket.client, { bucket: 'exodetect-data', key: KEY })).rejects.toThrow(
      /batches\/grid-7\/batch\.json: not valid JSON/,
    );
  });

  it('fails clearly when there are no images', async () => {
    bucket.put('batches/empty/batch.json', '{}');
    await expect(validateBatch(bucket.client, { bucket: 'exodetect-data', key: 'batches/empty/batch.json' })).rejects.toThrow(
      /no images under s3:\/\/exodetect-data\/batches\/empty\/images\/; upload the images first/,
    );
  });

  it('rejects keys that are not a batch manifest and missing manifests', async () => {
    await expect(validateBatch(bucket.client, { bucket: 'exodetect-data', key: 'batches/x/other.json' })).rejects.toThrow(
      /not a batch manifest key/,
    );
    await expect(validateBatch(bucket.client, { bucket: 'exodetect-data', key: 'batches/nope/batch.json' })).rejects.toThrow(
      /batches\/nope\/batch\.json: not found/,
    );
  });

  it('names a missing model_version and a champion that points nowhere', async () => {
    bucket.put(KEY, { model_version: 'ghost' });
    await expect(validateBatch(bucket.client, { bucket: 'exodetect-data', key: KEY })).rejects.toThrow(
      /model_version "ghost" has no model at s3:\/\/exodetect-data\/models\/ghost\/model\.onnx/,
    );
    bucket.put(KEY, '{}').put('models/champion.json', fixture('champion.json'));
    await expect(validateBatch(bucket.client, { bucket: 'exodetect-data', key: KEY })).rejects.toBeInstanceOf(ModelError);
  });

  it('fails when no model exists at all', async () => {
    bucket.objects.delete('models/default/model.onnx');
    bucket.put(KEY, '{}');
    await expect(validateBatch(bucket.client, { bucket: 'exodetect-data', key: KEY })).rejects.toThrow(
      /neither models\/champion\.json nor models\/default\/model\.onnx exists/,
    );
  });
});

describe('parseValidateBatchInput', () => {
  it('accepts {bucket, key} and rejects anything else', () => {
    expect(parseValidateBatchInput({ bucket: 'b', key: KEY })).toMatchObject({ bucket: 'b', key: KEY });
    expect(() => parseValidateBatchInput({ key: KEY })).toThrow(/validate-batch expects \{bucket, key\}/);
  });
});
