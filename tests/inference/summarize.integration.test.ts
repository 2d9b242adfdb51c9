import { polygonArea } from '../../lambdas/detect/outline.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyticsKey, batchImagesPrefix, RESULT_FILES, resultsPrefix } from '../../lambdas/shared/keys.js';
import type { ImageResult } from '../../lambdas/shared/contracts.js';
import { DETECTION_CSV_COLUMNS, parseCsv } from '../../lambdas/inference/csv.js';
import type { BatchSummary } from '../../lambdas/inference/summary.js';
import { generateErrorRecord, generateImageResult, resultKeyFor } from './batch-generator.js';
import { getText, putAll, startS3Fixture, type S3Fixture } from './s3-helpers.js';

const batchId = 'it-batch-1';
const IMAGES = 600;
const DETECTIONS = 60;
let fx: S3Fixture;
let results: ImageResult[];
let output: Awaited<ReturnType<typeof import('../../lambdas/summarize.js').handler>>;

beforeAll(async () => {
  fx = await startS3Fixture();
  results = Array.from({ length: IMAGES }, (_, i) =>
    generateImageResult({ batchId, file: `${i < 10 ? 'grid a/' : ''}img-${String(i).padStart(4, '0')}.tif`, detections: i % 7 === 0 ? 0 : DETECTIONS + (i % 5), seed: i + 1 }),
  );
  const objects = results.map((r) => ({ key: resultKeyFor(batchId, r.image_key.slice(batchImagesPrefix(batchId).length)), body: JSON.stringify(r) }));
  objects.push({ key: resultKeyFor(batchId, 'broken.tif'), body: JSON.stringify(generateErrorRecord(batchId, 'broken.tif', 'TRUNCATED', 'file ends early')) });
  objects.push({ key: resultKeyFor(batchId, 'garbled.tif'), body: '{"schema":"exodetect.image-result", "status": "ok"' });
  // The uploaded images: every result's image, one image whose detect never finished, and a hidden file.
  for (const r of results) objects.push({ key: r.image_key, body: 'x' });
  for (const name of ['broken.tif', 'garbled.tif', 'lost.tif', '.DS_Store']) objects.push({ key: `${batchImagesPrefix(batchId)}${name}`, body: 'x' });
  await putAll(fx.s3, fx.bucket, objects);
  process.env.EXODETECT_S3_ENDPOINT = fx.server.endpoint;
  // The smallest part S3 allows, so the larger outputs go through multipart upload.
  process.env.SUMMARIZE_PART_SIZE_MIB = '5';
  const { handler } = await import('../../lambdas/summarize.js');
  output = await handler({ bucket: fx.bucket, batchId, executionName: 'ignored', toleratedFailurePercentage: 10 });
}, 120_000);

afterAll(async () => {
  await fx?.close();
});

const totalDetections = (): number => results.reduce((s, r) => s + r.detections.length, 0);

describe('summarize handler against s3rver', () => {
  it('returns a small output with the counts', () => {
    expect(output).toEqual({
      batchId,
      images: IMAGES + 3,
      failed: 3,
      detections: totalDetections(),
      summaryKey: `${resultsPrefix(batchId)}${RESULT_FILES.summary}`,
      reportKey: `${resultsPrefix(batchId)}${RESULT_FILES.report}`,
      // 3 of 603 = 0.5%: within the 10% the state machine passed.
      failedPercentage: 0.5,
      toleratedFailurePercentage: 10,
      withinTolerance: true,
      outcomeReason: null,
    });
    expect(JSON.stringify(output).length).toBeLessThan(400);
  });

  it('writes summary.json with failures for error records, unreadable and missing results', async () => {
    const summary = JSON.parse(await getText(fx.s3, fx.bucket, output.summaryKey)) as BatchSummary;
    expect(summary.images).toEqual({ total: IMAGES + 3, processed: IMAGES, failed: 3, assumed_scale: 0 });
    expect(summary.failures.map((f) => [f.file, f.code])).toEqual([
      ['broken.tif', 'TRUNCATED'],
      ['garbled.tif', 'RESULT_UNREADABLE'],
      ['lost.tif', 'MISSING_RESULT'],
    ]);
    expect(summary.failures[1]!.message).toMatch(/garbled\.tif\.json: not valid JSON/);
    expect(summary.detections.total).toBe(totalDetections());
    expect(summary.per_image.filter((r) => r.status === 'ok').map((r) => r.file)).toEqual(
      results.map((r) => r.image_key.slice(batchImagesPrefix(batchId).length)).sort(),
    );
  });

  it('writes one CSV row per detection', async () => {
    const rows = parseCsv(await getText(fx.s3, fx.bucket, `${resultsPrefix(batchId)}${RESULT_FILES.csv}`));
    expect(rows[0]).toEqual([...DETECTION_CSV_COLUMNS]);
    expect(rows.length - 1).toBe(totalDetections());
    expect(new Set(rows.slice(1).map((r) => r[0])).size).toBe(results.filter((r) => r.detections.length > 0).length);
  });

  it('writes JSON Lines under the analytics partition', async () => {
    const lines = (await getText(fx.s3, fx.bucket, analyticsKey(batchId))).trimEnd().split('\n');
    expect(lines).toHaveLength(totalDetections());
    const first = JSON.parse(lines[0]!);
    expect(first).toMatchObject({ batch_id: batchId, detection_id: 0, class_name: 'exosome' });
    expect(typeof first.diameter_nm).toBe('number');
  });

  it('writes valid COCO results and a COCO dataset (multipart-sized) whose ids all resolve', async () => {
    const cocoResults = JSON.parse(await getText(fx.s3, fx.bucket, `${resultsPrefix(batchId)}${RESULT_FILES.cocoResults}`)) as { image_id: number; bbox: number[]; score: number }[];
    expect(cocoResults).toHaveLength(totalDetections());
    const datasetText = await getText(fx.s3, fx.bucket, `${resultsPrefix(batchId)}${RESULT_FILES.cocoDataset}`);
    expect(datasetText.length).toBeGreaterThan(5 * 1024 * 1024); // exercised the multipart upload path
    const dataset = JSON.parse(datasetText) as {
      images: { id: number; file_name: string; width: number; height: number }[];
      annotations: { id: number; image_id: number; category_id: number; bbox: number[]; area: number; iscrowd: number; segmentation: number[][] }[];
      categories: { id: number; name: string }[];
    };
    expect(dataset.images).toHaveLength(IMAGES);
    expect(dataset.annotations).toHaveLength(totalDetections());
    expect(dataset.categories).toEqual([{ id: 1, name: 'exosome', supercategory: 'vesicle' }]);
    const imageIds = new Set(dataset.images.map((i) => i.id));
    expect(imageIds.size).toBe(IMAGES);
    expect(new Set(dataset.annotations.map((a) => a.id)).size).toBe(dataset.annotations.length);
    for (const a of dataset.annotations) {
      expect(imageIds.has(a.image_id)).toBe(true);
      expect(a.bbox[2]).toBeGreaterThanOrEqual(0);
      // The outline is the segmentation (annotation tools show it), and the area is the outline's.
      expect(a.segmentation).toHaveLength(1);
      expect(a.area).toBeCloseTo(polygonArea(a.segmentation[0]!), 1);
      expect(a.area).toBeLessThan(a.bbox[2]! * a.bbox[3]!);
    }
    // Same image ids and boxes in both files.
    const byFile = new Map(dataset.images.map((i) => [i.id, i.file_name]));
    const first = results.find((r) => r.detections.length > 0)!;
    const firstId = dataset.images.find((i) => `batches/${batchId}/images/${i.file_name}` === first.image_key)!.id;
    const firstResults = cocoResults.filter((c) => c.image_id === firstId);
    expect(firstResults).toHaveLength(first.detections.length);
    expect(firstResults[0]!.bbox[0]).toBeCloseTo(first.detections[0]!.box_px[0], 2);
    expect(byFile.get(firstId)).toBe(first.image_key.slice(batchImagesPrefix(batchId).length));
  });

  it('writes a report page that shows the counts', async () => {
    const html = await getText(fx.s3, fx.bucket, output.reportKey);
    expect(html).toContain(`<span id="batch-id">${batchId}</span>`);
    expect(html).toContain(`id="stat-detections">${totalDetections().toLocaleString('en-US')}<`);
    expect(html).toContain('lost.tif');
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|(src|href)="(https?:)?\/\//);
  });

  it('embeds every analysed image and its detections for the review view', async () => {
    const html = await getText(fx.s3, fx.bucket, output.reportKey);
    const block = /<script type="application\/json" id="review-data">([^]*?)<\/script>/.exec(html)![1]!;
    const data = JSON.parse(block) as { batch_id: string; images: { file: string; boxes: number[] }[] };
    expect(data.batch_id).toBe(batchId);
    expect(data.images.map((i) => i.file)).toEqual(results.map((r) => r.image_key.slice(batchImagesPrefix(batchId).length)));
    expect(data.images.reduce((n, i) => n + i.boxes.length / 6, 0)).toBe(totalDetections());
  });

  it('rejects a bad batch id with a message that quotes it', async () => {
    const { handler } = await import('../../lambdas/summarize.js');
    await expect(handler({ bucket: fx.bucket, batchId: '../etc' })).rejects.toThrow(/batchId must match .* got "\.\.\/etc"/);
  });
});
