/**
 * The report's review view in headless Chromium: a person rejects, draws,
 * adjusts, undoes and redoes, uses the keys and the score sliders, reloads,
 * and downloads the corrections as COCO. Boxes sit on a grid so that every
 * click lands where the test means it to (review-helpers.ts maps image
 * points to the screen).
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Detection, ImageResult } from '../../lambdas/shared/contracts.js';
import { renderReport } from '../../lambdas/inference/report/report.js';
import { decodeReviewOutline, encodeReviewOutline, ReviewDataCollector } from '../../lambdas/inference/report/review-data.js';
import { polygonArea } from '../../lambdas/detect/outline.js';
import { BatchSummaryBuilder } from '../../lambdas/inference/summary.js';
import { generateImageResult, sizeFields } from './batch-generator.js';
import { writeResultsFolder, type ReportFixture } from './report-fixture.js';
import { dragMouse, screenMapping, type ScreenMapping } from './review-helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const BATCH = 'grid-review';

/** Twelve (or fewer) boxes on a grid, well apart; scores 0.95, 0.90, ... */
function gridResult(file: string, width: number, height: number, nmPerPx: number, count: number): ImageResult {
  const base = generateImageResult({ batchId: BATCH, file, detections: 0, seed: 1, width, height, nmPerPx, sizeGateNm: null });
  const cell = width / 4;
  const detections: Detection[] = Array.from({ length: count }, (_, k) => {
    const cx = cell / 2 + cell * (k % 4);
    const cy = cell / 2 + cell * Math.floor(k / 4);
    const w = (cell * (0.3 + 0.02 * k));
    const h = (cell * (0.26 + 0.015 * k));
    const box: [number, number, number, number] = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2].map((v) => Number(v.toFixed(2))) as [number, number, number, number];
    return {
      id: k,
      box_px: box,
      box_nm: box.map((v) => Number((v * nmPerPx).toFixed(2))) as [number, number, number, number],
      ...sizeFields(box, nmPerPx),
      score: Number((0.95 - 0.05 * k).toFixed(4)),
      class_id: 0,
      class_name: 'exosome',
      on_edge: false,
      in_size_range: true,
    };
  });
  return { ...base, detections, counts: { total: count, in_size_range: count, on_edge: 0 } };
}

const IMAGES = [
  gridResult('grid-a/one.tif', 640, 480, 0.8, 12),
  gridResult('grid-a/two.png', 1024, 768, 1.6, 12),
  gridResult('three.tif', 640, 480, 0.8, 5),
];

let browser: Browser;
let context: BrowserContext;
let page: Page;
let fixture: ReportFixture;
const requests: string[] = [];
const pageErrors: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install Debian's chromium package (apt-get install chromium)`);
  fixture = await writeResultsFolder(BATCH, IMAGES);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  context = await browser.newContext({ viewport: { width: 1400, height: 900 }, acceptDownloads: true });
  page = await context.newPage();
  page.on('request', (r) => requests.push(r.url()));
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(pathToFileURL(fixture.reportPath).href);
}, 60_000);

afterAll(async () => {
  await browser?.close();
});

const count = async (name: string): Promise<number> => Number((await page.locator(`#review-section [data-count="${name}"]`).textContent())!.replace(/,/g, ''));
const counts = async (): Promise<Record<string, number>> => {
  const out: Record<string, number> = {};
  for (const name of ['accepted', 'rejected', 'added', 'adjusted', 'below', 'pending']) out[name] = await count(name);
  return out;
};

const median = (v: number[]): number => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const screen = (image: ImageResult): Promise<ScreenMapping> => screenMapping(page, image);
const centre = (d: Detection): [number, number] => [(d.box_px[0] + d.box_px[2]) / 2, (d.box_px[1] + d.box_px[3]) / 2];
const drag = (from: [number, number], to: [number, number]): Promise<void> => dragMouse(page, from, to);

async function setRange(selector: string, value: number): Promise<void> {
  await page.locator(selector).evaluate((el, v) => {
    const input = el as unknown as { value: string; dispatchEvent(e: unknown): boolean };
    input.value = String(v);
    input.dispatchEvent(new (globalThis as unknown as { Event: new (t: string, o: object) => unknown }).Event('input', { bubbles: true }));
    input.dispatchEvent(new (globalThis as unknown as { Event: new (t: string, o: object) => unknown }).Event('change', { bubbles: true }));
  }, value);
}

/** What the person drew, in image pixels, for the download check. */
const drawn: { image: number; box: [number, number, number, number] }[] = [];
let adjusted: { image: number; id: number; box: [number, number, number, number] };

describe('review in report.html (Chromium)', () => {
  it('opens an image large on one canvas, its boxes drawn there and not as elements', async () => {
    expect(await counts()).toEqual({ accepted: 0, rejected: 0, added: 0, adjusted: 0, below: 0, pending: 29 });
    await page.locator('#review-open').click();
    await expect.poll(() => page.locator('#review').isVisible()).toBe(true);
    expect(await page.locator('#rv-file').textContent()).toBe('grid-a/one.tif');
    expect(await page.locator('#rv-position').textContent()).toBe('1 / 3');
    expect(await page.locator('#review canvas').count()).toBe(1);
    expect(await page.locator('#review [data-box], #review svg rect').count()).toBe(0);
    // The preview (not the overlay) is what the canvas shows.
    expect(requests.some((u) => u.includes('/previews/grid-a/one.tif.jpg'))).toBe(true);
  });

  it('rejects a box on click and restores it on a second click', async () => {
    const { at } = await screen(IMAGES[0]!);
    await page.mouse.click(...at(...centre(IMAGES[0]!.detections[2]!)));
    await expect.poll(() => count('rejected')).toBe(1);
    expect(await page.locator('#rv-image-counts').textContent()).toContain('1 rejected');
    await page.mouse.click(...at(...centre(IMAGES[0]!.detections[2]!)));
    await expect.poll(() => count('rejected')).toBe(0);
    await page.mouse.click(...at(...centre(IMAGES[0]!.detections[2]!)));
    await expect.poll(() => count('rejected')).toBe(1);
  });

  it('draws a missing vesicle where the mouse dragged', async () => {
    const { at, toImage } = await screen(IMAGES[0]!);
    // Between the grid's boxes: x 125-150 is empty space on a 640 px wide, 160 px grid.
    const from = at(126, 300);
    const to = at(152, 342);
    await drag(from, to);
    await expect.poll(() => count('added')).toBe(1);
    const [x1, y1] = toImage(...from);
    const [x2, y2] = toImage(...to);
    drawn.push({ image: 0, box: [x1, y1, x2, y2] });
    expect(await page.locator('#rv-image-counts').textContent()).toContain('1 drawn by you');
  });

  it('adjusts a box by dragging its right edge and its bottom-left corner', async () => {
    const d = IMAGES[0]!.detections[5]!;
    const { at, scale } = await screen(IMAGES[0]!);
    const edge = at(d.box_px[2], (d.box_px[1] + d.box_px[3]) / 2);
    await drag(edge, [edge[0] + 22, edge[1] + 9]);
    const corner = at(d.box_px[0], d.box_px[3]);
    await drag(corner, [corner[0] - 7, corner[1] + 13]);
    await expect.poll(() => count('adjusted')).toBe(1);
    // An edge moves by the mouse's travel at the image's scale; the edge a drag does not grab stays.
    adjusted = { image: 0, id: 5, box: [d.box_px[0] - 7 / scale, d.box_px[1], d.box_px[2] + 22 / scale, d.box_px[3] + 13 / scale] };
    expect(await page.locator('#rv-selected-text').textContent()).toMatch(/Model box 6, score 0\.70.*adjusted/);
  });

  it('undoes and redoes, with the keys and the buttons', async () => {
    const before = await counts();
    await page.keyboard.press('Control+z'); // the corner drag
    await page.keyboard.press('Control+z'); // the edge drag: the box is the model's again
    await expect.poll(() => count('adjusted')).toBe(0);
    await page.keyboard.press('Control+z'); // the drawn box
    await expect.poll(() => count('added')).toBe(0);
    await page.locator('#rv-redo').click();
    await page.keyboard.press('Control+Shift+z');
    await page.keyboard.press('Control+y');
    await expect.poll(counts).toEqual(before);
    expect(await page.locator('#rv-redo').isDisabled()).toBe(true);
  });

  it('moves between images and accepts, rejects and selects with the keys, marking reviewed images', async () => {
    await page.keyboard.press('Enter'); // image 1 reviewed, on to image 2
    await expect.poll(() => page.locator('#rv-position').textContent()).toBe('2 / 3');
    // The list redraws after the move: wait for it (on a busy machine it once still read "edited").
    await expect.poll(() => page.locator('[data-review-file="grid-a/one.tif"]').textContent()).toBe('\u2713 reviewed');
    expect(await page.locator('.rv-row.reviewed .rv-name').first().textContent()).toBe('grid-a/one.tif');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab'); // the second box, score 0.90
    await page.keyboard.press('x');
    await expect.poll(() => page.locator('#rv-image-counts').textContent()).toContain('1 rejected');
    await page.keyboard.press('a');
    await expect.poll(() => page.locator('#rv-image-counts').textContent()).toContain('0 rejected');
    await page.keyboard.press('x');
    await page.keyboard.press('ArrowLeft');
    await expect.poll(() => page.locator('#rv-position').textContent()).toBe('1 / 3');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    await expect.poll(() => page.locator('#rv-file').textContent()).toBe('three.tif');
    await page.keyboard.press('m');
    await expect.poll(() => page.locator('#rv-reviewed').isChecked()).toBe(true);
    expect(await page.locator('#rv-help').textContent()).toContain('accept image');
  });

  it('shows what another score threshold keeps, per image and for the batch', async () => {
    await setRange('#rv-batch-threshold', 0.62);
    const scores = IMAGES.flatMap((r) => r.detections.map((d) => d.score));
    const keeps = scores.filter((s) => s >= 0.62).length;
    await expect.poll(() => page.locator('#review-section [data-batch-keeps]').textContent()).toBe(`keeps ${keeps} of ${scores.length} detections (${Math.round((100 * keeps) / scores.length)}%)`);
    // Image 3 (five boxes, 0.95 .. 0.75) keeps all; its own 0.8 keeps four.
    expect(await page.locator('#rv-image-keeps').textContent()).toMatch(/^keeps 5 of 5 detections \(batch threshold\)/);
    await setRange('#rv-image-threshold', 0.8);
    await expect.poll(() => page.locator('#rv-image-keeps').textContent()).toMatch(/^keeps 4 of 5 detections \(own threshold\)/);
    expect(await page.locator('#rv-image-counts').textContent()).toContain('1 below the threshold');
    await page.keyboard.press('Control+z');
    await expect.poll(() => page.locator('#rv-image-keeps').textContent()).toMatch(/^keeps 5 of 5/);
    await page.keyboard.press('Control+y');
    // Below the batch threshold: boxes 7..11 (0.60 .. 0.40) of images 1 and 2; image 3's own threshold: one.
    await expect.poll(() => count('below')).toBe(11);
  });

  it('keeps the corrections across a reload', async () => {
    const before = await counts();
    const progress = await page.locator('#review-section [data-review-progress]').textContent();
    await page.reload();
    await expect.poll(counts).toEqual(before);
    expect(await page.locator('#review-section [data-review-progress]').textContent()).toBe(progress);
    expect(await page.locator('#review-storage-note').textContent()).toMatch(/Saved in this browser/);
    await page.locator('[data-review-file="grid-a/one.tif"]').click();
    expect(await page.locator('#rv-image-counts').textContent()).toContain('1 rejected');
    expect(await page.locator('#rv-image-counts').textContent()).toContain('1 drawn by you');
    expect(await page.locator('#rv-image-counts').textContent()).toContain('(1 adjusted)');
  });

  it('downloads the reviewed images as COCO, every box where it was left, at each image\'s own scale', async () => {
    await page.keyboard.press('Escape');
    await page.keyboard.press('Escape');
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#review-section [data-download]').click()]);
    expect(download.suggestedFilename()).toBe(`${BATCH}.reviewed.coco.json`);
    const coco = JSON.parse(await readFile((await download.path())!, 'utf8')) as {
      info: { batch_id: string };
      images: { id: number; file_name: string; width: number; height: number; nm_per_px: number }[];
      annotations: { image_id: number; category_id: number; bbox: number[]; attributes: { review: string; score?: number } }[];
      categories: { id: number; name: string }[];
    };
    expect(coco.info.batch_id).toBe(BATCH);
    expect(coco.categories).toEqual([{ id: 1, name: 'exosome', supercategory: 'vesicle' }]);
    expect(coco.images.map((i) => [i.file_name, i.width, i.height, i.nm_per_px])).toEqual([
      ['grid-a/one.tif', 640, 480, 0.8],
      ['three.tif', 640, 480, 0.8],
    ]);
    const one = coco.annotations.filter((a) => a.image_id === 1);
    // Image 1 at batch threshold 0.62: boxes 0..6 minus the rejected 2, with 5 adjusted, plus the drawn one.
    expect(one.map((a) => a.attributes.review).sort()).toEqual(['accepted', 'accepted', 'accepted', 'accepted', 'accepted', 'added', 'adjusted']);
    const box = (a: { bbox: number[] }): number[] => [a.bbox[0]!, a.bbox[1]!, a.bbox[0]! + a.bbox[2]!, a.bbox[1]! + a.bbox[3]!];
    const within1px = (got: number[], want: readonly number[]): void => got.forEach((v, i) => expect(Math.abs(v - want[i]!), `${got} vs ${want}`).toBeLessThanOrEqual(1));
    within1px(box(one.find((a) => a.attributes.review === 'added')!), drawn[0]!.box);
    within1px(box(one.find((a) => a.attributes.review === 'adjusted')!), adjusted.box);
    for (const a of one.filter((x) => x.attributes.review === 'accepted')) {
      const model = IMAGES[0]!.detections.find((d) => d.score === a.attributes.score)!;
      box(a).forEach((v, i) => expect(v).toBeCloseTo(model.box_px[i]!, 6));
    }
    expect(one.some((a) => a.attributes.score === IMAGES[0]!.detections[2]!.score)).toBe(false);
    // Image 3: its own threshold 0.8 keeps four.
    expect(coco.annotations.filter((a) => a.image_id === 2)).toHaveLength(4);
  });

  it('recomputes the diameters from the reviewed boxes, beside the model\'s', async () => {
    const coco = await (async () => {
      const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#review-section [data-download]').click()]);
      return JSON.parse(await readFile((await download.path())!, 'utf8')) as {
        images: { id: number; nm_per_px: number }[];
        annotations: { image_id: number; bbox: number[]; segmentation: number[][]; attributes: { review: string } }[];
      };
    })();
    // Sizes come from outlines: the model's (kept relative to the box, stretched with it when adjusted), or for a
    // drawn box, which has none, the box's inscribed ellipse; the download carries the outlines it used.
    const areaDiameter = (polygon: readonly number[]): number => Math.sqrt((4 * polygonArea(polygon)) / Math.PI);
    for (const a of coco.annotations) expect(a.segmentation.length).toBe(a.attributes.review === 'added' ? 0 : 1);
    // The adjusted box took its outline along: 0.8 of the new box, centred in it.
    const moved = coco.annotations.find((a) => a.attributes.review === 'adjusted')!;
    const xs = moved.segmentation[0]!.filter((_, i) => i % 2 === 0);
    expect((Math.max(...xs) - Math.min(...xs)) / moved.bbox[2]!).toBeCloseTo(0.8, 1);
    expect((Math.max(...xs) + Math.min(...xs)) / 2).toBeCloseTo(moved.bbox[0]! + moved.bbox[2]! / 2, 0);
    const reviewed = coco.annotations
      .map((a) => (a.segmentation.length ? areaDiameter(a.segmentation[0]!) : Math.sqrt(a.bbox[2]! * a.bbox[3]!)) * coco.images.find((i) => i.id === a.image_id)!.nm_per_px)
      .sort((a, b) => a - b);
    const model = [IMAGES[0]!, IMAGES[2]!]
      .flatMap((r) => r.detections.map((d) => areaDiameter(decodeReviewOutline(encodeReviewOutline(d.box_px, d.outline_px!), d.box_px)) * r.nm_per_px))
      .sort((a, b) => a - b);
    // The outlines (0.8 of the boxes here) size the vesicles, not the boxes.
    expect(median(model)).toBeLessThan(0.85 * median([IMAGES[0]!, IMAGES[2]!].flatMap((r) => r.detections.map((d) => d.box_diameter_nm))));
    expect(await page.locator('#review-stat-reviewed-n').textContent()).toBe(String(reviewed.length));
    expect(await page.locator('#review-stat-model-n').textContent()).toBe(String(model.length));
    expect(await page.locator('#review-stat-reviewed-d50').textContent()).toBe(median(reviewed).toFixed(1));
    expect(await page.locator('#review-stat-model-d50').textContent()).toBe(median(model).toFixed(1));
    expect(await page.locator('#review-histogram rect.bar').count()).toBeGreaterThan(0);
  });

  it('zooms around the mouse and moves the image with Space + drag, the boxes staying under the mouse', async () => {
    await page.locator('[data-review-file="three.tif"]').click();
    const rejectedOnImage = async (): Promise<string> => (await page.locator('#rv-image-counts').textContent())!.match(/(\d+) rejected/)![1]!;
    const before = await rejectedOnImage();
    const { at } = await screen(IMAGES[2]!);
    const c = at(...centre(IMAGES[2]!.detections[1]!));
    await page.mouse.move(...c);
    await page.mouse.wheel(0, -600); // zoom in, about the mouse
    await page.mouse.click(...c);
    await expect.poll(rejectedOnImage).toBe(String(Number(before) + 1));
    await page.keyboard.down('Space');
    await drag(c, [c[0] + 40, c[1] + 25]);
    await page.keyboard.up('Space');
    await page.mouse.click(c[0] + 40, c[1] + 25); // the box moved with the image
    await expect.poll(rejectedOnImage).toBe(before);
    await page.keyboard.press('f'); // fitted again: the box is back where the fit rule puts it
    await page.mouse.click(...c);
    await expect.poll(rejectedOnImage).toBe(String(Number(before) + 1));
    await page.keyboard.press('Control+z');
    await expect.poll(rejectedOnImage).toBe(before);
    await page.keyboard.press('Escape');
    await page.keyboard.press('Escape');
    await expect.poll(() => page.locator('#review').isVisible()).toBe(false);
  });

  it('writes a screenshot of the review view for a person to look at', async () => {
    await page.locator('[data-review-file="grid-a/one.tif"]').click();
    const d = IMAGES[0]!.detections[0]!;
    const { at } = await screen(IMAGES[0]!);
    await page.mouse.move(...at(d.box_px[2], (d.box_px[1] + d.box_px[3]) / 2)); // an edge under the mouse, highlighted
    const path = join(tmpdir(), 'exodetect-test-reports', 'review.png');
    await page.screenshot({ path });
    console.log(`review view screenshot: ${path}`);
    expect(existsSync(path)).toBe(true);
    await page.keyboard.press('Escape');
    expect(requests.filter((u) => !u.startsWith('file://'))).toEqual([]);
    expect(pageErrors).toEqual([]);
  });

  it('stays light on a 500-image batch with 50 detections each: one canvas, a virtual list', async () => {
    const builder = new BatchSummaryBuilder({ batchId: 'big' });
    const review = new ReviewDataCollector({ batchId: 'big' });
    for (let i = 0; i < 500; i++) {
      const result = generateImageResult({ batchId: 'big', file: `img-${String(i).padStart(3, '0')}.tif`, detections: 50, seed: i, width: 1024, height: 1024 });
      builder.add(result);
      review.add(result);
    }
    const path = join(fixture.dir, 'big-report.html');
    await writeFile(path, renderReport(builder.build(), { galleryLimit: 4, review: review.serialize() }));
    const big = await context.newPage();
    await big.goto(pathToFileURL(path).href);
    let started = Date.now();
    await big.locator('#review-open').click();
    await expect.poll(() => big.locator('#rv-position').textContent()).toBe('1 / 500');
    const openMs = Date.now() - started;
    started = Date.now();
    for (let i = 0; i < 30; i++) await big.keyboard.press('Enter');
    await expect.poll(() => big.locator('#rv-position').textContent()).toBe('31 / 500');
    const stepMs = (Date.now() - started) / 30;
    expect(await big.locator('#review-section [data-count="pending"]').textContent()).toBe(String(470 * 50).replace(/\B(?=(\d{3})+$)/, ','));
    expect(await big.locator('#review canvas').count()).toBe(1);
    const rows = await big.locator('#rv-list-rows .rv-row').count();
    expect(rows).toBeGreaterThan(5);
    expect(rows).toBeLessThan(60);
    expect(await big.locator('#review *').count()).toBeLessThan(400);
    // Figures for a person, never asserted (tests do not time anything).
    console.log(`500 x 50 review: opened in ${openMs} ms, ${stepMs.toFixed(0)} ms per "accept image and next", ${await big.locator('#review *').count()} elements in the view`);
    await big.close();
  });
});
