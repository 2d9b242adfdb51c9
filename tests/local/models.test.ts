/**
 * `exodetect models`: what the local store holds and which model `exodetect run` uses; `models use` chooses it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeModels, listModels, useModel } from '../../local/commands/models.js';
import { LocalWorkflow } from '../../local/workflow.js';
import { promoteModel, type CompareModels } from '../../lambdas/training/promotion.js';
import { uploadBundledModel } from '../../local/commands/run.js';
import { buildConstantDetectorModel } from '../helpers/onnx-builder.js';
import { freePort } from '../helpers/ports.js';
import { exodetectMetadata } from '../helpers/model-metadata.js';

let dir: string;
let port: number;
const dataDir = () => path.join(dir, 's3');

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'exodetect-models-'));
  port = await freePort();
  // A trained model as register-model files it: model.onnx, metrics.json, registration.json.
  const workflow = await LocalWorkflow.start({ dataDir: dataDir(), port, logLevel: 'ERROR' });
  try {
    await workflow.putObject(
      'models/v1/model.onnx',
      buildConstantDetectorModel({ layout: 'exodetect', rows: [[1, 1, 9, 9, 0.9, 0]], metadata: exodetectMetadata() }),
    );
    await workflow.putObject('models/v1/metrics.json', JSON.stringify({ validation: { ap50: 0.91, f1: 0.85, n_images: 51 } }));
    await workflow.putObject('models/v1/registration.json', JSON.stringify({ dataset: 'grids' }));
    // A refit, flip-averaged model: the trainer's metrics.json says so.
    await workflow.putObject('models/v2/model.onnx', buildConstantDetectorModel({ layout: 'exodetect', rows: [[1, 1, 9, 9, 0.9, 0]], metadata: exodetectMetadata() }));
    await workflow.putObject('models/v2/metrics.json', JSON.stringify({ validation: { ap50: 0.84, f1: 0.75, n_images: 10 }, refit: { images: 30, held_out_check_model: 'validated.onnx' }, tta: true }));
    await workflow.putObject('models/v2/registration.json', JSON.stringify({ dataset: 'few' }));
    // v2's promotion scored it on its validation images through the inference path against the bundled model, which it kept.
    await uploadBundledModel(workflow, false);
    const compare: CompareModels = async () => ({ champion: { ap50: 0.9, f1: 0.8 }, candidate: { ap50: 0.86, f1: 0.78, n_images: 10 }, images: 10 });
    const v2 = { version: 'v2', modelKey: 'models/v2/model.onnx', metricsKey: 'models/v2/metrics.json', cardKey: 'models/v2/card.md', registrationKey: 'models/v2/registration.json', weightsKey: null, validation: { ap50: 0.84, f1: 0.75 }, test: null, scoreThreshold: 0.5, datasetFingerprint: 'fp', dataset: 'few' };
    const decision = await promoteModel(workflow.s3, { bucket: workflow.bucket, dataset: 'few', runId: 'run-2', fingerprint: 'fp', candidate: v2 }, new Date(), compare);
    expect(decision.promoted).toBe(false);
  } finally {
    await workflow.close();
  }
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const list = () => listModels(dataDir(), port);

describe('exodetect models', () => {
  it('lists the bundled and the trained models, the bundled one in use while there is no champion', async () => {
    const models = await list();
    expect(models.map((m) => [m.version, m.champion])).toEqual([
      ['default', false],
      ['v1', false],
      ['v2', false],
    ]);
    const lines = describeModels(models);
    expect(lines[1]).toMatch(/^ {2}default: bundled default, trained on synthetic micrographs, a second pass over each image at half size for large particles \(half_scale_pass: about 1\.25x the network time per image\); .* on \d+ synthetic validation images \(not comparable with models trained on real images: exodetect evaluate scores both on the same ones\); score threshold 0\.\d+ {2}<- exodetect run uses this$/);
    // v1 has no promotion record: the trainer's figures, said as such. v2's promotion scored the model it had to beat
    // on the same images, so its line gives that model's figures beside its own (the bundled model's own are synthetic).
    expect(lines[2]).toBe("  v1: trained on grids; AP50 0.910, F1 0.850 on 51 validation images (the trainer's own figures)");
    expect(lines[3]).toBe(
      "  v2: trained on few, refit on all 30 images (the figures are its validated run's), averaging each image with its mirror images (tta: 4x the network time per image); AP50 0.860, F1 0.780 on 10 validation images through the inference path (the bundled default model there: AP50 0.900, F1 0.800); not promoted by its training run",
    );
  });

  it('makes a model the one run uses, and goes back to the bundled one', async () => {
    expect(await useModel('v1', dataDir(), port)).toBe('exodetect run now uses model v1.');
    expect((await list()).find((m) => m.champion)?.version).toBe('v1');
    expect(describeModels(await list())[2]).toMatch(/v1: .*<- exodetect run uses this$/);
    expect(await useModel('default', dataDir(), port)).toMatch(/^exodetect run now uses the bundled default model/);
    expect((await list()).some((m) => m.champion)).toBe(false);
    await expect(useModel('nope', dataDir(), port)).rejects.toThrow(/model nope is not in the local store/);
  });
});
