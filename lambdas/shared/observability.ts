/**
 * Powertools for AWS Lambda, one set per handler. Outside Lambda the tracer
 * switches itself off and POWERTOOLS_METRICS_DISABLED / POWERTOOLS_DEV keep
 * metrics quiet, so the same handlers run in the local runner and in tests.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';

export const METRICS_NAMESPACE = 'exodetect';

export interface Observability {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly tracer: Tracer;
}

/** `name` becomes the service `exodetect-<name>` (the metrics dimension the dashboard reads). */
export function createObservability(name: string): Observability {
  const serviceName = `exodetect-${name}`;
  return {
    logger: new Logger({ serviceName }),
    metrics: new Metrics({ namespace: METRICS_NAMESPACE, serviceName }),
    tracer: new Tracer({ serviceName }),
  };
}
