/**
 * Benchmark of the summarize step at Lambda scale: a generated batch of
 * 10,000 per-image results x 50 detections (results only, no images) in a
 * local s3rver, summarized by the real summarizeBatch through the S3 API.
 *
 *   npm run bench:summarize [-- --images 10000 --detections 50 --concurrency 32]
 *
 * The summarize step runs in a child process, so its peak RSS is its own (as
 * in a Lambda), not s3rver's or the generator's. The results are written
 * straight into s3rver's folder layout (object, metadata and md5 files) to
 * keep generation fast. The last line printed is a JSON object.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createS3Client } from '../lambdas/shared/s3-client.js';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { analyticsKey, batchImagesPrefix, imageResultKey, RESULT_FILES, resultsPrefix } from '../lambdas/shared/keys.js';
import { mapOrdered } from '../lambdas/shared/concurrency.js';
import { summarizeBatch } from '../lambdas/inference/summarize-batch.js';
import { startLocalS3Server } from '../local/s3-server.js';
import { generateErrorRecord, generateImageResult } from '../tests/inference/batch-generator.js';

const BUCKET = 'exodetect-data';
const BATCH_ID = 'bench-summarize';

interface WorkerReport {
  readonly seconds: number;
  readonly peakRssMb: number;
  readonly peakHeapMb: number;
  readonly images: number;
  readonly failed: number;
  readonly detections: number;
}

/** Puts an object where s3rver's filesystem store keeps it (fast bulk generation). */
async function writeS3rverObject(directory: string, key: string, body: string, contentType: string): Promise<void> {
  const parts = key.split('/');
  const name = parts.pop()!;
  const folder = join(directory, BUCKET, ...parts);
  await mkdir(folder, { recursive: true });
  const objectPath = join(folder, `${name}._S3rver_object`);
  await Promise.all([
    writeFile(objectPath, body),
    writeFile(`${objectPath}.md5`, createHash('md5').update(body).digest('hex')),
    writeFile(join(folder, `${name}._S3rver_metadata.json`), JSON.stringify({ 'content-type': contentType })),
  ]);
}

async function generate(directory: string, images: number, detections: number): Promise<number> {
  let total = 0;
  const indices = Array.from({ length: images }, (_, i) => i);
  for await (const _ of mapOrdered(indices, 64, async (i) => {
    const file = `plate-${Math.floor(i / 1000)}/img-${String(i).padStart(5, '0')}.tif`;
    const imageKey = `${batchImagesPrefix(BATCH_ID)}${file}`;
    // One image in 500 failed in detect: the summary must carry error records too.
    const record = i % 500 === 499
      ? generateErrorRecord(BATCH_ID, file, 'TRUNCATED', 'file ends early')
      : generateImageResult({ batchId: BATCH_ID, file, detections, seed: i + 1, width: 2048, height: 2048, nmPerPx: 0.6 });
    if (record.status === 'ok') total += record.detections.length;
    await writeS3rverObject(directory, imageResultKey(BATCH_ID, imageKey), JSON.stringify(record), 'application/json');
  })) {
    // drain
  }
  return total;
}

async function worker(endpoint: string, concurrency: number): Promise<void> {
  const s3 = createS3Client({ EXODETECT_S3_ENDPOINT: endpoint });
  let peakHeap = 0;
  const sampler = setInterval(() => {
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
  }, 50);
  const started = performance.now();
  const result = await summarizeBatch({ s3, bucket: BUCKET, batchId: BATCH_ID, concurrency });
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
  const report: WorkerReport = {
    seconds,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    peakHeapMb: peakHeap / 1024 / 1024,
    images: result.images,
    failed: result.failed,
    detections: result.detections,
  };
  process.stdout.write(`WORKER ${JSON.stringify(report)}\n`);
  s3.destroy();
}

function runWorker(endpoint: string, concurrency: number): Promise<WorkerReport> {
  const self = fileURLToPath(import.meta.url);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', self, '--worker', endpoint, '--concurrency', String(concurrency)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('WORKER '));
      if (code !== 0 || !line) reject(new Error(`summarize worker exited with ${code}: ${out.slice(-2000)}`));
      else resolve(JSON.parse(line.slice('WORKER '.length)) as WorkerReport);
    });
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      worker: { type: 'string' },
      images: { type: 'string', default: '10000' },
      detections: { type: 'string', default: '50' },
      concurrency: { type: 'string', default: '32' },
      keep: { type: 'boolean', default: false },
    },
  });
  const concurrency = Number(values.concurrency);
  if (values.worker) return worker(values.worker, concurrency);

  const images = Number(values.images);
  const detections = Number(values.detections);
  if (!Number.isInteger(images) || images < 1) throw new Error(`--images must be a positive integer, got "${values.images}"`);
  if (!Number.isInteger(detections) || detections < 0) throw new Error(`--detections must be a non-negative integer, got "${values.detections}"`);
  const directory = await mkdtemp(join(tmpdir(), 'exodetect-bench-summarize-'));
  const server = await startLocalS3Server({ directory, buckets: [BUCKET] });
  try {
    const genStarted = performance.now();
    const generated = await generate(directory, images, detections);
    const generationSeconds = (performance.now() - genStarted) / 1000;
    console.log(`generated ${images} result documents (${generated} detections) in ${generationSeconds.toFixed(1)} s under ${directory}`);
    const report = await runWorker(server.endpoint, concurrency);
    if (report.detections !== generated) throw new Error(`summarize counted ${report.detections} detections, generated ${generated}`);
    const s3 = createS3Client({ EXODETECT_S3_ENDPOINT: server.endpoint });
    const outputs: Record<string, number> = {};
    for (const key of [...Object.values(RESULT_FILES).map((f) => `${resultsPrefix(BATCH_ID)}${f}`), analyticsKey(BATCH_ID)]) {
      const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
      outputs[key.slice(key.lastIndexOf('/') + 1)] = Number(((head.ContentLength ?? 0) / 1024 / 1024).toFixed(1));
    }
    s3.destroy();
    console.log(`outputs (MB): ${Object.entries(outputs).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    console.log(`summarized ${report.images} images (${report.failed} failed), ${report.detections} detections in ${report.seconds.toFixed(1)} s; peak RSS ${report.peakRssMb.toFixed(0)} MB, peak heap ${report.peakHeapMb.toFixed(0)} MB`);
    console.log(`Lambda limits: 15 min, 10,240 MB; target < 1,024 MB RSS: ${report.peakRssMb < 1024 && report.seconds < 900 ? 'within' : 'EXCEEDED'}`);
    console.log(
      JSON.stringify({
        bench: 'summarize',
        images,
        detections_per_image: detections,
        detections: report.detections,
        failed: report.failed,
        concurrency,
        generation_s: Number(generationSeconds.toFixed(2)),
        summarize_s: Number(report.seconds.toFixed(2)),
        images_per_s: Number((report.images / report.seconds).toFixed(1)),
        peak_rss_mb: Number(report.peakRssMb.toFixed(1)),
        peak_heap_mb: Number(report.peakHeapMb.toFixed(1)),
        output_mb: outputs,
        node: process.version,
      }),
    );
  } finally {
    await server.close();
    if (!values.keep) await rm(directory, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
