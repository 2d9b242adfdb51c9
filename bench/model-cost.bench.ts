/**
 * `npm run bench:model -- [BEFORE.onnx] [AFTER.onnx]`: what one model costs per 512x512 micrograph against
 * another, measured side by side in one run (a benchmark, not a test). For each model: the median of the
 * bare `session.run` on one 512x512 tile and of the whole per-image path (decode, calibrate, tile, run,
 * outlines, overlay) on the sample batch's 512x512 micrographs, runs of the two models interleaved so that
 * the host's load falls on both alike; then after/before ratios. Defaults: the bundled model as committed in
 * git before the current one (`git show HEAD~N:models/default/model.onnx` is the usual BEFORE) and
 * models/default/model.onnx. One intra-op thread, as a Lambda of 1,769 MB has one vCPU.
 * The last line is one JSON object with every figure.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { loadModel, type LoadedModel } from '../lambdas/detect/model.js';
import { processImage } from '../lambdas/detect/pipeline.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SAMPLES = path.join(ROOT, 'samples', 'demo-batch');
const ROUNDS = 15;

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function timeBare(model: LoadedModel): Promise<number> {
  const input = new ort.Tensor('float32', new Float32Array(512 * 512).fill(0.5), [1, 1, 512, 512]);
  const started = performance.now();
  await model.session.run({ [model.session.inputNames[0]!]: input });
  return performance.now() - started;
}

async function timePath(model: LoadedModel, images: readonly { name: string; bytes: Uint8Array }[]): Promise<{ ms: number; detections: number }> {
  let detections = 0;
  const started = performance.now();
  for (const image of images) {
    const { result } = await processImage({ bytes: image.bytes, imageKey: `bench/${image.name}`, batchId: 'bench', overlayKey: 'bench/overlay.jpg', model, params: { nm_per_px: 1.5 } });
    detections += result.detections.length;
  }
  return { ms: (performance.now() - started) / images.length, detections: detections / images.length };
}

async function main(): Promise<void> {
  const [beforePath, afterPath] = [process.argv[2], process.argv[3] ?? path.join(ROOT, 'models', 'default', 'model.onnx')];
  if (!beforePath) throw new Error('usage: npm run bench:model -- BEFORE.onnx [AFTER.onnx] (e.g. git show HEAD~1:models/default/model.onnx > /tmp/before.onnx)');
  const images = readdirSync(SAMPLES)
    .filter((f) => /^exo-demo-0[1-4]\.png$/.test(f))
    .map((name) => ({ name, bytes: readFileSync(path.join(SAMPLES, name)) }));
  const models = {
    before: await loadModel(readFileSync(beforePath), { key: beforePath, intraOpThreads: 1 }),
    after: await loadModel(readFileSync(afterPath), { key: afterPath, intraOpThreads: 1 }),
  };
  const bare: Record<'before' | 'after', number[]> = { before: [], after: [] };
  const whole: Record<'before' | 'after', number[]> = { before: [], after: [] };
  const found: Record<'before' | 'after', number> = { before: 0, after: 0 };
  for (const which of ['before', 'after'] as const) await timePath(models[which], images); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate which model goes first, so neither always meets a warm or a cold cache.
    const order = round % 2 === 0 ? (['before', 'after'] as const) : (['after', 'before'] as const);
    for (const which of order) {
      bare[which].push(await timeBare(models[which]));
      const t = await timePath(models[which], images);
      whole[which].push(t.ms);
      found[which] = t.detections;
    }
  }
  const figures = {
    rounds: ROUNDS,
    images: images.map((i) => i.name),
    before: { model: beforePath, bytes: statSync(beforePath).size, outputs: models.before.session.outputNames, bare_run_ms: median(bare.before), whole_path_ms: median(whole.before), detections_per_image: found.before },
    after: { model: afterPath, bytes: statSync(afterPath).size, outputs: models.after.session.outputNames, bare_run_ms: median(bare.after), whole_path_ms: median(whole.after), detections_per_image: found.after },
    ratio_after_over_before: { bare_run: median(bare.after) / median(bare.before), whole_path: median(whole.after) / median(whole.before) },
  };
  for (const which of ['before', 'after'] as const) {
    const f = figures[which];
    console.log(`${which}: ${path.relative(ROOT, f.model) || f.model} (${(f.bytes / 1e6).toFixed(1)} MB, outputs ${f.outputs.join(', ')}): ` +
      `session.run on a 512x512 tile ${f.bare_run_ms.toFixed(1)} ms, whole path per 512x512 sample ${f.whole_path_ms.toFixed(1)} ms (${f.detections_per_image.toFixed(1)} detections each)`);
  }
  console.log(`after / before: session.run ${figures.ratio_after_over_before.bare_run.toFixed(2)}x, whole path ${figures.ratio_after_over_before.whole_path.toFixed(2)}x (medians of ${ROUNDS} interleaved rounds, one thread)`);
  console.log(JSON.stringify(figures));
  await models.before.session.release();
  await models.after.session.release();
}

await main();
