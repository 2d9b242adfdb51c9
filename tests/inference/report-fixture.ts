/**
 * A report folder for browser tests: results/<batchId>/ with report.html
 * (with its review data), summary.json, small synthetic overlays (grey
 * micrograph-like background, vesicles and their boxes drawn with sharp) and
 * the previews (the same without boxes).
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import type { ImageRecord, ImageResult } from '../../lambdas/shared/contracts.js';
import { renderReport } from '../../lambdas/inference/report/report.js';
import { ReviewDataCollector } from '../../lambdas/inference/report/review-data.js';
import { BatchSummaryBuilder, type BatchSummary } from '../../lambdas/inference/summary.js';
import { generateErrorRecord, generateImageResult } from './batch-generator.js';

/** The micrograph-like picture; with `boxes`, the overlay (boxes drawn in), else the preview. */
async function pictureJpeg(result: ImageResult, boxes: boolean): Promise<Buffer> {
  const { width, height } = result;
  const shapes = result.detections
    .map((d) => {
      const [x1, y1, x2, y2] = d.box_px;
      const cx = (x1 + x2) / 2;
      const cy = (y1 + y2) / 2;
      const colour = d.on_edge ? '#f5a524' : d.in_size_range ? '#3ddc84' : '#ff5c5c';
      return `<ellipse cx="${cx}" cy="${cy}" rx="${(x2 - x1) / 2}" ry="${(y2 - y1) / 2}" fill="#d9d9d9" stroke="#303030" stroke-width="3"/>` +
        (boxes ? `<rect x="${x1}" y="${y1}" width="${x2 - x1}" height="${y2 - y1}" fill="none" stroke="${colour}" stroke-width="2"/>` : '');
    })
    .join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${shapes}<rect x="${width - 130}" y="${height - 30}" width="100" height="8" fill="#fff"/></svg>`;
  return sharp({ create: { width, height, channels: 3, background: { r: 92, g: 92, b: 96 } } })
    .composite([{ input: Buffer.from(svg) }])
    .jpeg({ quality: 80 })
    .toBuffer();
}

export interface ReportFixture {
  readonly dir: string;
  readonly reportPath: string;
  readonly summary: BatchSummary;
  /** The results as detect would have written them (each with its preview). */
  readonly results: ImageResult[];
}

/**
 * results/<batchId>/ from image results: overlays and previews drawn from their boxes,
 * summary.json and report.html with its review data; error records go in as failures.
 */
export async function writeResultsFolder(batchId: string, records: readonly ImageRecord[]): Promise<ReportFixture> {
  // One folder per batch id, replaced each run: the tests print its path for a person to open, and a new
  // temp folder per run piled up (~2 MB each). Each test file uses its own batch id.
  const dir = join(tmpdir(), 'exodetect-test-reports', 'results', batchId);
  await rm(dir, { recursive: true, force: true });
  const builder = new BatchSummaryBuilder({ batchId, now: () => new Date('2026-03-14T09:30:00.000Z') });
  const review = new ReviewDataCollector({ batchId });
  const results: ImageResult[] = [];
  for (const record of records) {
    if (record.status === 'error') {
      builder.add(record);
      continue;
    }
    const result = { ...record, preview_key: record.overlay_key.replace('/overlays/', '/previews/') };
    results.push(result);
    builder.add(result);
    review.add(result);
    for (const [folder, boxes] of [['overlays', true], ['previews', false]] as const) {
      const path = join(dir, folder, `${result.overlay_key.split('/overlays/')[1]}`);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, await pictureJpeg(result, boxes));
    }
  }
  const summary = builder.build();
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'summary.json'), JSON.stringify(summary, null, 1));
  const reportPath = join(dir, 'report.html');
  await writeFile(reportPath, renderReport(summary, { review: review.serialize() }));
  return { dir, reportPath, summary, results };
}

export async function writeReportFixture(batchId = 'demo-2026-03-14'): Promise<ReportFixture> {
  const counts = [34, 12, 51, 27, 8, 43, 19, 30, 24, 39, 15, 46];
  const records: ImageRecord[] = counts.map((n, i) => {
    const file = i === 3 ? `grid <b>&amp; "2"/micrograph ${i}.tif` : `grid1/micrograph-${String(i + 1).padStart(3, '0')}.tif`;
    return generateImageResult({ batchId, file, detections: n, seed: 100 + i, width: 512, height: 512, nmPerPx: 0.9, meanNm: 85, sdNm: 18 });
  });
  records.push(generateErrorRecord(batchId, 'grid1/corrupt.tif', 'TRUNCATED', 'the file ends after 1,204 of 4,194,304 bytes: re-upload it'));
  records.push(generateErrorRecord(batchId, 'notes.docx', 'NOT_AN_IMAGE', 'not an image: <script>alert(1)</script>'));
  return writeResultsFolder(batchId, records);
}
