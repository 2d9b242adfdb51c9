/** Small wording helpers shared by the commands' console output. */

export { percent, plural } from '../../lambdas/shared/wording.js';
