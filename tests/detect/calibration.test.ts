import { describe, expect, it } from 'vitest';
import { nmPerUnit, resolveCalibration, scaleFromFile } from '../../lambdas/detect/calibration.js';
import { decodeImage } from '../../lambdas/detect/image-decode.js';
import { readTiffTags } from '../../lambdas/detect/tiff-tags.js';
import { writeTiff } from './fixtures/tiff-writer.js';

const pixels = new Uint8Array(16).fill(1);
const tiff = (extra: Partial<Parameters<typeof writeTiff>[0][number]>) => writeTiff([{ width: 4, height: 4, pixels, ...extra }]);
const tags = (extra: Partial<Parameters<typeof writeTiff>[0][number]>) => readTiffTags(tiff(extra))!;

describe('TIFF tags', () => {
  it('reads resolution, unit, description and page count from the file', () => {
    const read = readTiffTags(
      writeTiff([
        { width: 4, height: 4, pixels, xResolution: 2.5, yResolution: 2.5, resolutionUnit: 3, imageDescription: 'hello' },
        { width: 4, height: 4, pixels },
      ]),
    );
    expect(read).toMatchObject({ width: 4, height: 4, xResolution: 2.5, yResolution: 2.5, resolutionUnit: 3, imageDescription: 'hello', pages: 2 });
    expect(readTiffTags(Buffer.from('not a tiff'))).toBeUndefined();
  });
});

describe('units', () => {
  it('converts the length units microscopes write, and refuses what is not a length', () => {
    expect(nmPerUnit('nm')).toBe(1);
    expect(nmPerUnit('µm')).toBe(1000);
    expect(nmPerUnit('um')).toBe(1000);
    expect(nmPerUnit('micron')).toBe(1000);
    expect(nmPerUnit('Å')).toBe(0.1);
    expect(nmPerUnit('m')).toBe(1e9);
    expect(nmPerUnit('1/nm')).toBeUndefined();
    expect(nmPerUnit('sec')).toBeUndefined();
  });
});

describe('the file\'s own calibration', () => {
  it('converts TIFF resolution in pixels per centimetre and per inch to nm/px, naming the tag', () => {
    // 2.5 nm/px = 4,000,000 px/cm = 10,160,000 px/inch
    const cm = scaleFromFile({ tiffTags: tags({ xResolution: 4_000_000, resolutionUnit: 3 }) });
    expect(cm.nmPerPx).toBeCloseTo(2.5, 6);
    expect(cm.detail).toMatch(/TIFF XResolution .*per cm/);
    expect(scaleFromFile({ tiffTags: tags({ xResolution: 10_160_000, resolutionUnit: 2 }) }).nmPerPx).toBeCloseTo(2.5, 6);
  });

  it('reads ImageJ calibration in microns and in nm from the description', () => {
    const micron = scaleFromFile({ tiffTags: tags({ xResolution: 500, resolutionUnit: 1, imageDescription: 'ImageJ=1.54f\nimages=1\nunit=micron\nloop=false\n' }) });
    expect(micron.nmPerPx).toBeCloseTo(2, 9);
    expect(micron.detail).toMatch(/ImageJ/);
    expect(scaleFromFile({ tiffTags: tags({ xResolution: 0.25, resolutionUnit: 1, imageDescription: 'ImageJ=1.54f\nunit=nm\n' }) }).nmPerPx).toBeCloseTo(4, 9);
    expect(scaleFromFile({ tiffTags: tags({ xResolution: 1000, imageDescription: 'ImageJ=1.54f\nunit=um\n' }) }).nmPerPx).toBeCloseTo(1, 9);
  });

  it('ignores a nominal 72 dpi, a unitless resolution and non-length ImageJ units', () => {
    expect(scaleFromFile({ tiffTags: tags({ xResolution: 72, resolutionUnit: 2 }) }).nmPerPx).toBeUndefined();
    expect(scaleFromFile({ tiffTags: tags({ xResolution: 3, resolutionUnit: 1 }) }).nmPerPx).toBeUndefined();
    expect(scaleFromFile({ tiffTags: tags({ xResolution: 1, imageDescription: 'ImageJ=1.54f\nunit=pixel\n' }) }).nmPerPx).toBeUndefined();
    const odd = scaleFromFile({ tiffTags: tags({ xResolution: 1, imageDescription: 'ImageJ=1.54f\nunit=sec\n' }) });
    expect(odd.nmPerPx).toBeUndefined();
    expect(odd.warnings.join(' ')).toMatch(/sec/);
  });

  it('warns about non-square pixels', () => {
    const c = scaleFromFile({ tiffTags: tags({ xResolution: 4_000_000, yResolution: 2_000_000, resolutionUnit: 3 }) });
    expect(c.nmPerPx).toBeCloseTo(2.5, 6);
    expect(c.warnings.join(' ')).toMatch(/not square/);
  });

  it('prefers a DM/MRC pixel size, converts Å, and refuses reciprocal units', () => {
    expect(scaleFromFile({ pixelSize: { x: 25, unit: 'Å', field: 'MRC header CELLA.x / MX' } })).toMatchObject({ nmPerPx: 2.5, detail: 'MRC header CELLA.x / MX = 25 Å' });
    const diffraction = scaleFromFile({ pixelSize: { x: 0.01, unit: '1/nm', field: 'ImageList.1.ImageData.Calibrations.Dimension.0.Scale' } });
    expect(diffraction.nmPerPx).toBeUndefined();
    expect(diffraction.warnings.join(' ')).toMatch(/reciprocal/);
  });
});

describe('resolveCalibration: one precedence', () => {
  const bar = { nmPerPx: 2.0, barPx: 100, labelText: '200 nm' };

  it('takes the batch first, then the file, then the scale bar, then the model, and names the source and field', async () => {
    const file = await decodeImage(tiff({ xResolution: 500, resolutionUnit: 1, imageDescription: 'ImageJ=1.54f\nunit=micron\n' }), 'a.tif');
    const batch = resolveCalibration({ batchNmPerPx: 3, tiffTags: file.tiffTags, scaleBar: bar, modelNmPerPx: 1 });
    expect(batch).toMatchObject({ nmPerPx: 3, source: 'batch', detail: 'nm_per_px of the batch (batch.json or --nm-per-px) = 3' });
    expect(batch?.warnings.join(' ')).toMatch(/overrides the file's own 2 nm\/px/);
    expect(batch?.warnings.join(' ')).toMatch(/scale bar of 100 px labelled "200 nm" gives 2 nm\/px, 50% away/);

    const fromFile = resolveCalibration({ tiffTags: file.tiffTags, scaleBar: bar, modelNmPerPx: 1 });
    expect(fromFile).toMatchObject({ nmPerPx: 2, source: 'file' });
    expect(fromFile?.detail).toMatch(/ImageJ/);
    // The bar agrees with the file: nothing to say.
    expect(fromFile?.warnings).toEqual([]);

    const fromBar = resolveCalibration({ tiffTags: readTiffTags(tiff({})), scaleBar: bar, modelNmPerPx: 1 });
    expect(fromBar).toMatchObject({ nmPerPx: 2, source: 'scale-bar', detail: 'scale bar of 100 px labelled "200 nm"' });

    const assumed = resolveCalibration({ tiffTags: readTiffTags(tiff({})), modelNmPerPx: 1.5, scaleBarProblem: 'a scale bar was found but its label did not read' });
    expect(assumed).toMatchObject({ nmPerPx: 1.5, source: 'assumed' });
    expect(assumed?.warnings.join(' ')).toMatch(/ASSUMED SCALE.*1\.5 nm\/px/);
    expect(assumed?.warnings.join(' ')).toMatch(/label did not read/);

    expect(resolveCalibration({})).toBeUndefined();
    expect(() => resolveCalibration({ batchNmPerPx: -1 })).toThrow(/-1/);
  });

  it('warns about scales outside what TEM of vesicles uses, and ignores an absurd bar reading', () => {
    const typo = resolveCalibration({ batchNmPerPx: 25, modelNmPerPx: 2 });
    expect(typo?.nmPerPx).toBe(25);
    expect(typo?.warnings.join(' ')).toMatch(/25 nm\/px .*outside 0\.1-20 nm\/px/);
    expect(resolveCalibration({ batchNmPerPx: 2.5 })?.warnings).toEqual([]);

    const misread = resolveCalibration({ scaleBar: { nmPerPx: 1.5e6, barPx: 167, labelText: '250 mm' }, modelNmPerPx: 2 });
    expect(misread?.source).toBe('assumed');
    expect(misread?.warnings.join(' ')).toMatch(/not a plausible pixel size/);
  });

  it('names a dataset manifest when the caller says so', () => {
    expect(resolveCalibration({ batchNmPerPx: 2, batchField: 'dataset.json images["a.png"].nm_per_px' })?.detail).toBe('dataset.json images["a.png"].nm_per_px = 2');
  });
});
