/**
 * `exodetect train`: an annotated folder goes to datasets/<name>/ in the
 * local S3, then the training state machine runs (check, split, the trainer
 * as the local SageMaker job, register, promote by the same rule as in AWS).
 * With `--annotations` (the report's review download), that file and the
 * images it names go there instead: the images from the batch in the local
 * store, or from the folder given.
 */
import path from 'node:path';
import { stat } from 'node:fs/promises';
import { PREFIX } from '../../lambdas/core/keys.js';
import { reviewedDatasetName } from '../../lambdas/results/review-page.js';
import { InputError } from '../errors.js';
import { progressBar } from '../progress.js';
import type { ExecutionOutcome } from '../stepfunctions/runner.js';
import { findImages, LocalWorkflow, type LocalWorkflowProps } from '../workflow.js';
import { annotationsStem, readReviewedAnnotations, stageCorrections, type ReviewedAnnotations } from './corrections.js';
import { checkDatasetName, datasetNameFrom } from './dataset-name.js';
import { DEFAULT_DATA_DIR } from './run.js';

export interface TrainLocallyOptions {
  /** The annotated folder; with annotationsFile, the folder with the images it names (default: the batch in the local store). */
  readonly datasetDir?: string;
  /** A reviewed COCO file (report.html's download): it and its images are the dataset. */
  readonly annotationsFile?: string;
  /** Name under datasets/. Default: the folder's name; with annotationsFile, "<batch id>-reviewed". */
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

/** What goes under datasets/<name>/, checked before the local S3 starts. */
async function datasetSource(options: TrainLocallyOptions): Promise<{ dataset: string; annotations?: ReviewedAnnotations }> {
  if (options.annotationsFile) {
    const annotations = await readReviewedAnnotations(options.annotationsFile);
    if (options.datasetDir && !(await stat(options.datasetDir).then((s) => s.isDirectory(), () => false))) throw new InputError(`${options.datasetDir} is not a folder`);
    const dataset = options.datasetName ?? reviewedDatasetName(annotations.batchId ?? annotationsStem(options.annotationsFile));
    return { dataset, annotations };
  }
  if (!options.datasetDir) throw new InputError('give the annotated folder, or --annotations with a reviewed COCO file');
  await findImages(options.datasetDir);
  return { dataset: options.datasetName ?? datasetNameFrom(options.datasetDir) };
}

export async function trainLocally(options: TrainLocallyOptions): Promise<ExecutionOutcome> {
  const { dataset, annotations } = await datasetSource(options);
  checkDatasetName(dataset);
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
    if (annotations) {
      const staged = await stageCorrections({ s3: workflow.s3, bucket: workflow.bucket, annotations, datasetName: dataset, imagesDir: options.datasetDir });
      options.onLog?.(`put ${annotations.file} and its ${staged.images} images (from the ${staged.source === 'bucket' ? `batch ${annotations.batchId} in the local store` : `folder ${options.datasetDir}`}) under ${staged.prefix}`);
    } else {
      const files = await workflow.uploadDirectory(options.datasetDir!, `${PREFIX.datasets}${dataset}/`);
      options.onLog?.(`uploaded ${files} files to datasets/${dataset}/`);
    }
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
