/**
 * One split policy in both languages: the trainer's own validation hold-out
 * (training-container/exodetect_train/split.py, used when a dataset has no
 * validation channel) takes the images the split step (assignGroups) puts in
 * validation, for the same names, fraction and seed.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { assignGroups } from '../../lambdas/training/dataset-split.js';

const TRAINING_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'training-container');
const PYTHON = '/usr/bin/python3';

const PYTHON_HOLD_OUT = `
import json, sys
from exodetect_train.annotations import LabelledImage
from exodetect_train.split import split_validation
import numpy as np
cases = json.load(sys.stdin)
out = []
for case in cases:
    images = [LabelledImage(rel_path=name, path=name, width=64, height=64, nm_per_px=1.0, nm_per_px_source="dataset", boxes=np.zeros((0, 4), np.float32), classes=np.zeros(0, np.int64))
              for name in case["names"]]
    train, val = split_validation(images, case["fraction"], case["seed"])
    out.append(sorted(li.rel_path for li in val))
json.dump(out, sys.stdout)
`;

describe('the train/validation split policy', () => {
  it('holds out the same images in Python as the split step in TypeScript', () => {
    const names = (n: number, stem: string) => Array.from({ length: n }, (_, i) => `${stem}/grid ${i % 3}/img-${String(i).padStart(3, '0')}.png`);
    // 10 x 0.25 = 2.5 rounds up on both sides (Python's round() would give 2).
    const cases = [
      { names: names(10, 'a'), fraction: 0.25, seed: 42 },
      { names: names(37, 'b'), fraction: 0.2, seed: 7 },
      { names: names(200, 'c'), fraction: 0.1, seed: 123456 },
      { names: ['x.png', 'y.png'], fraction: 0.2, seed: 1 },
    ];
    const python = JSON.parse(
      execFileSync(PYTHON, ['-c', PYTHON_HOLD_OUT], { cwd: TRAINING_DIR, input: JSON.stringify(cases), encoding: 'utf8' }),
    ) as string[][];
    cases.forEach((c, i) => {
      const channels = assignGroups(c.names, { validation: c.fraction, test: 0 }, c.seed);
      const validation = c.names.filter((n) => channels.get(n) === 'validation').sort();
      expect(validation.length).toBe(Math.max(1, Math.round(c.names.length * c.fraction)));
      expect(python[i], `case ${i}`).toEqual(validation);
    });
  });
});
