/**
 * The detect bundle, built exactly as deployed but with the host's native
 * binaries (Lambda's are linux-arm64, this machine is not), runs in a plain
 * Node process against the local S3: the ESM output, the require banner, the
 * external onnxruntime-node and sharp resolved from the bundle's own
 * node_modules, and the bundled default model all work together.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDetectBundle } from '../../infra/bundle/detect-bundle.js';
import { createS3Client } from '../../lambdas/shared/s3-client.js';
import { startLocalS3Server, type LocalS3Server } from '../../local/s3-server.js';

const run = promisify(execFile);
const root = new URL('../..', import.meta.url).pathname;
const BUCKET = 'exodetect-data';
let dir: string;
let server: LocalS3Server;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'exodetect-bundle-run-'));
  // Host natives: outside the bundle directory's tree, so nothing resolves from the repository's node_modules.
  const report = await buildDetectBundle(path.join(dir, 'bundle'), { platform: process.platform, arch: process.arch });
  expect(report.missing).toEqual([]);
  server = await startLocalS3Server({ directory: path.join(dir, 's3'), buckets: [BUCKET] });
}, 120_000);

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('built detect bundle', () => {
  it('processes images from S3 with the bundled default model and keeps going past a broken one', async () => {
    const s3 = createS3Client({ EXODETECT_S3_ENDPOINT: server.endpoint });
    const put = (Key: string, Body: Uint8Array | string) => s3.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body }));
    await put('models/default/model.onnx', await readFile(path.join(root, 'models', 'default', 'model.onnx')));
    // Two samples with a "200 nm" bar burned in (01's short 50 nm bar, 33 px at the top, is not found: README, Benchmarks).
    const samples = ['exo-demo-03.png', 'exo-demo-04.png'];
    for (const name of samples) await put(`batches/b1/images/${name}`, await readFile(path.join(root, 'samples', 'demo-batch', name)));
    await put('batches/b1/images/broken.png', 'not a png');

    const event = {
      Items: [...samples, 'broken.png'].map((name) => ({ Key: `batches/b1/images/${name}` })),
      BatchInput: { bucket: BUCKET, batchId: 'b1', modelKey: 'models/default/model.onnx', params: { nm_per_px: 1.5 } },
    };
    const script = `const m = await import(${JSON.stringify(pathToFileURL(path.join(dir, 'bundle', 'index.mjs')).href)});
      console.log(JSON.stringify(await m.handler(${JSON.stringify(event)})));`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      cwd: dir,
      env: {
        PATH: process.env.PATH,
        EXODETECT_S3_ENDPOINT: server.endpoint,
        AWS_REGION: 'us-east-1',
        POWERTOOLS_LOG_LEVEL: 'SILENT',
        POWERTOOLS_METRICS_DISABLED: 'true',
        DETECT_INTRA_OP_THREADS: '1',
        NODE_PATH: '',
      },
      timeout: 120_000,
    });
    const output = JSON.parse(stdout.trim().split('\n').pop()!) as { items: Array<{ key: string; status: string; resultKey: string; detections?: number; error?: string }> };
    expect(output.items.map((i) => i.status)).toEqual(['ok', 'ok', 'error']);
    expect(output.items[2]!.error).toMatch(/^NOT_AN_IMAGE: batches\/b1\/images\/broken\.png: not an image/);
    const result = JSON.parse(
      await (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: output.items[0]!.resultKey }))).Body!.transformToString(),
    );
    expect(result).toMatchObject({ schema: 'exodetect.image-result', status: 'ok', batch_id: 'b1', nm_per_px: 1.5 });
    // The sample's burned-in scale bar, read by tesseract.js from the bundle's own copy (worker script, wasm, data).
    expect(result.scale_bar).toMatchObject({ label: '200 nm', label_nm: 200 });
    expect(result.detections.length).toBe(output.items[0]!.detections);
    s3.destroy();
  });
});
