import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImage } from '../../lambdas/detect/image-decode.js';
import { loadModel, type LoadedModel } from '../../lambdas/detect/model.js';
import { processImage } from '../../lambdas/detect/pipeline.js';
import { maskImage } from '../../lambdas/detect/scale-bar/mask.js';
import { stopTesseract } from '../../lambdas/detect/scale-bar/ocr.js';
import { buildConstantDetectorModel } from '../helpers/onnx-builder.js';
import { renderScaleBarImage } from './fixtures/scale-bar-image.js';
import { exodetectMetadata } from '../helpers/model-metadata.js';

afterAll(async () => {
  await stopTesseract();
});

// 512 x 512 at the model's own 1 nm/px; bar of 150 px labelled "150 nm" (1 nm/px), label centred below it.
let image: Awaited<ReturnType<typeof renderScaleBarImage>>;
let model: LoadedModel;
beforeAll(async () => {
  image = await renderScaleBarImage({ width: 512, height: 512, barPx: 150, label: '150 nm', fontSize: 18, blobs: [{ x: 150, y: 150, r: 30 }] });
  const { x, y } = image.labelCentre;
  model = await loadModel(
    buildConstantDetectorModel({
      layout: 'exodetect',
      rows: [
        // A "vesicle" on the label's "0" (what the bundled model did on the demo images), and a real one.
        [x - 8, y - 9, x + 8, y + 9, 0.95, 0],
        [120, 120, 180, 180, 0.9, 0],
      ],
      metadata: exodetectMetadata({ classNames: ['exosome'], nmPerPx: 1, scoreThreshold: 0.5, tileSize: 512, modelVersion: 'mask-test' }),
    }),
    { key: 'models/mask-test/model.onnx', intraOpThreads: 1 },
  );
}, 60_000);

const base = { imageKey: 'batches/b/images/a.png', batchId: 'b', overlayKey: 'results/b/overlays/a.png.jpg' };

describe('the scale bar and its label are masked out of detection', () => {
  it('drops a detection on the burned-in label, keeps the vesicle, and records the bar', async () => {
    const { result } = await processImage({ ...base, bytes: image.png, model });
    expect(result.detections.map((d) => d.box_px)).toEqual([[120, 120, 180, 180]]);
    expect(result.nm_per_px_source).toBe('scale-bar');
    expect(result.nm_per_px).toBeCloseTo(1, 2);
    expect(result.scale_bar).toMatchObject({ label: '150 nm', label_nm: 150 });
    expect(result.scale_bar!.bar_px).toBeCloseTo(150, 0);
    expect(result.scale_bar!.masked_px).toHaveLength(2);
    // The batch's scale wins; the bar is still read, still masked, and agrees.
    const { result: batch } = await processImage({ ...base, bytes: image.png, model, params: { nm_per_px: 1 } });
    expect(batch.nm_per_px_source).toBe('batch');
    expect(batch.detections).toHaveLength(1);
    expect(batch.warnings.join(' ')).not.toMatch(/scale bar/);
  }, 60_000);

  it('without the scale-bar reader the label is a vesicle: the mask is what removes it', async () => {
    const { result } = await processImage({ ...base, bytes: image.png, model, params: { nm_per_px: 1 }, config: { readScaleBar: false } });
    expect(result.detections).toHaveLength(2);
    expect(result.scale_bar).toBeNull();
  }, 60_000);

  it('fills masked boxes with the level around them, leaving the rest of the image as it was', async () => {
    const decoded = await decodeImage(image.png, 'a.png');
    const { x1, y1, x2, y2 } = image.bar;
    const masked = maskImage(decoded, [{ x1: x1 - 2, y1: y1 - 2, x2: x2 + 2, y2: y2 + 2 }]);
    const inside = masked.pixels[((y1 + y2) >> 1) * decoded.width + ((x1 + x2) >> 1)]!;
    expect(inside).toBeGreaterThan(120);
    expect(masked.pixels[10]).toBe(decoded.pixels[10]);
    expect(decoded.pixels[((y1 + y2) >> 1) * decoded.width + ((x1 + x2) >> 1)]).toBeLessThan(20);
  });
});
