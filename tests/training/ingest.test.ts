/**
 * Dataset ingestion on real folders: every supported format, good and bad,
 * resolved against real image files (sizes from the files, scales by the
 * calibration rules of inference).
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestDataset, type IngestedDataset } from '../../lambdas/training/ingest/ingest.js';
import { folderDatasetSource } from '../../local/files.js';
import { writeTiff } from '../detect/fixtures/tiff-writer.js';

let root: string;
let n = 0;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'exodetect-ingest-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A fresh dataset folder with the given files: images as {w, h} (grey PNG/JPEG/TIFF by extension), others as text. */
async function dataset(files: Record<string, string | { w?: number; h?: number; bytes?: Uint8Array }>): Promise<string> {
  const dir = path.join(root, `ds-${++n}`);
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(dir, name);
    await mkdir(path.dirname(file), { recursive: true });
    if (typeof content === 'string') {
      await writeFile(file, content);
      continue;
    }
    if (content.bytes) {
      await writeFile(file, content.bytes);
      continue;
    }
    const w = content.w ?? 100;
    const h = content.h ?? 80;
    const image = sharp(Buffer.alloc(w * h, 128), { raw: { width: w, height: h, channels: 1 } });
    const ext = path.extname(name).toLowerCase();
    await (ext === '.jpg' ? image.jpeg() : ext === '.tif' ? image.tiff() : image.png()).toFile(file);
  }
  return dir;
}

const ingest = async (dir: string, props = {}) => ingestDataset(await folderDatasetSource(dir), props);
const problems = (d: IngestedDataset) => d.problems.map((p) => [p.file, p.line, p.problem] as const);
const boxes = (d: IngestedDataset, file: string) => d.images.find((i) => i.file === file)?.objects.map((o) => o.box);

describe('ingestDataset: YOLO', () => {
  it('reads images/ + labels/ with classes.txt, an empty file as an image without vesicles', async () => {
    const dir = await dataset({
      'images/a.png': {},
      'images/b.png': {},
      'labels/a.txt': '0 0.5 0.5 0.2 0.25\n0 0.1 0.1 0.1 0.1\n',
      'labels/b.txt': '',
      'classes.txt': 'exosome\n',
    });
    const d = await ingest(dir);
    expect(d.problems).toEqual([]);
    expect(d.images.map((i) => [i.file, i.width, i.height, i.labelled_by])).toEqual([
      ['images/a.png', 100, 80, 'labels/a.txt'],
      ['images/b.png', 100, 80, 'labels/b.txt'],
    ]);
    expect(boxes(d, 'images/a.png')![0]!.map((v) => Math.round(v * 1e4) / 1e4)).toEqual([40, 30, 60, 50]);
    expect(d.images[0]!.objects[0]).toMatchObject({ class_name: 'exosome', source: { file: 'labels/a.txt', line: 1 } });
    expect(d.images[1]!.objects).toEqual([]);
    expect(d.classNames).toEqual(['exosome']);
  });

  it('reports bad lines with file and line, and a label file without an image', async () => {
    const dir = await dataset({
      'a.png': {},
      'classes.txt': 'exosome\n',
      'a.txt': '0 0.5 0.5 0.2 0.2\n3 0.5 0.5 0.1 0.1\n0 0.5 0.5 0 0.1\n0 1.5 0.5 0.2 0.2\nfoo\n0 a b c d\n',
      'orphan.txt': '0 0.5 0.5 0.1 0.1\n',
    });
    const d = await ingest(dir);
    expect(problems(d)).toEqual([
      ['a.txt', 2, 'unknown class id 3 (classes.txt has 1)'],
      ['a.txt', 3, 'zero or negative area box [50.0, 36.0, 50.0, 44.0] in a.png'],
      ['a.txt', 4, 'box [140.0, 32.0, 160.0, 48.0] outside the 100x80 image a.png'],
      ['a.txt', 5, "expected 'class cx cy w h' (or 'class x y x y ...' for an outline), got 'foo'"],
      ['a.txt', 6, "not numbers: '0 a b c d'"],
      ['orphan.txt', 1, "label without image: 'orphan' not found in the dataset"],
    ]);
    expect(d.images[0]!.objects).toHaveLength(1);
  });

  it('reads YOLO-seg outlines as polygons with their extent as the box', async () => {
    const dir = await dataset({ 'a.png': {}, 'a.txt': '0 0.1 0.1 0.3 0.1 0.3 0.5 0.1 0.5\n' });
    const d = await ingest(dir);
    expect(d.problems).toEqual([]);
    expect(d.images[0]!.objects[0]!.box.map((v) => Math.round(v))).toEqual([10, 8, 30, 40]);
    expect(d.images[0]!.objects[0]!.polygon!.map((v) => Math.round(v))).toEqual([10, 8, 30, 8, 30, 40, 10, 40]);
  });
});

describe('ingestDataset: COCO', () => {
  it('reads one COCO file for a whole folder of images in sub-folders, boxes and polygons', async () => {
    const doc = {
      images: [
        { id: 1, file_name: 'grid1/a.png', width: 100, height: 80 },
        { id: 2, file_name: 'b.tif', width: 100, height: 80 },
        { id: 3, file_name: 'grid2/c.jpg', width: 100, height: 80 },
      ],
      annotations: [
        { id: 1, image_id: 1, category_id: 7, bbox: [10, 10, 20, 30] },
        { id: 2, image_id: 2, category_id: 7, segmentation: [[5, 6, 25, 6, 25, 40, 5, 40]] },
        { id: 3, image_id: 1, category_id: 8, bbox: [50, 10, 20, 20], segmentation: [[52, 12, 68, 12, 68, 28, 52, 28]] },
      ],
      categories: [
        { id: 7, name: 'RSV' },
        { id: 8, name: 'FLUAV' },
      ],
    };
    const dir = await dataset({ 'grid1/a.png': {}, 'b.tif': {}, 'grid2/c.jpg': {}, 'annotations.coco.json': JSON.stringify(doc, null, 1) });
    const d = await ingest(dir);
    expect(d.problems).toEqual([]);
    expect(boxes(d, 'grid1/a.png')).toEqual([
      [10, 10, 30, 40],
      [50, 10, 70, 30],
    ]);
    expect(boxes(d, 'b.tif')).toEqual([[5, 6, 25, 40]]);
    expect(boxes(d, 'grid2/c.jpg')).toEqual([]); // in 'images', no annotation: an image without vesicles
    expect(d.images.find((i) => i.file === 'grid1/a.png')!.objects[1]!.polygon).toEqual([52, 12, 68, 12, 68, 28, 52, 28]);
    expect(d.classNames).toEqual(['FLUAV', 'RSV']);
  });

  it('points the images left without labels at the annotation file that is not JSON', async () => {
    const dir = await dataset({ 'b.png': {}, 'project.coco.json': '{"images": [{"id": 1, "file_name": "b.png"}],\n "annotations": [}' });
    expect(problems(await ingest(dir)).map(([f, l, p]) => `${f}:${l}: ${p}`)).toEqual([
      'project.coco.json:2: not valid JSON: column 18: a value expected (a trailing comma, or a missing value?)',
      "b.png:null: image without label (no annotation file that could be read mentions it; project.coco.json, which is not valid JSON, may)",
    ]);
  });

  it('reports every bad annotation on its line, and an unreadable JSON file', async () => {
    const doc = {
      images: [
        { id: 1, file_name: 'a.png' },
        { id: 2, file_name: 'missing.png' },
      ],
      annotations: [
        { id: 10, image_id: 1, category_id: 1, bbox: [10, 10, 20, 20] },
        { id: 11, image_id: 1, category_id: 9, bbox: [10, 10, 20, 20] },
        { id: 12, image_id: 5, category_id: 1, bbox: [10, 10, 20, 20] },
        { id: 13, image_id: 1, category_id: 1 },
        { id: 14, image_id: 2, category_id: 1, bbox: [1, 1, 5, 5] },
        { id: 15, image_id: 1, category_id: 1, bbox: [90, 10, 30, 20] },
      ],
      categories: [{ id: 1, name: 'exosome' }],
    };
    const dir = await dataset({ 'a.png': {}, 'coco.json': JSON.stringify(doc, null, 1), 'broken.json': '{\n  "images": [],\n  not json' });
    const d = await ingest(dir);
    const text = problems(d).map(([f, l, p]) => `${f}:${l}: ${p}`);
    expect(text).toEqual([
      // Where it stops being JSON, as an editor counts: line 3, column 3.
      'broken.json:3: not valid JSON: column 3: an unexpected character (names and text need "double quotes")',
      expect.stringMatching(/^coco\.json:\d+: annotation id 11: unknown category_id 9$/),
      expect.stringMatching(/^coco\.json:\d+: annotation id 12: image_id 5 is not in 'images' \(label without image\)$/),
      expect.stringMatching(/^coco\.json:\d+: annotation id 13: no usable bbox or polygon$/),
      expect.stringMatching(/^coco\.json:\d+: box \[90\.0, 10\.0, 120\.0, 30\.0\] outside the 100x80 image a\.png$/),
    ]);
    // Lines point at the annotation's own "image_id" line in the file as written.
    const lines = d.problems.filter((p) => p.file === 'coco.json').map((p) => p.line!);
    expect(lines).toEqual([...lines].sort((a, b) => a - b));
    expect(new Set(lines).size).toBe(lines.length);
    expect(boxes(d, 'a.png')).toEqual([[10, 10, 30, 30]]);
    // An image the file names but the folder lacks (a held-out part of a project): said, not a problem.
    expect(d.missingImages).toEqual([{ file: 'coco.json', images: ['missing.png'], objects: 1 }]);
  });

  it('names annotations by id, not by line, in a COCO file written on one line', async () => {
    const doc = { images: [{ id: 1, file_name: 'a.png' }], annotations: [{ id: 7, image_id: 1, category_id: 1, bbox: [90, 10, 30, 20] }] };
    const d = await ingest(await dataset({ 'a.png': {}, 'one-line.json': JSON.stringify(doc) }));
    expect(problems(d)).toEqual([['one-line.json', null, 'box [90.0, 10.0, 120.0, 30.0] outside the 100x80 image a.png']]);
  });

  it('takes per-image and file-wide scales from the COCO file (exodetect\'s export)', async () => {
    const doc = {
      info: { nm_per_px: 2.5 },
      images: [
        { id: 1, file_name: 'a.png', nm_per_px: 1.75 },
        { id: 2, file_name: 'b.png' },
      ],
      annotations: [],
    };
    const d = await ingest(await dataset({ 'a.png': {}, 'b.png': {}, 'x.coco.json': JSON.stringify(doc) }));
    expect(d.images.map((i) => [i.file, i.nm_per_px, i.nm_per_px_source, i.nm_per_px_detail])).toEqual([
      ['a.png', 1.75, 'dataset', 'x.coco.json images[].nm_per_px = 1.75'],
      ['b.png', 2.5, 'dataset', 'x.coco.json info.nm_per_px = 2.5'],
    ]);
  });
});

describe('ingestDataset: VOC and makesense CSV', () => {
  it('reads VOC and reports its bad objects on their lines', async () => {
    const dir = await dataset({
      'a.jpg': {},
      'a.xml': `<annotation>
  <filename>a.jpg</filename>
  <size><width>100</width><height>80</height><depth>1</depth></size>
  <object><name>exosome</name><bndbox><xmin>10</xmin><ymin>20</ymin><xmax>30</xmax><ymax>40</ymax></bndbox></object>
  <object><name>exosome</name><bndbox><xmin>10</xmin><ymin>20</ymin></bndbox></object>
  <object><name>exosome</name></object>
</annotation>
`,
      'bad.xml': '<annotation><filename>x</filename>',
    });
    const d = await ingest(dir);
    expect(boxes(d, 'a.jpg')).toEqual([[10, 20, 30, 40]]);
    // A file that cannot be read at all comes first: it explains what follows.
    expect(problems(d)).toEqual([
      ['bad.xml', 1, expect.stringMatching(/^unreadable XML/)],
      ['a.xml', 5, 'object 1: missing xmin/ymin/xmax/ymax'],
      ['a.xml', 6, 'object 2: no <bndbox>'],
    ]);
    expect(d.problems.map((p) => p.kind)).toEqual(['file', 'object', 'object']);
  });

  it('reads one makesense CSV for a whole folder and reports its bad rows', async () => {
    const dir = await dataset({
      'a.png': {},
      'b.png': {},
      'labels.csv':
        'label_name,bbox_x,bbox_y,bbox_width,bbox_height,image_name,image_width,image_height\n' +
        'exosome,10,10,20,20,a.png,100,80\n' +
        'exosome,x,10,20,20,a.png,100,80\n' +
        'exosome,10,10,20,20,nope.png,100,80\n' +
        'exosome,10,10,20,20,b.png,100,80\n' +
        'short,row\n',
    });
    const d = await ingest(dir);
    expect(d.images.map((i) => i.objects.length)).toEqual([1, 1]);
    expect(problems(d)).toEqual([
      ['labels.csv', 3, 'bbox values are not numbers: x, 10, 20, 20'],
      ['labels.csv', 6, "expected label_name,bbox_x,bbox_y,bbox_width,bbox_height,image_name[,image_width,image_height], got 'short,row'"],
    ]);
    expect(d.missingImages).toEqual([{ file: 'labels.csv', images: ['nope.png'], objects: 1 }]);
  });
});

describe('ingestDataset: images, scales and the folder', () => {
  it('reports images without labels and unreadable images, once each', async () => {
    const dir = await dataset({ 'a.png': {}, 'b.png': {}, 'c.png': 'this is not a png', 'a.txt': '0 0.5 0.5 0.2 0.2\n', 'c.txt': '0 0.5 0.5 0.2 0.2\n' });
    const d = await ingest(dir);
    expect(problems(d)).toEqual([
      ['b.png', null, expect.stringMatching(/^image without label/)],
      ['c.png', null, 'unreadable image (NOT_AN_IMAGE: not an image: the content is not PNG, JPEG, TIFF, DM3/DM4 or MRC)'],
    ]);
    expect(d.images.map((i) => i.file)).toEqual(['a.png']);
    expect(d.problems.map((p) => p.image)).toEqual(['b.png', 'c.png']);
  });

  it('resolves scales as inference does: the request, dataset.json, then the file\'s own calibration', async () => {
    const tiff = writeTiff([{ width: 100, height: 80, pixels: new Uint8Array(8000).fill(100), xResolution: 1e7 / 1.25, resolutionUnit: 3 }]);
    const imagej = writeTiff([{ width: 100, height: 80, pixels: new Uint8Array(8000).fill(100), xResolution: 1 / 0.0008, imageDescription: 'ImageJ=1.54f\nunit=micron\n' }]);
    const files = {
      'a.png': {},
      'b.png': {},
      't.tif': { bytes: tiff },
      'ij.tif': { bytes: imagej },
      'dataset.json': JSON.stringify({ images: { 'b.png': { nm_per_px: 3.5 } } }),
      ...Object.fromEntries(['a', 'b', 't', 'ij'].map((s) => [`${s}.txt`, '0 0.5 0.5 0.2 0.2\n'])),
    };
    const d = await ingest(await dataset(files));
    const scale = (f: string) => d.images.find((i) => i.file === f)!;
    expect(d.problems).toEqual([]);
    expect(scale('b.png')).toMatchObject({ nm_per_px: 3.5, nm_per_px_source: 'dataset', nm_per_px_detail: 'dataset.json images["b.png"] = 3.5' });
    expect(scale('a.png')).toMatchObject({ nm_per_px: null, nm_per_px_source: null });
    expect(scale('t.tif').nm_per_px).toBeCloseTo(1.25, 9);
    expect(scale('t.tif').nm_per_px_source).toBe('file');
    expect(scale('ij.tif').nm_per_px).toBeCloseTo(0.8, 9);
    expect(scale('ij.tif').nm_per_px_source).toBe('file');
    expect(scale('ij.tif').nm_per_px_detail).toMatch(/ImageJ/);

    const forced = await ingest(await dataset(files), { nmPerPx: 2 });
    expect(forced.images.every((i) => i.nm_per_px === 2 && i.nm_per_px_detail === 'the training request (--nm-per-px) = 2')).toBe(true);
  });

  it('follows symbolic links to images and folders, and says which files it ignored', async () => {
    const store = await dataset({ 'shared/x.png': {}, 'shared/more/y.png': {} });
    const dir = await dataset({ 'x.txt': '0 0.5 0.5 0.2 0.2\n', 'y.txt': '', 'README.md': '# my set' });
    await symlink(path.join(store, 'shared', 'x.png'), path.join(dir, 'x.png'));
    await symlink(path.join(store, 'shared', 'more'), path.join(dir, 'more'));
    await symlink(path.join(dir, 'nowhere.png'), path.join(dir, 'dangling.png'));
    const source = await folderDatasetSource(dir);
    expect(source.skipped).toEqual([{ path: path.join(dir, 'dangling.png'), reason: expect.stringMatching(/^broken link/) }]);
    const d = await ingestDataset(source);
    expect(d.images.map((i) => [i.file, i.objects.length])).toEqual([
      ['more/y.png', 0],
      ['x.png', 1],
    ]);
    expect(d.ignoredFiles).toEqual(['README.md']);
  });

  it('keeps the first annotation file of an image and reports the others', async () => {
    const coco = { images: [{ id: 1, file_name: 'a.png' }], annotations: [{ id: 1, image_id: 1, category_id: 1, bbox: [1, 1, 10, 10] }] };
    const d = await ingest(await dataset({ 'a.png': {}, 'a.txt': '0 0.5 0.5 0.2 0.2\n', 'z.coco.json': JSON.stringify(coco) }));
    expect(d.images[0]!.labelled_by).toBe('a.txt');
    expect(problems(d)).toEqual([['z.coco.json', null, 'a.png is already labelled by a.txt; these labels are ignored']]);
  });

  it('reports what dataset.json gets wrong: an unknown key, an image that is not there, a bad scale', async () => {
    const config = { nm_per_pix: 2.5, images: { 'a.png': { nm_per_px: 3 }, 'gone.png': { nm_per_px: 3 }, 'b.png': { nm_per_px: 'x' } } };
    const d = await ingest(await dataset({ 'a.png': {}, 'b.png': {}, 'a.txt': '', 'b.txt': '', 'dataset.json': JSON.stringify(config) }));
    expect(problems(d)).toEqual([
      ['dataset.json', null, 'images["b.png"].nm_per_px must be a positive number, got "x"'],
      ['dataset.json', null, 'unknown key "nm_per_pix" (known: nm_per_px, images, classes): ignored'],
      ['dataset.json', null, 'images["gone.png"]: there is no such image in the dataset'],
    ]);
    expect(d.images.find((i) => i.file === 'a.png')!.nm_per_px).toBe(3);
  });

  it('asks for a path when a name matches images in several folders', async () => {
    const csv = 'exosome,10,10,20,20,a.png,100,80\n';
    const d = await ingest(await dataset({ 'g1/a.png': {}, 'g2/a.png': {}, 'labels.csv': csv }));
    expect(problems(d)).toContainEqual(['labels.csv', 1, "'a.png' matches 2 images (g1/a.png, g2/a.png): give its path relative to the dataset folder"]);
  });
});
