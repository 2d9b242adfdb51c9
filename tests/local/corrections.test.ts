/**
 * Reviewed annotations (report.html's download) put under datasets/<name>/ of
 * a bucket with the images they name: against the local S3 server, through
 * the functions and through `exodetect upload-corrections` itself.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../lambdas/shared/s3-client.js';
import { listAllObjects } from '../../lambdas/shared/s3-objects.js';
import { readReviewedAnnotations, stageCorrections } from '../../local/commands/corrections.js';
import { startLocalS3Server, type LocalS3Server } from '../../local/s3-server.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BUCKET = 'exodetect-data';
let dir: string;
let server: LocalS3Server;
let s3: S3Client;
const created: string[] = [];

const coco = (batchId: string | undefined, files: string[]) => ({
  info: { description: 'reviewed', ...(batchId && { batch_id: batchId }) },
  images: files.map((file_name, i) => ({ id: i + 1, file_name, width: 64, height: 48, nm_per_px: 1.5 })),
  annotations: files.map((_, i) => ({ id: i + 1, image_id: i + 1, category_id: 1, bbox: [4, 5, 20, 18], area: 360, iscrowd: 0, segmentation: [] })),
  categories: [{ id: 1, name: 'exosome', supercategory: 'vesicle' }],
});

async function writeJson(name: string, doc: unknown): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, typeof doc === 'string' ? doc : JSON.stringify(doc));
  return file;
}

const text = async (key: string): Promise<string> => (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body!.transformToString();
const keys = async (prefix: string): Promise<string[]> => (await listAllObjects(s3, BUCKET, prefix)).map((o) => o.key).sort();

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'exodetect-corrections-'));
  server = await startLocalS3Server({ directory: path.join(dir, 's3'), buckets: [BUCKET] });
  server.events.on('object', (record: { eventName: string; s3: { object: { key: string } } }) => {
    if (record.eventName.startsWith('ObjectCreated')) created.push(decodeURIComponent(record.s3.object.key));
  });
  s3 = createS3Client({ EXODETECT_S3_ENDPOINT: server.endpoint });
  for (const [key, body] of [
    ['batches/b1/images/grid 1/a+1.tif', 'image a'],
    ['batches/b1/images/b.png', 'image b'],
    ['batches/b1/images/c.png', 'image c, not reviewed'],
  ]) {
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
  }
  await mkdir(path.join(dir, 'local-images', 'grid 1'), { recursive: true });
  await writeFile(path.join(dir, 'local-images', 'grid 1', 'a+1.tif'), 'local a');
  await writeFile(path.join(dir, 'local-images', 'b.png'), 'local b');
});

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('reading the reviewed annotations', () => {
  it('takes the batch id, the images and the box count from the file', async () => {
    const file = await writeJson('b1.reviewed.coco.json', coco('b1', ['grid 1/a+1.tif', 'b.png']));
    expect(await readReviewedAnnotations(file)).toMatchObject({ file, batchId: 'b1', images: ['grid 1/a+1.tif', 'b.png'], boxes: 2 });
  });

  it.each([
    ['not JSON', '{"images": [', /not valid JSON/],
    ['no images', coco('b1', []), /names no images: mark images as reviewed/],
    ['a path leaving the batch', coco('b1', ['../etc/passwd']), /image "\.\.\/etc\/passwd" is not a path inside a batch/],
    ['an absolute path', coco('b1', ['/tmp/a.png']), /is not a path inside a batch/],
    ['an image twice', coco('b1', ['b.png', 'b.png']), /"b\.png" is listed twice/],
    ['a bad batch id', coco('../b1', ['b.png']), /info\.batch_id "\.\.\/b1" is not a batch id/],
  ])('refuses %s, naming the file', async (_, doc, message) => {
    const file = await writeJson('bad.coco.json', doc);
    await expect(readReviewedAnnotations(file)).rejects.toThrow(message);
    await expect(readReviewedAnnotations(file)).rejects.toThrow(file);
  });
});

describe('staging under datasets/', () => {
  it('copies the named images from the batch in the bucket, then puts the annotation file last', async () => {
    const file = await writeJson('b1.reviewed.coco.json', coco('b1', ['grid 1/a+1.tif', 'b.png']));
    created.length = 0;
    const staged = await stageCorrections({ s3, bucket: BUCKET, annotations: await readReviewedAnnotations(file), datasetName: 'b1-reviewed' });
    expect(staged).toEqual({ prefix: 'datasets/b1-reviewed/b1/', images: 2, annotationsKey: 'datasets/b1-reviewed/b1/b1.reviewed.coco.json', source: 'bucket' });
    expect(await keys('datasets/')).toEqual(['datasets/b1-reviewed/b1/b.png', 'datasets/b1-reviewed/b1/b1.reviewed.coco.json', 'datasets/b1-reviewed/b1/grid 1/a+1.tif']);
    expect(await text('datasets/b1-reviewed/b1/grid 1/a+1.tif')).toBe('image a');
    expect(JSON.parse(await text(staged.annotationsKey))).toEqual(coco('b1', ['grid 1/a+1.tif', 'b.png']));
    expect(created.at(-1)).toBe(staged.annotationsKey);
  });

  it('refuses, writing nothing, when the batch no longer holds an image the file names', async () => {
    const file = await writeJson('b1.reviewed.coco.json', coco('b1', ['b.png', 'gone.png']));
    const annotations = await readReviewedAnnotations(file);
    await expect(stageCorrections({ s3, bucket: BUCKET, annotations, datasetName: 'other' })).rejects.toThrow(
      /1 image\(s\) named in .*b1\.reviewed\.coco\.json are not in s3:\/\/exodetect-data\/batches\/b1\/images\/ \(give the folder with the batch's images\): gone\.png/,
    );
    expect(await keys('datasets/other/')).toEqual([]);
  });

  it('uploads the images from a folder instead, and needs one when the file names no batch', async () => {
    const file = await writeJson('fixed.coco.json', coco(undefined, ['grid 1/a+1.tif', 'b.png']));
    const annotations = await readReviewedAnnotations(file);
    await expect(stageCorrections({ s3, bucket: BUCKET, annotations, datasetName: 'fixed' })).rejects.toThrow(/no info\.batch_id.*give the folder with its images/);
    const staged = await stageCorrections({ s3, bucket: BUCKET, annotations, datasetName: 'fixed', imagesDir: path.join(dir, 'local-images') });
    expect(staged.prefix).toBe('datasets/fixed/fixed/');
    expect(await text('datasets/fixed/fixed/grid 1/a+1.tif')).toBe('local a');
    await expect(stageCorrections({ s3, bucket: BUCKET, annotations, datasetName: '../up', imagesDir: dir })).rejects.toThrow(/dataset name "\.\.\/up"/);
  });
});

describe('exodetect upload-corrections', () => {
  it('puts the file and its images under datasets/<batch>-reviewed/ of the bucket and says how to train on them', async () => {
    const file = await writeJson('b1.reviewed.coco.json', coco('b1', ['b.png']));
    const { stdout } = await promisify(execFile)(process.execPath, [path.join(REPO, 'bin', 'exodetect.js'), 'upload-corrections', file, '--bucket', BUCKET], {
      cwd: dir,
      env: { ...process.env, EXODETECT_S3_ENDPOINT: server.endpoint },
    });
    expect(stdout).toContain(`Put 1 box on 1 image under s3://${BUCKET}/datasets/b1-reviewed/b1/`);
    expect(stdout).toContain(`--input '{"dataset": "b1-reviewed"}'`);
    expect(await text('datasets/b1-reviewed/b1/b.png')).toBe('image b');
    expect(await readFile(file, 'utf8')).toBe(await text('datasets/b1-reviewed/b1/b1.reviewed.coco.json'));
  });
});
