/**
 * Child process of the benchmark: processes one image file with the full
 * pipeline and reports its own peak RSS, so the figure is not mixed with the
 * parent's s3rver and earlier runs. Usage: rss-child.ts MODEL.onnx IMAGE [nm_per_px]
 */
import { readFileSync } from 'node:fs';
import { loadModel } from '../lambdas/detect/model.js';
import { processImage } from '../lambdas/detect/pipeline.js';

const [modelPath, imagePath, nmPerPx] = process.argv.slice(2);
if (!modelPath || !imagePath) throw new Error('usage: rss-child.ts MODEL.onnx IMAGE [nm_per_px]');
const mb = (kb: number) => Math.round(kb / 1024);

const model = await loadModel(readFileSync(modelPath), { key: modelPath });
const baselineKb = process.resourceUsage().maxRSS;
const bytes = readFileSync(imagePath);
const t0 = performance.now();
const { result, overlay } = await processImage({
  bytes,
  imageKey: 'batches/bench/images/large.tif',
  batchId: 'bench',
  overlayKey: 'results/bench/overlays/large.tif.jpg',
  model,
  params: nmPerPx ? { nm_per_px: Number(nmPerPx) } : undefined,
});
const ms = performance.now() - t0;
console.log(
  JSON.stringify({
    peak_rss_mb: mb(process.resourceUsage().maxRSS),
    rss_before_image_mb: mb(baselineKb),
    file_mb: Math.round(bytes.length / 1048576),
    width: result.width,
    height: result.height,
    detections: result.counts.total,
    overlay_kb: Math.round(overlay.length / 1024),
    ms: Math.round(ms),
  }),
);
