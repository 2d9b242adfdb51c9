/**
 * Box coordinates as they are exported: pixels of the original image,
 * rounded to 1/100 px (well below any annotator's precision). Every export
 * format starts from these same numbers, so a round trip through any of them
 * gives back identical boxes.
 */
import type { Box } from '../shared/contracts.js';

export const EXPORT_DECIMALS = 2;

export function roundTo(x: number, digits: number): number {
  const r = Number(x.toFixed(digits));
  return Object.is(r, -0) ? 0 : r;
}

export function exportBox(box: Box): Box {
  return [roundTo(box[0], EXPORT_DECIMALS), roundTo(box[1], EXPORT_DECIMALS), roundTo(box[2], EXPORT_DECIMALS), roundTo(box[3], EXPORT_DECIMALS)];
}

/** [x1, y1, x2, y2] -> COCO [x, y, width, height], on the export grid. */
export function toXywh(box: Box): [number, number, number, number] {
  const [x1, y1, x2, y2] = exportBox(box);
  return [x1, y1, roundTo(x2 - x1, EXPORT_DECIMALS), roundTo(y2 - y1, EXPORT_DECIMALS)];
}

/** COCO [x, y, width, height] -> [x1, y1, x2, y2], back on the export grid. */
export function fromXywh(bbox: readonly number[]): Box {
  const [x, y, w, h] = bbox as [number, number, number, number];
  return [roundTo(x, EXPORT_DECIMALS), roundTo(y, EXPORT_DECIMALS), roundTo(x + w, EXPORT_DECIMALS), roundTo(y + h, EXPORT_DECIMALS)];
}
