/**
 * `exodetect evaluate` through the inference path, with a detector
 * built in the test whose outputs are known, against COCO and YOLO ground truth.
 */
import { copyFile, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { existsSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { evaluateLocally, sizingLines } from '../../local/commands/evaluate.js';
import { TRAINER_TIMEOUT_MS } from '../helpers/timeouts.js';
import { buildConstantDetectorModel } from '../helpers/onnx-builder.js';
import { checkDatasetFolder } from '../../local/commands/check.js';
import { exodetectMetadata } from '../helpers/model-metadata.js';

let dir: string;
const SIZE = 64;
// The detector emits these rows for every image; the third is a low-score false positive.
const ROWS = [
  [10, 10, 30, 34, 0.9, 0],
  [40, 40, 52, 50, 0.6, 0],
  [5, 40, 15, 50, 0.2, 0],
];

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'exodetect-eval-'));
  await mkdir(path.join(dir, 'images'));
  await mkdir(path.join(dir, 'yolo'));
  for (const name of ['one', 'two']) {
    const pixels = Buffer.alloc(SIZE * SIZE, name === 'one' ? 90 : 160);
    await sharp(pixels, { raw: { width: SIZE, height: SIZE, channels: 1 } }).png().toFile(path.join(dir, 'images', `${name}.png`));
  }
  await writeFile(
    path.join(dir, 'model.onnx'),
    buildConstantDetectorModel({
      layout: 'exodetect',
      rows: ROWS,
      metadata: exodetectMetadata({ formatVersion: '1', classNames: ['exosome'], nmPerPx: 2, scoreThreshold: 0.5, tileSize: 64, inputChannels: 1 }),
    }),
  );
  // Image one: both real objects annotated. Image two: the first object and one the detector misses.
  const coco = {
    images: [
      { id: 7, file_name: 'one.png', width: SIZE, height: SIZE },
      { id: 8, file_name: 'two.png', width: SIZE, height: SIZE },
      // Annotated in the project, not in this folder: said, not scored.
      { id: 9, file_name: 'three.png', width: SIZE, height: SIZE },
    ],
    annotations: [
      { id: 1, image_id: 7, category_id: 1, bbox: [10, 10, 20, 24] },
      { id: 2, image_id: 7, category_id: 1, bbox: [40, 40, 12, 10] },
      { id: 3, image_id: 8, category_id: 1, bbox: [10, 10, 20, 24] },
      { id: 4, image_id: 8, category_id: 1, bbox: [30, 2, 10, 10] },
      { id: 5, image_id: 9, category_id: 1, bbox: [30, 2, 10, 10] },
    ],
    categories: [{ id: 1, name: 'exosome' }],
  };
  await writeFile(path.join(dir, 'gt.coco.json'), JSON.stringify(coco));
  const yolo = (x: number, y: number, w: number, h: number) => `0 ${(x + w / 2) / SIZE} ${(y + h / 2) / SIZE} ${w / SIZE} ${h / SIZE}`;
  await writeFile(path.join(dir, 'yolo', 'one.txt'), `${yolo(10, 10, 20, 24)}\n${yolo(40, 40, 12, 10)}\n`);
  await writeFile(path.join(dir, 'yolo', 'two.txt'), `${yolo(10, 10, 20, 24)}\n${yolo(30, 2, 10, 10)}\n`);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('exodetect evaluate', () => {
  it('writes COCO predictions down to the 0.01 floor and the trainer\'s metrics at the model threshold', async () => {
    const out = path.join(dir, 'out-coco');
    const result = await evaluateLocally({
      datasetDir: path.join(dir, 'images'),
      annotations: path.join(dir, 'gt.coco.json'),
      model: path.join(dir, 'model.onnx'),
      outDir: out,
      nmPerPx: 2,
      progress: false,
    });
    // At 0.5: TP = 2 + 1, FP = 1 (image two's 0.6 box), 4 objects.
    expect(result.metrics).toMatchObject({ precision: 0.75, recall: 0.75, f1: 0.75, n_images: 2, n_objects: 4, threshold: 0.5 });
    expect(result.metrics.diameter_median_abs_error_nm).toBe(0);
    // The best F1 on these images: cutting at 0.6 keeps 3 right of 4 (F1 0.75); at 0.9, 2 of 2 (0.667).
    expect(result.atBestF1).toMatchObject({ threshold: 0.6, precision: 0.75, recall: 0.75, f1: 0.75 });
    // Four objects say little, so the recommended threshold stays near the prior 0.5: (4 * 0.6 + 40 * 0.5) / 44.
    expect(result.atRecommended).toMatchObject({ threshold: 0.509, precision: 0.75, recall: 0.75, f1: 0.75 });
    // Ranked by score: 0.9 TP, 0.9 TP, 0.6 TP (image one), 0.6 FP (image two), 0.2 FP, 0.2 FP. Precision is 1
    // up to recall 0.75 and no detection reaches the fourth object: 76 of the 101 recall points score 1.
    // The matched boxes are exact (IoU 1), so AP50:95 is the same.
    expect(result.metrics.ap50).toBe(0.7525);
    expect(result.metrics.ap50_95).toBe(0.7525);
    const predictions = JSON.parse(await readFile(result.predictionsFile, 'utf8')) as { image_id: number; file_name: string; bbox: number[]; score: number }[];
    expect(predictions).toHaveLength(6);
    expect(predictions.filter((p) => p.image_id === 7).map((p) => p.file_name)).toEqual(['one.png', 'one.png', 'one.png']);
    expect(predictions.find((p) => p.image_id === 7 && p.score > 0.8)!.bbox).toEqual([10, 10, 20, 24]);
    expect(Math.min(...predictions.map((p) => p.score))).toBeCloseTo(0.2, 5);
    const written = JSON.parse(await readFile(result.metricsFile, 'utf8')) as { evaluation: unknown; failed_images: unknown[]; images: { nm_per_px_source: string }[] };
    expect(written.evaluation).toEqual(result.metrics);
    expect(written.failed_images).toEqual([]);
    expect(result.missingImages).toEqual([{ file: 'gt.coco.json', images: 1 }]);
    // Where the scale came from, as the ingestion says (here --nm-per-px), not how inference was handed it.
    const ingestedSource = (await checkDatasetFolder({ datasetDir: path.join(dir, 'images'), nmPerPx: 2, extraFiles: new Map([['gt.coco.json', await readFile(path.join(dir, 'gt.coco.json'))]]) })).ingested.images[0]!.nm_per_px_source;
    expect(ingestedSource).not.toBe('batch');
    expect(written.images.map((i) => i.nm_per_px_source)).toEqual([ingestedSource, ingestedSource]);
  });

  it('says what each image came to at the threshold, most errors first, and draws it: found green, false positives magenta, misses yellow', async () => {
    const out = path.join(dir, 'out-pictures');
    const result = await evaluateLocally({
      datasetDir: path.join(dir, 'images'), annotations: path.join(dir, 'gt.coco.json'), model: path.join(dir, 'model.onnx'), outDir: out, nmPerPx: 2, progress: false,
    });
    // Image two: the 0.9 box finds its object, the 0.6 box finds nothing, the object at (30, 2) is missed.
    expect(result.reviews.map(({ file, found, falsePositives, missed }) => ({ file, found, falsePositives, missed }))).toEqual([
      { file: 'two.png', found: 1, falsePositives: 1, missed: 1 },
      { file: 'one.png', found: 2, falsePositives: 0, missed: 0 },
    ]);
    expect(result.picturesDir).toBe(path.join(out, 'pictures'));
    const written = JSON.parse(await readFile(result.metricsFile, 'utf8')) as { outcome_totals: unknown; images: { file: string; found: number; false_positives: number; missed: number; picture: string }[] };
    expect(written.images.find((i) => i.file === 'two.png')).toMatchObject({ found: 1, false_positives: 1, missed: 1, picture: path.join(out, 'pictures', 'two.jpg') });
    expect(written.outcome_totals).toEqual({ found: 3, false_positives: 1, missed: 1 });
    // Mean colour along a box's edge (the pictures are JPEG, so a margin rather than exact values).
    const edgeColour = async (file: string, [x1, y1, x2, y2]: number[]) => {
      const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
      // The image at its size, and the key strip beneath it.
      expect(info.width).toBe(SIZE);
      expect(info.height).toBeGreaterThan(SIZE);
      const sum = [0, 0, 0];
      let n = 0;
      for (let x = x1!; x < x2!; x++) {
        for (const y of [y1!, y2! - 1]) {
          for (let c = 0; c < 3; c++) sum[c]! += data[(y * SIZE + x) * 3 + c]!;
          n++;
        }
      }
      return sum.map((v) => v / n) as [number, number, number];
    };
    const picture = (name: string) => path.join(out, 'pictures', `${name}.jpg`);
    const [gr, gg, gb] = await edgeColour(picture('two'), [10, 10, 30, 34]);
    expect(gg - (gr + gb) / 2).toBeGreaterThan(40); // green: found
    const [mr, mg, mb] = await edgeColour(picture('two'), [40, 40, 52, 50]);
    expect((mr + mb) / 2 - mg).toBeGreaterThan(40); // magenta: the false positive
    // Yellow, dashed: the miss. Image one has nothing at that place: grey.
    const yellowness = ([r, g, b]: [number, number, number]) => (r + g) / 2 - b;
    expect(yellowness(await edgeColour(picture('two'), [30, 2, 40, 12]))).toBeGreaterThan(20);
    expect(Math.abs(yellowness(await edgeColour(picture('one'), [30, 2, 40, 12])))).toBeLessThan(5);
    // Image one has no false positive and no miss: its 0.6 box is green, not magenta.
    const [or, og, ob] = await edgeColour(picture('one'), [40, 40, 52, 50]);
    expect(og - (or + ob) / 2).toBeGreaterThan(40);
    const none = await evaluateLocally({
      datasetDir: path.join(dir, 'images'), annotations: path.join(dir, 'gt.coco.json'), model: path.join(dir, 'model.onnx'), outDir: path.join(dir, 'out-nopictures'), nmPerPx: 2, progress: false, pictures: false,
    });
    expect(none.picturesDir).toBeNull();
    expect(none.reviews[0]).toMatchObject({ file: 'two.png', picture: null });
    expect(existsSync(path.join(dir, 'out-nopictures', 'pictures'))).toBe(false);
  });

  it('leaves pseudo-labelled images out: a model is not scored against a model\'s labels', async () => {
    const dataset = path.join(dir, 'selftrain');
    await mkdir(path.join(dataset, 'pseudo-labels', 'b'), { recursive: true });
    await copyFile(path.join(dir, 'gt.coco.json'), path.join(dataset, 'gt.coco.json'));
    for (const name of ['one', 'two']) await copyFile(path.join(dir, 'images', `${name}.png`), path.join(dataset, `${name}.png`));
    // The detector's own boxes on a copy of image two, as an export would label it: all of them would count as found.
    await copyFile(path.join(dir, 'images', 'two.png'), path.join(dataset, 'pseudo-labels', 'b', 'p.png'));
    const pseudo = { images: [{ id: 1, file_name: 'p.png', width: SIZE, height: SIZE }], categories: [{ id: 1, name: 'exosome' }],
      annotations: ROWS.map((r, i) => ({ id: i + 1, image_id: 1, category_id: 1, bbox: [r[0], r[1], r[2]! - r[0]!, r[3]! - r[1]!] })) };
    await writeFile(path.join(dataset, 'pseudo-labels', 'b', 'annotations.coco.json'), JSON.stringify(pseudo));
    const options = { model: path.join(dir, 'model.onnx'), nmPerPx: 2, progress: false };
    const result = await evaluateLocally({ ...options, datasetDir: dataset, outDir: path.join(dir, 'out-selftrain') });
    expect(result.pseudoLabelledLeftOut).toBe(1);
    expect(result.images).toBe(2);
    expect(result.metrics).toMatchObject({ precision: 0.75, recall: 0.75, n_images: 2, n_objects: 4 });
    const only = path.join(dir, 'pseudo-only');
    await mkdir(path.join(only, 'pseudo-labels'), { recursive: true });
    await cp(path.join(dataset, 'pseudo-labels', 'b'), path.join(only, 'pseudo-labels', 'b'), { recursive: true });
    await expect(evaluateLocally({ ...options, datasetDir: only, outDir: path.join(dir, 'out-only') })).rejects.toThrow(
      /no labelled image in .*pseudo-only can be scored \(1 pseudo-labelled images under pseudo-labels\/ are not scored\)/,
    );
  });

  it('scores a trainer output folder\'s validated model with <folder>:validated, and says when there is none', async () => {
    const folder = path.join(dir, 'refit-out');
    await mkdir(folder, { recursive: true });
    await copyFile(path.join(dir, 'model.onnx'), path.join(folder, 'validated.onnx'));
    const base = { datasetDir: path.join(dir, 'images'), annotations: path.join(dir, 'gt.coco.json'), nmPerPx: 2, progress: false, pictures: false };
    const result = await evaluateLocally({ ...base, model: `${folder}:validated`, outDir: path.join(dir, 'out-validated') });
    expect(result.model).toMatch(/refit-out's validated model/);
    expect(result.heldOutCheck).toBe(true);
    await expect(evaluateLocally({ ...base, model: `${path.join(dir, 'images')}:validated`, outDir: path.join(dir, 'out-validated2') })).rejects.toThrow(
      /there is no .*images\/validated\.onnx \(only a refit model's folder has one\)/,
    );
  });

  it('scores only the images a training run held out, given its split.json', async () => {
    const split = path.join(dir, 'split.json');
    await writeFile(split, JSON.stringify({ format: 'exodetect-split', channels: { train: { images: ['one.png'] }, validation: { images: ['two.png'] } } }));
    const base = { datasetDir: path.join(dir, 'images'), annotations: path.join(dir, 'gt.coco.json'), model: path.join(dir, 'model.onnx'), nmPerPx: 2, progress: false, pictures: false };
    const result = await evaluateLocally({ ...base, outDir: path.join(dir, 'out-heldout'), heldOutFrom: split });
    expect(result.images).toBe(1);
    // Image one was trained on: said as such, not as a pseudo-labelled image.
    expect(result.trainedOnLeftOut).toBe(1);
    expect(result.pseudoLabelledLeftOut).toBe(0);
    const written = JSON.parse(await readFile(result.metricsFile, 'utf8')) as { held_out_from: string; trained_on_left_out: number };
    expect(written).toMatchObject({ held_out_from: split, trained_on_left_out: 1 });
    // Image two alone: the 0.9 box finds one of its two objects, the 0.6 box is false.
    expect(result.metrics).toMatchObject({ n_images: 1, n_objects: 2, precision: 0.5, recall: 0.5 });
    // Without --model, the run's own model (its run id) from the store: here there is no store, and the message says where to look.
    await writeFile(split, JSON.stringify({ format: 'exodetect-split', run_id: 'r1', dataset: 'd', channels: { validation: { images: ['two.png'] } } }));
    const { model: _model, ...noModel } = base;
    await expect(evaluateLocally({ ...noModel, outDir: path.join(dir, 'out-heldout4'), heldOutFrom: split, dataDir: path.join(dir, 'no-store') })).rejects.toThrow(
      /model r1: there is no local store at .*no-store/,
    );
    await writeFile(split, JSON.stringify({ format: 'exodetect-split', run_id: 'r1', dataset: 'd', channels: { validation: { images: ['elsewhere.png'] } } }));
    await expect(evaluateLocally({ ...base, outDir: path.join(dir, 'out-heldout2'), heldOutFrom: split })).rejects.toThrow(
      /none of the 1 images .*split\.json held out is labelled in .*: give the folder run r1 trained on \(dataset d\)/,
    );
    await writeFile(split, '{"images": []}');
    await expect(evaluateLocally({ ...base, outDir: path.join(dir, 'out-heldout3'), heldOutFrom: split })).rejects.toThrow(
      /--held-out .*split\.json: not a split record; give the split\.json that `exodetect train` writes beside the model card/,
    );
    await expect(evaluateLocally({ ...base, outDir: path.join(dir, 'out-heldout3'), heldOutFrom: path.join(dir, 'gone') })).rejects.toThrow(/--held-out .*gone: no such file; give the split\.json/);
  });

  it('reads YOLO labels to the same result', async () => {
    const result = await evaluateLocally({
      datasetDir: path.join(dir, 'images'),
      annotations: path.join(dir, 'yolo'),
      model: path.join(dir, 'model.onnx'),
      outDir: path.join(dir, 'out-yolo'),
      nmPerPx: 2,
      progress: false,
    });
    expect(result.metrics).toMatchObject({ precision: 0.75, recall: 0.75, n_objects: 4 });
  });

  it('scores only objects inside --size-gate, detections and true objects alike, and gives the figures at --score-threshold', async () => {
    const base = { datasetDir: path.join(dir, 'images'), annotations: path.join(dir, 'gt.coco.json'), model: path.join(dir, 'model.onnx'), nmPerPx: 2, progress: false };
    // At 2 nm/px the 20x24 px objects are ~44 nm across, the 12x10 and 10x10 ones 20-22 nm: a 30-100 nm gate keeps
    // one true object per image and the 0.9 detection that finds it.
    const gated = await evaluateLocally({ ...base, outDir: path.join(dir, 'out-gate'), sizeGateNm: [30, 100] });
    expect(gated.metrics).toMatchObject({ precision: 1, recall: 1, n_objects: 2, threshold: 0.5 });
    const written = JSON.parse(await readFile(gated.metricsFile, 'utf8')) as { size_gate_nm: number[] };
    expect(written.size_gate_nm).toEqual([30, 100]);
    // Every detection down to 0.1 counts: 3 of 6 are right, 3 of the 4 objects found.
    const low = await evaluateLocally({ ...base, outDir: path.join(dir, 'out-low'), scoreThreshold: 0.1 });
    expect(low.metrics).toMatchObject({ precision: 0.5, recall: 0.75, threshold: 0.1 });
  });

  it('skips and names a malformed YOLO line, and refuses a folder without labels', async () => {
    await writeFile(path.join(dir, 'yolo', 'two.txt'), '0 0.5 0.5 0.1\n');
    const result = await evaluateLocally({ datasetDir: path.join(dir, 'images'), annotations: path.join(dir, 'yolo'), model: path.join(dir, 'model.onnx'), outDir: path.join(dir, 'out-bad'), progress: false });
    expect(result.problems).toEqual(["two.txt:1: expected 'class cx cy w h' (or 'class x y x y ...' for an outline), got '0 0.5 0.5 0.1'"]);
    expect(result.metrics.n_objects).toBe(2);
    await expect(evaluateLocally({ datasetDir: path.join(dir, 'images'), model: path.join(dir, 'model.onnx'), outDir: dir, progress: false })).rejects.toThrow(
      /no annotation files in .*images: expected YOLO/,
    );
  });

  it('scores sizes against true outlines: the bundled model sizes by outlines fitted in the image first, and says so', async () => {
    // The sample batch: synthetic micrographs whose outlines the generator knows (COCO segmentation).
    const samples = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'samples', 'demo-batch');
    const result = await evaluateLocally({ datasetDir: samples, model: 'default', nmPerPx: 1.5, outDir: path.join(dir, 'out-synth'), progress: false });
    const m = result.metrics;
    expect(m.recall).toBeGreaterThan(0.9);
    expect(result.outlineMethods['image-fit']).toBeGreaterThan(20);
    // The model's own outline only where the fit finds no edge.
    expect(result.outlineMethods['image-fit']).toBeGreaterThan(4 * result.outlineMethods.model);
    expect(m.sizing_n).toBeGreaterThan(20);
    expect(m.outline_diameter_median_abs_rel_error!).toBeLessThan(m.box_diameter_median_abs_rel_error! / 3);
    expect(m.outline_diameter_median_abs_rel_error!).toBeLessThan(0.05);
    expect(Math.abs(m.outline_diameter_median_rel_bias!)).toBeLessThan(0.05);
    expect(m.outline_diameter_within_10pct!).toBeGreaterThan(0.8);
    // The boxes (the membrane widened by the labelling margin) alone read a tenth or more too large.
    expect(m.box_diameter_median_rel_bias!).toBeGreaterThan(0.1);
    const lines = sizingLines(m, result.outlineMethods).join('\n');
    expect(lines).toMatch(/the reported diameter \(how the outlines of all (\d+) detections at the threshold were drawn: \1 fitted in the image\): median \|error\| \d\.\d% \(\d\.\d nm\)/);
    expect(lines).toMatch(/the found boxes' sqrt\(w\*h\) instead \(what box-only tools report\): median \|error\| \d\d\.\d% \(\d+\.\d nm\), median bias \+\d\d\.\d%/);
    const written = JSON.parse(await readFile(result.metricsFile, 'utf8')) as { sizing: { outline_methods_at_threshold: Record<string, number> } };
    expect(written.sizing.outline_methods_at_threshold).toEqual(result.outlineMethods);
    // Beside them, the found boxes against the true boxes: the margin explains why that figure is small.
    expect(lines).toContain(`against the true boxes instead of the outlines, the found boxes are off by ${m.diameter_median_abs_error_nm!.toFixed(1)} nm (median)`);
    // Boxes-only ground truth: nothing to score sizes against, said so, with the box against box figure.
    expect(sizingLines({ ...m, sizing_n: 0 }, result.outlineMethods)).toEqual([
      `Sizing: the annotations give boxes only, so sizes were not scored against outlines; each found box's sqrt(w*h) against its true box's: median |error| ${m.diameter_median_abs_error_nm!.toFixed(1)} nm.`,
    ]);
  }, TRAINER_TIMEOUT_MS);
});
