/**
 * Box arithmetic and class-aware greedy non-maximum suppression, on plain
 * arrays. Boxes are [x1, y1, x2, y2].
 */

export interface ScoredBox {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  score: number;
  classId: number;
  /** The model's outline of the object, [x0, y0, x1, y1, ...] in the same px as the box (models with an outline output). */
  outline?: Float32Array;
}

export function area(b: ScoredBox): number {
  return Math.max(0, b.x2 - b.x1) * Math.max(0, b.y2 - b.y1);
}

export function intersection(a: ScoredBox, b: ScoredBox): number {
  const w = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const h = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  return w > 0 && h > 0 ? w * h : 0;
}

export function iou(a: ScoredBox, b: ScoredBox): number {
  const inter = intersection(a, b);
  if (inter === 0) return 0;
  return inter / (area(a) + area(b) - inter);
}

/**
 * Keeps the best-scoring box of every group of same-class boxes that overlap
 * with IoU above `iouThreshold`. Returns the kept boxes, best first, at most `maxDetections`.
 */
export function nonMaxSuppression<T extends ScoredBox>(boxes: readonly T[], iouThreshold: number, maxDetections = Infinity): T[] {
  if (!(iouThreshold > 0 && iouThreshold <= 1)) throw new RangeError(`iouThreshold must be in (0, 1], got ${iouThreshold}`);
  const sorted = [...boxes].sort((a, b) => b.score - a.score);
  const kept: T[] = [];
  const suppressed = new Uint8Array(sorted.length);
  for (let i = 0; i < sorted.length && kept.length < maxDetections; i++) {
    if (suppressed[i]) continue;
    const best = sorted[i]!;
    kept.push(best);
    for (let j = i + 1; j < sorted.length; j++) {
      if (!suppressed[j] && sorted[j]!.classId === best.classId && iou(best, sorted[j]!) > iouThreshold) suppressed[j] = 1;
    }
  }
  return kept;
}
