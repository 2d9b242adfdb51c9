import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { checkImageIntegrity } from '../../lambdas/detect/image-integrity.js';
import { decodeImage, decoderFailure } from '../../lambdas/detect/image-decode.js';
import { ImageError } from '../../lambdas/shared/errors.js';
import { pngChunk } from './fixtures/png-chunks.js';
import { writeTiff } from './fixtures/tiff-writer.js';

/** A grey test card with structure, so compressed formats have real entropy-coded data. */
function card(width: number, height: number): Uint8Array {
  const pixels = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) pixels[y * width + x] = (x * 3 + y * 5 + ((x * y) % 17) * 7) & 0xff;
  return pixels;
}
const raw = (width: number, height: number) => ({ raw: { width, height, channels: 1 as const } });

/** Every cut of the file at `step` byte intervals, from the end of its header on. */
function cuts(file: Uint8Array, from: number, step: number): number[] {
  const at: number[] = [];
  for (let n = from; n < file.length; n += step) at.push(n);
  at.push(file.length - 1);
  return at;
}

describe('checkImageIntegrity', () => {
  it('passes whole PNG, JPEG (baseline and progressive) and TIFF (strips, tiles, deflate, BigTIFF) files', async () => {
    const pixels = card(300, 200);
    const files: [Uint8Array, 'png' | 'jpeg' | 'tiff'][] = [
      [await sharp(pixels, raw(300, 200)).png().toBuffer(), 'png'],
      [await sharp(pixels, raw(300, 200)).jpeg().toBuffer(), 'jpeg'],
      [await sharp(pixels, raw(300, 200)).jpeg({ progressive: true }).toBuffer(), 'jpeg'],
      [await sharp(pixels, raw(300, 200)).tiff().toBuffer(), 'tiff'],
      [await sharp(pixels, raw(300, 200)).tiff({ tile: true, tileWidth: 64, tileHeight: 64, compression: 'deflate' }).toBuffer(), 'tiff'],
      [await sharp(pixels, raw(300, 200)).tiff({ bigtiff: true, compression: 'lzw' }).toBuffer(), 'tiff'],
      [writeTiff([{ width: 30, height: 20, pixels: new Uint16Array(600).fill(7) }]), 'tiff'],
    ];
    for (const [file, format] of files) expect(checkImageIntegrity(file, format)).toBeUndefined();
  });

  it('calls every cut of a PNG, JPEG or TIFF truncated', async () => {
    const pixels = card(120, 90);
    const png = await sharp(pixels, raw(120, 90)).png().toBuffer();
    const jpeg = await sharp(pixels, raw(120, 90)).jpeg().toBuffer();
    const progressive = await sharp(pixels, raw(120, 90)).jpeg({ progressive: true }).toBuffer();
    const stripTiff = writeTiff([{ width: 120, height: 90, pixels }]);
    const tiledTiff = await sharp(pixels, raw(120, 90)).tiff({ tile: true, tileWidth: 32, tileHeight: 32, compression: 'deflate' }).toBuffer();
    const cases: [Uint8Array, 'png' | 'jpeg' | 'tiff', number][] = [
      [png, 'png', 8],
      [jpeg, 'jpeg', 2],
      [progressive, 'jpeg', 2],
      [stripTiff, 'tiff', 8],
      [tiledTiff, 'tiff', 8],
    ];
    for (const [file, format, header] of cases) {
      const codes = new Set(cuts(file, header, 23).map((n) => checkImageIntegrity(file.subarray(0, n), format)?.code));
      expect({ format, codes: [...codes] }).toEqual({ format, codes: ['TRUNCATED'] });
    }
  });

  it('names where the file ends and what was declared', () => {
    const tiff = writeTiff([{ width: 64, height: 64, pixels: new Uint16Array(64 * 64).fill(9) }]);
    // writeTiff puts the IFD after the pixels: a cut anywhere loses the directory.
    expect(checkImageIntegrity(tiff.subarray(0, 3000), 'tiff')).toEqual({
      code: 'TRUNCATED',
      detail: expect.stringMatching(/first image directory at byte \d+ .* beyond the end of the file \(3000 bytes\)/),
    });
  });

  it('finds a strip that runs past the end when the directory comes first', async () => {
    // libtiff (sharp) writes the directory before the strips in a big-endian file; cut inside the data.
    const pixels = card(200, 200);
    const tiff = await sharp(pixels, raw(200, 200)).tiff({ compression: 'none' }).toBuffer();
    const problem = checkImageIntegrity(tiff.subarray(0, Math.floor(tiff.length / 2)), 'tiff');
    expect(problem?.code).toBe('TRUNCATED');
  });

  it('calls damaged structure UNREADABLE, not TRUNCATED', async () => {
    const png = await sharp(card(64, 64), raw(64, 64)).png().toBuffer();
    const badSignature = Buffer.from(png);
    badSignature[5] = 0;
    expect(checkImageIntegrity(badSignature, 'png')?.code).toBe('UNREADABLE');

    const idat = png.indexOf('IDAT');
    const badCrc = Buffer.from(png);
    badCrc[idat + 10] = badCrc[idat + 10]! ^ 0xff;
    expect(checkImageIntegrity(badCrc, 'png')).toEqual({ code: 'UNREADABLE', detail: expect.stringContaining('IDAT') });

    const jpeg = await sharp(card(64, 64), raw(64, 64)).jpeg().toBuffer();
    const garbage = Buffer.concat([jpeg.subarray(0, 2), Buffer.from('not a marker at all')]);
    expect(checkImageIntegrity(garbage, 'jpeg')?.code).toBe('UNREADABLE');

    const tiff = Buffer.from(writeTiff([{ width: 8, height: 8, pixels: new Uint8Array(64) }]));
    tiff.writeUInt16LE(7, 2); // version
    expect(checkImageIntegrity(tiff, 'tiff')?.code).toBe('UNREADABLE');
  });

  it('ignores a broken CRC in an ancillary PNG chunk, as decoders do', async () => {
    const png = await sharp(card(32, 32), raw(32, 32)).png().toBuffer();
    const iend = png.length - 12;
    const text = pngChunk('tEXt', Buffer.from('Comment\0scope 3', 'latin1'));
    text[text.length - 1] = text[text.length - 1]! ^ 0xff;
    const withText = Buffer.concat([png.subarray(0, iend), text, png.subarray(iend)]);
    expect(checkImageIntegrity(withText, 'png')).toBeUndefined();
    const decoded = await decodeImage(withText, 'text.png');
    expect(decoded.width).toBe(32);
  });
});

describe('decodeImage error codes', () => {
  it('keeps the code of a damaged decode whatever libvips said', () => {
    for (const message of ['Unknown error', 'VipsJpeg: Premature end of JPEG file', 'pngload: libpng read error', '']) {
      const err = decoderFailure('batches/b/images/x.png', 'png', new Error(message));
      expect(err.code).toBe('UNREADABLE');
      expect(err.message).toContain('batches/b/images/x.png');
    }
  });

  it('calls a PNG whose chunks are whole but whose pixel data is not zlib UNREADABLE', async () => {
    const png = await sharp(card(64, 64), raw(64, 64)).png().toBuffer();
    const ihdrEnd = 8 + 25;
    const junk = pngChunk('IDAT', Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 131) & 0xff)));
    const broken = Buffer.concat([png.subarray(0, ihdrEnd), junk, pngChunk('IEND', new Uint8Array(0))]);
    const err = await decodeImage(broken, 'junk.png').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageError);
    expect((err as ImageError).code).toBe('UNREADABLE');
  });

  it('gives 200 truncated files TRUNCATED while good images decode beside them', async () => {
    const pixels = card(256, 256);
    const png = await sharp(pixels, raw(256, 256)).png().toBuffer();
    const jpeg = await sharp(pixels, raw(256, 256)).jpeg().toBuffer();
    const tiff = await sharp(pixels, raw(256, 256)).tiff({ compression: 'deflate' }).toBuffer();
    const damaged = [png.subarray(0, png.length >> 1), jpeg.subarray(0, jpeg.length >> 1), tiff.subarray(0, tiff.length >> 1)];
    const jobs: Promise<string>[] = [];
    for (let i = 0; i < 200; i++) {
      jobs.push(decodeImage(damaged[i % 3]!, `cut-${i}`).then(() => 'decoded', (e: ImageError) => e.code));
      // Good decodes in flight at the same time clear libvips' shared error buffer.
      jobs.push(decodeImage(i % 2 ? png : jpeg, `good-${i}`).then(() => 'ok', (e: ImageError) => `good failed: ${e.code}`));
    }
    const codes = await Promise.all(jobs);
    const cut = codes.filter((_, i) => i % 2 === 0);
    const good = codes.filter((_, i) => i % 2 === 1);
    expect(cut.filter((c) => c === 'TRUNCATED')).toHaveLength(200);
    expect(good.filter((c) => c === 'ok')).toHaveLength(200);
  }, 60_000);

  it('reads the cut point of a multi-megabyte PNG quickly enough to check every file', async () => {
    // Not a timing test: a functional check that the CRC walk handles a large file.
    const big = await sharp(card(2048, 2048), raw(2048, 2048)).png({ compressionLevel: 1 }).toBuffer();
    expect(checkImageIntegrity(big, 'png')).toBeUndefined();
    expect(checkImageIntegrity(big.subarray(0, big.length - 5), 'png')?.code).toBe('TRUNCATED');
  });
});
