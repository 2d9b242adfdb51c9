import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageResult } from '../../lambdas/shared/contracts.js';
import { batchImagesPrefix } from '../../lambdas/shared/keys.js';
import { labelStem, toAnnotationImage, vocXml, yoloLine, type AnnotationFormat } from '../../lambdas/evaluation/annotation-export.js';
import { parseCocoDataset, parseVocXml, parseYoloLabels, type ParsedImage } from '../../lambdas/evaluation/annotation-import.js';
import { exportAnnotations, exportAnnotationsCli } from '../../local/commands/export-annotations.js';
import { generateErrorRecord, generateImageResult, resultKeyFor } from './batch-generator.js';
import { putAll, startS3Fixture } from './s3-helpers.js';
import { TRAINER_TIMEOUT_MS } from '../helpers/timeouts.js';
import { checkDatasetFolder } from '../../local/commands/check.js';

const run = promisify(execFile);
const batchId = 'export-batch';
const THRESHOLD = 0.6;
let root: string;
let resultsDir: string;
let results: ImageResult[];

/** Predictions as they would come back: file -> boxes (on the export grid) and class names, thresholded. */
function expected(threshold = THRESHOLD, withOutlines = false): Map<string, { box: number[]; class_name: string; outline?: number[] | null }[]> {
  return new Map(
    results.map((r) => {
      const image = toAnnotationImage(batchId, r, threshold);
      return [image.file, image.objects.map((o) => ({ box: [...o.box], class_name: o.class_name, ...(withOutlines && { outline: o.outline }) }))];
    }),
  );
}

const asMap = (images: ParsedImage[]): Map<string, { box: number[]; class_name: string }[]> =>
  new Map(images.map((im) => [im.file, im.objects.map((o) => ({ box: [...o.box], class_name: o.class_name }))]));

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'exodetect-export-'));
  resultsDir = join(root, 'results', batchId);
  const files = ['a.tif', 'grid 2/b.tif', 'grid 2/c.png', 'empty.tif', 'sub/deeper/d.tiff'];
  results = files.map((file, i) =>
    generateImageResult({
      batchId,
      file,
      detections: file === 'empty.tif' ? 0 : 12 + i * 3,
      seed: 40 + i,
      width: 640 + 37 * i,
      height: 480 + 11 * i,
      nmPerPx: 0.7 + 0.1 * i,
      classNames: ['exosome', 'debris'],
    }),
  );
  // The batch could only assume the last image's scale: the export must not state it as the image's.
  results[4] = { ...results[4]!, nm_per_px_source: 'assumed' };
  for (const r of results) {
    const path = join(resultsDir, 'images', ...`${r.image_key.slice(batchImagesPrefix(batchId).length)}.json`.split('/'));
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, JSON.stringify(r));
  }
  await writeFile(join(resultsDir, 'images', 'broken.tif.json'), JSON.stringify(generateErrorRecord(batchId, 'broken.tif', 'TRUNCATED', 'cut short')));
});

async function exportTo(format: AnnotationFormat): Promise<{ out: string; result: Awaited<ReturnType<typeof exportAnnotations>> }> {
  const out = join(root, `out-${format}`);
  const result = await exportAnnotations({ source: resultsDir, format, out, scoreThreshold: THRESHOLD });
  return { out, result };
}

async function readBack(format: AnnotationFormat, out: string): Promise<Map<string, { box: number[]; class_name: string }[]>> {
  if (format === 'coco') return asMap(parseCocoDataset(await readFile(join(out, 'annotations.coco.json'), 'utf8')));
  const images: ParsedImage[] = [];
  if (format === 'yolo') {
    const classes = (await readFile(join(out, 'classes.txt'), 'utf8')).trim().split('\n');
    for (const r of results) {
      const file = r.image_key.slice(batchImagesPrefix(batchId).length);
      const text = await readFile(join(out, `${labelStem(file)}.txt`), 'utf8');
      images.push({ file, width: r.width, height: r.height, objects: parseYoloLabels(text, r.width, r.height, classes) });
    }
  } else {
    for (const r of results) {
      const file = r.image_key.slice(batchImagesPrefix(batchId).length);
      images.push(parseVocXml(await readFile(join(out, `${labelStem(file)}.xml`), 'utf8')));
    }
  }
  return asMap(images);
}

describe.each(['coco', 'yolo', 'voc'] as const)('export-annotations --format %s', (format) => {
  it('round-trips to identical box coordinates, thresholded', async () => {
    const { out, result } = await exportTo(format);
    const want = expected();
    expect(result.images).toBe(results.length);
    expect(result.objects).toBe([...want.values()].reduce((s, o) => s + o.length, 0));
    expect(result.belowThreshold).toBe(results.reduce((s, r) => s + r.detections.length, 0) - result.objects);
    expect(result.belowThreshold).toBeGreaterThan(0);
    expect(result.skipped).toEqual([{ image: `batches/${batchId}/images/broken.tif`, reason: 'TRUNCATED: cut short' }]);
    const got = await readBack(format, out);
    expect(got).toEqual(want);
    const dataset = JSON.parse(await readFile(join(out, 'dataset.json'), 'utf8'));
    expect(dataset.classes).toEqual(['exosome', 'debris']);
    expect(dataset.images['grid 2/b.tif']).toEqual({ nm_per_px: results[1]!.nm_per_px });
    expect(dataset.images).not.toHaveProperty('sub/deeper/d.tiff');
    if (format === 'coco') {
      const coco = JSON.parse(await readFile(join(out, 'annotations.coco.json'), 'utf8')) as { images: { file_name: string; nm_per_px?: number }[] };
      expect(coco.images.find((i) => i.file_name === 'grid 2/b.tif')!.nm_per_px).toBe(results[1]!.nm_per_px);
      expect(coco.images.find((i) => i.file_name === 'sub/deeper/d.tiff')).not.toHaveProperty('nm_per_px');
    }
  });

  it('refuses a non-empty output folder', async () => {
    await expect(exportAnnotations({ source: resultsDir, format, out: join(root, `out-${format}`) })).rejects.toThrow(/is not empty/);
  });
});

describe('format details', () => {
  it('writes normalised YOLO lines and VOC XML with escaped names', () => {
    const object = { box: [10, 20, 30, 60] as [number, number, number, number], class_id: 1, class_name: 'a<b>&"c"', score: 0.9, on_edge: true };
    expect(yoloLine(object, 100, 200)).toBe('1 0.20000000 0.20000000 0.20000000 0.20000000');
    const xml = vocXml({ file: 'x/y & z.tif', width: 100, height: 200, nm_per_px: 1, objects: [object] });
    expect(xml).toContain('<filename>y &amp; z.tif</filename>');
    expect(xml).toContain('<truncated>1</truncated>');
    const parsed = parseVocXml(xml);
    expect(parsed).toEqual({ file: 'x/y & z.tif', width: 100, height: 200, objects: [{ box: [10, 20, 30, 60], class_name: 'a<b>&"c"' }] });
  });

  it('rejects an unknown format and a bad threshold with the value', async () => {
    await expect(exportAnnotations({ source: resultsDir, format: 'pascal', out: join(root, 'x') })).rejects.toThrow(/unknown annotation format "pascal"/);
    await expect(exportAnnotations({ source: resultsDir, format: 'coco', out: join(root, 'y'), scoreThreshold: 2 })).rejects.toThrow(/got 2/);
    await expect(exportAnnotations({ source: join(root, 'nowhere'), format: 'coco', out: join(root, 'z') })).rejects.toThrow(/is not a results folder/);
  });
});

describe('the trainer reads the exports back', () => {
  const python = '/usr/bin/python3';
  const trainerDir = join(process.cwd(), 'training-container');

  beforeAll(async () => {
    // The trainer needs the images themselves (it reads their sizes): write blanks of the right size beside the labels.
    for (const format of ['coco', 'yolo', 'voc']) {
      for (const r of results) {
        const file = r.image_key.slice(batchImagesPrefix(batchId).length);
        const path = join(root, `out-${format}`, ...file.split('/'));
        await mkdir(dirname(path), { recursive: true });
        const image = sharp({ create: { width: r.width, height: r.height, channels: 3, background: { r: 128, g: 128, b: 128 } } }).toColourspace('b-w');
        await (file.endsWith('.png') ? image.png() : image.tiff()).toFile(path);
      }
    }
  });

  it.each(['coco', 'yolo', 'voc'] as const)('%s: through the ingestion, exodetect_train.annotations.load_channel gives the same boxes', async (format) => {
    // As training reads an export: the ingestion writes the canonical truth.json, the trainer reads that.
    const check = await checkDatasetFolder({ datasetDir: join(root, `out-${format}`), truthOut: join(root, `out-${format}`, 'truth.json') });
    expect(check.ingested.problems).toEqual([]);
    const script = [
      'import json, sys',
      'from exodetect_train.annotations import load_channel',
      'd = load_channel(sys.argv[1], training_nm_per_px=1.0, single_class=False)',
      'print(json.dumps({"classes": d.class_names, "problems": [str(p) for p in d.problems],',
      '  "images": {im.rel_path: {"boxes": im.boxes.tolist(), "classes": im.classes.tolist(), "nm_per_px": im.nm_per_px,',
      '    "polygons": [p.reshape(-1).tolist() if p is not None else None for p in im.polygons]} for im in d.images}}))',
    ].join('\n');
    const { stdout } = await run(python, ['-c', script, join(root, `out-${format}`)], { env: { ...process.env, PYTHONPATH: trainerDir } });
    const loaded = JSON.parse(stdout) as { classes: string[]; problems: string[]; images: Record<string, { boxes: number[][]; classes: number[]; nm_per_px: number; polygons: (number[] | null)[] }> };
    expect(loaded.problems).toEqual([]);
    const want = expected(THRESHOLD, true);
    expect(Object.keys(loaded.images).sort()).toEqual([...want.keys()].sort());
    for (const [file, objects] of want) {
      const image = loaded.images[file]!;
      expect(image.boxes).toHaveLength(objects.length);
      const key = (b: number[]): string => b.map((v) => v.toFixed(1)).join(',');
      const gotBoxes = image.boxes.map((b, i) => ({ b, name: loaded.classes[image.classes[i]!], polygon: image.polygons[i] })).sort((x, y) => key(x.b).localeCompare(key(y.b)));
      const wantBoxes = [...objects].sort((x, y) => key(x.box).localeCompare(key(y.box)));
      gotBoxes.forEach((g, i) => {
        g.b.forEach((v, j) => expect(Math.abs(v - wantBoxes[i]!.box[j]!), `${format} ${file} box ${i}`).toBeLessThan(2e-3)); // float32 in the trainer
        expect(g.name).toBe(wantBoxes[i]!.class_name);
        // Outlines travel as COCO segmentation (and so train the outline head); YOLO and VOC carry boxes only.
        if (format === 'coco') {
          expect(g.polygon).toHaveLength(wantBoxes[i]!.outline!.length);
          g.polygon!.forEach((v, j) => expect(Math.abs(v - wantBoxes[i]!.outline![j]!)).toBeLessThan(2e-3));
        } else expect(g.polygon).toBeNull();
      });
      const result = results.find((r) => r.image_key.endsWith(file))!;
      // An assumed scale is not passed on: the trainer assumes its own (training_nm_per_px=1.0 here).
      expect(image.nm_per_px).toBeCloseTo(result.nm_per_px_source === 'assumed' ? 1.0 : result.nm_per_px, 9);
    }
  }, TRAINER_TIMEOUT_MS);
});

describe('exodetect export-annotations (argv)', () => {
  it('exports a results folder and reports what it did', async () => {
    const lines: string[] = [];
    const out = join(root, 'out-cli');
    const result = await exportAnnotationsCli([resultsDir, '--format', 'VOC'.toLowerCase(), '--out', out, '--score-threshold', '0.9'], { out: (l) => lines.push(l) });
    expect(result!.format).toBe('voc');
    expect(result!.objects).toBe([...expected(0.9).values()].reduce((s, o) => s + o.length, 0));
    expect(lines[0]).toMatch(new RegExp(`^Exported ${result!.objects} objects in ${results.length} images as VOC to .*out-cli \\(\\d+ detections below the score threshold left out\\)$`));
    expect(lines).toContain(`  skipped batches/${batchId}/images/broken.tif: TRUNCATED: cut short`);
    expect(await readFile(join(out, 'grid 2', 'b.xml'), 'utf8')).toContain('<filename>b.tif</filename>');
  });

  it('turns usage errors into one clear message and prints help', async () => {
    await expect(exportAnnotationsCli([resultsDir, '--format', 'pascal', '--out', join(root, 'x')])).rejects.toThrow(
      /argument 'pascal' is invalid\. Allowed choices are coco, yolo, voc/,
    );
    await expect(exportAnnotationsCli(['no-such-batch', '--format', 'coco', '--out', join(root, 'x')])).rejects.toThrow(/"no-such-batch" is neither a results folder nor a batch/);
    const lines: string[] = [];
    expect(await exportAnnotationsCli(['--help'], { out: (l) => lines.push(l) })).toBeUndefined();
    expect(lines.join('\n')).toContain('--format <format>');
  });
});

describe('export from a local results folder with the images', () => {
  it('copies each image from the folder the batch came from, beside its labels', async () => {
    const imagesDir = join(root, 'original-images');
    for (const r of results) {
      const relative = r.image_key.slice(batchImagesPrefix(batchId).length);
      await mkdir(dirname(join(imagesDir, relative)), { recursive: true });
      await writeFile(join(imagesDir, relative), `pixels of ${relative}`);
    }
    const lines: string[] = [];
    const out = join(root, 'out-local-images');
    const result = await exportAnnotationsCli([resultsDir, '--format', 'yolo', '--out', out, '--images', imagesDir], { out: (l) => lines.push(l) });
    expect(result!.imagesDownloaded).toBe(results.length);
    expect(await readFile(join(out, 'sub', 'deeper', 'd.tiff'), 'utf8')).toBe('pixels of sub/deeper/d.tiff');
    expect(await readFile(join(out, 'grid 2', 'c.png'), 'utf8')).toBe('pixels of grid 2/c.png');
    expect(lines[0]).toMatch(new RegExp(`; copied ${results.length} images$`));
  });

  it('names the image it cannot find', async () => {
    const out = join(root, 'out-local-missing');
    await expect(exportAnnotations({ source: resultsDir, format: 'coco', out, imagesDir: join(root, 'nowhere') })).rejects.toThrow(/cannot copy image .*nowhere.*a\.tif/);
  });
});

describe('export from a batch in S3', () => {
  it('reads results from S3 and downloads the images beside the labels', async () => {
    const fx = await startS3Fixture();
    try {
      const objects = results.map((r) => ({ key: resultKeyFor(batchId, r.image_key.slice(batchImagesPrefix(batchId).length)), body: JSON.stringify(r) }));
      for (const r of results) objects.push({ key: r.image_key, body: `image bytes of ${r.image_key}` });
      await putAll(fx.s3, fx.bucket, objects);
      const out = join(root, 'out-s3');
      const progress: number[] = [];
      const result = await exportAnnotations({ source: { s3: fx.s3, bucket: fx.bucket, batchId }, format: 'yolo', out, includeImages: true, onProgress: (n) => progress.push(n) });
      expect(result.images).toBe(results.length);
      expect(result.imagesDownloaded).toBe(results.length);
      expect(progress.at(-1)).toBe(results.length);
      expect(await readFile(join(out, 'grid 2', 'b.tif'), 'utf8')).toBe(`image bytes of batches/${batchId}/images/grid 2/b.tif`);
      expect((await readdir(out)).sort()).toEqual(['a.tif', 'a.txt', 'classes.txt', 'dataset.json', 'empty.tif', 'empty.txt', 'grid 2', 'sub']);
      expect(await readFile(join(out, 'empty.txt'), 'utf8')).toBe('');
    } finally {
      await fx.close();
    }
  });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
