import { describe, expect, it } from 'vitest';
import { describeSplit, describeTraining, type TrainLocallyResult } from '../../local/commands/train.js';
import type { SplitResult } from '../../lambdas/training/dataset-split.js';

/** A finished local training run whose trainer reported these validation figures. */
function finishedRun(validation: Record<string, number | null>): TrainLocallyResult {
  return {
    outcome: { status: 'SUCCEEDED', output: { status: 'promoted' } },
    dataset: 'set',
    initFrom: 'from scratch',
    modelInUse: 'the champion v1',
    promotion: { promoted: true, reason: 'better than the bundled default model', candidate: { version: 'v1', validation: { ap50: 0.9, f1: 0.85, ...validation } } },
  } as unknown as TrainLocallyResult;
}

describe('what exodetect train prints about sizing', () => {
  it("gives the outline head's figures and says inference sizes by the fit first", () => {
    const lines = describeTraining(
      finishedRun({ sizing_n: 250, outline_diameter_median_abs_rel_error: 0.047, outline_diameter_median_abs_error_nm: 3.26, outline_diameter_median_rel_bias: -0.006, outline_diameter_within_10pct: 0.828, box_diameter_median_abs_rel_error: 0.286, box_diameter_median_rel_bias: 0.286 }),
    );
    expect(lines).toContain(
      '  Sizing against the validation outlines (the 250 found objects that have one): its outline head median |error| 4.7% (3.3 nm), bias -0.6%, 82.8% within 10%; boxes alone 28.6%, bias 28.6%. Inference sizes by the outline fitted in the image first, the head\'s where the fit finds no edge (`exodetect evaluate` scores that).',
    );
  });

  it('gives the inference path\'s sizing (the diameter users get) when the head-to-head ran', () => {
    const run = finishedRun({ sizing_n: 28, outline_diameter_median_abs_rel_error: 0.037, outline_diameter_median_abs_error_nm: 4.2, outline_diameter_median_rel_bias: 0.018, outline_diameter_within_10pct: 0.75, box_diameter_median_abs_rel_error: 0.3, box_diameter_median_rel_bias: 0.3 });
    const inference = { ap50: 0.82, f1: 0.72, precision: 0.66, recall: 0.79, sizing_n: 27, outline_diameter_median_abs_rel_error: 0.031, outline_diameter_median_abs_error_nm: 2.9, outline_diameter_median_rel_bias: -0.01, outline_diameter_within_10pct: 0.85, box_diameter_median_abs_rel_error: 0.29, box_diameter_median_rel_bias: 0.29 };
    const withHeadToHead = { ...run, promotion: { ...run.promotion!, headToHead: { champion: { ap50: 0.4, f1: 0.3 }, candidate: inference, images: 10 } } } as unknown as TrainLocallyResult;
    expect(describeTraining(withHeadToHead)).toContain(
      '  Sizing against the validation outlines (the 27 found objects that have one), through the inference path: the reported diameter median |error| 3.1% (2.9 nm), bias -1.0%, 85.0% within 10%; boxes alone 29.0%, bias 29.0%.',
    );
  });

  it('says a model without an outline head has none, instead of printing n/a', () => {
    const lines = describeTraining(
      finishedRun({ sizing_n: 264, outline_diameter_median_abs_rel_error: null, outline_diameter_median_rel_bias: null, outline_diameter_within_10pct: null, box_diameter_median_abs_rel_error: 0.297, box_diameter_median_rel_bias: 0.297 }),
    );
    const sizing = lines.find((l) => l.startsWith('  Sizing'));
    expect(sizing).toBe('  Sizing against the validation outlines (the 264 found objects that have one): boxes alone 29.7%, bias 29.7%; no outline head (outline_rays=0), so inference sizes by the outline fitted in the image.');
    expect(lines.join('\n')).not.toContain('n/a');
  });

  it('says in one line how the shipped model differs from the per-epoch one, which switches the set\'s size turned on, and how to turn them off', () => {
    const plain = finishedRun({ sizing_n: 0 });
    const said = (r: TrainLocallyResult) => describeTraining(r).filter((l) => l.startsWith('  Shipped as:'));
    expect(said(plain)).toEqual([]);
    const small = { ...plain, refit: { images: 30 }, thresholds: { validated: 0.5625, shipped: 0.4525 }, tta: true, halfScalePass: true, split: { hyperparameters: {} } } as unknown as TrainLocallyResult;
    expect(said(small)).toEqual([
      "  Shipped as: refit on all 30 labelled images (the figures above are its validated run's, trained without the held-out images; its threshold, 0.4525, is matched to that run's 0.5625); averaging each image with its three mirror images (tta: 4x the time per image); a second pass at half size for large particles (half_scale_pass: about 1.25x the network time per image). The figures are with the extra passes, the per-epoch lines without. refit, tta, half_scale_pass: on by default below 100 labelled images (a small set gains from them); --hyperparameter refit=false tta=false half_scale_pass=false turns them off.",
    ]);
    // Asked for by name: no "on by default" for it; a moving average is said too.
    const asked = { ...plain, tta: true, split: { hyperparameters: { tta: 'true', ema_half_life_epochs: '2' } } } as unknown as TrainLocallyResult;
    expect(said(asked)).toEqual([
      "  Shipped as: averaging each image with its three mirror images (tta: 4x the time per image); a moving average of the weights (ema_half_life_epochs=2: every epoch's figures and the kept epoch are the average's). The figures are with the extra passes, the per-epoch lines without.",
    ]);
    const halfOnly = { ...plain, halfScalePass: true, split: { hyperparameters: {} } } as unknown as TrainLocallyResult;
    expect(said(halfOnly)[0]).toMatch(/ half_scale_pass: on by default below 100 labelled images \(a small set gains from them\); --hyperparameter half_scale_pass=false turns it off\.$/);
    const off = { ...plain, split: { hyperparameters: { ema_half_life_epochs: '0' } } } as unknown as TrainLocallyResult;
    expect(said(off)).toEqual([]);
  });

  it('puts the verdict first: promoted or not, and which model run uses', () => {
    const promoted = { ...finishedRun({ sizing_n: 0 }), elapsedSeconds: 60 } as TrainLocallyResult;
    const lines = describeTraining(promoted);
    expect(lines.slice(0, 3)).toEqual(['Trained in 1 min 0 s.', 'PROMOTED: model v1 is the champion now; `exodetect run` uses it.', '  Why: better than the bundled default model.']);
    // Everything after the verdict is indented under it, and the verdict already named the model run uses.
    expect(lines.slice(2).every((l) => l.startsWith('  '))).toBe(true);
    const rejected = {
      ...finishedRun({ sizing_n: 0 }),
      modelInUse: 'the bundled default model (models/default)',
      dataDir: '/tmp/store',
      promotion: { promoted: false, reason: 'not promoted: AP50 is lower', candidate: { version: 'v2', validation: { ap50: 0.5, f1: 0.4 } } },
    } as unknown as TrainLocallyResult;
    expect(describeTraining(rejected).slice(0, 2)).toEqual([
      'NOT PROMOTED: `exodetect run` keeps using the bundled default model (models/default). Model v2 stays in the store: `exodetect models use v2 --data-dir /tmp/store` runs it anyway.',
      '  Why: AP50 is lower.',
    ]);
  });

  it('says how long it took before the figures', () => {
    const run = { ...finishedRun({ sizing_n: 0 }), elapsedSeconds: 511 } as TrainLocallyResult;
    const lines = describeTraining(run);
    expect(lines[0]).toBe('Trained in 8 min 31 s.');
    expect(lines[3]).toMatch(/^ {2}Model v1: validation AP50 0.900, F1 0.850/);
  });

  it('warns that a threshold chosen on few validation objects may be off, and how to check it', () => {
    const few = describeTraining(finishedRun({ sizing_n: 0, n_objects: 18 }));
    expect(few).toContain(
      '  Its score threshold was chosen on 18 annotated objects, so it leans on the prior of 0.5 and may be off for your images. Before trusting counts, score the model on other annotated images (`exodetect evaluate <folder> --model v1`): it prints the threshold those images recommend, which `run --score-threshold` takes.',
    );
    expect(describeTraining(finishedRun({ sizing_n: 0, n_objects: 120 })).join('\n')).not.toContain('leans on the prior');
    // A refit model ships with its own threshold, matched to the validated run's: the warning names both.
    const refit = { ...finishedRun({ sizing_n: 0, n_objects: 16 }), refit: { images: 18 }, thresholds: { validated: 0.5342, shipped: 0.4788 } } as TrainLocallyResult;
    const lines = describeTraining(refit);
    expect(lines.find((l) => l.includes('leans on the prior'))).toMatch(
      /^ {2}The score threshold it ships with, 0\.4788, is matched to the validated run's, 0\.5342, which was chosen on 16 annotated objects, so it leans on the prior of 0\.5 /,
    );
    expect(lines.find((l) => l.startsWith('  Shipped as: refit on all 18'))).toContain('its threshold, 0.4788, is matched to that run\'s 0.5342)');
  });
});

describe('the split line', () => {
  const split = (train: [number, number], validation: [number, number]) =>
    ({
      counts: { train: { images: train[0], objects: train[1] }, validation: { images: validation[0], objects: validation[1] }, by: 'image', seed: 0 },
      problems: { count: 0, byKind: {}, key: 'k', first: [], missingImages: [] },
    }) as unknown as SplitResult;

  it('says how to hold out enough objects to promote: a fraction to try at the set\'s density', () => {
    // A stranger's 20 images: 16/4 with 27 of 112 objects held out, under the 30 a promotion needs.
    const note = describeSplit(split([16, 85], [4, 27]), 'from scratch', 'problems.txt').find((l) => l.startsWith('Note:'));
    expect(note).toContain('(--validation-fraction 0.3 holds out about 6 of 20 images, ~34 objects at this set\'s density; or annotate more images).');
  });

  it('names the images trained at an assumed scale, and says nothing when every image has one', () => {
    const unscaled = (images: number, first: string[]) => ({ images, first });
    const withScales = split([16, 85], [10, 40]);
    const some = {
      ...withScales,
      counts: { ...withScales.counts, train: { ...withScales.counts.train!, unscaled: unscaled(7, ['a.png', 'b.png', 'c.png', 'd.png', 'e.png']) }, validation: { ...withScales.counts.validation!, unscaled: unscaled(1, ['f.png']) } },
    } as SplitResult;
    const note = describeSplit(some, 'from scratch', 'problems.txt').filter((l) => l.startsWith('Note: no scale'));
    expect(note).toEqual([
      "Note: no scale for 8 images (a.png, b.png, c.png, d.png, e.png, f.png and 2 more): not in dataset.json, the annotation files or the image (no metadata, no scale bar that read), so the trainer takes them to be at its training scale: if they are not, their particles are learnt at the wrong size. Give dataset.json or --nm-per-px; exodetect check lists each image's scale.",
    ]);
    expect(describeSplit(withScales, 'from scratch', 'problems.txt').some((l) => l.startsWith('Note: no scale'))).toBe(false);
  });

  it('says when the held-out share was raised above the fraction, and not otherwise', () => {
    const plain = split([20, 68], [10, 34]);
    const raised = { ...plain, counts: { ...plain.counts, validationRaised: { fraction: 0.2, byFraction: 6, minimum: 10 } } } as SplitResult;
    expect(describeSplit(raised, 'fine-tuned from the bundled default model', 'problems.txt')[0]).toBe(
      'Split: train 20 images (68 objects), validation 10 images (34 objects: at least 10 images are held out when --validation-fraction is left out, as the fraction\'s 0.2 would hold out 6, too few to choose the best epoch and the threshold on); fine-tuned from the bundled default model.',
    );
    expect(describeSplit(plain, 'from scratch', 'problems.txt')[0]).toBe('Split: train 20 images (68 objects), validation 10 images (34 objects); from scratch.');
  });

  it('suggests no fraction where half the images would not hold enough, and says nothing when validation holds enough', () => {
    const sparse = describeSplit(split([8, 16], [2, 4]), 'from scratch', 'problems.txt').find((l) => l.startsWith('Note:'));
    expect(sparse).toMatch(/will not replace the one run uses \(annotate more images\)\.$/);
    expect(describeSplit(split([20, 68], [10, 34]), 'from scratch', 'problems.txt').some((l) => l.startsWith('Note:'))).toBe(false);
  });
});
