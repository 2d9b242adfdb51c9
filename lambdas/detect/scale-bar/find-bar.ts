/**
 * Finds a burned-in scale bar and its label in a micrograph, from pixels
 * alone: a bar is a solid rectangle, much longer than thick, of near-black
 * or near-white pixels, within the top or bottom third of the image, with
 * background (not more of the same) above and below it along most of its
 * length; its label is a line of character-sized blobs of the same ink next
 * to it (below, above, left or right). The bar's length is measured between
 * its two half-contrast edges, to a fraction of a pixel. When one end of the
 * bar runs into a dark area (so that its end cannot be seen), the length is
 * taken from the other end and the centre of the label, which scale bars
 * put in the middle, and the finding says so.
 */
import type { GreyImage } from '../image-decode.js';

export interface Box {
  readonly x1: number;
  readonly y1: number;
  /** Exclusive. */
  readonly x2: number;
  readonly y2: number;
}

export interface BarFinding {
  /** The bar's rectangle in image pixels. */
  readonly bar: Box;
  /** Length in px between its half-contrast edges. */
  readonly lengthPx: number;
  /** Black bar (dark ink) or white bar (light ink). */
  readonly ink: 'dark' | 'light';
  /** The label's box, when a line of character-sized blobs sits next to the bar. */
  readonly label?: Box;
  /** The 8-bit level between the label's ink and its background (thin strokes of small text are not pure ink). */
  readonly labelThreshold?: number;
  /** How the length was measured: both edges seen, or one edge and the label's centre. */
  readonly lengthFrom: 'edges' | 'edge-and-label-centre';
}

export interface FindBarProps {
  /** Share of the height searched from the top and from the bottom. Default 0.35. */
  readonly borderShare?: number;
}

/** 8-bit levels: ink is at most DARK_INK (black bars) or at least LIGHT_INK (white bars). */
const DARK_INK = 40;
const LIGHT_INK = 215;
/** A bar's row run may differ by this many px at each end between its rows (anti-aliasing). */
const END_SLACK = 2;
/** Thickness at most this share of the length: a bar is a line, not a block (short bars at low magnification reach ~0.2). */
const MAX_THICKNESS_SHARE = 0.25;
/** See isolation(). */
const MIN_ISOLATION = 0.7;
/** Blobs a label has at least ("1 µm": 1, µ, m). */
const MIN_LABEL_BLOBS = 3;

/** The image as 8-bit levels (16-bit scaled by its maximum, so a saturated bar stays saturated). */
export function toLevels(image: GreyImage): Uint8Array {
  if (image.bitDepth === 8) return image.pixels as Uint8Array;
  const pixels = image.pixels;
  let max = 1;
  for (let i = 0; i < pixels.length; i++) if (pixels[i]! > max) max = pixels[i]!;
  const out = new Uint8Array(pixels.length);
  const scale = 255 / max;
  for (let i = 0; i < pixels.length; i++) out[i] = Math.round(pixels[i]! * scale);
  return out;
}

interface Run {
  readonly row: number;
  readonly start: number;
  /** Exclusive. */
  readonly end: number;
}

interface Rect {
  readonly x1: number;
  readonly x2: number;
  readonly y1: number;
  /** Exclusive. */
  readonly y2: number;
  readonly ink: 'dark' | 'light';
}

class Levels {
  constructor(
    readonly data: Uint8Array,
    readonly width: number,
    readonly height: number,
  ) {}

  at(x: number, y: number): number {
    return this.data[y * this.width + x]!;
  }

  /** Ink by the fixed levels, or by `threshold` (a level between ink and the local background). */
  isInk(x: number, y: number, ink: 'dark' | 'light', threshold?: number): boolean {
    const v = this.at(x, y);
    return ink === 'dark' ? v <= (threshold ?? DARK_INK) : v >= (threshold ?? LIGHT_INK);
  }
}

function rowRuns(levels: Levels, row: number, ink: 'dark' | 'light', minLength: number, maxLength: number): Run[] {
  const runs: Run[] = [];
  let start = -1;
  for (let x = 0; x <= levels.width; x++) {
    const inside = x < levels.width && levels.isInk(x, row, ink);
    if (inside && start < 0) start = x;
    else if (!inside && start >= 0) {
      if (x - start >= minLength && x - start <= maxLength) runs.push({ row, start, end: x });
      start = -1;
    }
  }
  return runs;
}

/**
 * Whether a row's run continues a rectangle: both ends agree (within END_SLACK), or one end agrees and
 * the other runs on into a dark area, so that the runs overlap over nearly all of the shorter one.
 */
function sameBar(run: Run, rect: { x1: number; x2: number }): boolean {
  const startsAgree = Math.abs(run.start - rect.x1) <= END_SLACK;
  const endsAgree = Math.abs(run.end - rect.x2) <= END_SLACK;
  if (startsAgree && endsAgree) return true;
  if (!startsAgree && !endsAgree) return false;
  const overlap = Math.min(run.end, rect.x2) - Math.max(run.start, rect.x1);
  return overlap >= 0.9 * Math.min(run.end - run.start, rect.x2 - rect.x1);
}

/** Stacks of runs in consecutive rows with the same ends: solid rectangles. */
function rectangles(levels: Levels, rows: number[], ink: 'dark' | 'light', minLength: number, maxLength: number): Rect[] {
  const open: { x1: number; x2: number; y1: number; y2: number }[] = [];
  const done: Rect[] = [];
  let previousRow = -2;
  for (const row of rows) {
    const runs = rowRuns(levels, row, ink, minLength, maxLength);
    const continued = new Set<number>();
    const still: typeof open = [];
    for (const rect of open) {
      const run = row === previousRow + 1 ? runs.find((r) => sameBar(r, rect)) : undefined;
      if (run) {
        continued.add(runs.indexOf(run));
        still.push({ x1: Math.max(rect.x1, run.start), x2: Math.min(rect.x2, run.end), y1: rect.y1, y2: row + 1 });
      } else done.push({ ...rect, ink });
    }
    runs.forEach((r, i) => {
      if (!continued.has(i)) still.push({ x1: r.start, x2: r.end, y1: row, y2: row + 1 });
    });
    open.splice(0, open.length, ...still);
    previousRow = row;
  }
  done.push(...open.map((r) => ({ ...r, ink })));
  return done.filter((r) => {
    const thickness = r.y2 - r.y1;
    const length = r.x2 - r.x1;
    return thickness >= 2 && thickness <= Math.max(3, length * MAX_THICKNESS_SHARE);
  });
}

/**
 * How much the bar stands alone: the share of its columns whose pixels just above (and, separately,
 * just below) are not ink. A bar has background on one side nearly all along, and on the other at
 * least in part (its label may touch it there); the edge of a dark area has neither.
 */
function isolation(levels: Levels, rect: Rect): number {
  const above = rect.y1 - 2;
  const below = rect.y2 + 1;
  let up = 0;
  let down = 0;
  for (let x = rect.x1; x < rect.x2; x++) {
    if (above < 0 || !levels.isInk(x, above, rect.ink)) up++;
    if (below >= levels.height || !levels.isInk(x, below, rect.ink)) down++;
  }
  const length = rect.x2 - rect.x1;
  const [more, less] = [Math.max(up, down) / length, Math.min(up, down) / length];
  return less >= 0.25 ? more : 0;
}

interface Component {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  pixels: number;
  /** Pixels at the fixed ink level: characters have some, background grain has none. */
  core: number;
}

/** 8-connected components of ink inside a window. */
function components(levels: Levels, window: Box, ink: 'dark' | 'light', threshold: number, exclude: Box): Component[] {
  const w = window.x2 - window.x1;
  const h = window.y2 - window.y1;
  if (w <= 0 || h <= 0) return [];
  const seen = new Uint8Array(w * h);
  const out: Component[] = [];
  const stack: number[] = [];
  const inside = (x: number, y: number) => x >= exclude.x1 && x < exclude.x2 && y >= exclude.y1 && y < exclude.y2;
  for (let i = 0; i < w * h; i++) {
    if (seen[i]) continue;
    const x0 = window.x1 + (i % w);
    const y0 = window.y1 + Math.floor(i / w);
    seen[i] = 1;
    if (inside(x0, y0) || !levels.isInk(x0, y0, ink, threshold)) continue;
    const c: Component = { x1: x0, y1: y0, x2: x0 + 1, y2: y0 + 1, pixels: 0, core: 0 };
    stack.push(i);
    while (stack.length > 0) {
      const j = stack.pop()!;
      const x = window.x1 + (j % w);
      const y = window.y1 + Math.floor(j / w);
      c.pixels++;
      if (levels.isInk(x, y, ink)) c.core++;
      c.x1 = Math.min(c.x1, x);
      c.y1 = Math.min(c.y1, y);
      c.x2 = Math.max(c.x2, x + 1);
      c.y2 = Math.max(c.y2, y + 1);
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx - window.x1;
          const ny = y + dy - window.y1;
          if (nx < 0 || ny < 0 || nx >= w || ny >= h) continue;
          const k = ny * w + nx;
          if (seen[k]) continue;
          seen[k] = 1;
          if (!inside(nx + window.x1, ny + window.y1) && levels.isInk(nx + window.x1, ny + window.y1, ink, threshold)) stack.push(k);
        }
      }
    }
    out.push(c);
  }
  return out;
}

const clampBox = (b: Box, width: number, height: number): Box => ({
  x1: Math.max(0, Math.floor(b.x1)),
  y1: Math.max(0, Math.floor(b.y1)),
  x2: Math.min(width, Math.ceil(b.x2)),
  y2: Math.min(height, Math.ceil(b.y2)),
});

/** The most populated line of character-sized blobs in a window, as a box; undefined when none has MIN_LABEL_BLOBS. */
/** Halfway between the bar's level and the window's median (its background): where the label's ink ends. */
function labelThreshold(levels: Levels, window: Box, rect: Rect): number {
  const values: number[] = [];
  for (let y = window.y1; y < window.y2; y += 2) for (let x = window.x1; x < window.x2; x += 2) values.push(levels.at(x, y));
  values.sort((a, b) => a - b);
  const background = values[Math.floor(values.length / 2)] ?? (rect.ink === 'dark' ? 255 : 0);
  let bar = 0;
  for (let x = rect.x1; x < rect.x2; x++) bar += levels.at(x, Math.floor((rect.y1 + rect.y2) / 2));
  return (bar / (rect.x2 - rect.x1) + background) / 2;
}

function textLine(levels: Levels, window: Box, rect: Rect, threshold: number, maxCharHeight: number): { box: Box; count: number } | undefined {
  const blobs = components(levels, window, rect.ink, threshold, rect).filter((c) => {
    const h = c.y2 - c.y1;
    const w = c.x2 - c.x1;
    const touchesWindow = c.x1 === window.x1 || c.x2 === window.x2 || c.y1 === window.y1 || c.y2 === window.y2;
    return h >= 4 && h <= maxCharHeight && w <= h * 4 && w >= 1 && !touchesWindow && c.pixels >= 4 && c.core > 0;
  });
  let best: { box: Box; count: number } | undefined;
  for (const seed of blobs) {
    const mid = (seed.y1 + seed.y2) / 2;
    const line = blobs.filter((c) => c.y1 <= mid && c.y2 >= mid && Math.abs(c.y2 - c.y1 - (seed.y2 - seed.y1)) <= Math.max(3, (seed.y2 - seed.y1) * 0.6));
    if (line.length < MIN_LABEL_BLOBS) continue;
    // Characters of one label sit close together: split the line at gaps wider than two character heights.
    line.sort((a, b) => a.x1 - b.x1);
    const height = seed.y2 - seed.y1;
    let group = [line[0]!];
    const groups = [group];
    for (const c of line.slice(1)) {
      if (c.x1 - group[group.length - 1]!.x2 > height * 2) groups.push((group = [c]));
      else group.push(c);
    }
    for (const g of groups) {
      if (g.length < MIN_LABEL_BLOBS || (best && best.count >= g.length)) continue;
      best = {
        count: g.length,
        box: { x1: Math.min(...g.map((c) => c.x1)), y1: Math.min(...g.map((c) => c.y1)), x2: Math.max(...g.map((c) => c.x2)), y2: Math.max(...g.map((c) => c.y2)) },
      };
    }
  }
  return best;
}

function findLabel(levels: Levels, rect: Rect): { box: Box; threshold: number } | undefined {
  const length = rect.x2 - rect.x1;
  const { width, height } = levels;
  // The label's size goes with the bar's length, but a short bar (low magnification) can carry a label as
  // large as any other: at least 4.5% of the image's shorter side.
  const textScale = Math.max(length * 0.6, Math.min(width, height) * 0.045);
  const reach = Math.min(120, Math.max(16, textScale));
  const maxCharHeight = Math.max(8, Math.min(100, textScale));
  const sideways = Math.max(length * 2, textScale * 4);
  const windows = [
    { x1: rect.x1 - length * 0.5, y1: rect.y2, x2: rect.x2 + length * 0.5, y2: rect.y2 + reach }, // below
    { x1: rect.x1 - length * 0.5, y1: rect.y1 - reach, x2: rect.x2 + length * 0.5, y2: rect.y1 }, // above
    { x1: rect.x1 - sideways, y1: rect.y1 - reach / 2, x2: rect.x1, y2: rect.y2 + reach / 2 }, // left
    { x1: rect.x2, y1: rect.y1 - reach / 2, x2: rect.x2 + sideways, y2: rect.y2 + reach / 2 }, // right
  ].map((w) => clampBox(w, width, height));
  let best: { box: Box; count: number; distance: number; threshold: number } | undefined;
  for (const window of windows) {
    if (window.x2 <= window.x1 || window.y2 <= window.y1) continue;
    const threshold = labelThreshold(levels, window, rect);
    const line = textLine(levels, window, rect, threshold, maxCharHeight);
    if (!line) continue;
    const distance = Math.max(0, line.box.y1 - rect.y2, rect.y1 - line.box.y2, line.box.x1 - rect.x2, rect.x1 - line.box.x2);
    if (!best || line.count > best.count || (line.count === best.count && distance < best.distance)) best = { ...line, distance, threshold };
  }
  return best && { box: best.box, threshold: best.threshold };
}

/**
 * Half-contrast crossing at one end of the bar, in px (sub-pixel), measured on the bar's rows that end
 * in background there; undefined when every row runs on into ink (the end is hidden in a dark area).
 */
function edge(levels: Levels, rect: Rect, side: 'left' | 'right'): number | undefined {
  const beyondEnd = side === 'left' ? rect.x1 - 3 : rect.x2 + 2;
  const rows: number[] = [];
  for (let y = rect.y1; y < rect.y2; y++) {
    if (beyondEnd >= 0 && beyondEnd < levels.width && !levels.isInk(beyondEnd, y, rect.ink)) rows.push(y);
  }
  if (rows.length === 0) return undefined;
  const profile = (x: number): number => {
    let sum = 0;
    for (const y of rows) sum += levels.at(x, y);
    return sum / rows.length;
  };
  const out = side === 'left' ? -1 : 1;
  const end = side === 'left' ? rect.x1 : rect.x2 - 1;
  const outside: number[] = [];
  for (let k = 2; k <= 4; k++) {
    const x = end + out * k;
    if (x >= 0 && x < levels.width) outside.push(profile(x));
  }
  if (outside.length === 0) return undefined;
  outside.sort((a, b) => a - b);
  const barLevel = profile(end - out * Math.min(2, Math.floor((rect.x2 - rect.x1) / 4)));
  const backgroundLevel = outside[Math.floor(outside.length / 2)]!;
  if (Math.abs(backgroundLevel - barLevel) < 40) return undefined;
  const half = (barLevel + backgroundLevel) / 2;
  const beyond = (v: number) => (rect.ink === 'dark' ? v > half : v < half);
  // From inside the bar outwards, the first pixel past half contrast; the edge lies between it and its neighbour.
  for (let x = end - out; x >= 0 && x < levels.width && Math.abs(x - end) <= 4; x += out) {
    const v = profile(x);
    if (!beyond(v)) continue;
    const previous = profile(x - out);
    const t = (half - previous) / (v - previous);
    // Pixel centres sit at x + 0.5.
    return x - out + 0.5 + out * t;
  }
  return undefined;
}

/**
 * Bar-like rectangles near the top or bottom border with their labels, most likely first (at most
 * `limit`): the caller reads the labels in this order and keeps the first that reads as a length.
 */
export function findScaleBars(image: GreyImage, props: FindBarProps = {}, limit = 3): BarFinding[] {
  const share = props.borderShare ?? 0.35;
  const levels = new Levels(toLevels(image), image.width, image.height);
  const { width, height } = levels;
  const minLength = Math.max(15, Math.round(width * 0.03));
  const maxLength = Math.round(width * 0.7);
  const band = Math.max(1, Math.round(height * share));
  const rows: number[] = [];
  for (let y = 0; y < Math.min(band, height); y++) rows.push(y);
  for (let y = Math.max(band, height - band); y < height; y++) rows.push(y);

  const scored: { finding: BarFinding; score: number }[] = [];
  for (const ink of ['dark', 'light'] as const) {
    for (const rect of rectangles(levels, rows, ink, minLength, maxLength)) {
      // A rectangle cut by the frame at the top or bottom, or at both sides, is a border or a panel, not a bar.
      if (rect.y1 === 0 || rect.y2 === height || (rect.x1 === 0 && rect.x2 === width)) continue;
      const clear = isolation(levels, rect);
      if (clear < MIN_ISOLATION) continue;
      const label = findLabel(levels, rect);
      const length = rect.x2 - rect.x1;
      // A label matters most; then how bar-like and how long it is; then closeness to a border.
      const borderDistance = Math.min(rect.y1, height - rect.y2) / height;
      const score = (label ? 2 : 0) + clear + Math.min(1, length / (width * 0.1)) * 0.5 - borderDistance;
      scored.push({ finding: measure(levels, rect, label), score });
    }
  }
  return scored
    .sort((a, b) => b.score - a.score)
    .slice(0, limit)
    .map((s) => s.finding);
}

/** The most likely scale bar, without reading its label. */
export function findScaleBar(image: GreyImage, props: FindBarProps = {}): BarFinding | undefined {
  return findScaleBars(image, props, 1)[0];
}

function measure(levels: Levels, rect: Rect, found: { box: Box; threshold: number } | undefined): BarFinding {
  const label = found?.box;
  const labelThreshold = found?.threshold;
  const bar = { x1: rect.x1, y1: rect.y1, x2: rect.x2, y2: rect.y2 };
  const left = edge(levels, rect, 'left');
  const right = edge(levels, rect, 'right');
  const labelCentre = label ? (label.x1 + label.x2) / 2 : undefined;
  const labelBelowOrAbove = label !== undefined && label.x1 >= rect.x1 - 2 && label.x2 <= rect.x2 + 2;
  if (left !== undefined && right !== undefined) return { bar, lengthPx: right - left, ink: rect.ink, label, labelThreshold, lengthFrom: 'edges' };
  if (labelCentre !== undefined && labelBelowOrAbove && (left !== undefined) !== (right !== undefined)) {
    const lengthPx = left !== undefined ? 2 * (labelCentre - left) : 2 * (right! - labelCentre);
    return { bar, lengthPx, ink: rect.ink, label, labelThreshold, lengthFrom: 'edge-and-label-centre' };
  }
  return { bar, lengthPx: (right ?? rect.x2) - (left ?? rect.x1), ink: rect.ink, label, labelThreshold, lengthFrom: 'edges' };
}
