/**
 * A scored image as a picture a person checks a model by: what it found
 * (green, the detection's outline), what it reported that no one labelled
 * (magenta) and what it missed (yellow, dashed: the true outline, else the
 * true box), on the overlay's display contrast.
 */
import type { GreyImage } from '../detect/image-decode.js';
import { drawPolygon, renderPictures } from '../detect/overlay.js';

/** Green and magenta stay apart for red-green colour blindness; yellow is dashed as well. */
export const OUTCOME_COLOURS = {
  found: [0x34, 0xe0, 0x5a],
  falsePositive: [0xff, 0x2e, 0xd0],
  missed: [0xff, 0xd4, 0x00],
} as const;

/** The legend in words, for the command's output and the docs. */
export const OUTCOME_LEGEND = 'green: found, magenta: false positive, yellow dashed: missed';

/** Flat polygons [x0, y0, x1, y1, ...] in the image's px. */
export interface OutcomeShapes {
  readonly found: readonly (readonly number[])[];
  readonly falsePositives: readonly (readonly number[])[];
  readonly missed: readonly (readonly number[])[];
}

/** A box as the polygon of its corners. */
export const boxPolygon = (b: readonly [number, number, number, number]): number[] => [b[0], b[1], b[2], b[1], b[2], b[3], b[0], b[3]];

/** An outline when there is one (at least 3 points), else the box. */
export const shapeOf = (outline: readonly number[] | null | undefined, box: readonly [number, number, number, number]): readonly number[] =>
  outline && outline.length >= 6 ? outline : boxPolygon(box);

export interface OutcomePictureProps {
  readonly nmPerPx: number;
  /** The score threshold the outcome was counted at, said in the key. */
  readonly threshold: number;
  /** A second line of the key, e.g. the image and the model. Default none. */
  readonly caption?: string;
  /** Longest edge in px; larger images are scaled down. Default 1600. */
  readonly maxEdge?: number;
}

/** A JPEG of the image with its outcome drawn in, and a key beneath it (the colours, the counts, the threshold). */
export async function renderOutcomePicture(image: GreyImage, shapes: OutcomeShapes, props: OutcomePictureProps): Promise<Buffer> {
  const pictures = await renderPictures(
    image,
    (rgb, width, height, shrink, stroke) => {
      // Missed first: a detection on top of a missed object (a poor box) stays visible. Dashed yellow is the
      // faintest on a light stain, so one pixel wider.
      for (const p of shapes.missed) drawPolygon(rgb, width, height, p, shrink, stroke + 1, OUTCOME_COLOURS.missed, true);
      for (const p of shapes.falsePositives) drawPolygon(rgb, width, height, p, shrink, stroke, OUTCOME_COLOURS.falsePositive, false);
      for (const p of shapes.found) drawPolygon(rgb, width, height, p, shrink, stroke, OUTCOME_COLOURS.found, false);
    },
    // No scale bar: it would cover shapes in its corner, and micrographs carry their own. The key goes beneath
    // the image, never over it, so that a picture passed around on its own still says what it shows.
    {
      nmPerPx: props.nmPerPx,
      maxEdge: props.maxEdge ?? 1600,
      quality: 85,
      scaleBar: false,
      below: (width) => outcomeKeySvg(width, shapes, props.threshold, props.caption),
    },
  );
  return pictures.overlay;
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** Text widths are estimated (no font metrics here): about 0.55 em a character in a sans-serif face. */
const EM_PER_CHARACTER = 0.55;

const escapeXml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * The key strip: a swatch in each colour (the miss's dashed) with its count, then the threshold; one line, shrunk
 * to fit; the caption (image, model) on a second line when given.
 */
export function outcomeKeySvg(width: number, shapes: OutcomeShapes, threshold: number, caption?: string): { svg: string; height: number } {
  const hex = (c: readonly number[]) => `#${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`;
  const entries: [readonly number[], string, boolean][] = [
    [OUTCOME_COLOURS.found, `${shapes.found.length} found`, false],
    [OUTCOME_COLOURS.falsePositive, plural(shapes.falsePositives.length, 'false positive', 'false positives'), false],
    [OUTCOME_COLOURS.missed, `${shapes.missed.length} missed`, true],
  ];
  // Three decimals: 0.4989 must not read as 0.50.
  const thresholdText = `at score &#8805; ${threshold.toFixed(3)}`;
  // In em: a margin, then per entry a 1.6 em swatch, a 0.4 em gap, its text and a 1.2 em gap; then the threshold.
  const lengthEm = 0.6 + entries.reduce((sum, [, text]) => sum + 3.2 + text.length * EM_PER_CHARACTER, 0) + 18 * EM_PER_CHARACTER;
  // A 70th of the width, at least 11 px, shrunk to fit the width (never under 6 px: a tiny image's key is cut off instead).
  const font = Math.max(6, Math.min(Math.max(11, Math.round(width / 70)), Math.floor(width / lengthEm)));
  const lineHeight = Math.round(font * 2);
  const height = caption ? Math.round(lineHeight + font * 1.4) : lineHeight;
  const y = lineHeight / 2;
  const baseline = (y + font * 0.35).toFixed(1);
  let x = font * 0.6;
  const parts: string[] = [];
  for (const [colour, text, dashed] of entries) {
    parts.push(
      `<line x1="${x.toFixed(1)}" y1="${y}" x2="${(x + font * 1.6).toFixed(1)}" y2="${y}" stroke="${hex(colour)}" stroke-width="${Math.max(2, Math.round(font / 5))}"` +
        `${dashed ? ` stroke-dasharray="${Math.max(2, Math.round(font / 3))}"` : ''}/>`,
      `<text x="${(x + font * 2).toFixed(1)}" y="${baseline}" font-family="sans-serif" font-size="${font}" fill="white">${text}</text>`,
    );
    x += font * (3.2 + text.length * EM_PER_CHARACTER);
  }
  parts.push(`<text x="${x.toFixed(1)}" y="${baseline}" font-family="sans-serif" font-size="${font}" fill="#bbbbbb">${thresholdText}</text>`);
  if (caption) {
    parts.push(`<text x="${(font * 0.6).toFixed(1)}" y="${(lineHeight + font * 0.6).toFixed(1)}" font-family="sans-serif" font-size="${font}" fill="#bbbbbb">${escapeXml(caption)}</text>`);
  }
  return { svg: `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${parts.join('')}</svg>`, height };
}
