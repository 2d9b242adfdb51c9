/**
 * Named errors. `ImageError`s are per-image: they become an error record and
 * the batch goes on. Everything else fails the invocation under its own name:
 * the state machines retry transient errors and stop at once on the permanent
 * ones listed in `PERMANENT_ERROR_NAMES`.
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

/** A handler received an event that does not have the documented shape (statemachines/README.md). */
export class EventShapeError extends ExodetectError {}

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

/**
 * Error names that no retry can mend: bad input or configuration, a missing or
 * unreadable model or dataset, and programming errors. Every Lambda task in
 * statemachines/*.asl.json lists exactly these first, with MaxAttempts 0, ahead
 * of the retriers for transient failures (tests/infra/asl.test.ts checks both
 * the ASL and that every named error class of lambdas/ is accounted for).
 */
export const PERMANENT_ERROR_NAMES = [
  'ConfigError',
  'ModelError',
  'BatchManifestError',
  'EventShapeError',
  'DatasetError',
  'ModelArtifactError',
  'ChampionRecordError',
  'SummarizeInputError',
  'ResultsFolderError',
  'AnnotationParseError',
  'TarFormatError',
  'InvalidStatisticsInputError',
  'TypeError',
  'RangeError',
  'ReferenceError',
  'SyntaxError',
] as const;

/** Named errors that never leave a handler: ImageError becomes a per-image record; the others are caught where they arise. */
export const NON_INVOCATION_ERROR_NAMES = ['ImageError', 'ResultDocumentError', 'GluePartitionError', 'AnnotationExportError', 'TiffLayoutError'] as const;
