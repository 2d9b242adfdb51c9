import { describe, expect, it } from 'vitest';
import { detectionsInGate, inGate } from '../../lambdas/evaluation/size-gate.js';

const GATE: [number, number] = [80, 500];
const at = (x: number, size: number, diameterNm: number) => ({ box: [x, 0, x + size, size] as const, diameterNm });

describe('evaluate --size-gate', () => {
  it('includes both ends of the gate', () => {
    expect([79.9, 80, 500, 500.1].map((d) => inGate(d, GATE))).toEqual([false, true, true, false]);
    expect(inGate(5, undefined)).toBe(true);
  });

  it('scores a detection with the true object it found, so a right pair at the edge stays a pair', () => {
    const truth = [at(0, 40, 79), at(100, 40, 81), at(200, 40, 300)];
    const detections = [
      at(1, 40, 82), //  found the 79 nm object: left out with it, not a false positive
      at(101, 40, 78), // found the 81 nm object: scored with it, not dropped to make a miss
      at(201, 40, 300), // found an object well inside
      at(400, 40, 60), // found nothing, 60 nm: outside
      at(500, 40, 120), // found nothing, 120 nm: a false positive inside
    ];
    expect(detectionsInGate(detections, truth, GATE)).toEqual([false, true, true, false, true]);
  });

  it('keeps a detection that found objects on both sides of the edge, and every detection without a gate', () => {
    const truth = [at(0, 40, 79), at(2, 40, 81)];
    expect(detectionsInGate([at(1, 40, 200)], truth, GATE)).toEqual([true]);
    expect(detectionsInGate([at(400, 40, 10)], truth, undefined)).toEqual([true]);
  });
});
