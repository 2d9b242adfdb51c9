/**
 * The burned-in scale bar of an image without calibration metadata: find
 * the bar and its label (find-bar.ts), read the label (ocr.ts), and turn
 * "200 nm" over 105.1 px into nm/px. Candidates are tried most likely
 * first, and the first whose label reads as a length wins. The bar and its
 * label are also what detection must not see (mask.ts).
 */
import sharp from 'sharp';
import type { GreyImage } from '../image-decode.js';
import { findScaleBars, toLevels, type BarFinding, type Box } from './find-bar.js';
import { parseLabel, type LabelLength } from './label-text.js';
import { tesseractOcr, type LabelOcr } from './ocr.js';

export interface ScaleBarReading {
  readonly nmPerPx: number;
  /** The bar's length in px. */
  readonly barPx: number;
  /** The label as the OCR read it, e.g. "200 nm". */
  readonly labelText: string;
  /** The label's length in nm. */
  readonly labelNm: number;
  /** The OCR's confidence, 0..100. */
  readonly confidence: number;
  readonly finding: BarFinding;
  /** Bar and label, padded: what detection must ignore. */
  readonly mask: Box[];
}

export interface ScaleBarResult {
  readonly reading?: ScaleBarReading;
  /** Why no reading, when a bar-like shape was found but its label did not read as a length. */
  readonly problem?: string;
  /** What detection must ignore: the bar and label read, or else the most likely bar with a label line beside it. */
  readonly mask: Box[];
}

/**
 * Label heights, in px, the OCR reads the label at, in turn, until two readings agree (24 read the most
 * labels of 24, 36 and 48 on real and generated ones; a single reading was wrong for 1 label in 250).
 */
const OCR_TEXT_HEIGHTS = [24, 48, 36];
const OCR_BORDER = 16;

/** The label as black text on white, enlarged: what tesseract reads best. */
async function labelImage(levels: Uint8Array, width: number, finding: BarFinding, box: Box, textHeight: number): Promise<Buffer> {
  const pad = 3;
  const x1 = Math.max(0, box.x1 - pad);
  const y1 = Math.max(0, box.y1 - pad);
  const x2 = Math.min(width, box.x2 + pad);
  const y2 = Math.min(levels.length / width, box.y2 + pad);
  const w = x2 - x1;
  const h = y2 - y1;
  const threshold = finding.labelThreshold ?? (finding.ink === 'dark' ? 90 : 165);
  const crop = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = levels[(y1 + y) * width + x1 + x]!;
      // Ink black, the rest white: a dark or textured background disappears; the ink keeps its shading.
      const darkness = finding.ink === 'dark' ? v : 255 - v;
      const limit = finding.ink === 'dark' ? threshold : 255 - threshold;
      crop[y * w + x] = darkness <= limit ? Math.min(255, Math.round((darkness / Math.max(1, limit)) * 128)) : 255;
    }
  }
  const scale = Math.max(2, Math.min(8, textHeight / Math.max(1, box.y2 - box.y1)));
  return sharp(crop, { raw: { width: w, height: h, channels: 1 } })
    .resize(Math.round(w * scale), Math.round(h * scale), { kernel: 'cubic' })
    .extend({ top: OCR_BORDER, bottom: OCR_BORDER, left: OCR_BORDER, right: OCR_BORDER, background: '#ffffff' })
    .png({ compressionLevel: 1 })
    .toBuffer();
}

function maskBoxes(finding: BarFinding, label: Box, width: number, height: number): Box[] {
  const pad = Math.max(2, Math.round((finding.bar.y2 - finding.bar.y1) / 2));
  const grow = (b: Box): Box => ({
    x1: Math.max(0, b.x1 - pad),
    y1: Math.max(0, b.y1 - pad),
    x2: Math.min(width, b.x2 + pad),
    y2: Math.min(height, b.y2 + pad),
  });
  return [grow(finding.bar), grow(label)];
}

export interface ReadScaleBarProps {
  /** Default: the process's shared tesseract worker. */
  readonly ocr?: LabelOcr;
  /** Candidates whose labels are read at most. Default 3. */
  readonly maxCandidates?: number;
  /**
   * The scale another source gives (batch, file): a first reading that agrees with it within 5% needs no
   * second one to confirm it (one OCR pass instead of two).
   */
  readonly expectedNmPerPx?: number;
}

export async function readScaleBar(image: GreyImage, props: ReadScaleBarProps = {}): Promise<ScaleBarResult> {
  const candidates = findScaleBars(image, {}, props.maxCandidates ?? 3).filter((c) => c.label !== undefined);
  if (candidates.length === 0) return { mask: [] };
  // Burned-in text is never a vesicle, read or not.
  const likeliest = maskBoxes(candidates[0]!, candidates[0]!.label!, image.width, image.height);
  const ocr = props.ocr ?? tesseractOcr;
  const levels = toLevels(image);
  const readings: string[] = [];
  let lengthsRead = 0;
  for (const finding of candidates) {
    const label = finding.label!;
    const seen: { length: LabelLength; confidence: number }[] = [];
    for (const height of OCR_TEXT_HEIGHTS) {
      let text: string;
      let confidence: number;
      try {
        ({ text, confidence } = await ocr.read(await labelImage(levels, image.width, finding, label, height)));
      } catch (err) {
        // The OCR failing on one label is that label's problem: the image is then calibrated otherwise.
        return { problem: `a scale bar was found but the OCR failed on its label: ${(err as Error)?.message ?? String(err)}`, mask: likeliest };
      }
      const length = parseLabel(text);
      readings.push(`"${text}"`);
      if (!length) continue;
      lengthsRead++;
      const confirmed = props.expectedNmPerPx !== undefined && Math.abs(length.nm / finding.lengthPx / props.expectedNmPerPx - 1) <= 0.05;
      const agreeing = confirmed ? { length, confidence } : seen.find((s) => s.length.nm === length.nm);
      if (!agreeing) {
        seen.push({ length, confidence });
        continue;
      }
      const mask = maskBoxes(finding, label, image.width, image.height);
      return {
        mask,
        reading: {
          nmPerPx: length.nm / finding.lengthPx,
          barPx: finding.lengthPx,
          labelText: length.text,
          labelNm: length.nm,
          confidence: Math.min(confidence, agreeing.confidence),
          finding,
          mask,
        },
      };
    }
  }
  // Readings that parsed as lengths but disagree, or none that parsed at all: say which.
  const why = lengthsRead > 0 ? 'no two readings agreeing' : readings.length > 1 ? 'none of them a length' : 'not a length';
  return {
    problem: `a scale bar was found but its label did not read as a length (read ${readings.join(', ')}, ${why}); the bar and its label are masked out of detection all the same`,
    mask: likeliest,
  };
}
