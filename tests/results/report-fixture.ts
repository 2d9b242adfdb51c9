/**
 * A report folder for browser tests: results/<batchId>/ with report.html,
 * summary.json and small synthetic overlays (grey micrograph-like background,
 * vesicles and their boxes drawn with sharp).
 */
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import type { ImageResult } from '../../lambdas/core/contracts.js';
import { renderReport } from '../../lambdas/results/report.js';
import { BatchSummaryBuilder, type BatchSummary } from '../../lambdas/results/summary.js';
import { generateErrorRecord, generateImageResult } from './batch-generator.js';

async function overlayJpeg(result: ImageResult): Promise<Buffer> {
  const { width, height } = result;
  const shapes = result.detections
    .map((d) => {
      const [x1, y1, x2, y2] = d.box_px;
      const cx = (x1 + x2) / 2;
      const cy = (y1 + y2) / 2;
      const colour = d.on_edge ? '#f5a524' : d.in_size_range ? '#3ddc84' : '#ff5c5c';
      return `<ellipse cx="${cx}" cy="${cy}" rx="${(x2 - x1) / 2}" ry="${(y2 - y1) / 2}" fill="#d9d9d9" stroke="#303030" stroke-width="3"/>` +
        `<rect x="${x1}" y="${y1}" width="${x2 - x1}" height="${y2 - y1}" fill="none" stroke="${colour}" stroke-width="2"/>`;
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
}

export async function writeReportFixture(batchId = 'demo-2026-03-14'): Promise<ReportFixture> {
  const root = await mkdtemp(join(tmpdir(), 'exodetect-report-'));
  const dir = join(root, 'results', batchId);
  const builder = new BatchSummaryBuilder({ batchId, now: () => new Date('2026-03-14T09:30:00.000Z') });
  const counts = [34, 12, 51, 27, 8, 43, 19, 30, 24, 39, 15, 46];
  for (const [i, n] of counts.entries()) {
    const file = i === 3 ? `grid <b>&amp; "2"/micrograph ${i}.tif` : `grid1/micrograph-${String(i + 1).padStart(3, '0')}.tif`;
    const result = generateImageResult({ batchId, file, detections: n, seed: 100 + i, width: 512, height: 512, nmPerPx: 0.9, meanNm: 85, sdNm: 18 });
    builder.add(result);
    const overlayPath = join(dir, 'overlays', `${result.overlay_key.split('/overlays/')[1]}`);
    await mkdir(dirname(overlayPath), { recursive: true });
    await writeFile(overlayPath, await overlayJpeg(result));
  }
  builder.add(generateErrorRecord(batchId, 'grid1/corrupt.tif', 'TRUNCATED', 'the file ends after 1,204 of 4,194,304 bytes: re-upload it'));
  builder.add(generateErrorRecord(batchId, 'notes.docx', 'NOT_AN_IMAGE', 'not an image: <script>alert(1)</script>'));
  const summary = builder.build();
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'summary.json'), JSON.stringify(summary, null, 1));
  const reportPath = join(dir, 'report.html');
  await writeFile(reportPath, renderReport(summary));
  return { dir, reportPath, summary };
}
