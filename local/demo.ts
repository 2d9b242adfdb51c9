/**
 * `npm start`: the whole workflow on this machine with the bundled sample
 * batch. s3rver (data under .exodetect/), the bundled model, the sample
 * images and then their batch.json; the event bridge starts the inference
 * state machine; results are copied to exodetect-results/<batch-id>/.
 * Env EXODETECT_DATA_DIR and EXODETECT_RESULTS_DIR move those two folders.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { BatchManifestSchema, type BatchManifest } from '../lambdas/shared/contracts.js';
import { DEFAULT_MODEL_VERSION, RESULT_FILES } from '../lambdas/shared/keys.js';
import { describeBatchRun, REPO_ROOT, runBatchLocally } from './commands/run.js';
import { diameterLine, sizingLine } from './commands/run-summary.js';
import type { BatchSummary } from '../lambdas/inference/summary.js';
import { ExodetectError } from '../lambdas/shared/errors.js';
import { quietNodeVersionNotice } from './progress.js';

export const DEMO_BATCH_DIR = path.join(REPO_ROOT, 'samples', 'demo-batch');
export const DEMO_BATCH_ID = 'demo';

/** samples/demo-batch/batch.json when the samples ship one; else the scale the samples were rendered at. */
async function demoManifest(): Promise<BatchManifest> {
  const file = path.join(DEMO_BATCH_DIR, 'batch.json');
  if (!existsSync(file)) return { nm_per_px: 1.5, sample: 'exodetect synthetic demo batch' };
  return BatchManifestSchema.parse(JSON.parse(await readFile(file, 'utf8')));
}

/** Lines from summary.json: the diameter distribution with its 95% intervals and how it was sized (none when the summary lacks it). */
async function readSizes(file: string): Promise<string[]> {
  try {
    const summary = JSON.parse(await readFile(file, 'utf8')) as BatchSummary;
    const diameters = diameterLine(summary);
    if (!diameters) return [];
    const sizing = sizingLine(summary);
    return [diameters, ...(sizing ? [sizing] : [])];
  } catch {
    return [];
  }
}

async function main(): Promise<void> {
  quietNodeVersionNotice();
  const started = Date.now();
  process.stderr.write('exodetect demo: local S3 (s3rver), local EventBridge, local Step Functions, the real handlers\n');
  const result = await runBatchLocally({
    imagesDir: DEMO_BATCH_DIR,
    batchId: DEMO_BATCH_ID,
    manifest: await demoManifest(),
    // Overridable so tests (and curious users) can keep the repository clean.
    dataDir: process.env.EXODETECT_DATA_DIR ?? path.join(REPO_ROOT, '.exodetect', 's3'),
    outDir: path.join(process.env.EXODETECT_RESULTS_DIR ?? path.join(REPO_ROOT, 'exodetect-results'), DEMO_BATCH_ID),
    // The demo is meant to be run again and again: each run replaces the last one's batch and results.
    replace: true,
    // The demo shows the bundled model on the bundled samples, whatever `exodetect train` promoted since.
    model: DEFAULT_MODEL_VERSION,
  });
  const total = (Date.now() - started) / 1000;
  if (result.outcome.status !== 'SUCCEEDED') {
    for (const line of await describeBatchRun(result)) process.stderr.write(`${line}\n`);
    process.stderr.write(`The demo batch ${result.outcome.status.toLowerCase()}; what there is lies in ${result.outDir}\n`);
    process.exitCode = 1;
    return;
  }
  const s = result.summary;
  const sizes = await readSizes(path.join(result.outDir, RESULT_FILES.summary));
  const lines = [
    '',
    `Batch "${result.batchId}": ${s?.images ?? '?'} images, ${s?.failed ?? 0} failed, ${s?.detections ?? '?'} vesicles detected with the bundled default model.`,
    ...sizes,
    `Results in local S3:  s3://exodetect-data/results/${result.batchId}/`,
    `Copied to:            ${path.relative(process.cwd(), result.outDir) || '.'}/`,
    `Report:               ${path.join(path.relative(process.cwd(), result.outDir), RESULT_FILES.report)}`,
    `Time to results:      ${result.seconds.toFixed(1)} s from first upload (${total.toFixed(1)} s including start-up)`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((err: unknown) => {
  const message = err instanceof ExodetectError || (err as Error)?.name === 'PortInUseError' ? (err as Error).message : (err as Error)?.stack ?? String(err);
  process.stderr.write(`exodetect demo failed: ${message}\n`);
  process.exitCode = 1;
});
