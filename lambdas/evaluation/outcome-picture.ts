/**
 * A scored image as a picture a person checks a model by: what it found
 * (green, the detection's outline), what it reported that no one labelled
 * (magenta) and what it missed (yellow, dashed: the true outline, else the
 * true box), on the overlay's display contrast.
 */
import type { GreyImage } from '../detect/image-decode.js';
import { keyStrip, scoreNote, type KeyEntry, type KeyScaleBar, type KeyStrip } from '../detect/key-strip.js';
import { plural } from '../shared/wording.js';
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

/** A JPEG of the image with its outcome drawn in, and a key beneath it (the colours, the counts, the threshold, a scale bar). */
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
    // The scale bar goes in the key, never over the shapes.
    {
      nmPerPx: props.nmPerPx,
      maxEdge: props.maxEdge ?? 1600,
      quality: 85,
      below: (width, scaleBar) => outcomeKey(width, shapes, props.threshold, props.caption, scaleBar),
    },
  );
  return pictures.overlay;
}

/** The key strip: a swatch in each colour (the miss's dashed) with its count, then the threshold; the caption (image, model) beneath. */
export function outcomeKey(width: number, shapes: OutcomeShapes, threshold: number, caption?: string, scaleBar?: KeyScaleBar): KeyStrip {
  const entries: KeyEntry[] = [
    { colour: OUTCOME_COLOURS.found, text: `${shapes.found.length} found` },
    { colour: OUTCOME_COLOURS.falsePositive, text: plural(shapes.falsePositives.length, 'false positive', 'false positives') },
    { colour: OUTCOME_COLOURS.missed, text: `${shapes.missed.length} missed`, dashed: true },
  ];
  return keyStrip(width, entries, scoreNote(threshold), caption, scaleBar);
}
