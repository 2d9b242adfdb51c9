import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { resolveCalibration } from '../../lambdas/detect/calibration.js';
import { ImageError } from '../../lambdas/shared/errors.js';
import { decodeImage } from '../../lambdas/detect/image-decode.js';
import { readTiffTags } from '../../lambdas/detect/tiff-tags.js';
import { writeDm } from './fixtures/dm-writer.js';
import { writeMrc } from './fixtures/mrc-writer.js';
import { writeTiff } from './fixtures/tiff-writer.js';

async function imageError(promise: Promise<unknown>): Promise<ImageError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ImageError);
  return err as ImageError;
}

const ramp = (n: number, f: (i: number) => number) => Array.from({ length: n }, (_, i) => f(i));

describe('DigitalMicrograph DM3 and DM4', () => {
  for (const version of [3, 4] as const) {
    it(`DM${version}: skips the thumbnail, keeps 16-bit values and reads the calibration tag`, async () => {
      const data = ramp(12 * 8, (i) => 100 + i * 600);
      const file = writeDm(version, { width: 12, height: 8, elementType: 4, dataType: 10, data, scale: 0.75, unit: 'nm' });
      const image = await decodeImage(file, `grid/a.dm${version}`);
      expect(image).toMatchObject({ format: `dm${version}`, width: 12, height: 8, bitDepth: 16, pages: 1 });
      expect(Array.from(image.pixels)).toEqual(data);
      expect(image.intensity).toBeUndefined();
      expect(image.pixelSize).toEqual({ x: 0.75, y: 0.75, unit: 'nm', field: 'ImageList.1.ImageData.Calibrations.Dimension.0.Scale' });
      expect(resolveCalibration({ pixelSize: image.pixelSize, modelNmPerPx: 2 })).toMatchObject({
        nmPerPx: 0.75,
        source: 'file',
        detail: 'ImageList.1.ImageData.Calibrations.Dimension.0.Scale = 0.75 nm',
      });
    });
  }

  it('converts µm, scales floats by their range and says so, shifts signed values', async () => {
    const floats = ramp(16, (i) => -2 + i * 0.5);
    const f = await decodeImage(writeDm(4, { width: 4, height: 4, elementType: 6, dataType: 2, data: floats, scale: 0.0025, unit: 'µm' }), 'f.dm4');
    expect(f.bitDepth).toBe(16);
    expect(f.pixels[0]).toBe(0);
    expect(f.pixels[15]).toBe(65535);
    expect(f.pixels[4]).toBe(Math.round(((floats[4]! + 2) / 7.5) * 65535));
    expect(f.intensity).toMatch(/float32 values scaled linearly from their range \[-2, 5.5\]/);
    // DM stores Scale as float32.
    expect(resolveCalibration({ pixelSize: f.pixelSize })?.nmPerPx).toBeCloseTo(2.5, 6);

    const signed = await decodeImage(writeDm(3, { width: 2, height: 2, elementType: 2, dataType: 1, data: [-5, 0, 7, 1000] }), 's.dm3');
    expect(Array.from(signed.pixels)).toEqual([32763, 32768, 32775, 33768]);
    expect(signed.intensity).toMatch(/signed 16-bit values shifted by \+32768/);
    expect(signed.pixelSize).toBeUndefined();

    const wide = await decodeImage(writeDm(4, { width: 2, height: 2, elementType: 5, dataType: 11, data: [0, 10, 20, 40000] }), 'u32.dm4');
    expect(Array.from(wide.pixels)).toEqual([0, 10, 20, 40000]);
    expect(wide.intensity).toBeUndefined();
  });

  it('analyses the first frame of a stack and says so', async () => {
    const image = await decodeImage(writeDm(4, { width: 2, height: 2, frames: 3, elementType: 4, dataType: 10, data: ramp(12, (i) => i) }), 'stack.dm4');
    expect(image.pages).toBe(3);
    expect(Array.from(image.pixels)).toEqual([0, 1, 2, 3]);
    expect(image.warnings.join(' ')).toMatch(/3 frames.*first/);
  });

  it('gives clear errors naming the file for truncated, inconsistent and unsupported files', async () => {
    const good = writeDm(4, { width: 16, height: 16, elementType: 4, dataType: 10, data: ramp(256, (i) => i) });
    const cut = await imageError(decodeImage(good.subarray(0, good.length - 300), 'cut.dm4'));
    expect(cut.code).toBe('TRUNCATED');
    expect(cut.message).toMatch(/^cut\.dm4: DM4 file is truncated/);

    const inconsistent = await imageError(
      decodeImage(writeDm(3, { width: 4, height: 4, elementType: 4, dataType: 10, data: ramp(16, (i) => i), dimensionsOverride: [8, 8] }), 'odd.dm3'),
    );
    expect(inconsistent.code).toBe('UNREADABLE');
    expect(inconsistent.message).toMatch(/odd\.dm3: damaged DM3 file: .*Data holds 16 values but Dimensions say 8 x 8 = 64/);

    const broken = Buffer.from(good);
    broken.write('####', broken.indexOf('%%%%'), 'latin1');
    expect((await imageError(decodeImage(broken, 'marker.dm4'))).message).toMatch(/lacks its %%%% marker/);

    const rgb = await imageError(decodeImage(writeDm(4, { width: 4, height: 4, elementType: 5, dataType: 23, data: ramp(16, () => 0) }), 'rgb.dm4'));
    expect(rgb.code).toBe('UNSUPPORTED_FORMAT');
    expect(rgb.message).toMatch(/rgb\.dm4: .*RGB or complex/);

    const spectrum = writeDm(4, { width: 16, height: 1, elementType: 6, dataType: 2, data: ramp(16, (i) => i), dimensionsOverride: [16] }, { thumbnail: false });
    expect((await imageError(decodeImage(spectrum, 'eels.dm4'))).message).toMatch(/1-D dataset/);
  });
});

describe('MRC / MRC2014', () => {
  it('reads modes 0, 1, 2, 6 and 12 with the pixel size from the cell, skipping the extended header', async () => {
    const n = 6 * 4;
    const uint16 = ramp(n, (i) => i * 1000);
    const mode6 = await decodeImage(writeMrc({ nx: 6, ny: 4, mode: 6, data: uint16, cellA: [150, 100], extendedHeader: 128 }), 'a.mrc');
    expect(mode6).toMatchObject({ format: 'mrc', width: 6, height: 4, bitDepth: 16, pages: 1 });
    expect(Array.from(mode6.pixels)).toEqual(uint16);
    expect(mode6.pixelSize).toEqual({ x: 25, y: 25, unit: 'Å', field: 'MRC header CELLA.x / MX' });
    expect(resolveCalibration({ pixelSize: mode6.pixelSize })).toMatchObject({ nmPerPx: 2.5, source: 'file', detail: 'MRC header CELLA.x / MX = 25 Å' });

    const mode0 = await decodeImage(writeMrc({ nx: 6, ny: 4, mode: 0, data: ramp(n, (i) => i - 12) }), 'b.mrc');
    expect(mode0.bitDepth).toBe(8);
    expect(mode0.pixels[0]).toBe(116);
    expect(mode0.intensity).toMatch(/signed 8-bit/);

    const mode1 = await decodeImage(writeMrc({ nx: 6, ny: 4, mode: 1, data: ramp(n, (i) => i * 10 - 100), bigEndian: true }), 'c.mrc');
    expect(mode1.pixels[0]).toBe(32668);

    const mode2 = await decodeImage(writeMrc({ nx: 6, ny: 4, mode: 2, data: ramp(n, (i) => i / 4) }), 'd.mrc');
    expect([mode2.pixels[0], mode2.pixels[n - 1]]).toEqual([0, 65535]);
    expect(mode2.intensity).toMatch(/float32 values scaled/);

    // float16 bit patterns: 0x3c00 = 1.0, 0x4000 = 2.0, 0x4200 = 3.0.
    const mode12 = await decodeImage(writeMrc({ nx: 3, ny: 1, mode: 12, data: [0x3c00, 0x4000, 0x4200] }), 'e.mrc');
    expect(Array.from(mode12.pixels)).toEqual([0, 32768, 65535]);
    expect(mode12.intensity).toMatch(/float16 values scaled linearly from their range \[1, 3\]/);
  });

  it('treats the default cell (1 Å/px) as no calibration, and analyses the first section of a stack', async () => {
    const stack = await decodeImage(writeMrc({ nx: 2, ny: 2, nz: 5, mode: 6, data: ramp(20, (i) => i) }), 'tilt.st');
    expect(stack.pixelSize).toBeUndefined();
    expect(stack.pages).toBe(5);
    expect(Array.from(stack.pixels)).toEqual([0, 1, 2, 3]);
    expect(stack.warnings.join(' ')).toMatch(/5 sections.*first/);
    expect(stack.warnings.join(' ')).toMatch(/default/);
  });

  it('reads a PNG named .mrc as the PNG it is', async () => {
    const png = await sharp(Buffer.alloc(16, 9), { raw: { width: 4, height: 4, channels: 1 } }).png().toBuffer();
    expect((await decodeImage(png, 'misnamed.mrc')).format).toBe('png');
  });

  it('gives clear errors naming the file for truncated and unsupported files', async () => {
    const file = writeMrc({ nx: 64, ny: 64, mode: 2, data: ramp(64 * 64, (i) => i) });
    const cut = await imageError(decodeImage(file.subarray(0, 5000), 'cut.mrc'));
    expect(cut.code).toBe('TRUNCATED');
    expect(cut.message).toMatch(/^cut\.mrc: MRC file is truncated: 1 section of 64 x 64 float32/);
    expect((await imageError(decodeImage(file.subarray(0, 600), 'head.mrc'))).message).toMatch(/1024-byte header/);
    const complex = await imageError(decodeImage(writeMrc({ nx: 2, ny: 2, mode: 3, data: ramp(4, () => 0) }), 'fft.mrc'));
    expect(complex.code).toBe('UNSUPPORTED_FORMAT');
    expect(complex.message).toMatch(/fft\.mrc: MRC mode 3/);
  });
});

describe('vendor TIFF tags', () => {
  const pixels = new Uint8Array(16).fill(7);
  const page = { width: 4, height: 4, pixels, xResolution: 72, resolutionUnit: 2 as const };

  it('reads Thermo Fisher / FEI [Scan] PixelWidth in metres', async () => {
    const ini = '[User]\r\nDate=06/13/2016\r\n\r\n[Scan]\r\nInternalScan=true\r\nPixelWidth=2.5e-009\r\nPixelHeight=2.5e-009\r\n';
    const image = await decodeImage(writeTiff([{ ...page, extraTags: [{ tag: 34682, ascii: ini }] }]), 'fei.tif');
    expect(resolveCalibration({ tiffTags: image.tiffTags })).toMatchObject({ nmPerPx: 2.5, source: 'file', detail: 'TIFF tag 34682 FEI_HELIOS [Scan] PixelWidth = 2.5e-9 m' });
  });

  it('reads Gatan DigitalMicrograph TIFF scale and unit tags', () => {
    const tags = readTiffTags(writeTiff([{ ...page, extraTags: [{ tag: 65003, ascii: '\u00b5m' }, { tag: 65009, doubles: [0.0012] }, { tag: 65010, doubles: [0.0012] }] }]));
    const c = resolveCalibration({ tiffTags: tags });
    expect(c?.nmPerPx).toBeCloseTo(1.2, 9);
    expect(c?.detail).toMatch(/^TIFF tag 65009 \(Gatan/);
  });

  it('reads the Olympus SIS block, which Olympus puts in a later page', () => {
    const sis = (offset: number) => {
      const block = Buffer.alloc(60 + 8 + 40);
      block.write('SIS0', 0, 'latin1');
      block.writeUInt16LE(1, 58); // one entry
      block.writeInt16LE(1, 60); // general data
      block.writeInt16LE(1, 62);
      block.writeUInt32LE(offset + 68, 64);
      block.writeInt16LE(-9, 68 + 10); // exponent: nm
      block.writeDoubleLE(0.8, 68 + 12);
      block.writeDoubleLE(0.8, 68 + 20);
      return block;
    };
    const tags = readTiffTags(writeTiff([page, { ...page, extraTags: [{ tag: 33560, block: sis }] }]));
    const c = resolveCalibration({ tiffTags: tags });
    expect(c?.nmPerPx).toBeCloseTo(0.8, 9);
    expect(c?.detail).toBe('TIFF tag 33560 OlympusSIS pixel size = 8e-10 m');
  });

  it('reads TVIPS TemData v2 PixelSizeX in nm', () => {
    const tem = () => {
      const block = Buffer.alloc(244 + 6068);
      block.writeInt32LE(2, 0);
      block.writeFloatLE(1.5, 244 + 2724);
      block.writeFloatLE(1.5, 244 + 2728);
      block.writeUInt32LE(0xaaaaaaaa, 244 + 6064);
      return block;
    };
    const tags = readTiffTags(writeTiff([{ ...page, extraTags: [{ tag: 37706, block: tem }] }]));
    expect(resolveCalibration({ tiffTags: tags })).toMatchObject({ nmPerPx: 1.5, detail: 'TIFF tag 37706 TVIPS TemData PixelSizeX = 1.5 nm' });
  });
});
