import { beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../lambdas/shared/errors.js';
import { groupOf, ownerImage, indexImagesByStem } from '../../lambdas/training/dataset-files.js';
import { assignGroups, mergeHyperparameters, splitDataset, SPLIT_BALANCE_TOLERANCE, validateSplitProps } from '../../lambdas/training/dataset-split.js';
import { greyPng } from '../detect/fixtures/png-chunks.js';
import { FakeBucket } from './fake-bucket.js';

const RUN = '20261125-083000-1a2b3c4d';
let bucket: FakeBucket;

/** A YOLO dataset in images/ + labels/ of real (tiny) PNGs: image i has one box of height 0.(i+1). */
function yoloDataset(n: number, groups = 1): void {
  for (let i = 0; i < n; i++) {
    const dir = groups > 1 ? `images/grid${i % groups}/` : 'images/';
    bucket.put(`datasets/d/${dir}img${i}.png`, greyPng(32, 24, 100 + i));
    bucket.put(`datasets/d/${dir.replace("images", "labels")}img${i}.txt`, `0 0.5 0.5 0.1 0.${i + 1}`);
  }
  bucket.put('datasets/d/classes.txt', 'exosome\n').put('datasets/d/dataset.json', '{"nm_per_px": 1.5}');
}

const imagesOf = (channel: string): string[] => (bucket.json(`training/${RUN}/channels/${channel}/truth.json`).images as { file: string }[]).map((i) => i.file);

const input = (request: unknown = { dataset: 'd' }) => ({
  bucket: 'exodetect-data',
  dataset: 'd',
  datasetPrefix: 'datasets/d/',
  runId: RUN,
  fingerprint: 'f'.repeat(64),
  request,
});

beforeEach(() => {
  bucket = new FakeBucket();
});

describe('assignGroups', () => {
  const groups = Array.from({ length: 50 }, (_, i) => `g${i}`);
  it('is deterministic for a seed, independent of input order, and honours the fractions', () => {
    const a = assignGroups(groups, { validation: 0.2, test: 0.1 }, 7);
    const b = assignGroups([...groups].reverse(), { validation: 0.2, test: 0.1 }, 7);
    expect([...a.entries()].sort()).toEqual([...b.entries()].sort());
    const count = (c: string) => [...a.values()].filter((v) => v === c).length;
    expect([count('train'), count('validation'), count('test')]).toEqual([35, 10, 5]);
    const other = assignGroups(groups, { validation: 0.2, test: 0.1 }, 8);
    expect([...other.entries()]).not.toEqual([...a.entries()]);
  });

  it('puts at least one group in validation and refuses a dataset too small to split', () => {
    const tiny = assignGroups(['a', 'b'], { validation: 0.1, test: 0 }, 1);
    expect([...tiny.values()].sort()).toEqual(['train', 'validation']);
    expect(() => assignGroups(['only'], { validation: 0.2, test: 0 }, 1)).toThrow(/cannot split 1 group\(s\)/);
  });

  it('holds out at least the minimum for validation when there are three times as many images', () => {
    const count = (m: Map<string, string>, c: string) => [...m.values()].filter((v) => v === c).length;
    const of = (n: number) => Array.from({ length: n }, (_, i) => `img${i}`);
    // The few-shot case: 30 images, a fifth would be 6; 10 are held out (20/10).
    expect(count(assignGroups(of(30), { validation: 0.2, test: 0 }, 42, 10), 'validation')).toBe(10);
    expect(count(assignGroups(of(30), { validation: 0.2, test: 0 }, 42), 'validation')).toBe(6);
    // 200 images: the fraction already holds out more (40).
    expect(count(assignGroups(of(200), { validation: 0.2, test: 0 }, 42, 10), 'validation')).toBe(40);
    // 29 images: fewer than three times the minimum, the fraction alone (6).
    expect(count(assignGroups(of(29), { validation: 0.2, test: 0 }, 42, 10), 'validation')).toBe(6);
  });
});

describe('dataset files', () => {
  it('finds the image a per-image label belongs to, in the same or the mirrored folder', () => {
    const byStem = indexImagesByStem(['images/a/x.png', 'images/b/x.png', 'y.tif']);
    expect(ownerImage('labels/b/x.txt', byStem)).toBe('images/b/x.png');
    expect(ownerImage('y.xml', byStem)).toBe('y.tif');
    expect(ownerImage('annotations.coco.json', byStem)).toBeUndefined();
    expect(ownerImage('labels/c/x.txt', byStem)).toBeUndefined();
  });
  it('groups by the first folder below images/', () => {
    expect(groupOf('images/grid3/a.png', 'group')).toBe('grid3');
    expect(groupOf('grid3/sub/a.png', 'group')).toBe('grid3');
    expect(groupOf('images/a.png', 'group')).toBe('images/a.png');
    expect(groupOf('images/grid3/a.png', 'image')).toBe('images/grid3/a.png');
  });
});

describe('splitDataset', () => {
  it('writes image copies, truth.json, ManifestFile manifests and the run record', async () => {
    yoloDataset(10);
    bucket.put('datasets/d/split.json', '{"images": []}'); // a user's own split.json is not an annotation file
    bucket.put('datasets/d/labels/img3.txt', '0 0.5 0.5 0.1 0.3\n0 1.5 0.5 0.1 0.1\n'); // one box outside its image
    bucket.put('datasets/d/labels/ghost.txt', '0 0.5 0.5 0.1 0.1\n'); // a label without an image
    const out = await splitDataset(bucket.client, input(), { defaultHyperparameters: { epochs: '60' } });

    expect(out.outputPath).toBe(`s3://exodetect-data/training/${RUN}/output/`);
    expect(out.checkpointUri).toBe(`s3://exodetect-data/training/${RUN}/checkpoints/`);
    expect(out.inputDataConfig.map((c) => c.ChannelName)).toEqual(['train', 'validation']);
    expect(out.inputDataConfig[0]!.DataSource.S3DataSource).toEqual({
      S3DataType: 'ManifestFile',
      S3Uri: `s3://exodetect-data/training/${RUN}/manifests/train.manifest`,
      S3DataDistributionType: 'FullyReplicated',
    });
    expect(out.counts).toMatchObject({ by: 'image', seed: 42, train: { images: 8, objects: 8 }, validation: { images: 2, objects: 2 } });
    expect(out.counts.validationRaised).toBeUndefined(); // 10 images: the fraction's 2, no minimum

    const trainImages = imagesOf('train');
    const valImages = imagesOf('validation');
    expect(trainImages).toHaveLength(8);
    expect(valImages).toHaveLength(2);
    expect(trainImages.filter((i) => valImages.includes(i))).toEqual([]);

    // Each channel holds its own images and its truth.json, nothing of the other channel's.
    for (const image of valImages) {
      expect(bucket.objects.has(`training/${RUN}/channels/validation/${image}`)).toBe(true);
      expect(bucket.objects.has(`training/${RUN}/channels/train/${image}`)).toBe(false);
    }
    const val = bucket.json(`training/${RUN}/channels/validation/truth.json`);
    expect(val).toMatchObject({ format: 'exodetect-truth', version: 1, dataset: 'd', channel: 'validation', class_names: ['exosome'] });
    expect(val.images[0]).toMatchObject({ width: 32, height: 24, nm_per_px: 1.5, nm_per_px_source: 'dataset', nm_per_px_detail: 'dataset.json nm_per_px = 1.5' });

    // A problem goes with its image's channel; one that belongs to no image counts in training.
    const problemsIn = (c: string) => (bucket.json(`training/${RUN}/channels/${c}/truth.json`).problems as { file: string; line: number; problem: string }[]);
    const imageChannel = trainImages.includes('images/img3.png') ? 'train' : 'validation';
    expect(problemsIn(imageChannel)).toContainEqual({ file: 'labels/img3.txt', line: 2, problem: 'box [46.4, 10.8, 49.6, 13.2] outside the 32x24 image images/img3.png' });
    expect(problemsIn('train')).toContainEqual({ file: 'labels/ghost.txt', line: 1, problem: "label without image: 'ghost' not found in the dataset" });
    expect(problemsIn('train').length + problemsIn('validation').length).toBe(2);
    expect(out.problems).toMatchObject({ count: 2, key: `training/${RUN}/problems.json` });
    expect(out.problems.first).toContain('labels/ghost.txt:1: label without image: \'ghost\' not found in the dataset');

    // The manifest: a prefix, then every file of the channel relative to it, truth.json included.
    const manifest = bucket.json(`training/${RUN}/manifests/validation.manifest`) as [{ prefix: string }, ...string[]];
    expect(manifest[0]).toEqual({ prefix: `s3://exodetect-data/training/${RUN}/channels/validation/` });
    expect(manifest.slice(1)).toEqual([...valImages, 'truth.json']);
    for (const rel of manifest.slice(1) as string[]) expect(bucket.objects.has(`training/${RUN}/channels/validation/${rel}`), rel).toBe(true);

    const record = bucket.json(`training/${RUN}/split.json`);
    expect(record).toMatchObject({ format: 'exodetect-split', dataset: 'd', by: 'image', channels: { validation: { images: valImages } } });
    // The model is registered as models/<runId>/: its metadata and results carry the same version.
    expect(out.hyperparameters).toEqual({ epochs: '60', model_version: RUN });
  });

  it('trains on pseudo-labelled images and never holds them out; the human split stays as it was', async () => {
    yoloDataset(10);
    await splitDataset(bucket.client, input());
    const humanValidation = imagesOf('validation');
    for (let i = 0; i < 6; i++) {
      bucket.put(`datasets/d/pseudo-labels/batch1/p${i}.png`, greyPng(32, 24, 50 + i));
      bucket.put(`datasets/d/pseudo-labels/batch1/p${i}.txt`, '0 0.5 0.5 0.2 0.2\n0 0.2 0.2 0.1 0.1\n');
    }
    // The batch also held an annotated image: the person's labels win, and the copy is a named problem.
    bucket.put('datasets/d/pseudo-labels/batch1/img3.png', greyPng(32, 24, 103)).put('datasets/d/pseudo-labels/batch1/img3.txt', '0 0.5 0.5 0.2 0.2\n');
    const out = await splitDataset(bucket.client, input());
    expect(imagesOf('validation')).toEqual(humanValidation);
    expect(imagesOf('train').filter((i) => i.startsWith('pseudo-labels/'))).toHaveLength(6);
    expect(out.problems.first).toContain('pseudo-labels/batch1/img3.png: a pseudo-labelled copy of the annotated image img3.png: its pseudo-labels are not used');
    expect(out.counts.train).toMatchObject({ images: 14, objects: 8 + 12, pseudoLabelled: { images: 6, objects: 12 } });
    expect(out.counts.validation).toMatchObject({ images: 2, pseudoLabelled: { images: 0, objects: 0 } });
  });

  it('counts and names the images that have no scale from any source', async () => {
    yoloDataset(6);
    bucket.put('datasets/d/dataset.json', '{"images": {"images/img0.png": {"nm_per_px": 1.5}}}');
    const out = await splitDataset(bucket.client, input());
    const unscaled = (['train', 'validation'] as const).map((c) => out.counts[c]!.unscaled);
    expect(unscaled.reduce((n, u) => n + u.images, 0)).toBe(5);
    expect(unscaled.flatMap((u) => u.first).sort()).toEqual(['images/img1.png', 'images/img2.png', 'images/img3.png', 'images/img4.png', 'images/img5.png']);
  });

  it('holds out its share of the objects as well as of the images when a few grids hold most of them', async () => {
    // 30 images: three crowded grids of 20 particles, the rest with one.
    const boxes = (i: number) => (i % 10 === 3 ? 20 : 1);
    for (let i = 0; i < 30; i++) {
      bucket.put(`datasets/d/images/img${i}.png`, greyPng(32, 24, 100 + i));
      bucket.put(`datasets/d/labels/img${i}.txt`, Array.from({ length: boxes(i) }, (_, b) => `0 0.${b % 9 + 1} 0.5 0.05 0.05`).join('\n'));
    }
    bucket.put('datasets/d/classes.txt', 'exosome\n').put('datasets/d/dataset.json', '{"nm_per_px": 1.5}');
    const names = Array.from({ length: 30 }, (_, i) => `images/img${i}.png`);
    const total = names.reduce((sum, _, i) => sum + boxes(i), 0);
    // The plain shuffle for seed 1 holds out two of the crowded grids: 48 of 87 objects in a third of the images.
    const plain = assignGroups(names, { validation: 0.2, test: 0 }, 1, 10);
    const plainShare = names.reduce((sum, n, i) => sum + (plain.get(n) === 'validation' ? boxes(i) : 0), 0) / total;
    expect(Math.abs(plainShare - 1 / 3)).toBeGreaterThan(SPLIT_BALANCE_TOLERANCE);
    const out = await splitDataset(bucket.client, input({ dataset: 'd', split: { seed: 1 } }));
    expect(out.counts.validation!.images).toBe(10);
    // The fraction left out: its 0.2 would hold out 6, and the counts say the minimum raised it (train says so).
    expect(out.counts.validationRaised).toEqual({ fraction: 0.2, byFraction: 6, minimum: 10 });
    const asked = await splitDataset(bucket.client, input({ dataset: 'd', split: { seed: 1, validationFraction: 0.2 } }));
    expect([asked.counts.validation!.images, asked.counts.validationRaised]).toEqual([6, undefined]);
    expect(Math.abs(out.counts.validation!.objects / total - 1 / 3)).toBeLessThanOrEqual(SPLIT_BALANCE_TOLERANCE);
    expect(out.counts.train!.objects + out.counts.validation!.objects).toBe(total);
  });

  it('refuses a dataset of pseudo-labels alone: validation needs human labels', async () => {
    bucket.put('datasets/d/pseudo-labels/b/p0.png', greyPng(32, 24, 50)).put('datasets/d/pseudo-labels/b/p0.txt', '0 0.5 0.5 0.2 0.2\n');
    bucket.put('datasets/d/pseudo-labels/b/p1.png', greyPng(32, 24, 51)).put('datasets/d/pseudo-labels/b/p1.txt', '0 0.5 0.5 0.2 0.2\n');
    await expect(splitDataset(bucket.client, input())).rejects.toThrow(/holds only pseudo-labelled images \(2 under pseudo-labels\/\): validation needs images labelled by a person/);
  });

  it('fails with the first problems when no image is labelled and readable', async () => {
    bucket.put('datasets/d/a.png', 'not a png at all').put('datasets/d/a.txt', '0 0.5 0.5 0.1 0.1\n');
    await expect(splitDataset(bucket.client, input())).rejects.toThrow(
      /has no labelled, readable images \(1 annotation files, 1 problems\):\n {2}a\.png: unreadable image \(NOT_AN_IMAGE/,
    );
  });

  it('keeps sample groups together and adds a test channel when asked', async () => {
    yoloDataset(24, 6);
    const out = await splitDataset(bucket.client, input({ dataset: 'd', split: { by: 'group', validationFraction: 0.34, testFraction: 0.17, seed: 3 } }));
    expect(out.inputDataConfig.map((c) => c.ChannelName)).toEqual(['train', 'validation', 'test']);
    expect(out.counts).toMatchObject({ by: 'group', seed: 3, train: { groups: 3 }, validation: { groups: 2 }, test: { groups: 1 } });
    const groupsIn = (c: string) => new Set(imagesOf(c).map((i) => i.split('/')[1]));
    const [train, val, test] = [groupsIn('train'), groupsIn('validation'), groupsIn('test')];
    expect([...train].filter((g) => val.has(g) || test.has(g))).toEqual([]);
    expect([...val].filter((g) => test.has(g))).toEqual([]);
  });

  it('is deterministic: the same dataset and seed give the same split', async () => {
    yoloDataset(12);
    const a = await splitDataset(bucket.client, input());
    const first = bucket.json(`training/${RUN}/split.json`).channels;
    const b = await splitDataset(bucket.client, input());
    expect(bucket.json(`training/${RUN}/split.json`).channels).toEqual(first);
    expect(b.counts).toEqual(a.counts);
  });

  it('adds an init channel with the champion weights and points init_from at it', async () => {
    yoloDataset(6);
    await expect(splitDataset(bucket.client, input({ dataset: 'd', initFrom: 'champion' }))).rejects.toThrow(/no models\/champion\.json yet/);
    bucket.put('models/champion.json', { version: 'v3', model_key: 'models/v3/model.onnx' });
    await expect(splitDataset(bucket.client, input({ dataset: 'd', initFrom: 'champion' }))).rejects.toThrow(
      /s3:\/\/exodetect-data\/models\/v3\/model\.pt does not exist/,
    );
    bucket.put('models/v3/model.pt', 'weights');
    const out = await splitDataset(bucket.client, input({ dataset: 'd', initFrom: 'champion' }));
    expect(out.initFrom).toBe('v3');
    expect(out.hyperparameters.init_from).toBe('init/model.pt');
    const init = out.inputDataConfig.find((c) => c.ChannelName === 'init')!;
    expect(init.DataSource.S3DataSource.S3Uri).toBe(`s3://exodetect-data/training/${RUN}/manifests/init.manifest`);
    expect(bucket.json(`training/${RUN}/manifests/init.manifest`)).toEqual([{ prefix: 's3://exodetect-data/models/v3/' }, 'model.pt']);
    // An explicit init_from in the request wins; no initFrom means no init channel.
    const own = await splitDataset(bucket.client, input({ dataset: 'd', initFrom: 'v3', hyperparameters: { init_from: 'init/other.pt' } }));
    expect(own.hyperparameters.init_from).toBe('init/other.pt');
    const none = await splitDataset(bucket.client, input());
    expect(none.inputDataConfig.map((c) => c.ChannelName)).toEqual(['train', 'validation']);
    expect(none.initFrom).toBeNull();
  });

  it('merges request hyperparameters over the defaults as strings', () => {
    expect(mergeHyperparameters({ epochs: '60', lr: '0.001' }, { epochs: 5, mixed_precision: true })).toEqual({
      epochs: '5',
      lr: '0.001',
      mixed_precision: 'true',
    });
    expect(() => mergeHyperparameters({}, { 'bad name': 1 })).toThrow(/hyperparameter name "bad name"/);
  });

  it('validates its props with the bad value in the message', () => {
    expect(() => validateSplitProps({ validationFraction: 0 })).toThrow(ConfigError);
    expect(() => validateSplitProps({ validationFraction: 0.6, testFraction: 0.5 })).toThrow(/0\.6 \+ 0\.5/);
    expect(() => validateSplitProps({ copyConcurrency: 0 })).toThrow(/got 0/);
  });
});
