import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { ImageError } from '../../lambdas/shared/errors.js';
import { loadModel, type LoadedModel } from '../../lambdas/detect/model.js';
import { processImage } from '../../lambdas/detect/pipeline.js';
import { detectionKey, keyScaleBar } from '../../lambdas/detect/overlay.js';
import { buildConstantDetectorModel } from '../helpers/onnx-builder.js';
import { writeTiff } from './fixtures/tiff-writer.js';
import { exodetectMetadata } from '../helpers/model-metadata.js';

const metadata = exodetectMetadata({ classNames: ['exosome'], nmPerPx: 1, scoreThreshold: 0.5, tileSize: 512, modelVersion: 'test-1' });

let model: LoadedModel;
let foreign: LoadedModel;
beforeAll(async () => {
  // In model pixels: a 40x40 box (score 0.9) and a 10x10 one (score 0.45, below the model's threshold).
  model = await loadModel(
    buildConstantDetectorModel({
      layout: 'exodetect',
      rows: [
        [100, 100, 140, 140, 0.9, 0],
        [200, 200, 210, 210, 0.45, 0],
      ],
      metadata,
    }),
    { key: 'models/test-1/model.onnx', intraOpThreads: 1 },
  );
  foreign = await loadModel(buildConstantDetectorModel({ layout: 'yolov8', rows: [[50, 50, 20, 20, 0.9], ...Array(9).fill([0, 0, 1, 1, 0])] }), {
    key: 'models/yolo/model.onnx',
    intraOpThreads: 1,
  });
});

const grey = (width: number, height: number) =>
  sharp({ create: { width, height, channels: 3, background: { r: 90, g: 90, b: 90 } } })
    .png()
    .toBuffer();

const base = { imageKey: 'batches/b1/images/a.png', batchId: 'b1', overlayKey: 'results/b1/overlays/a.png.jpg' };

describe('processImage', () => {
  it('warns that the count is a lower bound when the model filled every detection slot', async () => {
    const { result: normal } = await processImage({ ...base, bytes: await grey(256, 256), model, params: { nm_per_px: 2 } });
    expect(normal.warnings.join(' ')).not.toMatch(/lower bound/);
    // The same model with a batch threshold below its last row's score: both slots are used.
    const { result } = await processImage({ ...base, bytes: await grey(256, 256), model, params: { nm_per_px: 2, score_threshold: 0.4 } });
    expect(result.detections).toHaveLength(2);
    expect(result.warnings).toContainEqual(expect.stringMatching(/as many objects as it can in one run in the image: .*lower bound/));
  });

  it('resamples to the model scale and maps boxes back to the original pixels', async () => {
    const { result, overlay } = await processImage({ ...base, bytes: await grey(256, 256), model, params: { nm_per_px: 2 } });
    // 2 nm/px image, 1 nm/px model: the model sees 512x512, its 100..140 box is 50..70 here.
    expect(result).toMatchObject({ status: 'ok', width: 256, height: 256, bit_depth: 8, format: 'png', nm_per_px: 2, nm_per_px_source: 'batch' });
    expect(result.thresholds).toEqual({ score: 0.5, score_source: 'model', iou_nms: 0.45, size_gate_nm: null });
    expect(result.detections).toHaveLength(1);
    expect(result.detections[0]).toMatchObject({ box_px: [50, 50, 70, 70], box_nm: [100, 100, 140, 140], diameter_nm: 40, on_edge: false });
    expect(result.model).toEqual({ key: 'models/test-1/model.onnx', version: 'test-1', sha256: model.sha256, layout: 'exodetect' });
    expect(result.overlay_key).toBe(base.overlayKey);
    expect(result.timings_ms.total).toBeGreaterThan(0);
    // The image, and its key beneath: one vesicle at the model's threshold, the image, model and scale named.
    const meta = await sharp(overlay).metadata();
    const key = detectionKey(256, result.detections, {
      scoreThreshold: 0.5,
      sizeGateNm: null,
      caption: 'a.png \u00b7 model test-1 \u00b7 2.00 nm/px (set for the batch)',
      scaleBar: keyScaleBar(256, 2),
    });
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 256, 256 + key.height]);
    expect(key.pieces.map((piece) => piece.svg).join('')).toContain('>1 vesicle<');
    expect(result.preview_key).toBeUndefined();
  });

  it('renders the preview and records its key only when asked for', async () => {
    const previewKey = 'results/b1/previews/a.png.jpg';
    const { result, preview } = await processImage({ ...base, previewKey, bytes: await grey(256, 256), model, params: { nm_per_px: 2 } });
    expect(result.preview_key).toBe(previewKey);
    const meta = await sharp(preview!).metadata();
    expect([meta.format, meta.width, meta.height, meta.channels]).toEqual(['jpeg', 256, 256, 1]);
  });

  it('uses the batch score threshold and size gate over the model', async () => {
    const { result } = await processImage({ ...base, bytes: await grey(512, 512), model, params: { score_threshold: 0.4, size_gate_nm: [20, 250] } });
    expect(result.nm_per_px_source).toBe('assumed');
    expect(result.thresholds).toMatchObject({ score: 0.4, score_source: 'batch', size_gate_nm: [20, 250] });
    expect(result.detections.map((d) => [d.diameter_nm, d.in_size_range])).toEqual([
      [40, true],
      [10, false],
    ]);
    expect(result.counts).toEqual({ total: 2, in_size_range: 1, on_edge: 0 });
  });

  it('takes the scale from an ImageJ TIFF, keeps 16-bit, and reports pages', async () => {
    const pixels = new Uint16Array(300 * 200).fill(30000);
    const tiff = writeTiff([
      { width: 300, height: 200, pixels, xResolution: 1000, resolutionUnit: 1, imageDescription: 'ImageJ=1.54f\nunit=micron\n' },
      { width: 300, height: 200, pixels },
    ]);
    const { result } = await processImage({ ...base, imageKey: 'batches/b1/images/s.tif', bytes: tiff, model });
    expect(result).toMatchObject({ nm_per_px: 1, nm_per_px_source: 'file', bit_depth: 16, pages: 2, format: 'tiff' });
    expect(result.warnings.join(' ')).toMatch(/2 pages/);
    expect(result.detections[0]!.box_px).toEqual([100, 100, 140, 140]);
  });

  it('fails the image, not the batch, when no scale is known', async () => {
    const err = await processImage({ ...base, bytes: await grey(64, 64), model: foreign }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageError);
    expect((err as ImageError).code).toBe('NO_SCALE');
    expect((err as ImageError).message).toContain(base.imageKey);
    // With a batch scale a foreign model runs at the image's own scale, with the default threshold.
    const { result } = await processImage({ ...base, bytes: await grey(64, 64), model: foreign, params: { nm_per_px: 3 } });
    expect(result.thresholds).toMatchObject({ score: 0.25, score_source: 'default' });
    expect(result.detections[0]).toMatchObject({ box_px: [40, 40, 60, 60], diameter_nm: 60, class_name: '0' });
  });
});

describe('processImage limits', () => {
  it('refuses an image that resampling would blow up, naming the scale', async () => {
    const err = await processImage({ ...base, bytes: await grey(400, 400), model, params: { nm_per_px: 50 }, config: { decode: { maxPixels: 10_000_000 } } }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ImageError);
    expect((err as ImageError).code).toBe('TOO_LARGE');
    expect((err as ImageError).message).toMatch(/20000x20000/);
  });
});
