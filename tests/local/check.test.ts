/** `exodetect check`: what it says about a folder a facility annotated, line by line. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkDatasetFolder, describeCheck } from '../../local/commands/check.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'exodetect-check-'));
  for (const name of ['a.png', 'b.png', 'c.png']) {
    await sharp(Buffer.alloc(64 * 64, 128), { raw: { width: 64, height: 64, channels: 1 } }).png().toFile(path.join(dir, name));
  }
  // a and c carry a scale in the COCO file; b has none anywhere. b also has a box far outside its image.
  const coco = {
    images: [
      { id: 1, file_name: 'a.png', width: 64, height: 64, nm_per_px: 1.9041 },
      { id: 2, file_name: 'b.png', width: 64, height: 64 },
      { id: 3, file_name: 'c.png', width: 64, height: 64, nm_per_px: 1.90412 },
    ],
    categories: [{ id: 1, name: 'exosome' }],
    annotations: [
      { id: 1, image_id: 1, category_id: 1, bbox: [10, 10, 20, 20] },
      { id: 2, image_id: 2, category_id: 1, bbox: [5, 5, 20, 20] },
      { id: 3, image_id: 2, category_id: 1, bbox: [200, 200, 20, 20] },
      { id: 4, image_id: 3, category_id: 1, bbox: [30, 30, 20, 20] },
    ],
  };
  await writeFile(path.join(dir, 'labels.coco.json'), JSON.stringify(coco));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('exodetect check', () => {
  it('names the images without a scale, shows one value where the range rounds to one, and says how to raise the limit', async () => {
    const lines = describeCheck(await checkDatasetFolder({ datasetDir: dir }), dir);
    const scaleLines = lines.filter((l) => l.startsWith('  scale of '));
    expect(scaleLines).toContain('  scale of 2 images: 1.904 nm/px, from labels.coco.json images[].nm_per_px');
    // A range names its extremes: where a misread bar would show.
    const spread = describeCheck(await checkDatasetFolder({ datasetDir: dir, extraFiles: new Map([['dataset.json', Buffer.from(JSON.stringify({ images: { 'a.png': { nm_per_px: 1.2 }, 'b.png': { nm_per_px: 3 }, 'c.png': { nm_per_px: 2 } } }))]]) }), dir);
    expect(spread.find((l) => l.startsWith('  scale of ') && l.includes('-'))).toMatch(/^ {2}scale of \d images?: 1\.2-3 nm\/px \(1\.2: a\.png; 3: b\.png\), from /);
    expect(scaleLines.find((l) => l.includes('no scale'))).toMatch(/^ {2}scale of 1 image: no scale, from .*: b\.png \(give their nm_per_px in dataset\.json\)$/);
    // 1 bad box of 4 (25%) is over the 10% training tolerates.
    expect(lines.find((l) => l.startsWith('Training would stop'))).toMatch(/raise the limit if you accept them \(exodetect train --hyperparameter max_bad_annotation_fraction=0\.3\)\.$/);
  });
});
