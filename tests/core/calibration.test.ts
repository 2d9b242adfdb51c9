import { describe, expect, it } from 'vitest';
import { calibrationFromTiff, resolveCalibration } from '../../lambdas/core/calibration.js';
import { decodeImage } from '../../lambdas/core/image-decode.js';
import { readTiffTags } from '../../lambdas/core/tiff-tags.js';
import { writeTiff } from './fixtures/tiff-writer.js';

const pixels = new Uint8Array(16).fill(1);
const tiff = (extra: Partial<Parameters<typeof writeTiff>[0][number]>) => writeTiff([{ width: 4, height: 4, pixels, ...extra }]);

describe('TIFF tags', () => {
  it('reads resolution, unit, description and page count from the file', () => {
    const tags = readTiffTags(
      writeTiff([
        { width: 4, height: 4, pixels, xResolution: 2.5, yResolution: 2.5, resolutionUnit: 3, imageDescription: 'hello' },
        { width: 4, height: 4, pixels },
      ]),
    );
    expect(tags).toMatchObject({ width: 4, height: 4, xResolution: 2.5, yResolution: 2.5, resolutionUnit: 3, imageDescription: 'hello', pages: 2 });
    expect(readTiffTags(Buffer.from('not a tiff'))).toBeUndefined();
  });
});

describe('calibration', () => {
  it('converts TIFF resolution in pixels per centimetre and per inch to nm/px', () => {
    // 2.5 nm/px = 4,000,000 px/cm = 10,160,000 px/inch
    const cm = calibrationFromTiff(readTiffTags(tiff({ xResolution: 4_000_000, resolutionUnit: 3 })));
    expect(cm.source).toBe('tiff-resolution');
    expect(cm.nmPerPx).toBeCloseTo(2.5, 6);
    const inch = calibrationFromTiff(readTiffTags(tiff({ xResolution: 10_160_000, resolutionUnit: 2 })));
    expect(inch.nmPerPx).toBeCloseTo(2.5, 6);
  });

  it('reads ImageJ calibration in microns and in nm from the description', () => {
    const micron = calibrationFromTiff(
      readTiffTags(tiff({ xResolution: 500, resolutionUnit: 1, imageDescription: 'ImageJ=1.54f\nimages=1\nunit=micron\nloop=false\n' })),
    );
    expect(micron).toMatchObject({ source: 'imagej' });
    expect(micron.nmPerPx).toBeCloseTo(2, 9);
    const nm = calibrationFromTiff(readTiffTags(tiff({ xResolution: 0.25, resolutionUnit: 1, imageDescription: 'ImageJ=1.54f\nunit=nm\n' })));
    expect(nm.nmPerPx).toBeCloseTo(4, 9);
    const um = calibrationFromTiff(readTiffTags(tiff({ xResolution: 1000, imageDescription: 'ImageJ=1.54f\nunit=um\n' })));
    expect(um.nmPerPx).toBeCloseTo(1, 9);
  });

  it('ignores a nominal 72 dpi, a unitless resolution and non-length ImageJ units', () => {
    expect(calibrationFromTiff(readTiffTags(tiff({ xResolution: 72, resolutionUnit: 2 }))).nmPerPx).toBeUndefined();
    expect(calibrationFromTiff(readTiffTags(tiff({ xResolution: 3, resolutionUnit: 1 }))).nmPerPx).toBeUndefined();
    const pixel = calibrationFromTiff(readTiffTags(tiff({ xResolution: 1, imageDescription: 'ImageJ=1.54f\nunit=pixel\n' })));
    expect(pixel.nmPerPx).toBeUndefined();
    const odd = calibrationFromTiff(readTiffTags(tiff({ xResolution: 1, imageDescription: 'ImageJ=1.54f\nunit=sec\n' })));
    expect(odd.warnings.join(' ')).toMatch(/sec/);
  });

  it('warns about non-square pixels', () => {
    const c = calibrationFromTiff(readTiffTags(tiff({ xResolution: 4_000_000, yResolution: 2_000_000, resolutionUnit: 3 })));
    expect(c.nmPerPx).toBeCloseTo(2.5, 6);
    expect(c.warnings.join(' ')).toMatch(/not square/);
  });

  it('takes the batch first, then the file, then the model, and names the source', async () => {
    const file = await decodeImage(tiff({ xResolution: 500, resolutionUnit: 1, imageDescription: 'ImageJ=1.54f\nunit=micron\n' }), 'a.tif');
    expect(resolveCalibration({ batchNmPerPx: 3, tiffTags: file.tiffTags, modelNmPerPx: 1 })).toMatchObject({ nmPerPx: 3, source: 'batch' });
    expect(resolveCalibration({ tiffTags: file.tiffTags, modelNmPerPx: 1 })).toMatchObject({ nmPerPx: 2, source: 'imagej' });
    const fallback = resolveCalibration({ tiffTags: readTiffTags(tiff({})), modelNmPerPx: 1.5 });
    expect(fallback).toMatchObject({ nmPerPx: 1.5, source: 'model' });
    expect(fallback?.warnings.join(' ')).toMatch(/assuming the model/);
    expect(resolveCalibration({})).toBeUndefined();
    expect(() => resolveCalibration({ batchNmPerPx: -1 })).toThrow(/-1/);
  });
});
