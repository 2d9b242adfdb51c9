import { describe, expect, it } from 'vitest';
import { renderReport } from '../../lambdas/inference/report/report.js';
import { decodeReviewOutline, encodeReviewOutline, REVIEW_BOX_STRIDE, REVIEW_DATA_FORMAT, REVIEW_OUTLINE_RAYS, ReviewDataCollector } from '../../lambdas/inference/report/review-data.js';
import { inscribedEllipse, polygonArea } from '../../lambdas/detect/outline.js';
import { reviewedDatasetName } from '../../lambdas/inference/report/review-page.js';
import { REVIEW_SCRIPT } from '../../lambdas/inference/report/review-script.js';
import { BatchSummaryBuilder } from '../../lambdas/inference/summary.js';
import { generateImageResult } from './batch-generator.js';

const result = (file: string, detections: number, seed = 1) => ({
  ...generateImageResult({ batchId: 'b1', file, detections, seed, width: 300, height: 200, nmPerPx: 1.25, classNames: ['exosome', 'debris'] }),
  preview_key: `results/b1/previews/${file}.jpg`,
});

interface Parsed {
  format: string;
  batch_id: string;
  fingerprint: string;
  classes: string[];
  exclude_on_edge: boolean;
  edge_margin_px: number;
  images: { file: string; width: number; height: number; nm_per_px: number; score_threshold: number; size_gate_nm: number[] | null; preview: string; overlay: string; boxes: number[] }[];
}

describe('review data (what the report embeds for the review view)', () => {
  it('keeps each outline relative to its box, 24 characters, so that it follows the box when adjusted', () => {
    const box = [100, 50, 160, 90];
    // A lopsided outline inside the box: an ellipse at 0.8 of it, shifted right by 3 px.
    const outline = inscribedEllipse([109, 54, 157, 86], 64);
    const code = encodeReviewOutline(box, outline);
    expect(code).toHaveLength(REVIEW_OUTLINE_RAYS);
    expect(code).toMatch(/^[A-Za-z0-9_-]+$/);
    const back = decodeReviewOutline(code, box);
    expect(polygonArea(back) / polygonArea(outline)).toBeCloseTo(1, 1);
    // On a box twice as wide (a person dragged its edge), the outline is twice as wide: twice the area.
    const wider = decodeReviewOutline(code, [100, 50, 220, 90]);
    expect(polygonArea(wider) / polygonArea(back)).toBeCloseTo(2, 6);
    const collector = new ReviewDataCollector({ batchId: 'b1' });
    const r = result('c.tif', 3);
    collector.add({ ...r, detections: r.detections.map((d, i) => (i === 1 ? { ...d, outline_px: null, outline_method: 'box' as const } : d)) });
    const image = (JSON.parse(collector.serialize()) as { images: { outlines: (string | null)[] }[] }).images[0]!;
    expect(image.outlines.map((o) => (o === null ? null : o.length))).toEqual([REVIEW_OUTLINE_RAYS, null, REVIEW_OUTLINE_RAYS]);
  });

  it('carries each image with its scale, thresholds, pictures and every detection as six numbers', () => {
    const collector = new ReviewDataCollector({ batchId: 'b1', excludeOnEdgeFromStatistics: false });
    const a = result('grid/a.tif', 7);
    collector.add(a);
    collector.add(result('b.png', 0, 2));
    const data = JSON.parse(collector.serialize()) as Parsed;
    expect(data).toMatchObject({ format: REVIEW_DATA_FORMAT, batch_id: 'b1', exclude_on_edge: false, edge_margin_px: 1 });
    expect(data.images.map((i) => i.file)).toEqual(['grid/a.tif', 'b.png']);
    const first = data.images[0]!;
    expect(first).toMatchObject({ width: 300, height: 200, nm_per_px: 1.25, score_threshold: 0.35, size_gate_nm: [30, 200], preview: 'previews/grid/a.tif.jpg', overlay: 'overlays/grid/a.tif.jpg' });
    expect(first.boxes).toHaveLength(7 * REVIEW_BOX_STRIDE);
    a.detections.forEach((d, k) => {
      expect(first.boxes.slice(k * REVIEW_BOX_STRIDE, (k + 1) * REVIEW_BOX_STRIDE)).toEqual([...d.box_px.map((v) => Number(v.toFixed(2))), d.score, d.class_id]);
    });
    expect(data.classes.every((c) => ['exosome', 'debris'].includes(c))).toBe(true);
    expect(data.images[1]!.boxes).toEqual([]);
  });

  it('fingerprints the detections: any change to a box gives another fingerprint', () => {
    const fingerprint = (shift: number): string => {
      const collector = new ReviewDataCollector({ batchId: 'b1' });
      const r = result('a.tif', 5);
      r.detections[3]!.box_px[0] += shift;
      collector.add(r);
      return (JSON.parse(collector.serialize()) as Parsed).fingerprint;
    };
    expect(fingerprint(0)).toBe(fingerprint(0));
    expect(fingerprint(0.01)).not.toBe(fingerprint(0));
  });

  it('names a class for drawn boxes even when nothing was detected', () => {
    const collector = new ReviewDataCollector({ batchId: 'b1' });
    collector.add(result('a.tif', 0));
    expect((JSON.parse(collector.serialize()) as Parsed).classes).toEqual(['exosome']);
  });

  it('embeds the data so that no file name can end the script element', () => {
    const file = 'x</script><script>alert(1)</script>.tif';
    const builder = new BatchSummaryBuilder({ batchId: 'b1' });
    const collector = new ReviewDataCollector({ batchId: 'b1' });
    const r = result(file, 2);
    builder.add(r);
    collector.add(r);
    const html = renderReport(builder.build(), { review: collector.serialize() });
    const block = /<script type="application\/json" id="review-data">([^]*?)<\/script>/.exec(html)![1]!;
    expect(block).not.toContain('<');
    expect((JSON.parse(block) as Parsed).images[0]!.file).toBe(file);
  });

  it('gives a dataset name the train and upload commands accept', () => {
    expect(reviewedDatasetName('Demo_2026.03.14')).toBe('demo-2026-03-14-reviewed');
    expect(reviewedDatasetName('x'.repeat(80))).toBe(`${'x'.repeat(31)}-reviewed`);
    expect(reviewedDatasetName('__')).toBe('batch-reviewed');
    expect(reviewedDatasetName('a'.repeat(30) + '-.-b')).toMatch(/^[a-z0-9][a-z0-9-]{0,39}$/);
  });

  it('is a script the browser can parse, with no template-literal holes', () => {
    expect(() => new Function(REVIEW_SCRIPT)).not.toThrow();
    expect(REVIEW_SCRIPT).not.toContain('</script');
  });
});
