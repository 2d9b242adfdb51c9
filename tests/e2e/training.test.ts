/**
 * End to end, locally: statemachines/training.asl.json with the real
 * training Lambdas and the real trainer (python -m exodetect_train, CPU) as
 * the local SageMaker job, on a tiny synthetic dataset for one epoch; then a
 * batch through inference with the model it promoted.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHAMPION_KEY } from '../../lambdas/shared/keys.js';
import { LocalWorkflow } from '../../local/workflow.js';
import { moduleHandlerResolver, tableHandlerResolver, type LambdaHandler } from '../../local/stepfunctions/lambda.js';
import { TRAINER_TIMEOUT_MS } from '../helpers/timeouts.js';
import { readableCause } from '../../lambdas/shared/step-functions-cause.js';

const TRAINING_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'training-container');
// Eight tiny synthetic images: decide promotion on any validation split (a deployment setting; the default, 30 objects, is tested in promote-model.test.ts and train-cli.test.ts).
process.env.PROMOTION_MIN_VALIDATION_OBJECTS = '0';

/** Small and quick: one epoch of 64 px crops through a narrow network on one thread. */
const TINY = { epochs: '1', batch_size: '2', crop_size: '64', tile_size: '64', crops_per_image: '1', width: '8', threads: '1', nm_per_px: '1.5' };

let root: string;
let workflow: LocalWorkflow;
let datasetDir: string;
const epochs: number[] = [];
/** Every notification, as the real notify handler received it (it still runs). */
const notifications: { kind: string; detail: Record<string, unknown> }[] = [];
const handlers = moduleHandlerResolver();
const recordingNotify: LambdaHandler = async (event, context) => {
  notifications.push(event as (typeof notifications)[number]);
  return (await handlers('Notify'))(event, context);
};

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'exodetect-e2e-train-'));
  datasetDir = path.join(root, 'dataset');
  execFileSync('/usr/bin/python3', ['-m', 'exodetect_train.synth', '--out', datasetDir, '--count', '8', '--size', '192', '--labels', 'yolo', '--seed', '3'], {
    cwd: TRAINING_DIR,
    env: { ...process.env, PYTHONPATH: TRAINING_DIR },
  });
  workflow = await LocalWorkflow.start({
    dataDir: path.join(root, 's3'),
    logLevel: 'CRITICAL',
    handlers: tableHandlerResolver({ Notify: recordingNotify }, handlers),
  });
  workflow.trainingEvents.on('log', (line: string) => /^epoch=\d+ /.test(line) && epochs.push(Number(/^epoch=(\d+)/.exec(line)![1])));
  await workflow.uploadDirectory(datasetDir, 'datasets/synth/');
}, TRAINER_TIMEOUT_MS);

afterAll(async () => {
  await workflow?.close();
  await rm(root, { recursive: true, force: true });
});

interface TrainingOutput {
  status: 'promoted' | 'rejected' | 'unchanged';
  modelVersion?: string;
  modelKey?: string;
  reason: string;
}

const train = async (force: boolean) => {
  const outcome = await workflow.training.startExecution({ dataset: 'synth', force, hyperparameters: TINY, split: { by: 'image', validationFraction: 0.25, seed: 1 } }).done;
  expect(outcome.status, `${outcome.error}: ${outcome.cause}`).toBe('SUCCEEDED');
  return outcome.output as unknown as TrainingOutput;
};

describe('training state machine, locally end to end', () => {
  it('trains one epoch, registers the model and promotes the first one', async () => {
    const result = await train(false);
    expect(result.status).toBe('promoted');
    expect(result.reason).toMatch(/first model/);
    expect(epochs).toEqual([1]);
    const registered = await workflow.listKeys(`models/${result.modelVersion}/`);
    expect(registered).toEqual(expect.arrayContaining([`models/${result.modelVersion}/model.onnx`, `models/${result.modelVersion}/metrics.json`]));
    const metrics = await workflow.getJson<{ format: string; epochs: number; validation: { ap50: number; n_images: number } }>(`models/${result.modelVersion}/metrics.json`);
    expect(metrics.format).toBe('exodetect-metrics');
    expect(metrics.epochs).toBe(1);
    expect(metrics.validation.n_images).toBe(2);
    const champion = await workflow.getJson<{ version: string; model_key: string }>(CHAMPION_KEY);
    expect(champion.version).toBe(result.modelVersion);
    // The job's artefact is where SageMaker puts it.
    expect((await workflow.listKeys('training/')).some((k) => k.endsWith('/output/model.tar.gz'))).toBe(true);
  }, TRAINER_TIMEOUT_MS);

  it('skips training when the dataset has not changed since the champion', async () => {
    const result = await train(false);
    expect(result.status).toBe('unchanged');
  }, TRAINER_TIMEOUT_MS);

  it('runs a batch through inference with the promoted model', async () => {
    const { outcome } = await workflow.submitBatch(path.join(datasetDir, 'images'), 'after-training', { nm_per_px: 1.5 });
    expect(outcome.status, outcome.cause).toBe('SUCCEEDED');
    const champion = await workflow.getJson<{ model_key: string }>(CHAMPION_KEY);
    const first = await workflow.getJson<{ status: string; model: { key: string } }>('results/after-training/images/synth_00000.png.json');
    expect(first.status).toBe('ok');
    expect(first.model.key).toBe(champion.model_key);
  }, TRAINER_TIMEOUT_MS);

  it('fails like a failed SageMaker job when the trainer fails, with its reason in the execution, the notification and the failure record', async () => {
    const outcome = await workflow.training.startExecution({ dataset: 'synth', force: true, hyperparameters: { ...TINY, epochs: 'zero' } }).done;
    expect(outcome.status).toBe('FAILED');
    // The execution itself carries the error and its cause (ErrorPath/CausePath), not a pointer elsewhere.
    expect(outcome.error).toBe('States.TaskFailed');
    expect(readableCause(outcome.cause!)).toMatch(/^AlgorithmError: .*epochs/);
    const failed = notifications.find((n) => n.kind === 'training.failed');
    const error = failed?.detail.error as { Error: string; Cause: string };
    expect(error.Error).toBe('States.TaskFailed');
    const job = JSON.parse(error.Cause) as { TrainingJobStatus: string; FailureReason: string };
    expect(job.TrainingJobStatus).toBe('Failed');
    expect(job.FailureReason).toMatch(/^AlgorithmError: .*epochs/);
    const runId = (failed?.detail as { runId: string }).runId;
    const record = await workflow.getJson<{ error: string; cause: string; run_id: string }>(`training/${runId}/failure.json`);
    expect(record).toMatchObject({ error: 'States.TaskFailed', run_id: runId, cause: job.FailureReason });
  }, TRAINER_TIMEOUT_MS);
});
