/** `npm start` on the bundled sample batch and the bundled model, as a new user runs it. */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'exodetect-demo-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('npm start', () => {
  it('runs the sample batch through the local workflow and says where the results are', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [path.join(REPO, 'node_modules', 'tsx', 'dist', 'cli.mjs'), path.join(REPO, 'local', 'demo.ts')], {
      cwd: REPO,
      env: { ...process.env, EXODETECT_DATA_DIR: path.join(dir, 's3'), EXODETECT_RESULTS_DIR: path.join(dir, 'results') },
      timeout: 120_000,
    });
    // The line the README's quick start shows.
    expect(stdout).toMatch(/^Batch "demo": 6 images, 0 failed, \d+ vesicles detected with the bundled default model\.$/m);
    const images = Number(/(\d+) images, 0 failed, (\d+) vesicles detected/.exec(stdout)?.[1]);
    const vesicles = Number(/(\d+) vesicles detected/.exec(stdout)?.[1]);
    expect(images).toBe(6);
    const truth = JSON.parse(await readFile(path.join(REPO, 'samples', 'demo-batch', 'ground-truth.coco.json'), 'utf8')) as { annotations: unknown[] };
    // The bundled model finds about as many vesicles as are labelled.
    expect(vesicles).toBeGreaterThan(truth.annotations.length * 0.8);
    expect(vesicles).toBeLessThan(truth.annotations.length * 1.25);
    expect(stdout).toMatch(/Time to results: +\d+\.\d s from first upload/);
    // Sized by outlines (fitted in the image: the bundled model gives boxes only), the boxes' median beside.
    expect(stdout).toMatch(/Sized by the area-equivalent diameter of each outline \(outlines fitted in the image\); the boxes alone: median \d+\.\d nm\./);
    const out = path.join(dir, 'results', 'demo');
    for (const file of ['summary.json', 'report.html', 'detections.csv']) expect(existsSync(path.join(out, file)), file).toBe(true);
  });
});
