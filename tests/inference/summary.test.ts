import { describe, expect, it } from 'vitest';
import { parseImageRecord, ResultDocumentError } from '../../lambdas/inference/image-record.js';
import { batchOutcome, BatchSummaryBuilder } from '../../lambdas/inference/summary.js';
import { moments, quantileSorted } from '../../lambdas/inference/statistics.js';
import { generateErrorRecord, generateImageResult } from './batch-generator.js';

const batchId = 'batch-7';

function buildBatch() {
  const builder = new BatchSummaryBuilder({ batchId, now: () => new Date('2026-02-03T04:05:06.000Z') });
  const results = [
    generateImageResult({ batchId, file: 'a.tif', detections: 40, seed: 1 }),
    generateImageResult({ batchId, file: 'b.tif', detections: 0, seed: 2 }),
    generateImageResult({ batchId, file: 'sub/c.tif', detections: 25, seed: 3, nmPerPx: 1.2, meanNm: 40, sdNm: 25 }),
  ];
  const errors = [
    generateErrorRecord(batchId, 'broken.tif', 'TRUNCATED', 'file ends after 1200 of 4000 bytes'),
    generateErrorRecord(batchId, 'notes.txt', 'NOT_AN_IMAGE', 'not an image'),
  ];
  builder.add(results[0]!);
  builder.add(errors[0]!);
  builder.add(results[1]!);
  builder.add(results[2]!);
  builder.add(errors[1]!);
  builder.addFailure(`batches/${batchId}/images/lost.tif`, 'MISSING_RESULT', 'no result');
  return { summary: builder.build(), results, errors };
}

describe('batch summary', () => {
  it('counts add up with error records present', () => {
    const { summary, results } = buildBatch();
    expect(summary.images).toEqual({ total: 6, processed: 3, failed: 3, assumed_scale: 0 });
    expect(summary.per_image).toHaveLength(6);
    expect(summary.failures.map((f) => f.code)).toEqual(['TRUNCATED', 'NOT_AN_IMAGE', 'MISSING_RESULT']);
    expect(summary.failure_codes).toEqual({ TRUNCATED: 1, NOT_AN_IMAGE: 1, MISSING_RESULT: 1 });
    expect(summary.failures[0]).toMatchObject({ file: 'broken.tif', message: 'file ends after 1200 of 4000 bytes' });

    const all = results.flatMap((r) => r.detections);
    expect(summary.detections.total).toBe(65);
    expect(summary.per_image.reduce((s, r) => s + r.detections, 0)).toBe(65);
    expect(summary.detections.in_size_range).toBe(all.filter((d) => d.in_size_range).length);
    expect(summary.detections.out_of_size_range + summary.detections.in_size_range).toBe(65);
    expect(summary.detections.on_edge).toBe(all.filter((d) => d.on_edge).length);
    const sized = all.filter((d) => d.in_size_range && !d.on_edge);
    expect(summary.detections.sized).toBe(sized.length);
    expect(summary.diameter_nm.count).toBe(sized.length);
    expect(summary.detections.share_on_edge).toBeCloseTo(summary.detections.on_edge / 65, 12);
    expect(summary.detections.out_of_size_range).toBeGreaterThan(0); // the 40 +- 25 nm image has some below 30 nm
    expect(summary.detections.per_image).toEqual({ mean: 65 / 3, median: 25, min: 0, max: 40 });
    expect(summary.detections.by_class).toEqual([{ class_id: 0, class_name: 'exosome', count: 65 }]);
    const hist = summary.histogram.bins;
    expect(hist.reduce((s, b) => s + b.sized, 0)).toBe(sized.length);
    expect(hist.reduce((s, b) => s + b.excluded, 0)).toBe(65 - sized.length);
  });

  it('computes diameter statistics on the sized population only', () => {
    const { summary, results } = buildBatch();
    const sized = Float64Array.from(results.flatMap((r) => r.detections).filter((d) => d.in_size_range && !d.on_edge).map((d) => d.diameter_nm)).sort();
    expect(summary.diameter_nm.mean!.value).toBeCloseTo(moments(sized).mean, 9);
    expect(summary.diameter_nm.sd!.value).toBeCloseTo(moments(sized).sd, 9);
    expect(summary.diameter_nm.d50!.value).toBeCloseTo(quantileSorted(sized, 0.5), 9);
    expect(summary.diameter_nm.d90!.value).toBeCloseTo(quantileSorted(sized, 0.9), 9);
    expect(summary.diameter_nm.population).toMatch(/size gate and not touching the image border/);
    const row = summary.per_image.find((r) => r.file === 'a.tif')!;
    const aSized = Float64Array.from(results[0]!.detections.filter((d) => d.in_size_range && !d.on_edge).map((d) => d.diameter_nm)).sort();
    expect(row.median_diameter_nm).toBeCloseTo(quantileSorted(aSized, 0.5), 9);
    expect(row.overlay).toBe('overlays/a.tif.jpg');
  });

  it('can keep edge objects in the statistics', () => {
    const builder = new BatchSummaryBuilder({ batchId, excludeOnEdgeFromStatistics: false });
    const r = generateImageResult({ batchId, file: 'a.tif', detections: 60, seed: 1, width: 200, height: 200 });
    builder.add(r);
    const s = builder.build();
    expect(s.detections.on_edge).toBeGreaterThan(0);
    expect(s.diameter_nm.count).toBe(r.detections.filter((d) => d.in_size_range).length);
  });

  it('stamps model, thresholds, calibration sources, time and software version', () => {
    const { summary } = buildBatch();
    expect(summary.schema).toBe('exodetect.batch-summary');
    expect(summary.created_at).toBe('2026-02-03T04:05:06.000Z');
    expect(summary.software.name).toBe('exodetect');
    expect(summary.software.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(summary.models).toEqual([{ key: 'models/default/model.onnx', version: 'default', sha256: 'ab'.repeat(32), layout: 'exodetect', images: 3 }]);
    expect(summary.thresholds).toEqual([{ score: 0.35, score_source: 'model', iou_nms: 0.5, size_gate_nm: [30, 200], images: 3 }]);
    expect(summary.calibration).toEqual([
      { source: 'file', nm_per_px: 0.8, detail: 'TIFF XResolution', images: 2 },
      { source: 'file', nm_per_px: 1.2, detail: 'TIFF XResolution', images: 1 },
    ]);
    expect(summary.diameter_nm_assumed_scale).toBeNull();
  });

  it('keeps the sizes of images at an assumed scale out of the statistics, and flags their rows', () => {
    const builder = new BatchSummaryBuilder({ batchId });
    const calibrated = generateImageResult({ batchId, file: 'a.tif', detections: 30, seed: 1, meanNm: 80 });
    const assumed = { ...generateImageResult({ batchId, file: 'b.png', detections: 30, seed: 2, meanNm: 160 }), nm_per_px_source: 'assumed' as const };
    builder.add(calibrated);
    builder.add(assumed);
    const summary = builder.build();
    const sizedIn = (r: typeof calibrated) => r.detections.filter((d) => builder.isSized(d)).length;
    expect(summary.images.assumed_scale).toBe(1);
    expect(summary.diameter_nm.count).toBe(sizedIn(calibrated));
    expect(summary.diameter_nm_assumed_scale?.count).toBe(sizedIn(assumed));
    expect(summary.diameter_nm.d50!.value).toBeLessThan(120);
    expect(summary.diameter_nm_assumed_scale!.d50!.value).toBeGreaterThan(120);
    expect(summary.diameter_nm_assumed_scale!.population).toMatch(/ASSUMED/);
    expect(summary.per_image.map((r) => r.scale_assumed)).toEqual([false, true]);
    // In the histogram the assumed-scale sizes are with the detections left out of the statistics.
    const binned = summary.histogram.bins.reduce((n, b) => n + b.sized, 0);
    expect(binned).toBe(sizedIn(calibrated));
  });
});

describe('reading result documents', () => {
  it('accepts what detect writes and names the key and the problem otherwise', () => {
    const r = generateImageResult({ batchId, file: 'a.tif', detections: 2, seed: 1 });
    expect(parseImageRecord(JSON.stringify(r), 'k')).toEqual(r);
    const e = generateErrorRecord(batchId, 'x.tif', 'TRUNCATED', 'short');
    expect(parseImageRecord(JSON.stringify(e), 'k')).toEqual(e);
    expect(() => parseImageRecord('{"status":', 'results/b/images/x.json')).toThrow(/results\/b\/images\/x\.json: not valid JSON/);
    const bad = { ...r, detections: [{ ...r.detections[0], diameter_nm: 'big' }] };
    expect(() => parseImageRecord(JSON.stringify(bad), 'k1')).toThrow(ResultDocumentError);
    expect(() => parseImageRecord(JSON.stringify(bad), 'k1')).toThrow(/k1: not an image result: detections\.0\.diameter_nm/);
  });
});

describe('batchOutcome', () => {
  it('fails a batch only when the failed share is above the tolerated percentage', () => {
    expect(batchOutcome(10, { TRUNCATED: 1 }, 10)).toEqual({ failed_percentage: 10, tolerated_failure_percentage: 10, within_tolerance: true, reason: null });
    expect(batchOutcome(9, { TRUNCATED: 1 }, 10)).toEqual({
      failed_percentage: 11.11,
      tolerated_failure_percentage: 10,
      within_tolerance: false,
      reason: '1 of 9 images failed (11.1%), above the tolerated 10%: 1 TRUNCATED',
    });
    expect(batchOutcome(5, { EMPTY_FILE: 1, TRUNCATED: 3 }, 0).reason).toBe('4 of 5 images failed (80.0%), above the tolerated 0%: 3 TRUNCATED, 1 EMPTY_FILE');
  });

  it('has no limit when none was given, and none for an empty batch', () => {
    expect(batchOutcome(3, { TRUNCATED: 3 }, undefined)).toMatchObject({ failed_percentage: 100, tolerated_failure_percentage: null, within_tolerance: true });
    expect(batchOutcome(0, {}, 0)).toMatchObject({ failed_percentage: 0, within_tolerance: true });
  });

  it('is part of every summary the builder writes', () => {
    const builder = new BatchSummaryBuilder({ batchId: 'b', toleratedFailurePercentage: 20 });
    builder.addFailure('batches/b/images/x.png', 'TRUNCATED', 'cut');
    expect(builder.build().outcome).toMatchObject({ failed_percentage: 100, within_tolerance: false });
    expect(() => new BatchSummaryBuilder({ batchId: 'b', toleratedFailurePercentage: 120 })).toThrow(/120/);
  });
});
