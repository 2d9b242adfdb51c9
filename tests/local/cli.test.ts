import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODEL_FORMAT_NAME, MODEL_METADATA_KEYS } from '../../lambdas/core/contracts.js';
import { defaultBatchId, runBatchLocally } from '../../local/commands/run.js';
import { evaluateLocally } from '../../local/commands/evaluate.js';
import { startLocalS3Server, type LocalS3Server } from '../../local/s3-server.js';
import { buildConstantDetectorModel } from '../helpers/onnx-builder.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
let dir: string;
let blocker: LocalS3Server;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'exodetect-cli-'));
  await mkdir(path.join(dir, 'empty'));
  await writeFile(path.join(dir, 'empty', 'readme.txt'), 'no images here');
  await mkdir(path.join(dir, 'images'));
  await writeFile(path.join(dir, 'images', 'a.png'), 'bytes do not matter before the upload');
  await writeFile(path.join(dir, 'broken.onnx'), 'not a model at all');
  await writeFile(path.join(dir, 'empty.onnx'), '');
  // Parses as protobuf (an unknown field), but holds no graph.
  await writeFile(path.join(dir, 'no-graph.onnx'), 'x\n');
  await writeFile(path.join(dir, 'ok.onnx'), buildConstantDetectorModel({ layout: 'exodetect', rows: [[1, 2, 3, 4, 0.9, 0]] }));
  blocker = await startLocalS3Server({ directory: path.join(dir, 'blocker') });
  await mkdir(path.join(dir, 'good', 'sub'), { recursive: true });
  for (const name of ['x.png', 'sub/y.png']) {
    await sharp(Buffer.alloc(64 * 64, 120), { raw: { width: 64, height: 64, channels: 1 } }).png().toFile(path.join(dir, 'good', name));
  }
  const metadata = {
    [MODEL_METADATA_KEYS.format]: MODEL_FORMAT_NAME,
    [MODEL_METADATA_KEYS.nmPerPx]: '1',
    [MODEL_METADATA_KEYS.scoreThreshold]: '0.5',
    [MODEL_METADATA_KEYS.tileSize]: '64',
  };
  await writeFile(path.join(dir, 'detector.onnx'), buildConstantDetectorModel({ layout: 'exodetect', rows: [[8, 8, 24, 24, 0.9, 0]], metadata }));
});
afterAll(async () => {
  await blocker?.close();
  await rm(dir, { recursive: true, force: true });
});

const run = (imagesDir: string, extra: Parameters<typeof runBatchLocally>[0] extends infer T ? Partial<T> : never = {}) =>
  runBatchLocally({ imagesDir, dataDir: path.join(dir, 's3'), progress: false, ...extra });

describe('exodetect run', () => {
  it('runs a folder through the local workflow and copies the results out', async () => {
    const out = path.join(dir, 'results');
    const result = await run(path.join(dir, 'good'), { model: path.join(dir, 'detector.onnx'), batchId: 'cli-ok', outDir: out, nmPerPx: 1 });
    expect(result.outcome.status, result.outcome.cause).toBe('SUCCEEDED');
    expect(result.summary).toMatchObject({ batchId: 'cli-ok', images: 2, failed: 0, detections: 2 });
    const { readdir } = await import('node:fs/promises');
    expect((await readdir(out)).sort()).toEqual(expect.arrayContaining(['summary.json', 'report.html', 'images', 'overlays']));
    expect(await readdir(path.join(out, 'images', 'sub'))).toEqual(['y.png.json']);
  });
});

describe('exodetect run: clear errors', () => {
  it('names a missing folder', async () => {
    await expect(run(path.join(dir, 'missing'))).rejects.toThrow(`folder ${path.join(dir, 'missing')} does not exist`);
  });

  it('says when a folder has no images', async () => {
    await expect(run(path.join(dir, 'empty'))).rejects.toThrow(/no images found in .*empty \(looked for \.png/);
  });

  it('names an unreadable model', async () => {
    await expect(run(path.join(dir, 'images'), { model: path.join(dir, 'broken.onnx') })).rejects.toThrow(/broken\.onnx is not a readable ONNX model/);
    await expect(run(path.join(dir, 'images'), { model: path.join(dir, 'empty.onnx') })).rejects.toThrow(/empty\.onnx is empty/);
    await expect(run(path.join(dir, 'images'), { model: path.join(dir, 'no-graph.onnx') })).rejects.toThrow(/no-graph\.onnx is not a readable ONNX model/);
    await expect(run(path.join(dir, 'images'), { model: path.join(dir, 'nope.onnx') })).rejects.toThrow(/is neither a file/);
    await expect(evaluateLocally({ imagesDir: path.join(dir, 'images'), annotations: path.join(dir, 'images'), model: path.join(dir, 'broken.onnx'), outDir: dir })).rejects.toThrow(
      /not a readable ONNX model/,
    );
  });

  it('says which port is in use', async () => {
    await expect(run(path.join(dir, 'images'), { model: path.join(dir, 'ok.onnx'), port: blocker.port })).rejects.toThrow(
      `port ${blocker.port} on 127.0.0.1 is already in use`,
    );
  });

  it('rejects bad --nm-per-px and batch ids', async () => {
    await expect(run(path.join(dir, 'images'), { nmPerPx: -1 })).rejects.toThrow(/--nm-per-px must be a number/);
    await expect(run(path.join(dir, 'images'), { batchId: 'no/slashes' })).rejects.toThrow(/batch id "no\/slashes"/);
    expect(defaultBatchId('/data/Grid 3 (good)', new Date('2026-11-25T09:12:34Z'))).toBe('Grid-3--good--20261125-091234');
  });

  it('prints one line and exits 1 from the installed command', async () => {
    const error = await promisify(execFile)(process.execPath, [path.join(REPO, 'bin', 'exodetect.js'), 'run', path.join(dir, 'missing')], { cwd: dir }).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(error?.code).toBe(1);
    expect(error?.stderr.trim()).toBe(`exodetect: folder ${path.join(dir, 'missing')} does not exist`);
  });
});
