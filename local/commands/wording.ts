/** Small wording helpers shared by the commands' console output. */

export { plural } from '../../lambdas/shared/wording.js';

/** A share as a percentage with one decimal; `signed` puts a + before positive values (biases). */
export const percent = (x: number, signed = false): string => `${signed && x > 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;
