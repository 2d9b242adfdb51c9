import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatNumber } from '../../lambdas/inference/report/html.js';
import { renderReport } from '../../lambdas/inference/report/report.js';
import { BatchSummaryBuilder, type BatchSummary } from '../../lambdas/inference/summary.js';
import { generateImageResult } from './batch-generator.js';
import { writeReportFixture, type ReportFixture } from './report-fixture.js';

const CHROMIUM = '/usr/bin/chromium';
let browser: Browser;
let page: Page;
let fixture: ReportFixture;
let summary: BatchSummary;
const requests: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install Debian's chromium package (apt-get install chromium)`);
  fixture = await writeReportFixture();
  summary = JSON.parse(await readFile(join(fixture.dir, 'summary.json'), 'utf8')) as BatchSummary;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(pathToFileURL(fixture.reportPath).href);
  await page.waitForLoadState('load');
}, 60_000);

afterAll(async () => {
  await browser?.close();
});

const text = async (selector: string): Promise<string> => (await page.locator(selector).textContent())?.trim() ?? '';

describe('report.html in Chromium', () => {
  it('shows the figures of summary.json', async () => {
    expect(await text('#batch-id')).toBe(summary.batch_id);
    expect(await text('#stat-images')).toBe(String(summary.images.total));
    expect(await text('#stat-processed')).toBe(String(summary.images.processed));
    expect(await text('#stat-failed')).toBe(String(summary.images.failed));
    expect(await text('#stat-detections')).toBe(formatNumber(summary.detections.total));
    expect(await text('#stat-d50')).toBe(summary.diameter_nm.d50!.value.toFixed(1));
    const [lo, hi] = summary.diameter_nm.d50!.ci!;
    expect(await text('#stat-d50-ci')).toBe(`${lo.toFixed(1)}\u2013${hi.toFixed(1)}`);
    expect(await text('#stat-mean')).toBe(summary.diameter_nm.mean!.value.toFixed(1));
    expect(await text('#stat-sized')).toBe(String(summary.diameter_nm.count));
    // One histogram bar group per bin, one table row per image, one failure row per failure.
    expect(await page.locator('#histogram g').count()).toBe(summary.histogram.bins.length);
    expect(await page.locator('#image-table tbody tr').count()).toBe(summary.per_image.length);
    expect(await page.locator('.failures tbody tr').count()).toBe(summary.failures.length);
    expect(await page.locator('.gallery img').count()).toBe(summary.images.processed);
  });

  it('escapes user strings', async () => {
    expect(await page.locator('.failures').textContent()).toContain('<script>alert(1)</script>');
    expect(await page.locator('#image-table').textContent()).toContain('grid <b>&amp; "2"/micrograph 3.tif');
    expect(await page.locator('#image-table b').count()).toBe(0);
  });

  it('loads every overlay and nothing from the network', async () => {
    // Evaluated in the page (a string: this project's TypeScript has no DOM types).
    const broken = await page.evaluate(
      "Array.from(document.querySelectorAll('.gallery img')).filter((img) => !(img.complete && img.naturalWidth > 0)).length",
    );
    expect(broken).toBe(0);
    expect(requests.filter((u) => !u.startsWith('file://'))).toEqual([]);
  });

  it('sorts the per-image table by count when the heading is clicked', async () => {
    const counts = async (): Promise<number[]> =>
      page.$$eval('#image-table tbody tr td:nth-child(2)', (cells) => cells.map((cell) => Number(cell.getAttribute('data-value'))));
    const header = page.locator('#image-table th', { hasText: 'Vesicles' });
    await header.click();
    const descending = await counts();
    expect(descending[0]).toBe(Math.max(...summary.per_image.map((r) => r.detections)));
    expect(descending).toEqual([...descending].sort((a, b) => b - a));
    expect(await header.getAttribute('aria-sort')).toBe('descending');
    await header.click();
    const ascending = await counts();
    expect(ascending).toEqual([...ascending].sort((a, b) => a - b));
    expect(await header.getAttribute('aria-sort')).toBe('ascending');
  });

  it('enlarges an overlay in a lightbox and closes it with Escape', async () => {
    await page.locator('.gallery a').nth(2).click();
    const lightbox = page.locator('#lightbox');
    await expect.poll(() => page.evaluate("getComputedStyle(document.getElementById('lightbox')).display")).toBe('flex');
    const src = await page.locator('#lightbox img').getAttribute('src');
    expect(src).toMatch(/^overlays\/grid1\/micrograph-003\.tif\.jpg$/);
    await page.keyboard.press('Escape');
    await expect.poll(() => page.evaluate("getComputedStyle(document.getElementById('lightbox')).display")).toBe('none');
  });

  it('keeps a large batch responsive: first 500 rows, sorted over all, then "show all"', async () => {
    const builder = new BatchSummaryBuilder({ batchId: 'big' });
    for (let i = 0; i < 700; i++) builder.add(generateImageResult({ batchId: 'big', file: `img-${i}.tif`, detections: i === 650 ? 150 : (i * 37) % 101, seed: i }));
    const big = builder.build();
    const path = join(fixture.dir, 'big-report.html');
    await writeFile(path, renderReport(big, { galleryLimit: 4 }));
    const bigPage = await browser.newPage();
    await bigPage.goto(pathToFileURL(path).href);
    const visible = (): Promise<number> => bigPage.locator('#image-table tbody tr:visible').count();
    expect(await visible()).toBe(500);
    await bigPage.locator('#image-table th', { hasText: 'Vesicles' }).click();
    expect(await visible()).toBe(500);
    const first = await bigPage.locator('#image-table tbody tr').first().locator('td').nth(1).getAttribute('data-value');
    expect(Number(first)).toBe(150); // image 650: sorting covers the rows not yet shown
    await bigPage.locator('#show-all-rows').click();
    expect(await visible()).toBe(700);
    await bigPage.close();
  });

  it('writes a screenshot for a person to look at', async () => {
    await page.locator('#image-table th', { hasText: 'Vesicles' }).click();
    const path = join(tmpdir(), 'exodetect-test-reports', 'report.png');
    await page.screenshot({ path, fullPage: true });
    await page.locator('.gallery a').first().click();
    const lightboxPath = join(tmpdir(), 'exodetect-test-reports', 'report-lightbox.png');
    await page.screenshot({ path: lightboxPath });
    await page.keyboard.press('Escape');
    console.log(`report screenshot: ${path}\nlightbox screenshot: ${lightboxPath}\nreport: ${fixture.reportPath}`);
    expect(existsSync(path)).toBe(true);
  });
});
