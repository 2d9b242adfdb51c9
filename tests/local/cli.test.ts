import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultBatchId, runBatchLocally } from '../../local/commands/run.js';
import { buildProgram, describeError } from '../../local/cli.js';
import { evaluateLocally } from '../../local/commands/evaluate.js';
import { startLocalS3Server, type LocalS3Server } from '../../local/s3-server.js';
import { buildConstantDetectorModel } from '../helpers/onnx-builder.js';
import { freePort } from '../helpers/ports.js';
import { exodetectMetadata } from '../helpers/model-metadata.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
let dir: string;
let blocker: LocalS3Server;
/** Handlers read the S3 endpoint once per process (like a cold start): every run here uses one port. */
let s3Port: number;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'exodetect-cli-'));
  s3Port = await freePort();
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
  const metadata = exodetectMetadata({ nmPerPx: 1, scoreThreshold: 0.5, tileSize: 64 });
  await writeFile(path.join(dir, 'detector.onnx'), buildConstantDetectorModel({ layout: 'exodetect', rows: [[8, 8, 24, 24, 0.9, 0]], metadata }));
});
afterAll(async () => {
  await blocker?.close();
  await rm(dir, { recursive: true, force: true });
});

const run = (imagesDir: string, extra: Parameters<typeof runBatchLocally>[0] extends infer T ? Partial<T> : never = {}) =>
  runBatchLocally({ imagesDir, dataDir: path.join(dir, 's3'), progress: false, port: s3Port, ...extra });

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
    await expect(evaluateLocally({ datasetDir: path.join(dir, 'images'), annotations: path.join(dir, 'images'), model: path.join(dir, 'broken.onnx'), outDir: dir })).rejects.toThrow(
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

describe('command line: values refused before anything runs, one readable line', () => {
  /** The message commander would print for these arguments, without exiting or printing. */
  async function parseError(args: string[]): Promise<string> {
    const program = buildProgram();
    const messages: string[] = [];
    for (const command of [program, ...program.commands]) {
      command.exitOverride().configureOutput({ writeErr: (text) => messages.push(text), writeOut: () => undefined });
    }
    const error = await program.parseAsync(['node', 'exodetect', ...args]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error, `exodetect ${args.join(' ')} should fail`).toBeDefined();
    return messages.length ? messages.join('') : describeError(error);
  }

  it('refuses a pixel size outside what TEM of vesicles uses, and names the likely typo', async () => {
    const text = await parseError(['run', path.join(dir, 'images'), '--nm-per-px', '25']);
    expect(text).toContain('--nm-per-px 25 is outside 0.1-20 nm/px, the range TEM of vesicles uses (a factor of 10: 2.5?)');
    // A short pointer to the help, not the whole help text.
    expect(text.split('\n').filter(Boolean)).toHaveLength(2);
  });

  it('says a decimal comma is a comma', async () => {
    expect(await parseError(['run', path.join(dir, 'images'), '--nm-per-px', '1,5'])).toContain('--nm-per-px takes a decimal point, not a comma: 1.5');
  });

  it('asks for the folder when evaluate has none, without a stack trace', async () => {
    const text = await parseError(['evaluate']);
    expect(text).toBe('give the annotated folder: exodetect evaluate <dataset-dir> (see exodetect evaluate --help)');
  });

  it('names a file given where the images folder belongs', async () => {
    const text = await parseError(['run', path.join(dir, 'images', 'a.png')]);
    expect(text).toBe(`${path.join(dir, 'images', 'a.png')} is a file: give the folder that holds the micrographs`);
  });

  it('prints a missing file as its path and the reason', () => {
    const missing = Object.assign(new Error("ENOENT: no such file or directory, open '/x/nope.json'"), { code: 'ENOENT', path: '/x/nope.json' });
    expect(describeError(missing)).toBe('/x/nope.json: no such file or folder');
  });
});

describe('exodetect run: ids and folders never mix', () => {
  it('refuses a batch id already in the store, and --replace replaces its images and results wholly', async () => {
    const images = path.join(dir, 'reuse');
    await mkdir(images, { recursive: true });
    for (const name of ['keep.png', 'drop.png']) {
      await sharp(Buffer.alloc(64 * 64, 90), { raw: { width: 64, height: 64, channels: 1 } }).png().toFile(path.join(images, name));
    }
    const model = path.join(dir, 'detector.onnx');
    const first = await run(images, { model, batchId: 'reused', outDir: path.join(dir, 'reuse-out-1'), nmPerPx: 1 });
    expect(first.summary).toMatchObject({ images: 2, failed: 0 });

    await rm(path.join(images, 'drop.png'));
    await expect(run(images, { model, batchId: 'reused', outDir: path.join(dir, 'reuse-out-2'), nmPerPx: 1 })).rejects.toThrow(
      /batch "reused" already exists in the local store \(2 images, .*pass --replace/,
    );
    const replaced = await run(images, { model, batchId: 'reused', outDir: path.join(dir, 'reuse-out-2'), nmPerPx: 1, replace: true });
    expect(replaced.summary).toMatchObject({ images: 1, failed: 0 });
    const { readdir } = await import('node:fs/promises');
    expect(await readdir(path.join(dir, 'reuse-out-2', 'images'))).toEqual(['keep.png.json']);
  });

  it('refuses an --out folder that holds files, and --replace empties only a results folder', async () => {
    const model = path.join(dir, 'detector.onnx');
    const out = path.join(dir, 'out-twice');
    await run(path.join(dir, 'good'), { model, batchId: 'out-1', outDir: out, nmPerPx: 1 });
    await expect(run(path.join(dir, 'good'), { model, batchId: 'out-2', outDir: out, nmPerPx: 1 })).rejects.toThrow(
      /out-twice already holds .* pass --replace to replace the results there/,
    );
    await writeFile(path.join(out, 'stale-note.txt'), 'left from last time');
    const again = await run(path.join(dir, 'good'), { model, batchId: 'out-2', outDir: out, nmPerPx: 1, replace: true });
    expect(again.outcome.status).toBe('SUCCEEDED');
    const { readdir } = await import('node:fs/promises');
    expect(await readdir(out)).not.toContain('stale-note.txt');

    const notResults = path.join(dir, 'my-documents');
    await mkdir(notResults, { recursive: true });
    await writeFile(path.join(notResults, 'thesis.tex'), 'precious');
    await expect(run(path.join(dir, 'good'), { model, batchId: 'out-3', outDir: notResults, nmPerPx: 1, replace: true })).rejects.toThrow(
      /--replace only empties a folder of exodetect results/,
    );
    expect(await readdir(notResults)).toEqual(['thesis.tex']);
  });

  it('exits non-zero when the batch failed and prints the failed images by reason', async () => {
    const images = path.join(dir, 'mostly-broken');
    await mkdir(images, { recursive: true });
    await sharp(Buffer.alloc(64 * 64, 90), { raw: { width: 64, height: 64, channels: 1 } }).png().toFile(path.join(images, 'fine.png'));
    await writeFile(path.join(images, 'empty.png'), '');
    await writeFile(path.join(images, 'notes.tif'), 'not a TIFF');
    const result = await promisify(execFile)(
      process.execPath,
      [path.join(REPO, 'bin', 'exodetect.js'), 'run', images, '--model', path.join(dir, 'detector.onnx'), '--nm-per-px', '1', '--data-dir', path.join(dir, 's3-cli'), '--out', path.join(dir, 'broken-out')],
      { cwd: dir },
    ).then(
      () => undefined,
      (e: { code: number; stdout: string }) => e,
    );
    expect(result?.code).toBe(1);
    const lines = result!.stdout.split('\n');
    expect(lines).toContain('Failed images by reason: 1 EMPTY_FILE, 1 NOT_AN_IMAGE');
    // The flag, not "batch.json or --nm-per-px": the run knows which one set the scale.
    expect(lines.some((l) => l.startsWith('Scale: from --nm-per-px for 1 image (1 nm/px)'))).toBe(true);
    expect(lines.some((l) => /^ {2}empty\.png: EMPTY_FILE: /.test(l))).toBe(true);
    expect(lines.some((l) => /FAILED: TooManyImagesFailed: 2 of 3 images failed \(66\.7%\), above the tolerated 10%/.test(l))).toBe(true);
    // And how to accept that share, which the next run does.
    expect(lines).toContain(`Results for the 1 image that worked are in ${path.join(dir, 'broken-out')}. If these failures are expected, \`--tolerate-failed 67\` lets a batch with this share of failed images succeed.`);

    // A user who accepts that share says so; the failures are still listed.
    const tolerant = await promisify(execFile)(
      process.execPath,
      [path.join(REPO, 'bin', 'exodetect.js'), 'run', images, '--model', path.join(dir, 'detector.onnx'), '--nm-per-px', '1', '--data-dir', path.join(dir, 's3-cli'), '--out', path.join(dir, 'tolerant-out'), '--tolerate-failed', '67'],
      { cwd: dir },
    );
    expect(tolerant.stdout).toContain('Failed images by reason: 1 EMPTY_FILE, 1 NOT_AN_IMAGE');
    expect(tolerant.stdout).not.toContain('FAILED');
  }, 60_000);
});

describe('exodetect evaluate: what it points to', () => {
  it('names the images with the most errors, the pictures with their legend, and a run command for the same store', async () => {
    const samples = path.join(REPO, 'samples', 'demo-batch');
    const out = path.join(dir, 'eval-out');
    const store = path.join(dir, 'no-store-yet');
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [path.join(REPO, 'bin', 'exodetect.js'), 'evaluate', samples, '--model', 'default', '--nm-per-px', '1.5', '--data-dir', store, '--out', out, '--score-threshold', '0.95'],
      { cwd: dir },
    );
    const lines = stdout.split('\n');
    expect(lines).toContain(`Pictures of every image (green: found, magenta: false positive, yellow dashed: missed): ${path.join(out, 'pictures')}`);
    expect(lines.some((l) => /^Most errors at the threshold: \S+\.(png|tif|jpg) \(\d+ false positives?, \d+ missed\)/.test(l))).toBe(true);
    // At 0.95 the best-F1 threshold and the recommended one are others: the best F1 is said as a figure, and the run
    // suggested at the recommended one reads the same store as this evaluation.
    expect(lines.find((l) => l.includes('the threshold with the best F1'))).toMatch(/^At [\d.]+, the threshold with the best F1 on these images \(tuned on what it scores, so optimistic\): P [\d.]+ {2}R [\d.]+ {2}F1 [\d.]+\.$/);
    expect(lines.find((l) => l.includes('objects recommend'))).toContain(`(exodetect run --data-dir ${store} --model default --score-threshold `);
  }, 120_000);
});
