/**
 * Outlines and the sizes measured on them: the polygon measures, the image fit
 * inside a box (models that give boxes only) on synthetic micrographs whose
 * true outlines the generator knows, and the pipeline with a model without and
 * with an outline output.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Box } from '../../lambdas/shared/contracts.js';
import { ModelError } from '../../lambdas/shared/errors.js';
import { decodeImage, type GreyImage } from '../../lambdas/detect/image-decode.js';
import { loadModel } from '../../lambdas/detect/model.js';
import { areaEquivalentDiameter, feretDiameters, inscribedEllipse, measureOutline, polygonArea } from '../../lambdas/detect/outline.js';
import { fitOutline } from '../../lambdas/detect/outline-fit.js';
import { processImage } from '../../lambdas/detect/pipeline.js';
import { exodetectMetadata } from '../helpers/model-metadata.js';
import { buildConstantDetectorModel } from '../helpers/onnx-builder.js';
import { TRAINER_TIMEOUT_MS } from '../helpers/timeouts.js';

const TRAINING_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'training-container');

interface TruthObject {
  readonly box: Box;
  readonly polygon: number[];
  /** The true outline's area-equivalent diameter, px. */
  readonly diameter: number;
}
interface SynthImage {
  readonly file: string;
  readonly bytes: Buffer;
  readonly image: GreyImage;
  readonly objects: TruthObject[];
}

/** Micrographs from the trainer's generator, with the outlines it drew (COCO segmentation). */
async function synthSet(dir: string, nmPerPx: number, seed: number): Promise<SynthImage[]> {
  execFileSync('/usr/bin/python3', ['-m', 'exodetect_train.synth', '--out', dir, '--count', '10', '--size', '384', '--nm-per-px', String(nmPerPx), '--labels', 'coco', '--seed', String(seed)], {
    cwd: TRAINING_DIR,
    env: { ...process.env, PYTHONPATH: TRAINING_DIR },
  });
  const coco = JSON.parse(readFileSync(path.join(dir, 'annotations.coco.json'), 'utf8')) as {
    images: { id: number; file_name: string }[];
    annotations: { image_id: number; bbox: number[]; segmentation: number[][] }[];
  };
  return Promise.all(
    coco.images.map(async (im) => {
      const bytes = readFileSync(path.join(dir, im.file_name));
      const objects = coco.annotations
        .filter((a) => a.image_id === im.id)
        .map((a) => ({
          box: [a.bbox[0]!, a.bbox[1]!, a.bbox[0]! + a.bbox[2]!, a.bbox[1]! + a.bbox[3]!] as Box,
          polygon: a.segmentation[0]!,
          diameter: areaEquivalentDiameter(polygonArea(a.segmentation[0]!)),
        }));
      return { file: im.file_name, bytes, image: await decodeImage(bytes, im.file_name), objects };
    }),
  );
}

const median = (values: number[]): number => {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Relative errors of sizes against the true outlines: median |error|, median bias, share within 10%. */
function errors(rel: number[]): { abs: number; bias: number; within10: number } {
  return { abs: median(rel.map(Math.abs)), bias: median(rel), within10: rel.filter((r) => Math.abs(r) <= 0.1).length / rel.length };
}

const grow = (b: Box, margin: number): Box => {
  const mx = (b[2] - b[0]) * margin;
  const my = (b[3] - b[1]) * margin;
  return [b[0] - mx, b[1] - my, b[2] + mx, b[3] + my];
};

describe('outline measures', () => {
  it('measures a circle, a rectangle and an ellipse', () => {
    const circle = inscribedEllipse([0, 0, 20, 20], 720);
    const c = measureOutline(circle);
    expect(c.diameterPx).toBeCloseTo(20, 2);
    expect(c.feretMinPx).toBeCloseTo(20, 2);
    expect(c.feretMaxPx).toBeCloseTo(20, 2);
    expect(c.roundness).toBeGreaterThan(0.999);
    const rectangle = [0, 0, 30, 0, 30, 10, 0, 10];
    expect(polygonArea(rectangle)).toBe(300);
    expect(polygonArea([...rectangle].reverse())).toBe(300);
    expect(feretDiameters(rectangle).max).toBeCloseTo(Math.hypot(30, 10), 9);
    expect(feretDiameters(rectangle).min).toBeCloseTo(10, 9);
    const ellipse = measureOutline(inscribedEllipse([0, 0, 40, 20], 32));
    expect(ellipse.areaPx / ((Math.PI * 40 * 20) / 4)).toBeGreaterThan(0.99);
    expect(ellipse.feretMaxPx).toBeCloseTo(40, 6);
    expect(ellipse.feretMinPx).toBeGreaterThan(19.5);
    expect(ellipse.roundness).toBeCloseTo((4 * ellipse.areaPx) / (Math.PI * 1600), 9);
    expect(ellipse.roundness).toBeLessThan(0.55);
  });
});

describe('outlines on synthetic micrographs with known outlines', () => {
  let work: string;
  let fine: SynthImage[];
  let coarse: SynthImage[];
  beforeAll(async () => {
    work = mkdtempSync(path.join(os.tmpdir(), 'exodetect-outline-'));
    fine = await synthSet(path.join(work, 'fine'), 1.5, 11);
    coarse = await synthSet(path.join(work, 'coarse'), 2.5, 12);
  }, TRAINER_TIMEOUT_MS);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('the image fit inside a box recovers the true area-equivalent diameter within a few percent, where the box is a fifth or more too large', () => {
    for (const set of [fine, coarse]) {
      const fitted: number[] = [];
      const boxes: number[] = [];
      for (const { image, objects } of set) {
        for (const o of objects) {
          // The generator's box (the membrane widened by its labelling margin) and one drawn 15% wider still.
          for (const box of [o.box, grow(o.box, 0.15)]) {
            const fit = fitOutline(image, box);
            expect(fit).not.toBeNull();
            fitted.push(measureOutline(fit!.polygon).diameterPx / o.diameter - 1);
            boxes.push(Math.sqrt((box[2] - box[0]) * (box[3] - box[1])) / o.diameter - 1);
          }
        }
      }
      expect(fitted.length).toBeGreaterThan(40);
      const fit = errors(fitted);
      expect(fit.abs).toBeLessThan(0.04);
      expect(Math.abs(fit.bias)).toBeLessThan(0.04);
      expect(fit.within10).toBeGreaterThan(0.85);
      // Sizing from the box alone is far off: the fit is doing the work.
      expect(errors(boxes).bias).toBeGreaterThan(0.2);
    }
  });

  it('ends the outline of a vesicle cut by the image border at the border', () => {
    // A light disc (radius 20 px) on dark stain, its centre 8 px from the left edge: the image shows a segment of it.
    const width = 100;
    const height = 80;
    const pixels = new Uint8Array(width * height);
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) pixels[y * width + x] = Math.hypot(x + 0.5 - 8, y + 0.5 - 40) < 20 ? 180 : 60;
    const fit = fitOutline({ width, height, bitDepth: 8, pixels }, [0, 20, 28, 60]);
    const visible = 20 * 20 * Math.acos(-8 / 20) + 8 * Math.sqrt(20 * 20 - 8 * 8); // the circle's part right of x = 0
    expect(polygonArea(fit!.polygon) / visible).toBeGreaterThan(0.9);
    expect(polygonArea(fit!.polygon) / visible).toBeLessThan(1.1);
    expect(Math.min(...fit!.polygon.filter((_, i) => i % 2 === 0))).toBeLessThan(1);
  });

  it('finds no outline in a featureless box, so the box sizes it', () => {
    const flat: GreyImage = { width: 64, height: 64, bitDepth: 8, pixels: new Uint8Array(64 * 64).fill(120) };
    expect(fitOutline(flat, [10, 10, 50, 50])).toBeNull();
  });

  it('a model without an outline output still runs: outlines fitted in the image, said so, sized near the truth', async () => {
    const { bytes, objects } = fine[0]!;
    // A box-only model that finds exactly the generator's vesicles (image and model both at 1.5 nm/px).
    const model = await loadModel(
      buildConstantDetectorModel({
        layout: 'exodetect',
        rows: objects.map((o, i) => [...o.box, 0.9 - i * 0.001, 0]),
        metadata: exodetectMetadata({ nmPerPx: 1.5, scoreThreshold: 0.5, classNames: ['exosome'] }),
      }),
      { key: 'box-only.onnx', intraOpThreads: 1 },
    );
    expect(model.outlineOutputName).toBeUndefined();
    const { result } = await processImage({ bytes, imageKey: 'a.png', batchId: 'b', overlayKey: 'o.jpg', model, params: { nm_per_px: 1.5 }, config: { readScaleBar: false } });
    expect(result.sizing).toEqual({ diameter: 'area-equivalent diameter of the outline', outline_source: 'image-fit', methods: { model: 0, 'image-fit': objects.length, box: 0 } });
    const rel = result.detections.map((d) => {
      const truth = objects.find((o) => o.box.every((v, k) => Math.abs(v - d.box_px[k]!) < 0.02))!;
      expect(d.outline_method).toBe('image-fit');
      expect(d.outline_px!.length).toBeGreaterThanOrEqual(6);
      expect(d.box_diameter_nm).toBeGreaterThan(d.diameter_nm);
      expect(d.feret_min_nm).toBeLessThanOrEqual(d.feret_max_nm);
      expect(d.diameter_nm).toBeCloseTo(measureOutline(d.outline_px!).diameterPx * 1.5, 0);
      return d.diameter_nm / (truth.diameter * 1.5) - 1;
    });
    expect(errors(rel).abs).toBeLessThan(0.05);
    await model.session.release();
  });

  it("a model with an outline output is sized by its outlines, mapped back to the image's pixels", async () => {
    const { bytes, objects } = fine[1]!;
    // The model works at 3 nm/px, the image is at 1.5: the model sees the image at half size.
    const half = (values: readonly number[]) => values.map((v) => v / 2);
    const model = await loadModel(
      buildConstantDetectorModel({
        layout: 'exodetect',
        rows: objects.map((o, i) => [...half(o.box), 0.9 - i * 0.001, 0]),
        outlines: objects.map((o) => half(o.polygon)),
        metadata: exodetectMetadata({ formatVersion: '2', nmPerPx: 3, scoreThreshold: 0.5, outline: 'test polygons' }),
      }),
      { key: 'with-outlines.onnx', intraOpThreads: 1 },
    );
    expect(model).toMatchObject({ outlineOutputName: 'outlines', outlineKind: 'test polygons' });
    const { result } = await processImage({ bytes, imageKey: 'a.png', batchId: 'b', overlayKey: 'o.jpg', model, params: { nm_per_px: 1.5 }, config: { readScaleBar: false, outlinePreference: 'model' } });
    expect(result.sizing.outline_source).toBe('model');
    expect(result.sizing.methods.model).toBe(objects.length);
    for (const d of result.detections) {
      const truth = objects.find((o) => o.box.every((v, k) => Math.abs(v - d.box_px[k]!) < 0.05))!;
      expect(d.outline_method).toBe('model');
      // Back in the image's pixels (to the 1/10 px grid of results) and measured there.
      d.outline_px!.forEach((v, k) => expect(Math.abs(v - truth.polygon[k]!)).toBeLessThan(0.06));
      expect(d.diameter_nm / (truth.diameter * 1.5)).toBeCloseTo(1, 2);
    }
    await model.session.release();
  });

  it("by default sizes by the fit in the image, the model's outline the fallback where the fit finds no edge", async () => {
    const { bytes, objects } = fine[1]!;
    const half = (values: readonly number[]) => values.map((v) => v / 2);
    const build = () =>
      buildConstantDetectorModel({
        layout: 'exodetect',
        rows: objects.map((o, i) => [...half(o.box), 0.9 - i * 0.001, 0]),
        // Outlines a little off the truth (shrunk 20% towards each box centre): the fit must win where it finds the edge.
        outlines: objects.map((o) => {
          const cx = (o.box[0] + o.box[2]) / 2;
          const cy = (o.box[1] + o.box[3]) / 2;
          return half(o.polygon.map((v, k) => (k % 2 === 0 ? cx + (v - cx) * 0.8 : cy + (v - cy) * 0.8)));
        }),
        metadata: exodetectMetadata({ formatVersion: '2', nmPerPx: 3, scoreThreshold: 0.5, outline: 'test polygons' }),
      });
    const model = await loadModel(build(), { key: 'with-outlines.onnx', intraOpThreads: 1 });
    const { result } = await processImage({ bytes, imageKey: 'a.png', batchId: 'b', overlayKey: 'o.jpg', model, params: { nm_per_px: 1.5 }, config: { readScaleBar: false } });
    expect(result.sizing.outline_source).toBe('image-fit');
    expect(result.sizing.methods['image-fit']).toBe(objects.length);
    const rel = result.detections.map((d) => {
      const truth = objects.find((o) => o.box.every((v, k) => Math.abs(v - d.box_px[k]!) < 0.05))!;
      return d.diameter_nm / (truth.diameter * 1.5);
    });
    rel.sort((a, b) => a - b);
    expect(Math.abs(rel[Math.floor(rel.length / 2)]! - 1)).toBeLessThan(0.05);

    // A featureless image: no edge to fit, so every box takes the model's outline.
    const blank = await sharp(Buffer.alloc(512 * 512, 128), { raw: { width: 512, height: 512, channels: 1 } }).png().toBuffer();
    const fallback = await processImage({ bytes: blank, imageKey: 'blank.png', batchId: 'b', overlayKey: 'o.jpg', model, params: { nm_per_px: 1.5 }, config: { readScaleBar: false } });
    expect(fallback.result.detections.length).toBeGreaterThan(0);
    expect(fallback.result.sizing.methods).toEqual({ model: fallback.result.detections.length, 'image-fit': 0, box: 0 });
    await model.session.release();
  });

  it('refuses a model whose outline output does not pair with its detections', async () => {
    const bytes = buildConstantDetectorModel({ layout: 'exodetect', rows: [[1, 1, 9, 9, 0.9, 0]], outlines: [[1, 1, 9, 1]], metadata: exodetectMetadata({ formatVersion: '2' }) });
    await expect(loadModel(bytes, { key: 'bad.onnx', intraOpThreads: 1 })).rejects.toThrow(ModelError);
    await expect(loadModel(bytes, { key: 'bad.onnx', intraOpThreads: 1 })).rejects.toThrow(/outlines.*\[N, K, 2V\]/);
  });
});
