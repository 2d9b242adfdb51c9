/** Small wording helpers shared by the commands' console output. */

/** "1 image", "3 images". */
export const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** A share as a percentage with one decimal; `signed` puts a + before positive values (biases). */
export const percent = (x: number, signed = false): string => `${signed && x > 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;
