/**
 * The word-at-a-time and per-type fast paths must give exactly what the plain
 * per-pixel definitions give, at every length and alignment.
 */
import { describe, expect, it } from 'vitest';
import { greyToRgb, toDisplay8 } from '../../lambdas/detect/overlay.js';
import { fillTensor } from '../../lambdas/detect/preprocess.js';

function pseudoRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
}

describe('greyToRgb', () => {
  it('repeats every grey value three times, whatever the length and the buffer offset', () => {
    const next = pseudoRandom(7);
    for (const length of [0, 1, 3, 4, 5, 7, 8, 1001]) {
      const grey = Uint8Array.from({ length }, () => next() & 255);
      for (const offset of [0, 1, 4]) {
        const backing = new Uint8Array(length * 3 + offset + 3).fill(9);
        const rgb = backing.subarray(offset, offset + length * 3);
        greyToRgb(grey, rgb);
        const expected = Array.from(grey).flatMap((v) => [v, v, v]);
        expect(Array.from(rgb)).toEqual(expected);
        expect(Array.from(backing.subarray(offset + length * 3))).toEqual([9, 9, 9]); // nothing written past the end
      }
    }
  });

  it('refuses a buffer too small for the image', () => {
    expect(() => greyToRgb(new Uint8Array(4), new Uint8Array(11))).toThrow(/needs 12/);
  });
});

describe('toDisplay8', () => {
  it('maps 16-bit values exactly as the percentile stretch defines', () => {
    const next = pseudoRandom(3);
    const pixels = Uint16Array.from({ length: 5000 }, () => 20_000 + (next() >>> 20));
    const display = toDisplay8({ width: 100, height: 50, bitDepth: 16, pixels });
    const sorted = Array.from(pixels).sort((a, b) => a - b);
    // The same percentile rule, written out plainly.
    const histogram = new Map<number, number>();
    for (const v of sorted) histogram.set(v, (histogram.get(v) ?? 0) + 1);
    let low = 0;
    let high = 65535;
    let seen = 0;
    for (let v = 0; v < 65536; v++) {
      seen += histogram.get(v) ?? 0;
      if (seen <= pixels.length * 0.001) low = v;
      if (seen >= pixels.length * 0.999) {
        high = v;
        break;
      }
    }
    const expected = Array.from(pixels, (v) => Math.max(0, Math.min(255, Math.round(((v - low) * 255) / (high - low)))));
    expect(Array.from(display)).toEqual(expected);
    expect(display.includes(0) && display.includes(255)).toBe(true);
  });

  it('gives each image its own stretch when one output buffer serves them in turn', () => {
    const next = pseudoRandom(5);
    const bright = Uint16Array.from({ length: 2000 }, () => 50_000 + (next() >>> 22));
    const dark = Uint16Array.from({ length: 2000 }, () => 1_000 + (next() >>> 21));
    const shared = new Uint8Array(2000);
    for (const pixels of [bright, dark, bright]) {
      const image = { width: 50, height: 40, bitDepth: 16 as const, pixels };
      const fresh = Array.from(toDisplay8(image));
      expect(toDisplay8(image, shared)).toBe(shared);
      expect(Array.from(shared)).toEqual(fresh);
    }
    expect(() => toDisplay8({ width: 50, height: 40, bitDepth: 16, pixels: dark }, new Uint8Array(10))).toThrow(/needs 2000/);
  });
});

describe('fillTensor', () => {
  it('fills 8- and 16-bit regions with value / max and replicates the edges into the padding', () => {
    for (const bitDepth of [8, 16] as const) {
      const max = bitDepth === 8 ? 255 : 65535;
      const width = 7;
      const height = 5;
      const pixels = bitDepth === 8 ? new Uint8Array(width * height) : new Uint16Array(width * height);
      for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 37) % (max + 1);
      const target = new Float32Array(2 * 4 * 6);
      fillTensor({ width, height, bitDepth, pixels }, { x: 2, y: 1, width: 3, height: 2 }, target, 6, 4, 2);
      const at = (x: number, y: number) => Math.fround(pixels[y * width + x]! * (bitDepth === 8 ? 1 / 255 : 1 / 65535));
      const plane = [
        [at(2, 1), at(3, 1), at(4, 1), at(4, 1), at(4, 1), at(4, 1)],
        [at(2, 2), at(3, 2), at(4, 2), at(4, 2), at(4, 2), at(4, 2)],
      ];
      const expected = [...plane[0]!, ...plane[1]!, ...plane[1]!, ...plane[1]!];
      expect(Array.from(target)).toEqual([...expected, ...expected]);
    }
  });
});
