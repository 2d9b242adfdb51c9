/**
 * Explicit limits for tests that run the real trainer (PyTorch on CPU) or the synthetic-data generator:
 * seconds on an idle 2-core machine, but a CI machine may be slower and busier. Generous on purpose:
 * a limit exists to end a hung test, never to measure speed (benchmarks do that).
 */
export const TRAINER_TIMEOUT_MS = 600_000;
