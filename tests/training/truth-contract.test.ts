/**
 * Where TypeScript meets Python: the real split step (through local S3) reads
 * a dataset exported by an annotation tool, in each supported format with
 * images in sub-folders, and writes its channels; the trainer's own reader
 * (exodetect_train.annotations, /usr/bin/python3) reads what landed in the
 * channel folders exactly as SageMaker's File mode lays them out. Both sides
 * must see the same images, boxes and scales; and every format must give the
 * same truth.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../lambdas/shared/s3-client.js';
import { splitDataset, type SplitResult } from '../../lambdas/training/dataset-split.js';
import { ingestDataset } from '../../lambdas/training/ingest/ingest.js';
import type { TruthDocument } from '../../lambdas/training/ingest/truth.js';
import { parseTruthDocument } from '../../lambdas/evaluation/truth-scoring.js';
import { folderDatasetSource } from '../../local/files.js';
import { downloadChannel } from '../../local/sagemaker.js';
import { startLocalS3Server, type LocalS3Server } from '../../local/s3-server.js';
import { TRAINER_TIMEOUT_MS } from '../helpers/timeouts.js';

const TRAINER_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'training-container');
const BUCKET = 'exodetect-data';
let root: string;
let server: LocalS3Server;
let s3: S3Client;

/** Eight images in two grid folders, 120x90 px, with known boxes (x1, y1, x2, y2 px); image 7 has none. */
const IMAGES = Array.from({ length: 8 }, (_, i) => ({
  file: `images/grid${i % 2}/field ${i}.png`,
  boxes: i === 7 ? [] : [[10 + i, 12, 40 + i, 44], [60, 20 + i, 90, 58 + i]],
}));
const W = 120;
const H = 90;
const NM = { 'images/grid0/field 0.png': { nm_per_px: 2.2 } };
/** An outline inside a box: the diamond through its edges' midpoints, nudged off the grid. */
const diamond = (b: number[]): number[] => {
  const [x1, y1, x2, y2] = b as [number, number, number, number];
  return [(x1 + x2) / 2 + 0.25, y1 + 0.5, x2 - 0.5, (y1 + y2) / 2 + 0.25, (x1 + x2) / 2 - 0.25, y2 - 0.5, x1 + 0.5, (y1 + y2) / 2 - 0.25];
};

/** The same labels in each format, as the tools export them. */
const EXPORTS: Record<string, Record<string, string>> = {
  coco: {
    'annotations.coco.json': JSON.stringify(
      {
        images: IMAGES.map((im, i) => ({ id: i + 1, file_name: im.file, width: W, height: H })),
        // With each vesicle's outline (a diamond inside its box), as CVAT and Label Studio export polygons.
        annotations: IMAGES.flatMap((im, i) => im.boxes.map((b, k) => ({ id: i * 10 + k, image_id: i + 1, category_id: 3, bbox: [b[0], b[1], b[2]! - b[0]!, b[3]! - b[1]!], segmentation: [diamond(b)] }))),
        categories: [{ id: 3, name: 'exosome' }],
      },
      null,
      1,
    ),
  },
  makesense: {
    'labels.csv': IMAGES.flatMap((im) => im.boxes.map((b) => `exosome,${b[0]},${b[1]},${b[2]! - b[0]!},${b[3]! - b[1]!},${path.posix.basename(im.file)},${W},${H}`)).join('\n') + '\n',
  },
  voc: Object.fromEntries(
    IMAGES.map((im) => [
      im.file.replace('images/', 'Annotations/').replace('.png', '.xml'),
      `<annotation><filename>${path.posix.basename(im.file)}</filename><size><width>${W}</width><height>${H}</height></size>${im.boxes
        .map((b) => `<object><name>exosome</name><bndbox><xmin>${b[0]}</xmin><ymin>${b[1]}</ymin><xmax>${b[2]}</xmax><ymax>${b[3]}</ymax></bndbox></object>`)
        .join('')}</annotation>`,
    ]),
  ),
  yolo: {
    'classes.txt': 'exosome\n',
    ...Object.fromEntries(
      IMAGES.map((im) => [
        im.file.replace('images/', 'labels/').replace('.png', '.txt'),
        im.boxes.map((b) => `0 ${(b[0]! + b[2]!) / 2 / W} ${(b[1]! + b[3]!) / 2 / H} ${(b[2]! - b[0]!) / W} ${(b[3]! - b[1]!) / H}`).join('\n'),
      ]),
    ),
  },
};
// makesense names images by file name only (the two grids do not share names), and its CSV cannot list an
// image without objects: field 7 is unlabelled there, and said to be.
const EXPECTED_PROBLEMS: Record<string, string[]> = {
  makesense: ['images/grid1/field 7.png: image without label (no annotation file mentions it; an empty YOLO txt or a COCO image entry marks an image with no vesicles)'],
};

interface PythonChannel {
  images: { rel_path: string; width: number; height: number; nm_per_px: number; nm_per_px_source: string; boxes: number[][]; polygons: (number[] | null)[] }[];
  problems: string[];
  objects: number;
}

function readWithTrainer(channelDir: string): PythonChannel {
  const script = `
import json, sys
from exodetect_train.annotations import load_channel
d = load_channel(sys.argv[1], training_nm_per_px=2.0)
print(json.dumps({"images": [{"rel_path": i.rel_path, "width": i.width, "height": i.height, "nm_per_px": i.nm_per_px,
  "nm_per_px_source": i.nm_per_px_source, "boxes": i.boxes.tolist(),
  "polygons": [p.reshape(-1).tolist() if p is not None else None for p in i.polygons]} for i in d.images],
  "problems": [str(p) for p in d.problems], "objects": d.objects}))`;
  return JSON.parse(execFileSync('/usr/bin/python3', ['-c', script, channelDir], { cwd: TRAINER_DIR, env: { ...process.env, PYTHONPATH: TRAINER_DIR }, encoding: 'utf8' }));
}

const results = new Map<string, { split: SplitResult; truth: Record<string, TruthDocument>; python: Record<string, PythonChannel> }>();

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'exodetect-contract-'));
  server = await startLocalS3Server({ directory: path.join(root, 's3'), buckets: [BUCKET] });
  s3 = createS3Client({ EXODETECT_S3_ENDPOINT: server.endpoint });
  const put = (Key: string, Body: Uint8Array | string) => s3.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body }));
  for (const [format, files] of Object.entries(EXPORTS)) {
    const dataset = `contract-${format}`;
    for (const [i, im] of IMAGES.entries()) {
      const png = await sharp(Buffer.alloc(W * H, 60 + i * 10), { raw: { width: W, height: H, channels: 1 } }).png().toBuffer();
      await put(`datasets/${dataset}/${im.file}`, png);
    }
    for (const [name, body] of Object.entries(files)) await put(`datasets/${dataset}/${name}`, body);
    await put(`datasets/${dataset}/dataset.json`, JSON.stringify({ nm_per_px: 1.6, images: NM }));
    const runId = `run-${format}`;
    const split = await splitDataset(s3, {
      bucket: BUCKET,
      dataset,
      datasetPrefix: `datasets/${dataset}/`,
      runId,
      fingerprint: 'fp',
      request: { dataset, split: { by: 'group', validationFraction: 0.5, seed: 1 } },
    });
    const truth: Record<string, TruthDocument> = {};
    const python: Record<string, PythonChannel> = {};
    for (const channel of split.inputDataConfig) {
      const dir = path.join(root, 'ml', format, channel.ChannelName);
      await downloadChannel(s3, channel, dir);
      const { readFile } = await import('node:fs/promises');
      truth[channel.ChannelName] = parseTruthDocument(await readFile(path.join(dir, 'truth.json'), 'utf8'), dir);
      python[channel.ChannelName] = readWithTrainer(dir);
    }
    results.set(format, { split, truth, python });
  }
}, TRAINER_TIMEOUT_MS);

afterAll(async () => {
  s3?.destroy();
  await server?.close();
  await rm(root, { recursive: true, force: true });
});

describe.each(Object.keys(EXPORTS))('a %s export through the split step, read by the trainer', (format) => {
  it('keeps each grid in one channel, with every box and no problem but the expected ones', () => {
    const { split, truth } = results.get(format)!;
    const expectedProblems = EXPECTED_PROBLEMS[format] ?? [];
    expect(split.problems.first).toEqual(expectedProblems);
    const expected = IMAGES.filter((im) => !expectedProblems.some((p) => p.startsWith(`${im.file}:`)));
    expect(split.counts.train!.groups + split.counts.validation!.groups).toBe(2);
    expect(split.counts.train!.images + split.counts.validation!.images).toBe(expected.length);
    const all = [...truth.train!.images, ...truth.validation!.images].sort((a, b) => (a.file < b.file ? -1 : 1));
    expect(all.map((i) => [i.file, i.objects.map((o) => o.box.map((v) => Math.round(v * 1000) / 1000))])).toEqual(
      [...expected].sort((a, b) => (a.file < b.file ? -1 : 1)).map((im) => [im.file, im.boxes]),
    );
  });

  it('is read by the Python trainer as the TypeScript side wrote it: images, sizes, boxes, scales', () => {
    const { truth, python } = results.get(format)!;
    for (const channel of ['train', 'validation']) {
      const ts = truth[channel]!;
      const py = python[channel]!;
      expect(py.problems).toEqual(ts.problems.map((p) => `${p.file}${p.line ? `:${p.line}` : ''}: ${p.problem}`));
      expect(py.images.map((i) => i.rel_path)).toEqual(ts.images.map((i) => i.file));
      for (const [k, image] of ts.images.entries()) {
        const p = py.images[k]!;
        expect([p.width, p.height]).toEqual([image.width, image.height]);
        expect(p.nm_per_px).toBeCloseTo(image.nm_per_px!, 9);
        expect(p.nm_per_px_source).toBe('dataset');
        expect(p.boxes.length).toBe(image.objects.length);
        p.boxes.forEach((box, j) => box.forEach((v, c) => expect(v).toBeCloseTo(image.objects[j]!.box[c]!, 3)));
        // Outlines (only the COCO export has them) reach the trainer's outline head as written.
        expect(p.polygons.length).toBe(image.objects.length);
        p.polygons.forEach((polygon, j) => {
          const want = image.objects[j]!.polygon;
          expect(polygon === null).toBe(format !== 'coco');
          expect(want === null).toBe(format !== 'coco');
          polygon?.forEach((v, c) => expect(v).toBeCloseTo(want![c]!, 3));
        });
      }
      expect(py.objects).toBe(ts.images.reduce((n, i) => n + i.objects.length, 0));
    }
    // dataset.json's per-image scale beats its dataset-wide one on both sides.
    const grid0 = [...truth.train!.images, ...truth.validation!.images].find((i) => i.file === 'images/grid0/field 0.png')!;
    expect(grid0.nm_per_px).toBe(2.2);
  });
});

describe('one truth for training, promotion and evaluate', () => {
  it('gives exodetect evaluate (the folder, ingested locally) the same boxes and scales as the channels', async () => {
    for (const format of Object.keys(EXPORTS)) {
      const dir = path.join(root, 'local', format);
      for (const [i, im] of IMAGES.entries()) {
        await mkdir(path.dirname(path.join(dir, im.file)), { recursive: true });
        await sharp(Buffer.alloc(W * H, 60 + i * 10), { raw: { width: W, height: H, channels: 1 } }).png().toFile(path.join(dir, im.file));
      }
      for (const [name, body] of Object.entries(EXPORTS[format]!)) {
        await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
        await writeFile(path.join(dir, name), body);
      }
      await writeFile(path.join(dir, 'dataset.json'), JSON.stringify({ nm_per_px: 1.6, images: NM }));
      const local = await ingestDataset(await folderDatasetSource(dir));
      const { truth } = results.get(format)!;
      const channels = [...truth.train!.images, ...truth.validation!.images];
      const strip = (i: TruthDocument['images'][number]) => ({ file: i.file, nm: i.nm_per_px, boxes: i.objects.map((o) => o.box) });
      expect(local.images.map(strip)).toEqual(channels.sort((a, b) => (a.file < b.file ? -1 : 1)).map(strip));
    }
  });
});

describe('the bad-annotation limit', () => {
  it('is the same in exodetect check as in the trainer', async () => {
    const { DEFAULT_MAX_BAD_FRACTION } = await import('../../local/commands/problems-report.js');
    const script = 'from exodetect_train.hyperparams import SPECS; print(SPECS["max_bad_annotation_fraction"].default)';
    const trainer = execFileSync('/usr/bin/python3', ['-c', script], { cwd: TRAINER_DIR, env: { ...process.env, PYTHONPATH: TRAINER_DIR }, encoding: 'utf8' });
    expect(Number(trainer.trim())).toBe(DEFAULT_MAX_BAD_FRACTION);
  });
});
