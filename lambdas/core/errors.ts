/**
 * Named errors. `ImageError`s are per-image: they become an error record and
 * the batch goes on. Everything else fails the invocation so that Step
 * Functions can retry it.
 */
export class ExodetectError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A configuration value (environment, props, hyperparameters) is missing or malformed. */
export class ConfigError extends ExodetectError {}

/** The model cannot be loaded or does not follow a known output layout. Fails the invocation. */
export class ModelError extends ExodetectError {}

/** The batch manifest (batch.json) is missing or invalid. */
export class BatchManifestError extends ExodetectError {}

/** Codes recorded in an image's error record; stable, for dashboards. */
export type ImageErrorCode =
  | 'EMPTY_FILE'
  | 'NOT_AN_IMAGE'
  | 'TRUNCATED'
  | 'TOO_LARGE'
  | 'UNSUPPORTED_FORMAT'
  | 'UNREADABLE'
  | 'PROCESSING_FAILED'
  /** No nm/px from the batch, the file or the model (added by inference, issue 2). */
  | 'NO_SCALE';

/** One image cannot be processed. Recorded against that image; the batch goes on. */
export class ImageError extends ExodetectError {
  constructor(
    readonly imageKey: string,
    readonly code: ImageErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${imageKey}: ${message}`, options);
  }
}
