/**
 * The trainer's schedule line (train.py `resolve_epochs`) as `exodetect train` reads it: the number of epochs its
 * progress lines count to, and why, when the trainer chose it by the set's size.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { timeLeft, trainerSchedule } from '../../local/commands/train.js';

const TRAINING_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'training-container');
const PYTHON = '/usr/bin/python3';

/** The line the trainer logs for each (epochs hyperparameter, labelled images) case. */
const PYTHON_LINES = `
import json, sys
from exodetect_train.hyperparams import parse_hyperparameters
from exodetect_train.train import resolve_epochs
for given, n in json.load(sys.stdin):
    print(resolve_epochs(parse_hyperparameters({"epochs": given}), n)[1])
`;

describe('the trainer schedule line', () => {
  it('gives the number of epochs, and the reason when the trainer chose it by the set size', () => {
    const cases: [string, number][] = [['', 200], ['', 30], ['12', 200]];
    const lines = execFileSync(PYTHON, ['-c', PYTHON_LINES], {
      cwd: TRAINING_DIR,
      env: { ...process.env, PYTHONPATH: TRAINING_DIR },
      input: JSON.stringify(cases),
    })
      .toString()
      .trim()
      .split('\n');
    expect(lines.map(trainerSchedule)).toEqual([
      { epochs: 80, auto: 'auto: 200 labelled images, at least 100' },
      { epochs: 40, auto: 'auto: 30 labelled images, fewer than 100' },
      { epochs: 12 },
    ]);
  });

  it('ignores other lines', () => {
    expect(trainerSchedule('epoch=3 train_loss=0.1 val_ap50=0.8 val_f1=0.7 lr=0.001 epoch_time_s=1.2')).toBeUndefined();
    expect(trainerSchedule('refit: training again on all 30 images')).toBeUndefined();
  });
});

describe('the time left after an epoch', () => {
  it('is the epochs still to run at the pace of the last five', () => {
    // 10 epochs of 30 s, then 5 of 60 s (the host got busy): the pace is 60 s, 20 epochs left -> 20 min.
    expect(timeLeft([...Array(10).fill(30), ...Array(5).fill(60)], 20)).toBe('; ~20 min left');
    expect(timeLeft([12, 14], 3)).toBe('; under a minute left');
  });

  it('is said only while epochs remain', () => {
    expect(timeLeft([25], 0)).toBe('');
    expect(timeLeft([], 10)).toBe('');
  });
});
