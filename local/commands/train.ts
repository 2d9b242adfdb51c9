/**
 * `exodetect train`: an annotated folder goes to datasets/<name>/ in the
 * local S3, then the training state machine runs (check, split, the trainer
 * as the local SageMaker job, register, promote by the same rule as in AWS).
 */
import path from 'node:path';
import { stat } from 'node:fs/promises';
import { PREFIX } from '../../lambdas/core/keys.js';
import { InputError } from '../errors.js';
import { progressBar } from '../progress.js';
import type { ExecutionOutcome } from '../stepfunctions/runner.js';
import { findImages, LocalWorkflow, type LocalWorkflowProps } from '../workflow.js';
import { DEFAULT_DATA_DIR } from './run.js';

export interface TrainLocallyOptions {
  readonly datasetDir: string;
  /** Name under datasets/. Default: the folder's name. */
  readonly datasetName?: string;
  readonly epochs?: number;
  readonly batchSize?: number;
  readonly nmPerPx?: number;
  readonly validationFraction?: number;
  /** More trainer hyperparameters (strings, as SageMaker passes them). */
  readonly hyperparameters?: Readonly<Record<string, string>>;
  /** Train even when the dataset did not change since the champion. */
  readonly force?: boolean;
  readonly dataDir?: string;
  readonly port?: number;
  /** Progress bar over epochs. Default: true. */
  readonly progress?: boolean;
  /** Every trainer log line. Default: none (the progress bar only). */
  readonly onLog?: (line: string) => void;
  readonly workflowProps?: Partial<LocalWorkflowProps>;
}

/** Dataset names become S3 prefixes and training job names. */
export const DATASET_NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,39}$/;

export function datasetNameFrom(dir: string): string {
  return (
    path
      .basename(path.resolve(dir))
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 40) || 'dataset'
  );
}

export async function trainLocally(options: TrainLocallyOptions): Promise<ExecutionOutcome> {
  await findImages(options.datasetDir);
  if (!(await stat(options.datasetDir)).isDirectory()) throw new InputError(`${options.datasetDir} is not a folder`);
  const dataset = options.datasetName ?? datasetNameFrom(options.datasetDir);
  if (!DATASET_NAME_PATTERN.test(dataset)) throw new InputError(`dataset name "${dataset}" must be 1-40 characters of a-z, 0-9 and '-'`);
  if (options.validationFraction !== undefined && !(options.validationFraction > 0 && options.validationFraction < 1)) {
    throw new InputError(`--validation-fraction must be between 0 and 1, got ${options.validationFraction}`);
  }
  const hyperparameters: Record<string, string> = {
    ...(options.epochs !== undefined && { epochs: String(options.epochs) }),
    ...(options.batchSize !== undefined && { batch_size: String(options.batchSize) }),
    ...(options.nmPerPx !== undefined && { default_image_nm_per_px: String(options.nmPerPx) }),
    ...options.hyperparameters,
  };
  const workflow = await LocalWorkflow.start({ dataDir: path.resolve(options.dataDir ?? DEFAULT_DATA_DIR), port: options.port, ...options.workflowProps });
  const epochs = Number(hyperparameters.epochs ?? 40);
  const bar = (options.progress ?? true) ? progressBar({ label: 'Training epochs', total: epochs }) : undefined;
  const onLog = (line: string) => {
    // The trainer's per-epoch line starts with `epoch=N ` (its summary line has best_epoch=, not this).
    const epoch = /^epoch=(\d+)\s/.exec(line);
    if (epoch) bar?.update(Number(epoch[1]));
    options.onLog?.(line);
  };
  workflow.trainingEvents.on('log', onLog);
  try {
    const files = await workflow.uploadDirectory(options.datasetDir, `${PREFIX.datasets}${dataset}/`);
    options.onLog?.(`uploaded ${files} files to datasets/${dataset}/`);
    const execution = workflow.training.startExecution({
      dataset,
      force: options.force ?? false,
      hyperparameters,
      split: { by: 'image', validationFraction: options.validationFraction ?? 0.2, testFraction: 0, seed: 42 },
    });
    return await execution.done;
  } finally {
    bar?.stop();
    workflow.trainingEvents.off('log', onLog);
    await workflow.close();
  }
}
