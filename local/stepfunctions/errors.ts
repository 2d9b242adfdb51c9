import { ExodetectError } from '../../lambdas/shared/errors.js';

/** The ASL cannot be run locally as written (bad JSON, missing substitution, JSONata, clashing names). */
export class LocalDefinitionError extends ExodetectError {}

/** A Task's Resource has no local stand-in: locally nothing is ever sent to AWS. */
export class NoLocalBindingError extends ExodetectError {}

/** A second StartExecution with a name already used (Step Functions' ExecutionAlreadyExists). */
export class ExecutionAlreadyExistsError extends ExodetectError {}

/**
 * An error as Step Functions sees it: `name` is the error name that Retry and
 * Catch match (`States.TaskFailed`, a Lambda's errorType, ...), `message` the Cause.
 */
export class StatesError extends Error {
  constructor(errorName: string, cause: string) {
    super(cause);
    this.name = errorName;
  }
}
