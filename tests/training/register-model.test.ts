import { beforeEach, describe, expect, it } from 'vitest';
import { ModelArtifactError } from '../../lambdas/training/errors.js';
import { registerModel, type RegisterModelInput } from '../../lambdas/training/model-registration.js';
import { FakeBucket } from './fake-bucket.js';
import { fixtureText } from './fixtures.js';
import { tarGz } from './tar-archive.js';

const VERSION = '20261125-083000-1a2b3c4d';
const ARTIFACT = `training/${VERSION}/output/exodetect-${VERSION}/output/model.tar.gz`;
const onnx = Buffer.from('fake-onnx-bytes-not-parsed-here');
let bucket: FakeBucket;

const input: RegisterModelInput = {
  bucket: 'exodetect-data',
  dataset: 'visn',
  runId: VERSION,
  modelVersion: VERSION,
  fingerprint: 'ab'.repeat(32),
  trainingJobName: `exodetect-${VERSION}`,
  modelArtifacts: `s3://exodetect-data/${ARTIFACT}`,
  split: { train: { images: 40 }, validation: { images: 10 } },
};

beforeEach(() => {
  bucket = new FakeBucket();
});

describe('registerModel', () => {
  it('files model.onnx, metrics.json, card.md and registration.json under models/<version>/', async () => {
    bucket.put(ARTIFACT, tarGz({ 'model.onnx': onnx, 'model.pt': 'torch-weights', 'metrics.json': fixtureText('candidate-metrics.json'), 'card.md': '# card\n' }, 'python'));
    const out = await registerModel(bucket.client, input);
    expect(out).toMatchObject({
      version: VERSION,
      modelKey: `models/${VERSION}/model.onnx`,
      metricsKey: `models/${VERSION}/metrics.json`,
      cardKey: `models/${VERSION}/card.md`,
      weightsKey: `models/${VERSION}/model.pt`,
      validation: { ap50: 0.83, f1: 0.8195 },
      test: null,
      scoreThreshold: 0.42,
      datasetFingerprint: input.fingerprint,
    });
    expect(bucket.objects.get(out.modelKey)!.equals(onnx)).toBe(true);
    expect(bucket.json(out.metricsKey).validation.ap50).toBe(0.83);
    expect(bucket.objects.get(out.cardKey)!.toString()).toBe('# card\n');
    expect(bucket.objects.get(out.weightsKey!)!.toString()).toBe('torch-weights');
    expect(bucket.json(out.registrationKey)).toMatchObject({ training_job_name: `exodetect-${VERSION}`, dataset_listing_fingerprint: input.fingerprint });
  });

  it('files a refit model\'s held-out check (validated.onnx) and returns its key; without a refit there is none', async () => {
    const refitMetrics = JSON.stringify({ ...JSON.parse(fixtureText('candidate-metrics.json')), refit: { images: 30, objects: 102, epochs: 40, held_out_check_model: 'validated.onnx' } });
    const validated = Buffer.from('the-validated-run-model');
    bucket.put(ARTIFACT, tarGz({ 'model.onnx': onnx, 'validated.onnx': validated, 'metrics.json': refitMetrics }));
    const out = await registerModel(bucket.client, input);
    expect(out.heldOutCheckKey).toBe(`models/${VERSION}/validated.onnx`);
    expect(bucket.objects.get(out.heldOutCheckKey!)!.equals(validated)).toBe(true);
    expect(bucket.objects.get(out.modelKey)!.equals(onnx)).toBe(true);
    // Said to be refit but without the model its figures describe: refused, named.
    bucket.put(ARTIFACT, tarGz({ 'model.onnx': onnx, 'metrics.json': refitMetrics }));
    await expect(registerModel(bucket.client, input)).rejects.toThrow(/says the model was refit, but the archive has no validated\.onnx/);
    bucket.put(ARTIFACT, tarGz({ 'model.onnx': onnx, 'metrics.json': fixtureText('candidate-metrics.json') }));
    expect((await registerModel(bucket.client, input)).heldOutCheckKey).toBeNull();
  });

  it('writes a card from the metrics when the archive has none', async () => {
    bucket.put(ARTIFACT, tarGz({ 'model.onnx': onnx, 'metrics.json': fixtureText('candidate-metrics.json') }));
    const out = await registerModel(bucket.client, input);
    expect(out.weightsKey).toBeNull(); // no model.pt in this archive
    const card = bucket.objects.get(out.cardKey)!.toString();
    expect(card).toContain(`# exodetect model ${VERSION}`);
    expect(card).toContain('| 0.840 | 0.800 | 0.820 | 0.830 | 0.410 | 3.2 | 12 | 310 |');
  });

  it('names what is missing from the archive', async () => {
    bucket.put(ARTIFACT, tarGz({ 'model.onnx': onnx, 'notes.txt': 'hi' }));
    const attempt = registerModel(bucket.client, input);
    await expect(attempt).rejects.toBeInstanceOf(ModelArtifactError);
    await expect(attempt).rejects.toThrow(/missing metrics\.json \(archive holds: .*notes\.txt/);
  });

  it('rejects invalid metrics, a missing archive and a non-gzip archive', async () => {
    bucket.put(ARTIFACT, tarGz({ 'model.onnx': onnx, 'metrics.json': '{"format":"other","version":1}' }));
    await expect(registerModel(bucket.client, input)).rejects.toThrow(/metrics\.json is invalid: .*format/s);
    bucket.objects.delete(ARTIFACT);
    await expect(registerModel(bucket.client, input)).rejects.toThrow(/model\.tar\.gz: not found/);
    bucket.put(ARTIFACT, 'not gzip');
    await expect(registerModel(bucket.client, input)).rejects.toThrow(/not a gzip file/);
    await expect(registerModel(bucket.client, { ...input, modelArtifacts: 'https://x' })).rejects.toThrow(/not an s3:\/\/bucket\/key URI/);
  });
});
