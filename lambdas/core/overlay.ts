/**
 * The overlay a person looks at: the micrograph (16-bit contrast-stretched
 * to 8-bit), a box per detection (green in range, orange outside the size
 * gate, dashed when on the image edge) and a scale bar labelled in nm,
 * composited as SVG and encoded as JPEG (PNG is several times slower).
 */
import sharp from 'sharp';
import type { Detection } from './contracts.js';
import type { GreyImage } from './image-decode.js';

export interface OverlayProps {
  readonly nmPerPx: number;
  /** Longest edge of the overlay in px; larger images are scaled down. Default 2048. */
  readonly maxEdge?: number;
  /** JPEG quality. Default 80. */
  readonly quality?: number;
}

/** 16-bit to 8-bit display values, stretching the 0.1..99.9 percentile range. */
export function toDisplay8(image: GreyImage): Uint8Array {
  if (image.bitDepth === 8) return image.pixels as Uint8Array;
  const pixels = image.pixels as Uint16Array;
  const histogram = new Uint32Array(65536);
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
  const lut = new Uint8Array(65536);
  for (let v = 0; v < 65536; v++) lut[v] = Math.max(0, Math.min(255, Math.round(((v - low) * 255) / (high - low))));
  const out = new Uint8Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) out[i] = lut[pixels[i]!]!;
  return out;
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

export function overlaySvg(width: number, height: number, detections: readonly Detection[], nmPerPxAtOverlay: number, shrink: number): string {
  const stroke = Math.max(1, Math.round(Math.max(width, height) / 800));
  const rects = detections
    .map((d) => {
      const [x1, y1, x2, y2] = d.box_px.map((v) => (v * shrink).toFixed(1));
      const colour = d.in_size_range ? '#34e05a' : '#ff9d2e';
      const dash = d.on_edge ? ` stroke-dasharray="${stroke * 3},${stroke * 2}"` : '';
      return `<rect x="${x1}" y="${y1}" width="${(Number(x2) - Number(x1)).toFixed(1)}" height="${(Number(y2) - Number(y1)).toFixed(1)}" fill="none" stroke="${colour}" stroke-width="${stroke}"${dash}/>`;
    })
    .join('');
  const barNm = scaleBarNm(width * nmPerPxAtOverlay);
  const barPx = barNm / nmPerPxAtOverlay;
  const margin = Math.round(Math.max(8, width / 40));
  const barHeight = Math.max(3, Math.round(height / 120));
  const font = Math.max(10, Math.round(width / 40));
  const barX = width - margin - barPx;
  const barY = height - margin - barHeight;
  const bar =
    `<rect x="${(barX - font / 3).toFixed(1)}" y="${(barY - font * 1.4).toFixed(1)}" width="${(barPx + (2 * font) / 3).toFixed(1)}" height="${(barHeight + font * 1.4 + font / 3).toFixed(1)}" fill="black" fill-opacity="0.55"/>` +
    `<rect x="${barX.toFixed(1)}" y="${barY}" width="${barPx.toFixed(1)}" height="${barHeight}" fill="white"/>` +
    `<text x="${(barX + barPx / 2).toFixed(1)}" y="${(barY - font * 0.35).toFixed(1)}" font-family="sans-serif" font-size="${font}" fill="white" text-anchor="middle">${formatNm(barNm)}</text>`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${rects}${bar}</svg>`;
}

export async function renderOverlay(image: GreyImage, detections: readonly Detection[], props: OverlayProps): Promise<Buffer> {
  const maxEdge = props.maxEdge ?? 2048;
  const shrink = Math.min(1, maxEdge / Math.max(image.width, image.height));
  const width = Math.max(1, Math.round(image.width * shrink));
  const height = Math.max(1, Math.round(image.height * shrink));
  let base = sharp(toDisplay8(image), { raw: { width: image.width, height: image.height, channels: 1 }, limitInputPixels: false });
  if (shrink < 1) base = sharp(await base.resize(width, height, { kernel: 'linear' }).toColourspace('b-w').raw().toBuffer(), { raw: { width, height, channels: 1 } });
  const svg = overlaySvg(width, height, detections, props.nmPerPx / shrink, shrink);
  return base
    .composite([{ input: Buffer.from(svg), top: 0, left: 0 }])
    .jpeg({ quality: props.quality ?? 80, mozjpeg: false })
    .toBuffer();
}
