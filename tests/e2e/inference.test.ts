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
import type { ImageRecord } from '../../lambdas/shared/contracts.js';
import { buildConstantDetectorModel } from '../helpers/onnx-builder.js';
import { moduleHandlerResolver, tableHandlerResolver, type LambdaHandler } from '../../local/stepfunctions/lambda.js';
import { LocalWorkflow } from '../../local/workflow.js';
import { exodetectMetadata } from '../helpers/model-metadata.js';

const METADATA = exodetectMetadata({ formatVersion: '1', classNames: ['exosome'], nmPerPx: 1.5, scoreThreshold: 0.5, tileSize: 64, modelVersion: 'e2e', datasetFingerprint: 'none', inputChannels: 1 });

let root: string;
let workflow: LocalWorkflow;

/**
 * The real detect handler, except that an invocation whose batch holds an
 * image named crash-* dies the way a Lambda does when it runs out of memory
 * (Lambda.Unknown): per-image error handling cannot catch that, so it fails
 * the child execution and counts against the Map's tolerated failures.
 */
const realHandlers = moduleHandlerResolver();
/** Detect invocations by the first image's file name, to count retries. */
const invocations = new Map<string, number>();
const crashingDetect: LambdaHandler = async (event, context) => {
  const items = (event as { Items: { Key: string }[] }).Items;
  const names = items.map((i) => path.basename(i.Key));
  const calls = (invocations.get(names[0]!) ?? 0) + 1;
  invocations.set(names[0]!, calls);
  if (names.some((n) => n.startsWith('crash-'))) {
    throw Object.assign(new Error('Runtime exited with error: signal: killed'), { name: 'Lambda.Unknown' });
  }
  // A bug in the handler: permanent, so Step Functions must not retry it.
  if (names.some((n) => n.startsWith('bug-'))) throw new TypeError("Cannot read properties of undefined (reading 'width')");
  // S3 having a bad moment twice: transient, retried until it passes.
  if (names.some((n) => n.startsWith('flaky-')) && calls <= 2) {
    throw Object.assign(new Error('We encountered an internal error. Please try again.'), { name: 'InternalError' });
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
  it('processes a batch with one corrupt image in ten: the batch succeeds and the counts add up', async () => {
    const dir = path.join(root, 'batch-a');
    const good = ['a1.png', 'a2.png', 'sub/a3.png', 'a4.png', 'a5.png', 'a6.png', 'a7.png', 'a8.png', 'a9.png'];
    await writeImages(dir, good);
    await writeFile(path.join(dir, 'corrupt.png'), 'definitely not a PNG');
    const { outcome, duplicate } = await workflow.submitBatch(dir, 'batch-a', { nm_per_px: 1.5, sample: 'e2e' });
    expect(duplicate).toBe(false);
    expect(outcome.status, outcome.cause).toBe('SUCCEEDED');

    const keys = await workflow.listKeys('results/batch-a/images/');
    expect(keys.sort()).toEqual([...good, 'corrupt.png'].map((n) => `results/batch-a/images/${n}.json`).sort());
    const records = await Promise.all(keys.map((k) => workflow.getJson<ImageRecord>(k)));
    const failed = records.filter((r) => r.status === 'error');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ image_key: 'batches/batch-a/images/corrupt.png', error: { code: 'NOT_AN_IMAGE' } });
    const ok = records.filter((r) => r.status === 'ok');
    for (const r of ok) {
      expect(r.detections.length).toBe(2); // the 0.2 row is under the model's 0.5 threshold
      expect(r.nm_per_px).toBe(1.5);
      expect(r.nm_per_px_source).toBe('batch');
    }

    const summary = (outcome.output as { summary: { Payload: { images: number; failed: number; detections: number; summaryKey: string; reportKey: string } } })
      .summary.Payload;
    expect(summary.images).toBe(10);
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
    // What did run is still summarised; the images whose invocations failed are listed, not lost.
    const summary = await workflow.getJson<{
      images: { total: number; failed: number };
      failure_codes: Record<string, number>;
      failures: { file: string; code: string; message: string }[];
    }>('results/batch-b/summary.json');
    expect(summary.images.total).toBe(8);
    expect(summary.images.failed).toBeGreaterThanOrEqual(6);
    // Each crashed image says why, from the map's FAILED records; images of children never started say only that nothing came back.
    const crashed = summary.failures.filter((f) => f.code === 'DETECT_STEP_FAILED');
    expect(crashed.length).toBeGreaterThanOrEqual(2);
    for (const f of crashed) {
      expect(f.file).toMatch(/^crash-/);
      expect(f.message).toBe('the detect step failed for this image (Lambda.Unknown): Runtime exited with error: signal: killed');
    }
    expect(crashed.length + (summary.failure_codes.MISSING_RESULT ?? 0)).toBe(summary.images.failed);
  });

  it('fails a batch with more damaged images than tolerated although every invocation succeeded', async () => {
    const dir = path.join(root, 'batch-e');
    await writeImages(dir, ['e1.png', 'e2.png', 'e3.png', 'e4.png']);
    const whole = await sharp(Buffer.alloc(64 * 64, 90), { raw: { width: 64, height: 64, channels: 1 } }).png().toBuffer();
    await writeFile(path.join(dir, 'cut.png'), whole.subarray(0, whole.length - 20));
    await writeFile(path.join(dir, 'notes.png'), 'sample,notes\n');
    const { outcome } = await workflow.submitBatch(dir, 'batch-e');
    expect(outcome.status).toBe('FAILED');
    const failure = await workflow.getJson<{ error: string; cause: string }>('results/batch-e/failure.json');
    expect(failure.error).toBe('TooManyImagesFailed');
    expect(failure.cause).toBe('2 of 6 images failed (33.3%), above the tolerated 10%: 1 TRUNCATED, 1 NOT_AN_IMAGE');
    const summary = await workflow.getJson<{ outcome: { within_tolerance: boolean } }>('results/batch-e/summary.json');
    expect(summary.outcome.within_tolerance).toBe(false);
    expect(await workflow.listKeys('results/batch-e/report.html')).toHaveLength(1);
  });

  it('does not retry a bug in the handler: the child fails at its first attempt, by name', async () => {
    const dir = path.join(root, 'batch-f');
    await writeImages(dir, ['bug-1.png', 'f2.png']);
    const { outcome } = await workflow.submitBatch(dir, 'batch-f');
    expect(outcome.status).toBe('FAILED');
    expect(invocations.get('bug-1.png')).toBe(1);
    const failure = await workflow.getJson<{ cause: string }>('results/batch-f/failure.json');
    expect(failure.cause).toContain('TypeError');
  });

  it('retries a transient failure until it passes', async () => {
    const dir = path.join(root, 'batch-g');
    await writeImages(dir, ['flaky-1.png', 'g2.png']);
    const { outcome } = await workflow.submitBatch(dir, 'batch-g');
    expect(outcome.status, outcome.cause).toBe('SUCCEEDED');
    expect(invocations.get('flaky-1.png')).toBe(3);
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
