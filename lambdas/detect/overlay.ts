/**
 * The overlay a person looks at: the micrograph (16-bit contrast-stretched
 * to 8-bit), each detection's outline (its box when it has none; green in
 * range, orange outside the size gate, dashed when on the image edge) drawn
 * into the pixels, and a key beneath the image (key-strip.ts: the counts,
 * the threshold, the model, the scale, a scale bar labelled in nm; without a
 * key the bar goes over the image's bottom left); encoded as JPEG (PNG is
 * several times slower). Optionally also the preview: the same display pixels without
 * boxes or bar, a grey JPEG, on which the report's review view draws the boxes
 * a person can change.
 */
import sharp from 'sharp';
import type { Detection } from '../shared/contracts.js';
import { BufferPool } from './buffer-pool.js';
import type { GreyImage } from './image-decode.js';
import { keyStrip, scoreNote, type KeyEntry, type KeyScaleBar, type KeyStrip } from './key-strip.js';
import { plural } from '../shared/wording.js';

export interface OverlayProps {
  readonly nmPerPx: number;
  /** Longest edge of the overlay in px; larger images are scaled down. Default 2048. */
  readonly maxEdge?: number;
  /** JPEG quality. Default 80. */
  readonly quality?: number;
  /** Also encode the preview (no boxes, no scale bar, no key; the size of the overlay's image). Default false. */
  readonly preview?: boolean;
  /** Draw a scale bar: in the key when there is one (never over the image), else at the image's bottom left. Default true. */
  readonly scaleBar?: boolean;
  /** A key added beneath the overlay, on dark grey, given the overlay's width and the scale bar it should carry. Default none. */
  readonly below?: (width: number, scaleBar: KeyScaleBar | undefined) => KeyStrip;
}

export interface OverlayPictures {
  readonly overlay: Buffer;
  /** Present when asked for (OverlayProps.preview). */
  readonly preview?: Buffer;
}

/** The preview's JPEG quality: a person judges vesicle edges on it, so a little above the overlay's. */
const PREVIEW_QUALITY = 85;

/** Reused by every 16-bit conversion (synchronous, so never shared by two at once). */
const histogram = new Uint32Array(65536);
const displayLut = new Uint8Array(65536);

/**
 * 16-bit to 8-bit display values, stretching the 0.1..99.9 percentile range, into `out` (a new
 * array unless given; at least as long as the image). 8-bit images come back as they are.
 */
export function toDisplay8(image: GreyImage, out?: Uint8Array): Uint8Array {
  if (image.bitDepth === 8) return image.pixels as Uint8Array;
  const pixels = image.pixels as Uint16Array;
  if (out && out.length < pixels.length) throw new RangeError(`display buffer holds ${out.length} values, needs ${pixels.length}`);
  histogram.fill(0);
  for (let i = 0; i < pixels.length; i++) histogram[pixels[i]!]!++;
  const lowCount = pixels.length * 0.001;
  const highCount = pixels.length * 0.999;
  let low = 0;
  let high = 65535;
  let seen = 0;
  for (let v = 0; v < 65536; v++) {
    seen += histogram[v]!;
    if (seen <= lowCount) low = v;
    if (seen >= highCount) {
      high = v;
      break;
    }
  }
  if (high <= low) high = low + 1;
  // Only the stretched range needs arithmetic: below it is 0, above it 255.
  const lut = displayLut;
  lut.fill(0, 0, low);
  for (let v = low; v <= high; v++) lut[v] = Math.round(((v - low) * 255) / (high - low));
  lut.fill(255, high + 1);
  const display = out ?? new Uint8Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) display[i] = lut[pixels[i]!]!;
  return display;
}

/** A round scale-bar length (1, 2 or 5 x 10^k nm) close to a fifth of the image width. */
export function scaleBarNm(imageWidthNm: number): number {
  const target = imageWidthNm / 5;
  const magnitude = 10 ** Math.floor(Math.log10(target));
  const steps = [1, 2, 5, 10];
  const step = steps.reduce((best, s) => (Math.abs(s * magnitude - target) < Math.abs(best * magnitude - target) ? s : best), 1);
  return step * magnitude;
}

function formatNm(nm: number): string {
  return nm >= 1000 ? `${nm / 1000} µm` : `${nm} nm`;
}

/** The key's scale bar: a round length near a tenth of the picture's width (the key has less room than the image). */
export function keyScaleBar(width: number, nmPerPxAtOverlay: number): KeyScaleBar {
  const nm = scaleBarNm((width * nmPerPxAtOverlay) / 2);
  return { px: nm / nmPerPxAtOverlay, label: formatNm(nm) };
}

const IN_RANGE_RGB = [0x34, 0xe0, 0x5a] as const;
const OUT_OF_RANGE_RGB = [0xff, 0x9d, 0x2e] as const;

export interface DetectionKeyProps {
  /** The score threshold the detections were kept at. */
  readonly scoreThreshold: number;
  /** The batch's size gate [min, max] in nm, when it set one. */
  readonly sizeGateNm: readonly [number, number] | null;
  /** A second line, e.g. the image, the model and the scale. Default none. */
  readonly caption?: string;
  /** A scale bar at the key's right end. Default none. */
  readonly scaleBar?: KeyScaleBar;
}

/** The overlay's key: what its colours and dashes mean, with the image's counts, and the threshold. */
export function detectionKey(width: number, detections: readonly Detection[], props: DetectionKeyProps): KeyStrip {
  const inRange = detections.filter((d) => d.in_size_range).length;
  const onEdge = detections.filter((d) => d.on_edge).length;
  const gate = props.sizeGateNm;
  const entries: KeyEntry[] = gate
    ? [
        { colour: IN_RANGE_RGB, text: `${plural(inRange, 'vesicle', 'vesicles')} of ${gate[0]}-${gate[1]} nm` },
        { colour: OUT_OF_RANGE_RGB, text: `${detections.length - inRange} outside that range` },
      ]
    : [{ colour: IN_RANGE_RGB, text: plural(detections.length, 'vesicle', 'vesicles') }];
  // Only when there are some: a key entry for nothing is one more thing to read.
  if (onEdge > 0) entries.push({ colour: IN_RANGE_RGB, text: `${onEdge} cut by the image edge`, dashed: true });
  return keyStrip(width, entries, scoreNote(props.scoreThreshold), props.caption, props.scaleBar);
}

/**
 * Draws each detection's outline, or its box when it has none (outline_method 'box'), straight into an
 * RGB buffer. (An SVG of the shapes costs a full-canvas rasterisation and alpha blend: ~10 ms at 512x512,
 * against <1 ms here.)
 */
export function drawDetections(rgb: Uint8Array, width: number, height: number, detections: readonly Detection[], shrink: number, stroke: number): void {
  const outlined = detections.filter((d) => d.outline_px && d.outline_px.length >= 6);
  drawBoxes(rgb, width, height, detections.filter((d) => !(d.outline_px && d.outline_px.length >= 6)), shrink, stroke);
  for (const d of outlined) drawPolygon(rgb, width, height, d.outline_px!, shrink, stroke, d.in_size_range ? IN_RANGE_RGB : OUT_OF_RANGE_RGB, d.on_edge);
}

/** A closed polygon (flat x, y in image px) as a line `stroke` px wide, dashed when asked. */
export function drawPolygon(
  rgb: Uint8Array,
  width: number,
  height: number,
  polygon: readonly number[],
  shrink: number,
  stroke: number,
  colour: readonly [number, number, number],
  dashed: boolean,
): void {
  const dash = stroke * 3;
  const gap = stroke * 2;
  const n = polygon.length >> 1;
  const offset = (stroke - 1) >> 1;
  let travelled = 0;
  for (let i = 0; i < n; i++) {
    const j = (i + 1) % n;
    const ax = polygon[2 * i]! * shrink;
    const ay = polygon[2 * i + 1]! * shrink;
    const bx = polygon[2 * j]! * shrink;
    const by = polygon[2 * j + 1]! * shrink;
    const length = Math.hypot(bx - ax, by - ay);
    const steps = Math.max(1, Math.ceil(length * 2));
    for (let s = 0; s < steps; s++) {
      const along = travelled + (s / steps) * length;
      if (dashed && along % (dash + gap) >= dash) continue;
      const x = Math.floor(ax + ((bx - ax) * s) / steps) - offset;
      const y = Math.floor(ay + ((by - ay) * s) / steps) - offset;
      for (let dy = 0; dy < stroke; dy++) {
        const py = y + dy;
        if (py < 0 || py >= height) continue;
        for (let dx = 0; dx < stroke; dx++) {
          const px = x + dx;
          if (px < 0 || px >= width) continue;
          const at = (py * width + px) * 3;
          rgb[at] = colour[0];
          rgb[at + 1] = colour[1];
          rgb[at + 2] = colour[2];
        }
      }
    }
    travelled += length;
  }
}

/** Draws boxes straight into an RGB buffer. */
export function drawBoxes(rgb: Uint8Array, width: number, height: number, detections: readonly Detection[], shrink: number, stroke: number): void {
  const dash = stroke * 3;
  const gap = stroke * 2;
  for (const d of detections) {
    const [r, g, b] = d.in_size_range ? IN_RANGE_RGB : OUT_OF_RANGE_RGB;
    const x1 = Math.max(0, Math.min(width - 1, Math.round(d.box_px[0] * shrink)));
    const y1 = Math.max(0, Math.min(height - 1, Math.round(d.box_px[1] * shrink)));
    const x2 = Math.max(0, Math.min(width - 1, Math.round(d.box_px[2] * shrink) - 1));
    const y2 = Math.max(0, Math.min(height - 1, Math.round(d.box_px[3] * shrink) - 1));
    // Dashed outline for objects cut by the image border.
    const on = d.on_edge ? (i: number) => i % (dash + gap) < dash : () => true;
    const paint = (x: number, y: number) => {
      const at = (y * width + x) * 3;
      rgb[at] = r;
      rgb[at + 1] = g;
      rgb[at + 2] = b;
    };
    for (let t = 0; t < stroke; t++) {
      const top = Math.min(y2, y1 + t);
      const bottom = Math.max(y1, y2 - t);
      const left = Math.min(x2, x1 + t);
      const right = Math.max(x1, x2 - t);
      for (let x = x1; x <= x2; x++) {
        if (!on(x - x1)) continue;
        paint(x, top);
        paint(x, bottom);
      }
      for (let y = y1; y <= y2; y++) {
        if (!on(y - y1)) continue;
        paint(left, y);
        paint(right, y);
      }
    }
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * Grey to interleaved RGB (v -> v, v, v) into `rgb` (at least 3 x grey.length bytes). Four pixels
 * are three 32-bit words: 2.5x faster than byte stores (0.5 -> 0.2 ms at 512x512, 8 -> 3 ms at 2048x2048).
 */
export function greyToRgb(grey: Uint8Array, rgb: Uint8Array): void {
  if (rgb.length < grey.length * 3) throw new RangeError(`RGB buffer holds ${rgb.length} bytes, needs ${grey.length * 3}`);
  let i = 0;
  if (LITTLE_ENDIAN && rgb.byteOffset % 4 === 0) {
    const words = new Uint32Array(rgb.buffer, rgb.byteOffset, Math.floor(rgb.length / 4));
    const quads = grey.length & ~3;
    for (let w = 0; i < quads; i += 4, w += 3) {
      const a = grey[i]!;
      const b = grey[i + 1]!;
      const c = grey[i + 2]!;
      const d = grey[i + 3]!;
      words[w] = a | (a << 8) | (a << 16) | (b << 24);
      words[w + 1] = b | (b << 8) | (c << 16) | (c << 24);
      words[w + 2] = c | (d << 8) | (d << 16) | (d << 24);
    }
  }
  for (let j = i * 3; i < grey.length; i++, j += 3) {
    const v = grey[i]!;
    rgb[j] = v;
    rgb[j + 1] = v;
    rgb[j + 2] = v;
  }
}

export interface ScaleBarSvg {
  readonly svg: string;
  readonly left: number;
  readonly top: number;
}

/** A small SVG (only the bar's corner of the image) with the bar and its label in nm. */
export function scaleBarSvg(width: number, height: number, nmPerPxAtOverlay: number): ScaleBarSvg {
  const barNm = scaleBarNm(width * nmPerPxAtOverlay);
  const barPx = barNm / nmPerPxAtOverlay;
  const margin = Math.round(Math.max(8, width / 40));
  const barHeight = Math.max(3, Math.round(height / 120));
  const font = Math.max(10, Math.round(width / 40));
  const pad = Math.ceil(font / 3);
  const boxWidth = Math.min(width, Math.ceil(barPx + 2 * pad));
  const boxHeight = Math.min(height, Math.ceil(barHeight + font * 1.4 + pad));
  // Bottom left: microscopes usually burn their own bar in at the bottom right.
  const left = Math.min(margin, Math.max(0, width - boxWidth));
  const top = Math.max(0, height - margin - boxHeight);
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${boxWidth}" height="${boxHeight}">` +
    `<rect x="0" y="0" width="${boxWidth}" height="${boxHeight}" fill="black" fill-opacity="0.55"/>` +
    `<rect x="${pad}" y="${boxHeight - pad - barHeight}" width="${barPx.toFixed(1)}" height="${barHeight}" fill="white"/>` +
    `<text x="${(boxWidth / 2).toFixed(1)}" y="${(font * 1.05).toFixed(1)}" font-family="sans-serif" font-size="${font}" fill="white" text-anchor="middle">${formatNm(barNm)}</text>` +
    `</svg>`;
  return { svg, left, top };
}

export async function renderOverlay(image: GreyImage, detections: readonly Detection[], props: OverlayProps): Promise<Buffer> {
  return (await renderOverlayPictures(image, detections, { ...props, preview: false })).overlay;
}

/** The overlay and, when asked for, the preview, from one display conversion and resize. */
export function renderOverlayPictures(image: GreyImage, detections: readonly Detection[], props: OverlayProps): Promise<OverlayPictures> {
  return renderPictures(image, (rgb, width, height, shrink, stroke) => drawDetections(rgb, width, height, detections, shrink, stroke), props);
}

/** Paints shapes into the overlay's RGB canvas (image px times `shrink`; lines `stroke` px wide). */
export type OverlayDrawing = (rgb: Uint8Array, width: number, height: number, shrink: number, stroke: number) => void;

/** The overlay's picture (display contrast, scale bar) with whatever `draw` paints, and the preview when asked for. */
export async function renderPictures(image: GreyImage, draw: OverlayDrawing, props: OverlayProps): Promise<OverlayPictures> {
  const maxEdge = props.maxEdge ?? 2048;
  const shrink = Math.min(1, maxEdge / Math.max(image.width, image.height));
  const width = Math.max(1, Math.round(image.width * shrink));
  const height = Math.max(1, Math.round(image.height * shrink));
  // 16-bit images need an 8-bit copy for display; 8-bit ones are used as they are.
  const display = image.bitDepth === 16 ? bytePool.acquire(image.width * image.height) : undefined;
  try {
    const full = toDisplay8(image, display);
    const grey =
      shrink < 1
        ? await sharp(full, { raw: { width: image.width, height: image.height, channels: 1 }, limitInputPixels: false })
            .resize(width, height, { kernel: 'linear' })
            .toColourspace('b-w')
            .raw()
            .toBuffer()
        : full;
    // Both encodes read `grey` (the overlay draws into its own RGB copy), so they run side by side. The key
    // strip, when asked for, is rows of the same canvas beneath the image.
    const key = props.below?.(width, (props.scaleBar ?? true) ? keyScaleBar(width, props.nmPerPx / shrink) : undefined);
    const rows = height + (key?.height ?? 0);
    const [overlay, preview] = await Promise.all([
      bytePool.with(width * rows * 3, (rgb) => encodeOverlay(rgb, grey, width, height, draw, shrink, props, key)),
      props.preview ? encodePreview(grey, width, height) : undefined,
    ]);
    return { overlay, ...(preview && { preview }) };
  } finally {
    if (display) bytePool.release(display);
  }
}

/** Scratch buffers (the RGB canvas, 16-bit images' display copy), reused across images. */
const bytePool = new BufferPool((length) => new Uint8Array(length));

async function encodeOverlay(
  rgb: Uint8Array,
  grey: Uint8Array,
  width: number,
  height: number,
  draw: OverlayDrawing,
  shrink: number,
  props: OverlayProps,
  key: KeyStrip | undefined,
): Promise<Buffer> {
  greyToRgb(grey, rgb);
  draw(rgb, width, height, shrink, Math.max(1, Math.round(Math.max(width, height) / 800)));
  if ((props.scaleBar ?? true) && !key) {
    const bar = scaleBarSvg(width, height, props.nmPerPx / shrink);
    blendRgba(rgb, width, height, await rasteriseSvg(bar.svg), bar.left, bar.top);
  }
  const rows = height + (key?.height ?? 0);
  if (key) {
    // Blended into the canvas rather than by sharp's extend + composite, which costs a pass over the whole
    // picture (measured: twice the overlay's time at 2048 px).
    rgb.fill(KEY_BACKGROUND, width * height * 3, width * rows * 3);
    const rasters = await Promise.all(key.pieces.map((piece) => rasteriseSvg(piece.svg)));
    key.pieces.forEach((piece, i) => blendRgba(rgb, width, rows, rasters[i]!, piece.left, height + piece.top));
  }
  // Huffman table optimisation is a second pass over the data: ~3x the encode time for ~5% size.
  return sharp(rgb, { raw: { width, height: rows, channels: 3 } })
    .jpeg({ quality: props.quality ?? 80, optimiseCoding: false })
    .toBuffer();
}

/** The key strip's dark grey. */
const KEY_BACKGROUND = 0x20;

function encodePreview(grey: Uint8Array, width: number, height: number): Promise<Buffer> {
  // Without b-w, sharp writes a 1-channel raw input as a 3-channel JPEG.
  return sharp(grey, { raw: { width, height, channels: 1 } })
    .toColourspace('b-w')
    .jpeg({ quality: PREVIEW_QUALITY, optimiseCoding: false })
    .toBuffer();
}

interface Rgba {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
}

/** Rendered SVGs (scale bars, key pieces) by text: a batch's images mostly share size, scale, threshold and model, so each renders once. */
const rasterCache = new Map<string, Promise<Rgba>>();
const RASTER_CACHE_SIZE = 128;

function rasteriseSvg(svg: string): Promise<Rgba> {
  let raster = rasterCache.get(svg);
  if (raster) {
    // Least recently used goes first: move this one to the end.
    rasterCache.delete(svg);
    rasterCache.set(svg, raster);
  } else {
    raster = sharp(Buffer.from(svg))
      .ensureAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true })
      .then(({ data, info }) => ({ data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height }));
    if (rasterCache.size >= RASTER_CACHE_SIZE) rasterCache.delete(rasterCache.keys().next().value!);
    rasterCache.set(svg, raster);
    raster.catch(() => rasterCache.delete(svg));
  }
  return raster;
}

/** Alpha-blends an RGBA raster onto an RGB buffer at (left, top), clipped to the buffer. */
export function blendRgba(rgb: Uint8Array, width: number, height: number, over: Rgba, left: number, top: number): void {
  for (let y = 0; y < over.height && top + y < height; y++) {
    for (let x = 0; x < over.width && left + x < width; x++) {
      const src = (y * over.width + x) * 4;
      const alpha = over.data[src + 3]! / 255;
      if (alpha === 0) continue;
      const dst = ((top + y) * width + left + x) * 3;
      for (let c = 0; c < 3; c++) rgb[dst + c] = Math.round(over.data[src + c]! * alpha + rgb[dst + c]! * (1 - alpha));
    }
  }
}
