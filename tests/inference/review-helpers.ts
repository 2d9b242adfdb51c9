/**
 * Driving the report's review view from a test as a person would with a
 * mouse. Where an image point is on screen follows the view's own rule,
 * written out here independently: the image fitted into the canvas with a
 * 16 px margin, centred.
 */
import type { Page } from 'playwright-core';

const FIT_MARGIN = 16;
/** Screen px around every edge where a press would grab that edge (the view uses 5). */
const EDGE_ZONE = 9;

type Box = readonly [number, number, number, number];

export interface ScreenMapping {
  /** Image px -> whole screen px (what a mouse can hit). */
  at(x: number, y: number): [number, number];
  /** Screen px -> image px. */
  toImage(sx: number, sy: number): [number, number];
  /** Screen px per image px. */
  readonly scale: number;
}

export async function screenMapping(page: Page, image: { width: number; height: number }): Promise<ScreenMapping> {
  const r = (await page.locator('#rv-canvas').boundingBox())!;
  const scale = Math.min((r.width - 2 * FIT_MARGIN) / image.width, (r.height - 2 * FIT_MARGIN) / image.height);
  const ox = r.x + (r.width - image.width * scale) / 2;
  const oy = r.y + (r.height - image.height * scale) / 2;
  return {
    at: (x, y) => [Math.round(ox + x * scale), Math.round(oy + y * scale)],
    toImage: (sx, sy) => [(sx - ox) / scale, (sy - oy) / scale],
    scale,
  };
}

export async function dragMouse(page: Page, from: readonly [number, number], to: readonly [number, number]): Promise<void> {
  await page.mouse.move(from[0], from[1]);
  await page.mouse.down();
  await page.mouse.move((from[0] + to[0]) / 2, (from[1] + to[1]) / 2, { steps: 4 });
  await page.mouse.move(to[0], to[1], { steps: 4 });
  await page.mouse.up();
}

/** Whether an image point is inside a box grown by `margin` image px. */
const near = (b: Box, x: number, y: number, margin: number): boolean => x >= b[0] - margin && x <= b[2] + margin && y >= b[1] - margin && y <= b[3] + margin;
/** Whether an image point is within `margin` image px of one of the box's edges. */
const nearEdge = (b: Box, x: number, y: number, margin: number): boolean => near(b, x, y, margin) && !near([b[0] + margin, b[1] + margin, b[2] - margin, b[3] - margin], x, y, 0);

/** A box whose centre a click hits unambiguously: inside it alone, far from every edge. */
export function clickableBox(boxes: readonly Box[], scale: number): number {
  const m = EDGE_ZONE / scale;
  return boxes.findIndex((b, i) => {
    const [cx, cy] = [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2];
    return boxes.every((o, j) => (j === i ? !nearEdge(o, cx, cy, m) : !near(o, cx, cy, m)));
  });
}

/** A box whose right edge (its middle) a press grabs unambiguously, with room to drag it `room` screen px right. */
export function adjustableBox(boxes: readonly Box[], scale: number, room: number, except: readonly number[] = []): number {
  const m = EDGE_ZONE / scale;
  return boxes.findIndex((b, i) => {
    if (except.includes(i) || (b[2] - b[0]) * scale < 30 || (b[3] - b[1]) * scale < 30) return false;
    const [ex, ey] = [b[2], (b[1] + b[3]) / 2];
    return boxes.every((o, j) => j === i || (!near(o, ex, ey, m) && !near(o, ex + room / scale, ey, m)));
  });
}

/** An empty square of `size` image px, clear of every box by the edge zone, inside the image. */
export function emptySquare(boxes: readonly Box[], image: { width: number; height: number }, scale: number, size: number): Box {
  const m = EDGE_ZONE / scale;
  for (let y = m; y + size + m < image.height; y += size / 4) {
    for (let x = m; x + size + m < image.width; x += size / 4) {
      const square: Box = [x, y, x + size, y + size];
      if (boxes.every((b) => b[2] + m < square[0] || b[0] - m > square[2] || b[3] + m < square[1] || b[1] - m > square[3])) return square;
    }
  }
  throw new Error(`no empty ${size} px square in a ${image.width}x${image.height} image with ${boxes.length} boxes`);
}
