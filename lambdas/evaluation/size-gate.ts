/**
 * The size gate of `exodetect evaluate --size-gate`: which true objects and which detections are scored.
 */
import { iou, type XyxyBox } from './detection-metrics.js';

/** A detection or a true object, in px, with its size in nm. */
export interface Sized {
  readonly box: XyxyBox;
  readonly diameterNm: number;
}

/** The IoU at which a detection has found a true object, as the figures match them. */
const FOUND_IOU = 0.5;

export function inGate(diameterNm: number, gate: readonly [number, number] | undefined): boolean {
  return gate === undefined || (diameterNm >= gate[0] && diameterNm <= gate[1]);
}

/**
 * Per detection, whether the gate scores it. A detection that found a true object (IoU >= 0.5 with one) goes with
 * the objects it found: scored when one of them is in the gate. A detection of nothing goes by its own reported
 * size. Gating each by its own size would split a right pair at the gate's edge: an object whose outline measures
 * 79 nm, found by a detection that measures 82 nm, would turn into a false positive under an 80 nm gate (and the
 * other way round into a miss). COCO's area ranges treat detections of objects outside the range the same way.
 */
export function detectionsInGate(detections: readonly Sized[], truth: readonly Sized[], gate: readonly [number, number] | undefined): boolean[] {
  if (gate === undefined) return detections.map(() => true);
  const truthIn = truth.map((t) => inGate(t.diameterNm, gate));
  return detections.map((d) => {
    const found = truth.flatMap((t, j) => (iou(d.box, t.box) >= FOUND_IOU ? [j] : []));
    return found.length ? found.some((j) => truthIn[j]) : inGate(d.diameterNm, gate);
  });
}
