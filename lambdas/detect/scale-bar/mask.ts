/**
 * Keeping a burned-in scale bar and its label out of detection: the boxes
 * are filled with the level of the background around them before the model
 * sees the image, and any detection centred in them is dropped (a label's
 * "0" or "o" looks like a vesicle to a detector).
 */
import type { GreyImage } from '../image-decode.js';
import type { Box } from './find-bar.js';

/** The median of the one-pixel ring just outside `box`. */
function ringMedian(image: GreyImage, box: Box): number {
  const values: number[] = [];
  const { width, height, pixels } = image;
  const push = (x: number, y: number) => {
    if (x >= 0 && y >= 0 && x < width && y < height) values.push(pixels[y * width + x]!);
  };
  for (let x = box.x1 - 1; x <= box.x2; x++) {
    push(x, box.y1 - 1);
    push(x, box.y2);
  }
  for (let y = box.y1; y < box.y2; y++) {
    push(box.x1 - 1, y);
    push(box.x2, y);
  }
  if (values.length === 0) return 0;
  values.sort((a, b) => a - b);
  return values[Math.floor(values.length / 2)]!;
}

/** A copy of `image` with every box filled with its surroundings' median level; the image itself when there are none. */
export function maskImage(image: GreyImage, boxes: readonly Box[]): GreyImage {
  if (boxes.length === 0) return image;
  const pixels = image.pixels.slice();
  const out = { ...image, pixels };
  for (const box of boxes) {
    const level = ringMedian(image, box);
    for (let y = Math.max(0, box.y1); y < Math.min(image.height, box.y2); y++) {
      pixels.fill(level, y * image.width + Math.max(0, box.x1), y * image.width + Math.min(image.width, box.x2));
    }
  }
  return out;
}

/** Whether a box [x1, y1, x2, y2] is centred inside any of `boxes`. */
export function centredInMask(box: readonly [number, number, number, number], boxes: readonly Box[]): boolean {
  const cx = (box[0] + box[2]) / 2;
  const cy = (box[1] + box[3]) / 2;
  return boxes.some((m) => cx >= m.x1 && cx < m.x2 && cy >= m.y1 && cy < m.y2);
}
