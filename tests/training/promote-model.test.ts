import { beforeEach, describe, expect, it } from 'vitest';
import { decidePromotion, promoteModel, type CompareModels } from '../../lambdas/training/promotion.js';
import type { RegisteredModel } from '../../lambdas/training/model-registration.js';
import { FakeBucket } from './fake-bucket.js';
import { fixture } from './fixtures.js';

const NOW = new Date('2026-11-25T09:00:00.000Z');
const candidate = (ap50: number, f1: number): RegisteredModel => ({
  version: 'v-new',
  modelKey: 'models/v-new/model.onnx',
  metricsKey: 'models/v-new/metrics.json',
  cardKey: 'models/v-new/card.md',
  registrationKey: 'models/v-new/registration.json',
  weightsKey: 'models/v-new/model.pt',
  validation: { ap50, f1 },
  test: null,
  scoreThreshold: 0.4,
  datasetFingerprint: 'fp',
  dataset: 'visn',
});
let bucket: FakeBucket;
beforeEach(() => {
  bucket = new FakeBucket();
});
const promote = (c: RegisteredModel) =>
  promoteModel(bucket.client, { bucket: 'exodetect-data', dataset: 'visn', runId: 'run-1', fingerprint: 'fp-new', candidate: c }, NOW);

describe('decidePromotion', () => {
  it.each([
    [{ ap50: 0.81, f1: 0.8 }, true], // AP50 equal, F1 higher
    [{ ap50: 0.9, f1: 0.8 }, true],
    [{ ap50: 0.9, f1: 0.79 }, false], // F1 equal: no churn on a tie
    [{ ap50: 0.8, f1: 0.9 }, false], // AP50 lower
  ])('candidate %j vs champion AP50 0.81 / F1 0.79 -> promoted %s', (c, promoted) => {
    expect(decidePromotion(c, { ap50: 0.81, f1: 0.79 }, 'v-old').promoted).toBe(promoted);
  });
  it('always promotes the first model and explains a rejection with the figures', () => {
    expect(decidePromotion({ ap50: 0, f1: 0 }, undefined)).toEqual({ promoted: true, reason: 'first model: there is no champion yet' });
    expect(decidePromotion({ ap50: 0.7, f1: 0.7 }, { ap50: 0.81, f1: 0.79 }, 'v-old').reason).toBe(
      'not promoted: AP50 is lower and F1 is not higher: AP50 0.7000 vs 0.8100, F1 0.7000 vs 0.7900 (the champion v-old)',
    );
  });
});

describe('promoteModel', () => {
  it('writes models/champion.json for the first model', async () => {
    const out = await promote(candidate(0.5, 0.5));
    expect(out).toMatchObject({ promoted: true, champion: null });
    expect(bucket.json('models/champion.json')).toMatchObject({
      format: 'exodetect-champion',
      version: 'v-new',
      model_key: 'models/v-new/model.onnx',
      metrics_key: 'models/v-new/metrics.json',
      weights_key: 'models/v-new/model.pt',
      metrics: { validation: { ap50: 0.5, f1: 0.5 } },
      dataset: 'visn',
      dataset_listing_fingerprint: 'fp-new',
      promoted_at: NOW.toISOString(),
      previous_version: null,
    });
  });

  it('replaces a weaker champion and keeps a stronger one', async () => {
    const champion = fixture('champion.json');
    bucket.put('models/champion.json', champion);
    const rejected = await promote(candidate(0.8, 0.95));
    expect(rejected).toMatchObject({ promoted: false, champion: { version: champion.version, validation: { ap50: 0.81 } } });
    expect(bucket.json('models/champion.json').version).toBe(champion.version);
    // The decision stays beside the rejected model too.
    expect(bucket.json('models/v-new/promotion.json')).toEqual({ format: 'exodetect-promotion', version: 1, decided_at: NOW.toISOString(), ...rejected });

    const promoted = await promote(candidate(0.85, 0.8));
    expect(promoted.promoted).toBe(true);
    expect(bucket.json('models/champion.json')).toMatchObject({ version: 'v-new', previous_version: champion.version });
  });

  it('decides nothing on a validation split too small to tell models apart, and says so with the figures', async () => {
    const small = { ...candidate(0.98, 0.95), validation: { ap50: 0.98, f1: 0.95, n_objects: 9 } };
    const out = await promote(small);
    expect(out.promoted).toBe(false);
    expect(out.reason).toBe(
      "not promoted: this run's validation split holds 9 annotated objects, too few to tell two models apart (at least 30: annotate more images). " +
        'What it measured: first model: there is no champion and no bundled default model to compare with',
    );
    expect(() => bucket.json('models/champion.json')).toThrow(/no object models\/champion\.json/);
    // At the limit it is decided as usual; the limit is the caller's to set.
    expect((await promote({ ...small, validation: { ...small.validation, n_objects: 30 } })).promoted).toBe(true);
    bucket = new FakeBucket();
    const lowered = await promoteModel(
      bucket.client,
      { bucket: 'exodetect-data', dataset: 'visn', runId: 'run-2', fingerprint: 'fp-new', candidate: { ...small, version: 'v-2' } },
      NOW,
      undefined,
      { minValidationObjects: 5 },
    );
    expect(lowered.promoted).toBe(true);
    await expect(promoteModel(bucket.client, { bucket: 'b', dataset: 'd', runId: 'r', fingerprint: 'f', candidate: small }, NOW, undefined, { minValidationObjects: -1 })).rejects.toThrow(
      'minValidationObjects must be a whole number >= 0, got -1',
    );
  });

  it('scores refit models on the held-out images by their validated runs\' models, and keeps the shipped model as the champion', async () => {
    const champion = fixture('champion.json');
    bucket.put('models/champion.json', champion);
    const compared: string[] = [];
    const compare: CompareModels = async (contender, c) => {
      compared.push(contender.modelKey, c.modelKey);
      return { champion: { ap50: 0.8, f1: 0.7 }, candidate: { ap50: 0.85, f1: 0.8 }, images: 10 };
    };
    const refit = { ...candidate(0.85, 0.8), heldOutCheckKey: 'models/v-new/validated.onnx' };
    bucket.put('models/v-new/card.md', '# exodetect model v-new\n\n## Metrics\n\n(the trainer\'s)\n');
    const run = (c: RegisteredModel) => promoteModel(bucket.client, { bucket: 'exodetect-data', dataset: 'visn', runId: 'run-1', fingerprint: 'fp-new', candidate: c }, NOW, compare);
    // The champion was not refit: its own model.
    const first = await run(refit);
    expect(compared).toEqual([champion.model_key, 'models/v-new/validated.onnx']);
    // Both models' figures through the inference path are kept with the decision (exodetect models shows them).
    expect(bucket.json('models/v-new/promotion.json')).toMatchObject({ promoted: true, comparison: 'head-to-head', headToHead: { candidate: { ap50: 0.85, f1: 0.8 }, images: 10 } });
    expect(first.reason).toMatch(/inference path; the candidate's refit model represented by its validated run's, trained without those images\)$/);
    // The card keeps the trainer's figures and gains the ones to quote, and the decision, in the words train prints.
    const card = bucket.text('models/v-new/card.md');
    expect(card.startsWith("# exodetect model v-new\n\n## Metrics\n\n(the trainer's)\n\n## Through the inference path (what `exodetect run` reports)\n\n")).toBe(true);
    expect(card).toContain("Model v-new's validated run (the same recipe without the held-out images), on the 10 held-out images through the inference path: AP50 0.850, F1 0.800");
    expect(card.trimEnd().endsWith(`Promotion: promoted; ${first.reason}.`)).toBe(true);
    // The champion now shipped is the refit model itself, not its stand-in.
    expect(bucket.json('models/champion.json')).toMatchObject({ version: 'v-new', model_key: 'models/v-new/model.onnx' });
    // A refit champion is represented by its validated.onnx too.
    bucket.put('models/v-new/validated.onnx', 'validated');
    compared.length = 0;
    const second = await run({ ...refit, version: 'v-3', modelKey: 'models/v-3/model.onnx', heldOutCheckKey: null });
    expect(compared).toEqual(['models/v-new/validated.onnx', 'models/v-3/model.onnx']);
    expect(second.reason).toMatch(/the champion's refit model represented by its validated run's/);
  });

  it("reads the champion's metrics.json when champion.json carries no figures", async () => {
    const { metrics: _dropped, ...champion } = fixture('champion.json');
    bucket.put('models/champion.json', champion);
    await expect(promote(candidate(0.9, 0.9))).rejects.toThrow(/has no validation metrics: .*metrics\.json not found/);
    bucket.put(champion.metrics_key, { format: 'exodetect-metrics', version: 1, validation: { ap50: 0.95, f1: 0.95 } });
    await expect(promote(candidate(0.9, 0.9))).resolves.toMatchObject({ promoted: false });
  });
});
