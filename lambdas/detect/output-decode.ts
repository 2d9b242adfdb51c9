/**
 * Turns a detector's raw output tensor into boxes in the model input's
 * pixels, for each supported layout:
 *
 *   exodetect [N, K, 6]        x1, y1, x2, y2, score, class (decoded and sorted in the graph)
 *   yolov5    [N, M, 5 + nc]   cx, cy, w, h, objectness, class scores
 *   yolov8    [N, 4 + nc, M]   cx, cy, w, h, class scores (channel-major)
 *
 * YOLO outputs get class-aware NMS here; ours comes out of the graph final.
 */
import { nonMaxSuppression, type ScoredBox } from './nms.js';

export type ModelLayout = 'exodetect' | 'yolov5' | 'yolov8';

export interface DecodeOutputProps {
  readonly layout: ModelLayout;
  readonly scoreThreshold: number;
  /** For YOLO layouts. */
  readonly iouThreshold: number;
  /** Default 3000 per image. */
  readonly maxDetections?: number;
  /** The model's `outlines` output ([N, K, 2V], rows aligned with the exodetect layout's), when it has one. */
  readonly outlines?: { readonly data: Float32Array; readonly dims: readonly number[] };
}

export const DEFAULT_MAX_DETECTIONS = 3000;

/**
 * Whether image `n`'s output ran out of detection slots: our layout's last row (of K) still scores
 * above the threshold, or a YOLO decode reached `maxDetections`. More objects may then be in the
 * input than were reported, so counts from it are a lower bound.
 */
export function isSaturated(data: Float32Array, dims: readonly number[], n: number, decoded: number, props: DecodeOutputProps): boolean {
  if (props.layout !== 'exodetect') return decoded >= (props.maxDetections ?? DEFAULT_MAX_DETECTIONS);
  const [, k = 0] = dims;
  if (k === 0) return false;
  const lastScore = data[n * k * 6 + (k - 1) * 6 + 4]!;
  return lastScore >= props.scoreThreshold && lastScore > 0;
}

/** Decodes image `n` of a batch output with dims `dims`. */
export function decodeOutput(data: Float32Array, dims: readonly number[], n: number, props: DecodeOutputProps): ScoredBox[] {
  const [, d1 = 0, d2 = 0] = dims;
  const maxDetections = props.maxDetections ?? DEFAULT_MAX_DETECTIONS;
  const threshold = props.scoreThreshold;
  const out: ScoredBox[] = [];
  const base = n * d1 * d2;

  if (props.layout === 'exodetect') {
    for (let k = 0; k < d1 && out.length < maxDetections; k++) {
      const at = base + k * 6;
      const score = data[at + 4]!;
      // Rows are sorted by score, and padding rows carry score 0.
      if (!(score >= threshold) || score <= 0) continue;
      const x1 = data[at]!;
      const y1 = data[at + 1]!;
      const x2 = data[at + 2]!;
      const y2 = data[at + 3]!;
      if (!(x2 > x1 && y2 > y1)) continue;
      const box: ScoredBox = { x1, y1, x2, y2, score, classId: Math.round(data[at + 5]!) };
      const outlines = props.outlines;
      if (outlines) {
        const width = outlines.dims[2] ?? 0;
        const from = (n * d1 + k) * width;
        box.outline = outlines.data.slice(from, from + width);
      }
      out.push(box);
    }
    return out;
  }

  const candidates: ScoredBox[] = [];
  if (props.layout === 'yolov5') {
    const classes = d2 - 5;
    for (let m = 0; m < d1; m++) {
      const at = base + m * d2;
      const objectness = data[at + 4]!;
      if (!(objectness >= threshold)) continue;
      let bestClass = 0;
      let bestScore = -Infinity;
      for (let c = 0; c < classes; c++) {
        const s = data[at + 5 + c]!;
        if (s > bestScore) {
          bestScore = s;
          bestClass = c;
        }
      }
      const score = objectness * bestScore;
      if (!(score >= threshold)) continue;
      pushCentreBox(candidates, data[at]!, data[at + 1]!, data[at + 2]!, data[at + 3]!, score, bestClass);
    }
  } else {
    const classes = d1 - 4;
    const stride = d2;
    for (let m = 0; m < d2; m++) {
      let bestClass = 0;
      let bestScore = -Infinity;
      for (let c = 0; c < classes; c++) {
        const s = data[base + (4 + c) * stride + m]!;
        if (s > bestScore) {
          bestScore = s;
          bestClass = c;
        }
      }
      if (!(bestScore >= threshold)) continue;
      pushCentreBox(
        candidates,
        data[base + m]!,
        data[base + stride + m]!,
        data[base + 2 * stride + m]!,
        data[base + 3 * stride + m]!,
        bestScore,
        bestClass,
      );
    }
  }
  return nonMaxSuppression(candidates, props.iouThreshold, maxDetections);
}

function pushCentreBox(out: ScoredBox[], cx: number, cy: number, w: number, h: number, score: number, classId: number): void {
  if (!(w > 0 && h > 0)) return;
  out.push({ x1: cx - w / 2, y1: cy - h / 2, x2: cx + w / 2, y2: cy + h / 2, score, classId });
}
