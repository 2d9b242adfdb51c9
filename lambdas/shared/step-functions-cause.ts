/**
 * The readable part of a Step Functions Cause. A failed Lambda task's cause
 * is Lambda's JSON ({errorType, errorMessage, trace}), a failed SageMaker
 * .sync job's is the job description (FailureReason); Step Functions' own
 * causes are plain text and kept as they are.
 */
export function readableCause(rawCause: string): string {
  try {
    const parsed: unknown = JSON.parse(rawCause);
    if (parsed !== null && typeof parsed === 'object') {
      const fields = parsed as Record<string, unknown>;
      if (typeof fields.errorMessage === 'string') return fields.errorMessage;
      if (typeof fields.FailureReason === 'string') return fields.FailureReason;
    }
  } catch {
    // Not JSON: keep the text.
  }
  return rawCause;
}
