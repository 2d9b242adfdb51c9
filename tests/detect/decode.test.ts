import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeImage, intensityScale } from '../../lambdas/detect/image-decode.js';
import { ImageError } from '../../lambdas/shared/errors.js';
import { PNG_SIGNATURE, pngChunk, pngHeaderChunk } from './fixtures/png-chunks.js';
import { writeTiff } from './fixtures/tiff-writer.js';

function minMax(values: ArrayLike<number>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    lo = Math.min(lo, values[i]!);
    hi = Math.max(hi, values[i]!);
  }
  return [lo, hi];
}

async function expectImageError(promise: Promise<unknown>, code: string): Promise<ImageError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ImageError);
  const imageError = err as ImageError;
  expect(imageError.code).toBe(code);
  return imageError;
}

/** A PNG that is only a signature, an IHDR chunk claiming the given size, and a little image data. */
function pngHeaderOnly(width: number, height: number): Buffer {
  return Buffer.concat([PNG_SIGNATURE, pngHeaderChunk(width, height), pngChunk('IDAT', deflateSync(Buffer.alloc(64))), pngChunk('IEND', Buffer.alloc(0))]);
}

describe('decodeImage', () => {
  it('keeps the min and max of a 16-bit grey TIFF', async () => {
    const width = 64;
    const height = 40;
    const pixels = new Uint16Array(width * height);
    for (let i = 0; i < pixels.length; i++) pixels[i] = 1000 + ((i * 7919) % 50000);
    pixels[17] = 3;
    pixels[1234] = 65531;
    const image = await decodeImage(writeTiff([{ width, height, pixels }]), 'a.tif');
    expect(image.format).toBe('tiff');
    expect(image.bitDepth).toBe(16);
    expect([image.width, image.height]).toEqual([width, height]);
    expect(minMax(image.pixels)).toEqual([3, 65531]);
    expect(Array.from(image.pixels)).toEqual(Array.from(pixels));
    const [lo, hi] = minMax(image.pixels);
    expect(lo * intensityScale(16)).toBeCloseTo(3 / 65535, 12);
    expect(hi * intensityScale(16)).toBeCloseTo(65531 / 65535, 12);
  });

  it('keeps 16-bit PNG values', async () => {
    const pixels = new Uint16Array(32 * 16).map((_, i) => i * 128);
    const png = await sharp(pixels, { raw: { width: 32, height: 16, channels: 1 } }).toColourspace('grey16').png().toBuffer();
    const image = await decodeImage(png, 'a.png');
    expect(image.bitDepth).toBe(16);
    expect(Array.from(image.pixels)).toEqual(Array.from(pixels));
  });

  it('decodes 8-bit grey PNG and JPEG, and RGB to one grey channel', async () => {
    const grey = new Uint8Array(40 * 30).map((_, i) => i % 256);
    const png = await sharp(grey, { raw: { width: 40, height: 30, channels: 1 } }).png().toBuffer();
    const decoded = await decodeImage(png, 'g.png');
    expect(decoded.bitDepth).toBe(8);
    expect(Array.from(decoded.pixels)).toEqual(Array.from(grey));

    const rgb = await sharp({ create: { width: 20, height: 10, channels: 3, background: { r: 200, g: 200, b: 200 } } }).jpeg().toBuffer();
    const jpeg = await decodeImage(rgb, 'c.jpg');
    expect(jpeg.format).toBe('jpeg');
    expect(jpeg.channels).toBe(3);
    expect(jpeg.pixels.length).toBe(200);
    expect(Math.abs(jpeg.pixels[55]! - 200)).toBeLessThanOrEqual(2);

    const rgb16 = new Uint16Array(4 * 4 * 3).fill(40000);
    const tiff = await decodeImage(writeTiff([{ width: 4, height: 4, channels: 3, pixels: rgb16 }]), 'rgb16.tif');
    expect(tiff.bitDepth).toBe(16);
    expect(tiff.pixels.length).toBe(16);
    expect(Math.abs(tiff.pixels[5]! - 40000)).toBeLessThan(200);
  });

  it('analyses the first page of a multi-page TIFF and says so', async () => {
    const first = new Uint8Array(16).fill(10);
    const second = new Uint8Array(16).fill(250);
    const image = await decodeImage(
      writeTiff([
        { width: 4, height: 4, pixels: first },
        { width: 4, height: 4, pixels: second },
        { width: 4, height: 4, pixels: second },
      ]),
      'stack.tif',
    );
    expect(image.pages).toBe(3);
    expect(Array.from(image.pixels)).toEqual(Array.from(first));
    expect(image.warnings.join(' ')).toMatch(/3 pages.*first/);
  });

  it('rejects bad input with a clear code naming the file', async () => {
    const empty = await expectImageError(decodeImage(new Uint8Array(0), 'batches/b/images/empty.png'), 'EMPTY_FILE');
    expect(empty.message).toContain('batches/b/images/empty.png');

    const png = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#808080' } })
      .png({ compressionLevel: 0 })
      .toBuffer();
    await expectImageError(decodeImage(png.subarray(0, Math.floor(png.length / 2)), 'cut.png'), 'TRUNCATED');

    await expectImageError(decodeImage(Buffer.from('sample,notes\nA,1\n'), 'notes.png'), 'NOT_AN_IMAGE');

    const gif = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#000' } }).gif().toBuffer();
    await expectImageError(decodeImage(gif, 'a.gif'), 'UNSUPPORTED_FORMAT');

    const huge = await expectImageError(decodeImage(pngHeaderOnly(100_000, 100_000), 'bomb.png'), 'TOO_LARGE');
    expect(huge.message).toMatch(/100000x100000/);
    await expectImageError(decodeImage(png, 'big.png', { maxPixels: 1000 }), 'TOO_LARGE');

    const tiff = writeTiff([{ width: 64, height: 64, pixels: new Uint16Array(64 * 64).fill(9) }]);
    // Cut inside the pixel data (the IFD sits after it, so cut the IFD off too).
    const cutTiff = await expectImageError(decodeImage(tiff.subarray(0, 3000), 'cut.tif'), 'TRUNCATED');
    expect(cutTiff.message).toMatch(/^cut\.tif: the file is cut short \(TIFF first image directory .* beyond the end of the file \(3000 bytes\)\)$/);
  });
});
