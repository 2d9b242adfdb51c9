/** Wording helpers for what people read: console lines, picture keys, reports. */

/** "1 image", "3 images". */
export const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** A share as a percentage with one decimal; `signed` puts a + before positive values (biases). */
export const percent = (x: number, signed = false): string => `${signed && x > 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;

/** Where a batch's score threshold came from (summary.json `thresholds[].score_source`), in words. */
export function scoreSourceWords(source: string): string {
  if (source === 'batch') return 'the batch manifest';
  if (source === 'model') return "the model's recommended threshold";
  return 'the default: the model names none';
}
