/**
 * Burned-in scale bars and text labels are never vesicles: the bundled default model, through the real
 * inference path (decode, resample to the model's scale, tiles, onnxruntime, its own score threshold), on
 * empty synthetic grids that carry only a scale bar and text labels, in several fonts, upright and
 * slanted. Five of the fonts are ones the generator never trains with (fonts-dejavu-extra: condensed,
 * italic, oblique, extra-light). The control: the same model and path on generated grids with vesicles
 * and text finds the vesicles, so "nothing found" means something.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageResult } from '../../lambdas/shared/contracts.js';
import { evaluateDetections, type XyxyBox } from '../../lambdas/evaluation/detection-metrics.js';
import { loadModel, type LoadedModel } from '../../lambdas/detect/model.js';
import { processImage } from '../../lambdas/detect/pipeline.js';
import { TRAINER_TIMEOUT_MS } from '../helpers/timeouts.js';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';
const TRAINER = join(process.cwd(), 'training-container');
const FONT_DIR = '/usr/share/fonts/truetype/dejavu';
/** Fonts the generator trains with (fonts-dejavu-core, PIL's bitmap font) and five it never sees (fonts-dejavu-extra). */
const TRAINED_FONTS = ['DejaVuSans.ttf', 'DejaVuSerif-Bold.ttf', 'DejaVuSansMono.ttf'];
const UNSEEN_FONTS = ['DejaVuSansCondensed-Bold.ttf', 'DejaVuSerif-Italic.ttf', 'DejaVuSansMono-Oblique.ttf', 'DejaVuSans-ExtraLight.ttf', 'DejaVuSerifCondensed.ttf'];
const NM_PER_PX = 2.0;

interface TextOnlyManifest {
  readonly images: { readonly file: string; readonly font: string; readonly slant: number; readonly boxes: number }[];
}
interface CocoDoc {
  readonly images: { readonly id: number; readonly file_name: string }[];
  readonly annotations: { readonly image_id: number; readonly bbox: [number, number, number, number] }[];
}

let root: string;
let model: LoadedModel;
let manifest: TextOnlyManifest;

async function detect(file: string): Promise<ImageResult> {
  const { result } = await processImage({
    bytes: await readFile(file),
    imageKey: `batches/text/images/${file.split('/').at(-1)}`,
    batchId: 'text',
    overlayKey: 'results/text/overlays/x.jpg',
    model,
    params: { nm_per_px: NM_PER_PX },
  });
  return result;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'exodetect-text-'));
  const fonts = [...TRAINED_FONTS, ...UNSEEN_FONTS].map((f) => join(FONT_DIR, f));
  const missing = fonts.filter((f) => !existsSync(f));
  if (missing.length) throw new Error(`fonts missing (Debian fonts-dejavu-core and fonts-dejavu-extra; scripts/install-system-deps.sh installs them): ${missing.join(', ')}`);
  const env = { ...process.env, PYTHONPATH: TRAINER };
  const fontArgs = [...fonts, 'pil-bitmap'].flatMap((f) => ['--font', f]);
  await run(PYTHON, ['-m', 'exodetect_train.synth', '--text-only', '--out', join(root, 'text'), '--size', '512', '--nm-per-px', String(NM_PER_PX), '--seed', '7', ...fontArgs], { env });
  await run(PYTHON, ['-m', 'exodetect_train.synth', '--out', join(root, 'vesicles'), '--count', '3', '--size', '512', '--nm-per-px', String(NM_PER_PX), '--seed', '7', '--labels', 'coco'], { env });
  manifest = JSON.parse(await readFile(join(root, 'text', 'text-only.json'), 'utf8')) as TextOnlyManifest;
  model = await loadModel(await readFile(join(process.cwd(), 'models', 'default', 'model.onnx')), { key: 'models/default/model.onnx', intraOpThreads: 1 });
}, TRAINER_TIMEOUT_MS);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('burned-in scale bars and text labels', () => {
  it('come in every font asked for, upright and slanted, and the generator labels nothing on them', () => {
    expect(manifest.images).toHaveLength(2 * (TRAINED_FONTS.length + UNSEEN_FONTS.length + 1));
    expect(new Set(manifest.images.map((i) => i.font)).size).toBe(TRAINED_FONTS.length + UNSEEN_FONTS.length + 1);
    expect(new Set(manifest.images.map((i) => i.slant)).size).toBe(2);
    expect(manifest.images.every((i) => i.boxes === 0)).toBe(true);
  });

  it('the bundled model detects nothing on an image with only a scale bar and text labels', async () => {
    const found: string[] = [];
    for (const image of manifest.images) {
      const result = await detect(join(root, 'text', image.file));
      expect(result.status).toBe('ok');
      for (const d of result.detections) found.push(`${image.file} (${image.font.split('/').at(-1)}, slant ${image.slant}): box ${d.box_px.map(Math.round).join(',')} score ${d.score}`);
    }
    expect(found).toEqual([]);
  }, TRAINER_TIMEOUT_MS);

  it('control: the same model and path find the vesicles on generated grids with text', async () => {
    const coco = JSON.parse(await readFile(join(root, 'vesicles', 'annotations.coco.json'), 'utf8')) as CocoDoc;
    const evals = [];
    for (const image of coco.images) {
      const result = await detect(join(root, 'vesicles', image.file_name));
      const gt = coco.annotations.filter((a) => a.image_id === image.id).map((a) => [a.bbox[0], a.bbox[1], a.bbox[0] + a.bbox[2], a.bbox[1] + a.bbox[3]] as XyxyBox);
      evals.push({
        predBoxes: result.detections.map((d) => d.box_px as XyxyBox), predScores: result.detections.map((d) => d.score), predClasses: result.detections.map(() => 0),
        gtBoxes: gt, gtClasses: gt.map(() => 0), nmPerPx: NM_PER_PX,
      });
    }
    const metrics = evaluateDetections(evals, 1, 0);
    expect(metrics.n_objects).toBeGreaterThan(5);
    expect(metrics.recall).toBeGreaterThan(0.7);
  }, TRAINER_TIMEOUT_MS);
});
