/**
 * A promotion's figures in words, for people: what `exodetect train` prints at its end and what the promote step adds
 * to the model's card, so both say the same.
 */
import type { PromotionResult } from './promotion.js';
import { percent, plural } from '../shared/wording.js';

/**
 * The validation figures in words: detection (through the inference path when the head-to-head ran, else the
 * trainer's), then sizing against the validation outlines when there are some. Said at the end of `exodetect train`, and
 * added to the model's card by the promote step (cardSection).
 */
export function validationFigureLines(promotion: PromotionResult, refit: boolean): string[] {
  const v = promotion.candidate.validation;
  const h = promotion.headToHead?.candidate;
  const f = (x: unknown) => (typeof x === 'number' ? x.toFixed(3) : '?');
  const lines = [
    h
      ? `${refit ? `Model ${promotion.candidate.version}'s validated run (the same recipe without the held-out images)` : `Model ${promotion.candidate.version}`}, on the ${plural(promotion.headToHead!.images, 'held-out image')} through the inference path: AP50 ${f(h.ap50)}, F1 ${f(h.f1)}, precision ${f(h.precision)}, recall ${f(h.recall)}: the figures to quote, computed as run and evaluate compute them (the trainer's own validation, in PyTorch at the training scale: AP50 ${f(v.ap50)}, F1 ${f(v.f1)}; the per-epoch lines only chose the epoch).`
      : `Model ${promotion.candidate.version}: validation AP50 ${f(v.ap50)}, F1 ${f(v.f1)}${typeof v.precision === 'number' ? `, precision ${f(v.precision)}, recall ${f(v.recall)}` : ''} (the trainer's own, in PyTorch).`,
  ];
  // Sizing against the validation outlines: through the inference path when the head-to-head ran (the diameter
  // users get: the outline fitted in the image first), else the trainer's (its outline head).
  const pct = (x: unknown): string => (typeof x === 'number' ? percent(x) : 'n/a');
  const sizing = h && typeof h.sizing_n === 'number' && h.sizing_n > 0 ? h : v;
  if (typeof sizing.sizing_n === 'number' && sizing.sizing_n > 0) {
    const boxes = `boxes alone ${pct(sizing.box_diameter_median_abs_rel_error)}, bias ${pct(sizing.box_diameter_median_rel_bias)}`;
    const nm = typeof sizing.outline_diameter_median_abs_error_nm === 'number' ? ` (${sizing.outline_diameter_median_abs_error_nm.toFixed(1)} nm)` : '';
    const outline = `median |error| ${pct(sizing.outline_diameter_median_abs_rel_error)}${nm}, bias ${pct(sizing.outline_diameter_median_rel_bias)}, ${pct(sizing.outline_diameter_within_10pct)} within 10%`;
    lines.push(
      sizing === h
        ? `Sizing against the validation outlines (the ${sizing.sizing_n} found objects that have one), through the inference path: the reported diameter ${outline}; ${boxes}.`
        : typeof v.outline_diameter_median_abs_rel_error === 'number'
          ? `Sizing against the validation outlines (the ${v.sizing_n} found objects that have one): its outline head ${outline}; ${boxes}. Inference sizes by the outline fitted in the image first, the head's where the fit finds no edge (\`exodetect evaluate\` scores that).`
          : `Sizing against the validation outlines (the ${v.sizing_n} found objects that have one): ${boxes}; no outline head (outline_rays=0), so inference sizes by the outline fitted in the image.`,
    );
  }
  return lines;
}

/** The card's section on the promotion: the figures through the inference path (what `exodetect run` reports), beside
 * the trainer's own (PyTorch, training scale) that the card gives above, so nobody quotes the wrong one. */
export function cardSection(promotion: PromotionResult, refit: boolean): string {
  const verdict = `Promotion: ${promotion.promoted ? 'promoted' : 'not promoted'}; ${promotion.reason.replace(/^not promoted: /, '')}.`;
  const paragraphs = [...validationFigureLines(promotion, refit), verdict];
  return ['', '## Through the inference path (what `exodetect run` reports)', '', paragraphs.join('\n\n'), ''].join('\n');
}
