/**
 * End to end, locally: statemachines/inference.asl.json through the local
 * Step Functions with the real handlers (validate-batch, detect, summarize,
 * notify), s3rver, and the event bridge; a small ONNX detector built in the test.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODEL_FORMAT_NAME, MODEL_METADATA_KEYS, type ImageRecord } from '../../lambdas/core/contracts.js';
import { buildConstantDetectorModel } from '../helpers/onnx-builder.js';
import { moduleHandlerResolver, tableHandlerResolver, type LambdaHandler } from '../../local/stepfunctions/lambda.js';
import { LocalWorkflow } from '../../local/workflow.js';

const METADATA = {
  [MODEL_METADATA_KEYS.format]: MODEL_FORMAT_NAME,
  [MODEL_METADATA_KEYS.formatVersion]: '1',
  [MODEL_METADATA_KEYS.classNames]: '["exosome"]',
  [MODEL_METADATA_KEYS.nmPerPx]: '1.5',
  [MODEL_METADATA_KEYS.scoreThreshold]: '0.5',
  [MODEL_METADATA_KEYS.tileSize]: '64',
  [MODEL_METADATA_KEYS.modelVersion]: 'e2e',
  [MODEL_METADATA_KEYS.datasetFingerprint]: 'none',
  [MODEL_METADATA_KEYS.inputChannels]: '1',
};

let root: string;
let workflow: LocalWorkflow;

/**
 * The real detect handler, except that an invocation whose batch holds an
 * image named crash-* dies the way a Lambda does when it runs out of memory
 * (Lambda.Unknown): per-image error handling cannot catch that, so it fails
 * the child execution and counts against the Map's tolerated failures.
 */
const realHandlers = moduleHandlerResolver();
const crashingDetect: LambdaHandler = async (event, context) => {
  const items = (event as { Items: { Key: string }[] }).Items;
  if (items.some((i) => path.basename(i.Key).startsWith('crash-'))) {
    throw Object.assign(new Error('Runtime exited with error: signal: killed'), { name: 'Lambda.Unknown' });
  }
  return (await realHandlers('Detect'))(event, context);
};

async function writeImages(dir: string, names: string[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [i, name] of names.entries()) {
    const pixels = Buffer.alloc(64 * 64, 0);
    for (let p = 0; p < pixels.length; p++) pixels[p] = (p * (i + 7)) % 251;
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await sharp(pixels, { raw: { width: 64, height: 64, channels: 1 } }).png().toFile(path.join(dir, name));
  }
}

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'exodetect-e2e-'));
  workflow = await LocalWorkflow.start({
    dataDir: path.join(root, 's3'),
    settings: { DetectItemsPerBatch: '2', ToleratedFailurePercentage: '10', MapMaxConcurrency: '2' },
    handlers: tableHandlerResolver({ Detect: crashingDetect }, realHandlers),
    logLevel: 'CRITICAL',
    retryIntervalOverrides: { Detect: 0 },
  });
  const model = buildConstantDetectorModel({
    layout: 'exodetect',
    rows: [
      [10, 10, 30, 34, 0.9, 0],
      [40, 40, 52, 50, 0.7, 0],
      [5, 40, 15, 50, 0.2, 0],
    ],
    metadata: METADATA,
  });
  await workflow.putObject('models/default/model.onnx', model);
  await workflow.putObject('models/broken/model.onnx', 'this is not an ONNX model');
});

afterAll(async () => {
  await workflow?.close();
  await rm(root, { recursive: true, force: true });
});

describe('inference state machine, locally end to end', () => {
  it('processes a batch with one corrupt image: the batch succeeds and the counts add up', async () => {
    const dir = path.join(root, 'batch-a');
    await writeImages(dir, ['a1.png', 'a2.png', 'sub/a3.png', 'a4.png', 'a5.png']);
    await writeFile(path.join(dir, 'corrupt.png'), 'definitely not a PNG');
    const { outcome, duplicate } = await workflow.submitBatch(dir, 'batch-a', { nm_per_px: 1.5, sample: 'e2e' });
    expect(duplicate).toBe(false);
    expect(outcome.status, outcome.cause).toBe('SUCCEEDED');

    const keys = await workflow.listKeys('results/batch-a/images/');
    expect(keys.sort()).toEqual(
      ['a1.png', 'a2.png', 'a4.png', 'a5.png', 'corrupt.png', 'sub/a3.png'].map((n) => `results/batch-a/images/${n}.json`),
    );
    const records = await Promise.all(keys.map((k) => workflow.getJson<ImageRecord>(k)));
    const failed = records.filter((r) => r.status === 'error');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ image_key: 'batches/batch-a/images/corrupt.png', error: { code: expect.any(String) } });
    const ok = records.filter((r) => r.status === 'ok');
    for (const r of ok) {
      expect(r.detections.length).toBe(2); // the 0.2 row is under the model's 0.5 threshold
      expect(r.nm_per_px).toBe(1.5);
      expect(r.nm_per_px_source).toBe('batch');
    }

    const summary = (outcome.output as { summary: { Payload: { images: number; failed: number; detections: number; summaryKey: string; reportKey: string } } })
      .summary.Payload;
    expect(summary.images).toBe(6);
    expect(summary.failed).toBe(1);
    expect(summary.detections).toBe(ok.reduce((n, r) => n + (r.status === 'ok' ? r.detections.length : 0), 0));
    const all = await workflow.listKeys('results/batch-a/');
    expect(all).toContain(summary.summaryKey);
    expect(all).toContain(summary.reportKey);
    expect(all.some((k) => /^results\/batch-a\/map\/[0-9a-f-]{36}\/manifest\.json$/.test(k))).toBe(true);
  });

  it('does not process the same manifest twice; a changed manifest runs again', async () => {
    const before = workflow.inference.executionCount;
    const again = await workflow.commitBatch('batch-a', { nm_per_px: 1.5, sample: 'e2e' });
    expect(again.duplicate).toBe(true);
    expect(again.outcome.status).toBe('SUCCEEDED');
    expect(workflow.inference.executionCount).toBe(before);
    const changed = await workflow.commitBatch('batch-a', { nm_per_px: 1.5, sample: 'e2e, second look' });
    expect(changed.duplicate).toBe(false);
    expect(changed.executionName).not.toBe(again.executionName);
    expect(workflow.inference.executionCount).toBe(before + 1);
  });

  it('fails a mostly broken batch at the tolerated-failure threshold and records why', async () => {
    const dir = path.join(root, 'batch-b');
    await writeImages(dir, ['ok-1.png', 'ok-2.png', 'crash-1.png', 'crash-2.png', 'crash-3.png', 'crash-4.png', 'crash-5.png', 'crash-6.png']);
    const { outcome } = await workflow.submitBatch(dir, 'batch-b');
    expect(outcome.status).toBe('FAILED');
    expect(outcome.error).toBe('BatchFailed');
    const failure = await workflow.getJson<Record<string, unknown>>('results/batch-b/failure.json');
    expect(JSON.stringify(failure)).toContain('States.ExceedToleratedFailureThreshold');
  });

  it('tolerates a few failed invocations under the threshold', async () => {
    const dir = path.join(root, 'batch-c');
    const names = Array.from({ length: 22 }, (_, i) => `img-${String(i).padStart(2, '0')}.png`);
    await writeImages(dir, [...names, 'crash-only.png']);
    const { outcome } = await workflow.submitBatch(dir, 'batch-c');
    // One child of two images failed: 2 of 23 items = 8.7%, under 10%.
    expect(outcome.status, outcome.cause).toBe('SUCCEEDED');
    const map = await workflow.listKeys('results/batch-c/map/');
    const failedFile = map.find((k) => k.endsWith('FAILED_0.json'));
    expect(failedFile).toBeDefined();
    const failedRecords = await workflow.getJson<{ Error: string; Input: string }[]>(failedFile!);
    expect(failedRecords).toHaveLength(1);
    expect(failedRecords[0]!.Error).toBe('Lambda.Unknown');
    expect(failedRecords[0]!.Input).toContain('crash-only.png');
  });

  it('fails a batch whose model cannot be loaded (every invocation fails)', async () => {
    const dir = path.join(root, 'batch-d');
    await writeImages(dir, ['d1.png', 'd2.png', 'd3.png']);
    const { outcome } = await workflow.submitBatch(dir, 'batch-d', { model_version: 'broken' });
    expect(outcome.status).toBe('FAILED');
    const failure = JSON.stringify(await workflow.getJson('results/batch-d/failure.json'));
    expect(failure).toContain('ModelError');
  });
});
