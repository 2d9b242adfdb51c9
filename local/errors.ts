import { ExodetectError } from '../lambdas/shared/errors.js';

/** Something the user gave the `exodetect` command is unusable: the message says what and where. */
export class InputError extends ExodetectError {}
