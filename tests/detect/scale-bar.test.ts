import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeImage } from '../../lambdas/detect/image-decode.js';
import { calibrateImageBytes } from '../../lambdas/detect/image-calibration.js';
import { findScaleBar } from '../../lambdas/detect/scale-bar/find-bar.js';
import { parseLabel } from '../../lambdas/detect/scale-bar/label-text.js';
import { stopTesseract } from '../../lambdas/detect/scale-bar/ocr.js';
import { readScaleBar } from '../../lambdas/detect/scale-bar/read-scale-bar.js';
import { renderScaleBarImage, type BarSpec } from './fixtures/scale-bar-image.js';

afterAll(async () => {
  await stopTesseract();
});

describe('scale-bar labels', () => {
  it('reads the lengths labels carry, and the OCR\'s usual readings of µ', () => {
    expect(parseLabel('200 nm')).toEqual({ nm: 200, text: '200 nm' });
    expect(parseLabel('0.5 µm')).toEqual({ nm: 500, text: '0.5 µm' });
    expect(parseLabel('1 um')).toEqual({ nm: 1000, text: '1 µm' });
    expect(parseLabel('2 pm')?.nm).toBe(2000);
    expect(parseLabel('50nm')?.nm).toBe(50);
    expect(parseLabel('2O0 nm')?.nm).toBe(200);
    expect(parseLabel('200,nm')?.nm).toBe(200);
    expect(parseLabel('0,5 µm')?.nm).toBe(500);
    expect(parseLabel('200 m')).toBeUndefined();
    expect(parseLabel('nm')).toBeUndefined();
    expect(parseLabel('')).toBeUndefined();
  });
});

describe('finding the bar', () => {
  it('measures the bar between its edges to a fraction of a pixel and finds its label', async () => {
    for (const barPx of [66, 105, 160]) {
      const { png, bar } = await renderScaleBarImage({ barPx, label: '200 nm' });
      const found = findScaleBar(await decodeImage(png, 'a.png'));
      expect(found?.lengthPx).toBeCloseTo(barPx, 0);
      expect(Math.abs(found!.lengthPx - barPx)).toBeLessThan(0.5);
      expect(found?.bar).toMatchObject({ y1: bar.y1, y2: bar.y2 });
      expect(found?.label).toBeDefined();
      expect(found!.label!.y1).toBeGreaterThanOrEqual(bar.y2);
    }
  });

  it('finds nothing in an image without a bar, even with dark-rimmed blobs', async () => {
    const { png } = await renderScaleBarImage({ barPx: 0.001, label: '', blobs: [{ x: 100, y: 400, r: 30 }, { x: 300, y: 420, r: 18 }] });
    expect(findScaleBar(await decodeImage(png, 'none.png'))).toBeUndefined();
  });
});

describe('reading the scale bar (tesseract.js, offline)', () => {
  const cases: (BarSpec & { nm: number })[] = [
    { barPx: 105, label: '200 nm', nm: 200 },
    { barPx: 66, label: '200 nm', font: 'DejaVu Sans', fontSize: 12, nm: 200 },
    { barPx: 150, label: '500 nm', font: 'DejaVu Serif', fontSize: 20, labelPosition: 'above', nm: 500 },
    { barPx: 120, label: '100 nm', font: 'DejaVu Sans Mono', fontSize: 18, bold: true, nm: 100 },
    { barPx: 200, label: '0.5 µm', font: 'DejaVu Sans', fontSize: 22, style: 'white-on-box', nm: 500 },
    { barPx: 90, label: '1 um', font: 'DejaVu Serif', fontSize: 14, bold: true, nm: 1000 },
    { barPx: 180, label: '50nm', font: 'DejaVu Sans', fontSize: 24, labelPosition: 'above', style: 'white-on-box', nm: 50 },
  ];
  for (const spec of cases) {
    it(`reads "${spec.label}" (${spec.font ?? 'DejaVu Sans'} ${spec.fontSize ?? 16} px${spec.bold ? ' bold' : ''}, ${spec.labelPosition ?? 'below'}, ${spec.style ?? 'black'}) over ${spec.barPx} px`, async () => {
      const { png } = await renderScaleBarImage({ ...spec, blobs: [{ x: 120, y: 120, r: 40 }, { x: 400, y: 200, r: 25 }] });
      const { reading, problem } = await readScaleBar(await decodeImage(png, 'bar.png'));
      expect(problem).toBeUndefined();
      expect(reading?.labelNm).toBe(spec.nm);
      expect(reading!.nmPerPx / (spec.nm / spec.barPx)).toBeGreaterThan(0.99);
      expect(reading!.nmPerPx / (spec.nm / spec.barPx)).toBeLessThan(1.01);
      // Bar and label are both masked.
      expect(reading?.mask).toHaveLength(2);
    }, 30_000);
  }

  it('reads every demo sample\'s bar, among them a short, thick one with a large label beside it (exo-demo-01: 33 px, "50nm")', async () => {
    const samples = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'samples', 'demo-batch');
    const files = (await readdir(samples)).filter((f) => /\.(png|jpe?g|tif)$/.test(f)).sort();
    expect(files).toHaveLength(6);
    for (const file of files) {
      const { reading, problem } = await readScaleBar(await decodeImage(await readFile(path.join(samples, file)), file));
      expect(problem, file).toBeUndefined();
      // The samples are rendered at 1.5 nm/px and their bars agree.
      expect(Math.abs(reading!.nmPerPx / 1.5 - 1), file).toBeLessThan(0.02);
    }
  }, 60_000);

  it('says whether an unread label gave no length at all or lengths that disagree', async () => {
    const { png } = await renderScaleBarImage({ barPx: 125, label: '250 nm' });
    const image = await decodeImage(png, 'bar.png');
    const always = (text: string) => ({ read: async () => ({ text, confidence: 90 }) });
    const noLength = await readScaleBar(image, { ocr: always('250 m'), maxCandidates: 1 });
    expect(noLength.reading).toBeUndefined();
    expect(noLength.problem).toMatch(/read "250 m", "250 m".*, none of them a length\)/);
    let turn = 0;
    const disagreeing = { read: async () => ({ text: ['200 nm', '500 nm', '100 nm', '50 nm'][turn++ % 4]!, confidence: 90 }) };
    const mixed = await readScaleBar(image, { ocr: disagreeing, maxCandidates: 1 });
    expect(mixed.problem).toMatch(/no two readings agreeing\)/);
    // Either way the bar and its label are kept out of detection.
    expect(noLength.mask).toHaveLength(2);
  });

  it('calibrates image bytes from the bar, with the bar length and label in the result', async () => {
    const { png } = await renderScaleBarImage({ barPx: 125, label: '250 nm' });
    const result = await calibrateImageBytes(png, 'images/a.png', { modelNmPerPx: 1 });
    expect(result).toMatchObject({ width: 640, height: 480, format: 'png' });
    expect(result.calibration).toMatchObject({ source: 'scale-bar', detail: expect.stringMatching(/^scale bar of 125 px labelled "250 nm"$/) });
    expect(result.calibration!.nmPerPx).toBeCloseTo(2, 1);
    // A batch value wins, and the bar that disagrees with it is a warning.
    const batch = await calibrateImageBytes(png, 'images/a.png', { nmPerPx: 3, modelNmPerPx: 1 });
    expect(batch.calibration).toMatchObject({ nmPerPx: 3, source: 'batch' });
    expect(batch.calibration!.warnings.join(' ')).toMatch(/scale bar of 125 px labelled "250 nm" gives 2 nm\/px/);
  }, 30_000);

  it('says why when a bar is found but its label does not read as a length, and then assumes, flagged', async () => {
    const { png } = await renderScaleBarImage({ barPx: 120, label: 'xyz' });
    const result = await calibrateImageBytes(png, 'images/b.png', { modelNmPerPx: 2 });
    expect(result.calibration?.source).toBe('assumed');
    expect(result.calibration?.warnings.join(' ')).toMatch(/ASSUMED SCALE/);
    // Unread, the bar and its label are still burned-in marks, never vesicles.
    expect(result.scaleBar).toBeUndefined();
    expect(result.mask).toHaveLength(2);
  }, 30_000);
});
