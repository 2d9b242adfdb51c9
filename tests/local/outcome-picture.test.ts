/**
 * The outcome picture's key: beneath the image (never over it), in the three colours, with the counts and the
 * threshold the outcome was counted at.
 */
import sharp from 'sharp';
import type { KeyStrip } from '../../lambdas/detect/key-strip.js';
import { keyScaleBar } from '../../lambdas/detect/overlay.js';
import { describe, expect, it } from 'vitest';
import { OUTCOME_COLOURS, outcomeKey, renderOutcomePicture, type OutcomeShapes } from '../../lambdas/evaluation/outcome-picture.js';

/** A key's SVG pieces as one text. */
const svgText = (key: KeyStrip) => key.pieces.map((piece) => piece.svg).join('');

const WIDTH = 700;
const HEIGHT = 500;
const square = (x: number, y: number, edge: number) => [x, y, x + edge, y, x + edge, y + edge, x, y + edge];
const SHAPES: OutcomeShapes = {
  found: [square(50, 50, 60), square(200, 50, 60)],
  falsePositives: [square(50, 300, 40)],
  missed: [square(300, 300, 80), square(450, 300, 80), square(600, 50, 60)],
};

describe('outcome picture key', () => {
  it('says each count with its noun and the threshold', () => {
    const svg = svgText(outcomeKey(WIDTH, SHAPES, 0.4567));
    expect(svg).toContain('>2 found<');
    expect(svg).toContain('>1 false positive<');
    expect(svg).toContain('>3 missed<');
    expect(svg).toContain('0.457<');
    // The caption, escaped, on a line of its own: the key grows by it.
    const captioned = outcomeKey(WIDTH, SHAPES, 0.4567, 'images/a<1>.png · model v1');
    expect(svgText(captioned)).toContain('>images/a&lt;1&gt;.png · model v1<');
    expect(captioned.height).toBeGreaterThan(outcomeKey(WIDTH, SHAPES, 0.4567).height);
    expect(svgText(outcomeKey(WIDTH, { ...SHAPES, falsePositives: [] }, 0.5))).toContain('>0 false positives<');
  });

  it('shrinks its lettering to fit a narrow image', () => {
    const fontOf = (width: number) => Number(/font-size="(\d+)"/.exec(svgText(outcomeKey(width, SHAPES, 0.5)))![1]);
    expect(fontOf(1400)).toBe(20);
    expect(fontOf(WIDTH)).toBe(11);
    expect(fontOf(300)).toBeLessThan(11);
  });

  it('draws the key as a strip beneath the image, in the outcome colours', async () => {
    const grey = { width: WIDTH, height: HEIGHT, bitDepth: 8 as const, pixels: new Uint8Array(WIDTH * HEIGHT).fill(128) };
    const jpeg = await renderOutcomePicture(grey, SHAPES, { nmPerPx: 2, threshold: 0.5 });
    const { data, info } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
    const keyHeight = outcomeKey(WIDTH, SHAPES, 0.5, undefined, keyScaleBar(WIDTH, 2)).height;
    expect([info.width, info.height]).toEqual([WIDTH, HEIGHT + keyHeight]);
    // The strip's pixels, nearest each outcome colour: a swatch of each is there.
    const distanceTo = (colour: readonly number[]) => {
      let best = Infinity;
      for (let y = HEIGHT; y < info.height; y++) {
        for (let x = 0; x < WIDTH; x++) {
          const i = (y * WIDTH + x) * 3;
          best = Math.min(best, Math.hypot(data[i]! - colour[0]!, data[i + 1]! - colour[1]!, data[i + 2]! - colour[2]!));
        }
      }
      return best;
    };
    for (const colour of Object.values(OUTCOME_COLOURS)) expect(distanceTo(colour)).toBeLessThan(60);
    // The image itself is untouched grey where nothing was drawn (neither the key nor a scale bar is over it).
    for (const [x, y] of [[5, HEIGHT - 5], [30, HEIGHT - 20], [WIDTH - 30, HEIGHT - 20]] as const) expect(Math.abs(data[(y * WIDTH + x) * 3]! - 128)).toBeLessThan(8);
    // The scale bar is in the key: white at the strip's right end (1,400 nm wide at 2 nm/px: a 100 nm bar, 50 px).
    expect(keyScaleBar(WIDTH, 2)).toEqual({ px: 50, label: '100 nm' });
    const row = HEIGHT + Math.round(keyHeight / 2);
    const white = Array.from({ length: 50 }, (_, i) => data[(row * WIDTH + WIDTH - 58 + i) * 3]! > 200).filter(Boolean).length;
    expect(white).toBeGreaterThan(40);
  });
});
