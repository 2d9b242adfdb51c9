/**
 * The correction loop inside the report, end to end as a facility would run
 * it: `exodetect run` on the sample micrographs, the report's review view in
 * headless Chromium (reject, draw, adjust, mark reviewed, download), the
 * trainer's loader reading the downloaded COCO file as it is, and
 * `exodetect train --annotations` training one epoch on it.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageResult } from '../../lambdas/shared/contracts.js';
import { clickableBox, adjustableBox, dragMouse, emptySquare, screenMapping } from '../inference/review-helpers.js';
import { checkDatasetFolder } from '../../local/commands/check.js';

const run = promisify(execFile);
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = path.join(REPO, 'bin', 'exodetect.js');
const PYTHON = '/usr/bin/python3';
const TRAINER = path.join(REPO, 'training-container');
const BATCH = 'review-e2e';
/** Reviewed in this order; the others are left alone. */
const REVIEWED = ['exo-demo-01.png', 'exo-demo-02.png', 'exo-demo-05-large.jpg', 'exo-demo-06-16bit.tif'];
/** Small and quick: one epoch of 64 px crops through a narrow network on one thread. */
const TINY = { batch_size: '2', crop_size: '64', tile_size: '64', crops_per_image: '1', width: '8', threads: '1', nm_per_px: '1.5' };

type Box = [number, number, number, number];
interface Coco {
  info: { batch_id: string };
  images: { id: number; file_name: string; width: number; height: number; nm_per_px: number }[];
  annotations: { image_id: number; bbox: number[]; attributes: { review: string; score?: number } }[];
}

let root: string;
let browser: Browser;
let page: Page;
let downloaded: string;
const results = new Map<string, ImageResult>();
/** What the person did, in original-image px. */
const drawn: { file: string; box: Box }[] = [];
let adjusted: { file: string; box: Box };
let rejected: { file: string; score: number };

const toXyxy = (bbox: number[]): Box => [bbox[0]!, bbox[1]!, bbox[0]! + bbox[2]!, bbox[1]! + bbox[3]!];
const within1px = (got: readonly number[], want: readonly number[]): void => got.forEach((v, i) => expect(Math.abs(v - want[i]!), `${got} vs ${want}`).toBeLessThanOrEqual(1));

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'exodetect-review-e2e-'));
  await mkdir(path.join(root, 'images'));
  for (const name of await readdir(path.join(REPO, 'samples', 'demo-batch'))) {
    if (/\.(png|jpg|tif)$/.test(name)) await copyFile(path.join(REPO, 'samples', 'demo-batch', name), path.join(root, 'images', name));
  }
  await run(process.execPath, [CLI, 'run', 'images', '--batch', BATCH, '--nm-per-px', '1.5', '--out', 'results'], { cwd: root });
  for (const name of REVIEWED) results.set(name, JSON.parse(await readFile(path.join(root, 'results', 'images', `${name}.json`), 'utf8')) as ImageResult);
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  page = await (await browser.newContext({ viewport: { width: 1440, height: 900 }, acceptDownloads: true })).newPage();
  await page.goto(pathToFileURL(path.join(root, 'results', 'report.html')).href);
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await rm(root, { recursive: true, force: true });
});

async function openImage(file: string): Promise<void> {
  await page.locator('#rv-list-rows .rv-row', { hasText: file }).click();
  await expect.poll(() => page.locator('#rv-file').textContent()).toBe(file);
}

async function drawIn(file: string, size: number): Promise<void> {
  const result = results.get(file)!;
  const map = await screenMapping(page, result);
  const square = emptySquare(result.detections.map((d) => d.box_px), result, map.scale, size);
  const from = map.at(square[0], square[1]);
  const to = map.at(square[2], square[3]);
  await dragMouse(page, from, to);
  drawn.push({ file, box: [...map.toImage(...from), ...map.toImage(...to)] as Box });
}

describe('review in the report, then train on the corrections', () => {
  it('rejects, draws and adjusts real detections, marks images reviewed and downloads them', async () => {
    await page.locator('[data-review-file="exo-demo-01.png"]').click();
    await expect.poll(() => page.locator('#rv-file').textContent()).toBe('exo-demo-01.png');
    const first = results.get('exo-demo-01.png')!;
    const boxes = first.detections.map((d) => d.box_px);
    const map = await screenMapping(page, first);

    const reject = clickableBox(boxes, map.scale);
    expect(reject).toBeGreaterThanOrEqual(0);
    const b = boxes[reject]!;
    await page.mouse.click(...map.at((b[0] + b[2]) / 2, (b[1] + b[3]) / 2));
    rejected = { file: first.image_key, score: first.detections[reject]!.score };
    await expect.poll(() => page.locator('#rv-image-counts').textContent()).toContain('1 rejected');

    const adjust = adjustableBox(boxes, map.scale, 12, [reject]);
    expect(adjust).toBeGreaterThanOrEqual(0);
    const a = boxes[adjust]!;
    const edge = map.at(a[2], (a[1] + a[3]) / 2);
    await dragMouse(page, edge, [edge[0] + 12, edge[1]]);
    adjusted = { file: 'exo-demo-01.png', box: [a[0], a[1], a[2] + 12 / map.scale, a[3]] };
    await expect.poll(() => page.locator('#rv-image-counts').textContent()).toContain('(1 adjusted)');

    await drawIn('exo-demo-01.png', 40);
    await expect.poll(() => page.locator('#rv-image-counts').textContent()).toContain('1 drawn by you');
    await page.mouse.move(...map.at(a[2] + 12 / map.scale, (a[1] + a[3]) / 2)); // the adjusted edge under the mouse
    const screenshot = path.join(os.tmpdir(), `exodetect-review-e2e-${process.pid}.png`);
    await page.screenshot({ path: screenshot });
    console.log(`review view screenshot (real micrograph, after reject / adjust / draw): ${screenshot}`);

    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('#rv-file').textContent()).toBe('exo-demo-02.png');
    await page.keyboard.press('Enter');
    // The large image is drawn at its own scale (1024 px on a smaller stage).
    await openImage('exo-demo-05-large.jpg');
    await drawIn('exo-demo-05-large.jpg', 60);
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('#rv-file').textContent()).toBe('exo-demo-06-16bit.tif');
    await page.keyboard.press('Enter');
    await page.keyboard.press('Escape');
    await page.keyboard.press('Escape');
    await expect.poll(() => page.locator('#review-section [data-review-progress]').textContent()).toBe('4 of 6 images reviewed');

    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#review-section [data-download]').click()]);
    downloaded = path.join(root, download.suggestedFilename());
    await download.saveAs(downloaded);
    expect(path.basename(downloaded)).toBe(`${BATCH}.reviewed.coco.json`);
    expect(await page.locator('#review-train-command').textContent()).toBe(`npx exodetect train --annotations ${BATCH}.reviewed.coco.json --name ${BATCH}-reviewed`);

    const coco = JSON.parse(await readFile(downloaded, 'utf8')) as Coco;
    expect(coco.info.batch_id).toBe(BATCH);
    expect(coco.images.map((i) => [i.file_name, i.nm_per_px])).toEqual(REVIEWED.map((f) => [f, 1.5]));
    const boxesOf = (file: string) => coco.annotations.filter((x) => x.image_id === coco.images.find((i) => i.file_name === file)!.id);
    const one = boxesOf('exo-demo-01.png');
    expect(one).toHaveLength(first.detections.length); // one rejected, one drawn
    expect(one.some((x) => x.attributes.score === rejected.score)).toBe(false);
    within1px(toXyxy(one.find((x) => x.attributes.review === 'adjusted')!.bbox), adjusted.box);
    for (const d of drawn) within1px(toXyxy(boxesOf(d.file).find((x) => x.attributes.review === 'added')!.bbox), d.box);
    expect(boxesOf('exo-demo-02.png')).toHaveLength(results.get('exo-demo-02.png')!.detections.length);
  });

  it('is read by the trainer as training reads it: every box, at each image\'s nm/px from the file', async () => {
    const dataset = path.join(root, 'dataset');
    await mkdir(dataset);
    await copyFile(downloaded, path.join(dataset, path.basename(downloaded)));
    for (const name of REVIEWED) await copyFile(path.join(root, 'images', name), path.join(dataset, name));
    // The dataset ingestion (as the split step runs it) writes the truth the trainer reads.
    const check = await checkDatasetFolder({ datasetDir: dataset, truthOut: path.join(dataset, 'truth.json') });
    expect(check.ingested.problems).toEqual([]);
    const script = [
      'import json, sys',
      'from exodetect_train.annotations import load_channel',
      'd = load_channel(sys.argv[1], training_nm_per_px=9.9)',
      'print(json.dumps({"problems": [str(p) for p in d.problems],',
      '  "images": {im.rel_path: {"boxes": im.boxes.tolist(), "nm_per_px": im.nm_per_px, "source": im.nm_per_px_source} for im in d.images}}))',
    ].join('\n');
    const { stdout } = await run(PYTHON, ['-c', script, dataset], { env: { ...process.env, PYTHONPATH: TRAINER } });
    const loaded = JSON.parse(stdout) as { problems: string[]; images: Record<string, { boxes: number[][]; nm_per_px: number; source: string }> };
    expect(loaded.problems).toEqual([]);
    expect(Object.keys(loaded.images).sort()).toEqual([...REVIEWED].sort());
    for (const name of REVIEWED) expect([loaded.images[name]!.nm_per_px, loaded.images[name]!.source]).toEqual([1.5, 'dataset']);
    for (const image of check.ingested.images) expect(image.nm_per_px_detail).toBe(`${path.basename(downloaded)} images[].nm_per_px = 1.5`);
    const coco = JSON.parse(await readFile(downloaded, 'utf8')) as Coco;
    expect(Object.values(loaded.images).reduce((n, i) => n + i.boxes.length, 0)).toBe(coco.annotations.length);
    const closest = (boxes: number[][], want: Box): number[] => boxes.reduce((best, b) => (Math.abs(b[0]! - want[0]) + Math.abs(b[1]! - want[1]) < Math.abs(best[0]! - want[0]) + Math.abs(best[1]! - want[1]) ? b : best));
    for (const d of drawn) within1px(closest(loaded.images[d.file]!.boxes, d.box), d.box);
    within1px(closest(loaded.images[adjusted.file]!.boxes, adjusted.box), adjusted.box);
  });

  // One COCO file labels every image of the dataset: the split step gives each channel its own images' boxes.
  it('trains one epoch on it through `exodetect train --annotations`, the images taken from the batch in the local store', async () => {
    const args = [CLI, 'train', '--annotations', downloaded, '--epochs', '1', '--init-from', 'none', '--validation-fraction', '0.25', ...Object.entries(TINY).flatMap(([k, v]) => ['--hyperparameter', `${k}=${v}`])];
    const { stdout } = await run(process.execPath, args, { cwd: root, maxBuffer: 16 * 1024 * 1024 }).catch((err: { stdout?: string; stderr?: string; message: string }) => {
      throw new Error(`exodetect train failed: ${err.message}\n${err.stdout ?? ''}\n${err.stderr ?? ''}`);
    });
    const lines = stdout.split('\n');
    expect(lines[0]).toBe(
      `Dataset ${BATCH}-reviewed: 5 added (${BATCH}/exo-demo-01.png, ${BATCH}/exo-demo-02.png, ${BATCH}/exo-demo-05-large.jpg, ${BATCH}/exo-demo-06-16bit.tif, ${BATCH}/${BATCH}.reviewed.coco.json); 0 files unchanged (the images come from batch ${BATCH} in the local store).`,
    );
    // Every reviewed box reaches a channel, none is a problem.
    const coco = JSON.parse(await readFile(downloaded, 'utf8')) as Coco;
    const split = /^Split: train 3 images \((\d+) objects\), validation 1 image \((\d+) objects\); from scratch\.$/.exec(lines[1]!);
    expect(split, lines[1]).not.toBeNull();
    expect(Number(split![1]) + Number(split![2])).toBe(coco.annotations.length);
    expect(stdout).not.toMatch(/annotation problem/);
    // A model was trained and compared with the bundled one on the held-out image.
    expect(stdout).toMatch(/^ {2}Model \S+'s validated run \(the same recipe without the held-out images\), on the 1 held-out image through the inference path: AP50 [\d.]+, F1 [\d.]+/m);
    // Four images: the trainer refit on all of them, and its validated model stood in for it on the held-out image.
    expect(stdout).toMatch(/\(the bundled default model\); both models on this run's validation split \(1 image, inference path; the candidate's refit model represented by its validated run's, trained without those images\)\.$/m);
  }, 600_000);
});
