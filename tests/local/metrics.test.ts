/**
 * The TypeScript metrics (exodetect evaluate) against the trainer's Python
 * metrics (training-container/exodetect_train/metrics.py) on the same predictions.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { evaluateDetections, npSum, pyRound, type ImageEval, type XyxyBox } from '../../lambdas/evaluation/detection-metrics.js';

const TRAINING_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'training-container');
const PYTHON = '/usr/bin/python3';

/** Deterministic pseudo-random numbers (LCG), so a failure reproduces. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function syntheticImages(seed: number, count: number, numClasses: number): ImageEval[] {
  const r = rng(seed);
  return Array.from({ length: count }, (_, k) => {
    const gtBoxes: XyxyBox[] = [];
    const gtClasses: number[] = [];
    const predBoxes: XyxyBox[] = [];
    const predScores: number[] = [];
    const predClasses: number[] = [];
    const nGt = k === 1 ? 0 : Math.floor(r() * 12);
    for (let g = 0; g < nGt; g++) {
      const x = r() * 400;
      const y = r() * 400;
      const s = 20 + r() * 80;
      const box: XyxyBox = [x, y, x + s, y + s * (0.8 + r() * 0.4)];
      gtBoxes.push(box);
      gtClasses.push(Math.floor(r() * numClasses));
      if (r() < 0.8) {
        const j = () => (r() - 0.5) * s * 0.4;
        predBoxes.push([box[0] + j(), box[1] + j(), box[2] + j(), box[3] + j()]);
        // Quantised scores make ties, which both implementations must order the same way.
        predScores.push(Math.round(r() * 20) / 20);
        predClasses.push(r() < 0.9 ? gtClasses[g]! : (gtClasses[g]! + 1) % numClasses);
      }
    }
    const nFalse = k === 2 ? 0 : Math.floor(r() * 5);
    for (let f = 0; f < nFalse; f++) {
      const x = r() * 450;
      const y = r() * 450;
      predBoxes.push([x, y, x + 10 + r() * 40, y + 10 + r() * 40]);
      predScores.push(r());
      predClasses.push(Math.floor(r() * numClasses));
    }
    // Outlines: the truth's a little smaller than its box (one in five has none), the predictions' near it.
    const gtDiameters = gtBoxes.map((b) => (r() < 0.2 ? Number.NaN : Math.sqrt((b[2] - b[0]) * (b[3] - b[1])) * (0.7 + 0.1 * r())));
    const predDiameters = predBoxes.map((b) => Math.sqrt((b[2] - b[0]) * (b[3] - b[1])) * (0.65 + 0.2 * r()));
    return { predBoxes, predScores, predClasses, gtBoxes, gtClasses, nmPerPx: 1 + (k % 3) * 0.5, predDiameters, gtDiameters };
  }).map((img, k) => (k === 3 ? { ...img, predBoxes: [], predScores: [], predClasses: [], predDiameters: [] } : k === 4 ? { ...img, predDiameters: undefined } : img));
}

const PYTHON_EVAL = `
import json, sys
import numpy as np
from exodetect_train.metrics import ImageEval, evaluate_detections
cases = json.load(sys.stdin)
out = []
for case in cases:
    # JSON has no NaN: a truth without an outline arrives as null, which numpy reads as NaN.
    imgs = [ImageEval(np.array(i["predBoxes"], dtype=np.float64).reshape(-1, 4), np.array(i["predScores"], dtype=np.float64),
                      np.array(i["predClasses"], dtype=np.int64), np.array(i["gtBoxes"], dtype=np.float64).reshape(-1, 4),
                      np.array(i["gtClasses"], dtype=np.int64), float(i["nmPerPx"]),
                      np.array(i["predDiameters"], dtype=np.float64) if i.get("predDiameters") is not None else None,
                      np.array(i["gtDiameters"], dtype=np.float64) if i.get("gtDiameters") is not None else None)
            for i in case["images"]]
    out.append(evaluate_detections(imgs, case["numClasses"], case["threshold"]))
print(json.dumps(out))
`;

describe('metrics', () => {
  it('rounds like Python and sums like numpy', () => {
    expect(pyRound(0.03125, 4)).toBe(0.0312);
    expect(pyRound(0.03135, 4)).toBe(0.0314);
    expect(pyRound(2.5, 0)).toBe(2);
    expect(pyRound(0.123456, 4)).toBe(0.1235);
    expect(npSum([0.1, 0.2, 0.3])).toBe(0.1 + (0 + 0.2 + 0.3));
  });

  it('finds perfect detections perfect and misses missing ones', () => {
    const gt: XyxyBox[] = [
      [0, 0, 10, 10],
      [20, 20, 40, 40],
    ];
    const perfect = evaluateDetections([{ predBoxes: gt, predScores: [0.9, 0.8], predClasses: [0, 0], gtBoxes: gt, gtClasses: [0, 0], nmPerPx: 2 }], 1, 0.5);
    expect(perfect).toMatchObject({ precision: 1, recall: 1, f1: 1, ap50: 1, ap50_95: 1, diameter_median_abs_error_nm: 0, n_objects: 2 });
    const half = evaluateDetections([{ predBoxes: [gt[0]!], predScores: [0.9], predClasses: [0], gtBoxes: gt, gtClasses: [0, 0], nmPerPx: 2 }], 1, 0.5);
    expect(half).toMatchObject({ precision: 1, recall: 0.5, ap50: 0.505 });
  });

  it('measures sizes against the true outlines: the outline error and bias, and the box figure beside them', () => {
    const gt: XyxyBox[] = [
      [0, 0, 40, 40],
      [100, 100, 140, 140],
      [200, 200, 260, 260],
    ];
    // True outlines are 0.75 of the boxes; the predicted outlines are 4% too large, 2% too small and 20% too large.
    const gtDiameters = [30, 30, Number.NaN];
    const image = { predBoxes: gt, predScores: [0.9, 0.8, 0.7], predClasses: [0, 0, 0], gtBoxes: gt, gtClasses: [0, 0, 0], nmPerPx: 2, gtDiameters };
    const withOutlines = evaluateDetections([{ ...image, predDiameters: [31.2, 29.4, 50] }], 1, 0.5);
    expect(withOutlines).toMatchObject({ sizing_n: 2, outline_diameter_median_abs_rel_error: 0.03, outline_diameter_median_rel_bias: 0.01, outline_diameter_within_10pct: 1 });
    // In nm at 2 nm/px: |31.2 - 30| and |29.4 - 30| px are 2.4 and 1.2 nm, median 1.8.
    expect(withOutlines).toMatchObject({ outline_diameter_median_abs_error_nm: 1.8, box_diameter_median_abs_error_nm: 20 });
    // Boxes alone: 40 against 30, a third too large, none within 10%.
    expect(withOutlines).toMatchObject({ box_diameter_median_abs_rel_error: 0.3333, box_diameter_median_rel_bias: 0.3333, box_diameter_within_10pct: 0 });
    const boxesOnly = evaluateDetections([image], 1, 0.5);
    expect(boxesOnly).toMatchObject({ sizing_n: 2, outline_diameter_median_abs_rel_error: null, box_diameter_median_rel_bias: 0.3333 });
    const noTruthOutlines = evaluateDetections([{ ...image, gtDiameters: undefined, predDiameters: [31.2, 29.4, 50] }], 1, 0.5);
    expect(noTruthOutlines).toMatchObject({ sizing_n: 0, outline_diameter_median_abs_rel_error: null, box_diameter_within_10pct: null });
  });

  it('agrees with the trainer metrics.py on the same predictions', () => {
      const cases = [
        { images: syntheticImages(1, 12, 1), numClasses: 1, threshold: null },
        { images: syntheticImages(2, 20, 1), numClasses: 1, threshold: 0.5 },
        { images: syntheticImages(3, 9, 2), numClasses: 2, threshold: null },
        { images: syntheticImages(4, 4, 1), numClasses: 1, threshold: 0.05 },
      ];
      const python = JSON.parse(
        execFileSync(PYTHON, ['-c', PYTHON_EVAL], { cwd: TRAINING_DIR, env: { ...process.env, PYTHONPATH: TRAINING_DIR }, input: JSON.stringify(cases) }).toString(),
      ) as unknown[];
      const ours = cases.map((c) => evaluateDetections(c.images, c.numClasses, c.threshold ?? undefined));
      expect(ours).toEqual(python);
      // The cases exercise something: neither all-perfect nor all-empty, and sizes with and without outlines.
      expect(ours.some((m) => m.ap50 > 0.2 && m.ap50 < 1)).toBe(true);
      expect(ours.every((m) => m.sizing_n > 2 && m.outline_diameter_median_abs_rel_error !== null && m.box_diameter_median_rel_bias! > 0.1)).toBe(true);
  });
});
