/**
 * `npm start`: the whole workflow on this machine with the bundled sample
 * batch. s3rver (data under .exodetect/), the bundled model, the sample
 * images and then their batch.json; the event bridge starts the inference
 * state machine; results are copied to exodetect-results/<batch-id>/.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { BatchManifestSchema, type BatchManifest } from '../lambdas/core/contracts.js';
import { RESULT_FILES } from '../lambdas/core/keys.js';
import { REPO_ROOT, runBatchLocally } from './commands/run.js';
import { ExodetectError } from '../lambdas/core/errors.js';
import { quietNodeVersionNotice } from './progress.js';

export const DEMO_BATCH_DIR = path.join(REPO_ROOT, 'samples', 'demo-batch');
export const DEMO_BATCH_ID = 'demo';

/** samples/demo-batch/batch.json when the samples ship one; else the scale the samples were rendered at. */
async function demoManifest(): Promise<BatchManifest> {
  const file = path.join(DEMO_BATCH_DIR, 'batch.json');
  if (!existsSync(file)) return { nm_per_px: 1.5, sample: 'exodetect synthetic demo batch' };
  return BatchManifestSchema.parse(JSON.parse(await readFile(file, 'utf8')));
}

async function main(): Promise<void> {
  quietNodeVersionNotice();
  const started = Date.now();
  process.stderr.write('exodetect demo: local S3 (s3rver), local EventBridge, local Step Functions, the real handlers\n');
  const result = await runBatchLocally({
    imagesDir: DEMO_BATCH_DIR,
    batchId: DEMO_BATCH_ID,
    manifest: await demoManifest(),
    dataDir: path.join(REPO_ROOT, '.exodetect', 's3'),
    outDir: path.join(REPO_ROOT, 'exodetect-results', DEMO_BATCH_ID),
  });
  const total = (Date.now() - started) / 1000;
  if (result.outcome.status !== 'SUCCEEDED') {
    process.stderr.write(`The demo batch ${result.outcome.status.toLowerCase()}; what there is lies in ${result.outDir}\n`);
    process.exitCode = 1;
    return;
  }
  const s = result.summary;
  const lines = [
    '',
    `Batch "${result.batchId}": ${s?.images ?? '?'} images, ${s?.failed ?? 0} failed, ${s?.detections ?? '?'} vesicles detected.`,
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
