/**
 * The correction loop end to end with real predictions: synthetic micrographs
 * (the trainer's own generator) -> the bundled model through the detect
 * pipeline -> export-annotations (COCO, YOLO, VOC) -> the trainer's loader.
 * Nothing may be lost or shifted on the way.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageResult } from '../../lambdas/shared/contracts.js';
import { batchImagesPrefix, overlayKey } from '../../lambdas/shared/keys.js';
import { loadModel } from '../../lambdas/detect/model.js';
import { processImage } from '../../lambdas/detect/pipeline.js';
import { toAnnotationImage } from '../../lambdas/evaluation/annotation-export.js';
import { exportAnnotations, exportAnnotationsCli } from '../../local/commands/export-annotations.js';
import { TRAINER_TIMEOUT_MS } from '../helpers/timeouts.js';
import { checkDatasetFolder } from '../../local/commands/check.js';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';
const TRAINER = join(process.cwd(), 'training-container');
const batchId = 'loop';
let root: string;
let imagesDir: string;
let results: ImageResult[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'exodetect-loop-'));
  imagesDir = join(root, 'images');
  await run(PYTHON, ['-m', 'exodetect_train.demo_batch', '--out', imagesDir], { env: { ...process.env, PYTHONPATH: TRAINER } });
  const model = await loadModel(await readFile(join(process.cwd(), 'models', 'default', 'model.onnx')), { key: 'models/default/model.onnx', intraOpThreads: 1 });
  const resultsDir = join(root, 'results', batchId);
  for (const name of (await readdir(imagesDir)).filter((n) => /\.(png|jpe?g|tiff?)$/i.test(n)).sort()) {
    const imageKey = `${batchImagesPrefix(batchId)}${name}`;
    const { result } = await processImage({
      bytes: await readFile(join(imagesDir, name)),
      imageKey,
      batchId,
      overlayKey: overlayKey(batchId, imageKey),
      model,
      params: { nm_per_px: 1.5 },
    });
    results.push(result);
    await mkdir(join(resultsDir, 'images'), { recursive: true });
    await writeFile(join(resultsDir, 'images', `${name}.json`), JSON.stringify(result));
  }
}, TRAINER_TIMEOUT_MS);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('predict -> export -> import as training data', () => {
  it('finds vesicles in the sample images (the loop has something to carry)', () => {
    expect(results.length).toBe(6);
    expect(results.reduce((s, r) => s + r.detections.length, 0)).toBeGreaterThan(50);
  });

  it.each(['coco', 'yolo', 'voc'] as const)('%s: the trainer reads back every box, unshifted, with the batch scale', async (format) => {
    const out = join(root, `dataset-${format}`);
    const exported = await exportAnnotations({ source: join(root, 'results', batchId), format, out });
    expect(exported.images).toBe(results.length);
    for (const r of results) {
      const name = r.image_key.slice(batchImagesPrefix(batchId).length);
      await copyFile(join(imagesDir, name), join(out, name));
    }
    // As training reads it: the ingestion writes the canonical truth.json, the trainer reads that.
    await checkDatasetFolder({ datasetDir: out, truthOut: join(out, 'truth.json') });
    const script = [
      'import json, sys',
      'from exodetect_train.annotations import load_channel',
      'd = load_channel(sys.argv[1], training_nm_per_px=9.9)',
      'print(json.dumps({"problems": [str(p) for p in d.problems], "skipped": d.skipped,',
      '  "images": {im.rel_path: {"boxes": im.boxes.tolist(), "nm_per_px": im.nm_per_px} for im in d.images}}))',
    ].join('\n');
    const { stdout } = await run(PYTHON, ['-c', script, out], { env: { ...process.env, PYTHONPATH: TRAINER } });
    const loaded = JSON.parse(stdout) as { problems: string[]; skipped: number; images: Record<string, { boxes: number[][]; nm_per_px: number }> };
    expect(loaded.problems).toEqual([]);
    expect(loaded.skipped).toBe(0);
    let compared = 0;
    for (const r of results) {
      const image = toAnnotationImage(batchId, r);
      const got = loaded.images[image.file]!;
      expect(got.nm_per_px).toBe(1.5); // from dataset.json, not the trainer's fallback
      const key = (b: readonly number[]): string => b.map((v) => v.toFixed(1)).join(',');
      const want = image.objects.map((o) => [...o.box]).sort((a, b) => key(a).localeCompare(key(b)));
      const have = [...got.boxes].sort((a, b) => key(a).localeCompare(key(b)));
      expect(have).toHaveLength(want.length);
      have.forEach((box, i) => box.forEach((v, j) => expect(Math.abs(v - want[i]![j]!)).toBeLessThan(2e-3)));
      compared += want.length;
    }
    expect(compared).toBe(exported.objects);
  }, TRAINER_TIMEOUT_MS);

  it('self-training: a batch exported into <dataset>/pseudo-labels/ keeps its own scale beside the human labels', async () => {
    // Another batch (the same grids under other names, so that they are not copies of the annotated ones), run at
    // 1.7 nm/px; the human-labelled images beside it say 1.5 (the ground truth's info).
    const batchDir = join(root, 'results-1.7', batchId);
    const moreDir = join(root, 'more');
    await mkdir(join(batchDir, 'images'), { recursive: true });
    await mkdir(moreDir);
    for (const r of results) {
      const name = r.image_key.slice(batchImagesPrefix(batchId).length);
      const record = { ...r, image_key: `${batchImagesPrefix(batchId)}more-${name}`, nm_per_px: 1.7 };
      await writeFile(join(batchDir, 'images', `more-${name}.json`), JSON.stringify(record));
      await copyFile(join(imagesDir, name), join(moreDir, `more-${name}`));
    }
    const dataset = join(root, 'selftrain');
    await mkdir(dataset);
    for (const name of await readdir(imagesDir)) await copyFile(join(imagesDir, name), join(dataset, name));
    const pseudo = join(dataset, 'pseudo-labels', 'batch1');
    const said: string[] = [];
    const exported = (await exportAnnotationsCli([batchDir, '--format', 'coco', '--score-threshold', '0.5', '--images', moreDir, '--out', pseudo], {
      out: (line) => said.push(line),
    }))!;
    expect(exported.images).toBe(results.length);
    expect(said.at(-1)).toBe(`These are pseudo-labels: npx exodetect train ${dataset} trains on them beside the annotated images; they are never held out for validation.`);

    const checked = await checkDatasetFolder({ datasetDir: dataset, truthOut: join(dataset, 'truth.json') });
    expect(checked.ingested.problems).toEqual([]);
    // A pseudo-labelled copy of an annotated image is left out, and said.
    await copyFile(join(moreDir, `more-${results[0]!.image_key.slice(batchImagesPrefix(batchId).length)}`), join(pseudo, 'exo-demo-01.png'));
    await writeFile(join(pseudo, 'exo-demo-01.txt'), '0 0.5 0.5 0.1 0.1\n');
    await writeFile(join(pseudo, 'classes.txt'), 'exosome\n');
    const withCopy = await checkDatasetFolder({ datasetDir: dataset });
    expect(withCopy.ingested.problems.map((p) => `${p.file}: ${p.problem}`)).toEqual([
      'pseudo-labels/batch1/exo-demo-01.png: a pseudo-labelled copy of the annotated image exo-demo-01.png: its pseudo-labels are not used',
    ]);
    expect(withCopy.ingested.images.map((i) => i.file)).not.toContain('pseudo-labels/batch1/exo-demo-01.png');
    for (const f of ['exo-demo-01.png', 'exo-demo-01.txt', 'classes.txt']) await rm(join(pseudo, f));
    const script = [
      'import json, sys',
      'from exodetect_train.annotations import load_channel',
      'd = load_channel(sys.argv[1], training_nm_per_px=9.9)',
      'print(json.dumps({im.rel_path: {"boxes": len(im.boxes), "nm_per_px": im.nm_per_px} for im in d.images}))',
    ].join('\n');
    const { stdout } = await run(PYTHON, ['-c', script, dataset], { env: { ...process.env, PYTHONPATH: TRAINER } });
    const loaded = JSON.parse(stdout) as Record<string, { boxes: number; nm_per_px: number }>;
    const pseudoImages = Object.entries(loaded).filter(([file]) => file.startsWith('pseudo-labels/batch1/'));
    const humanImages = Object.entries(loaded).filter(([file]) => !file.startsWith('pseudo-labels/'));
    expect(pseudoImages).toHaveLength(results.length);
    expect(humanImages).toHaveLength(results.length);
    expect(new Set(pseudoImages.map(([, im]) => im.nm_per_px))).toEqual(new Set([1.7]));
    expect(new Set(humanImages.map(([, im]) => im.nm_per_px))).toEqual(new Set([1.5]));
    expect(pseudoImages.reduce((n, [, im]) => n + im.boxes, 0)).toBe(exported.objects);
    expect(exported.objects).toBeLessThan(results.reduce((n, r) => n + r.detections.length, 0)); // the score rule dropped some
  }, TRAINER_TIMEOUT_MS);
});
