/**
 * check-dataset's logic: the first state of the training state machine.
 * Fingerprints datasets/<name>/ and decides whether a training run is worth it.
 */
import { createHash } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { DATASET_NAME_PATTERN, PREFIX } from '../shared/keys.js';
import { readChampion } from './champion.js';
import { isAnnotationFile, isImage } from './dataset-files.js';
import { DatasetError } from './errors.js';
import { listAllObjects, type ListedObject } from '../shared/s3-objects.js';


/** The training state machine's input (statemachines/README.md). */
export const TrainingRequestSchema = z
  .object({
    dataset: z.string().regex(DATASET_NAME_PATTERN, 'dataset must be a folder name under datasets/ (letters, digits, . _ -)'),
    force: z.boolean().optional(),
    /** Fine-tune from a model's weights (models/<version>/model.pt): 'champion', 'default' or a version. Default: train from scratch. */
    initFrom: z.string().regex(/^[A-Za-z0-9._-]+$/, 'initFrom must be "champion", "default" or a model version').optional(),
    hyperparameters: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
    /** nm/px of every image of the dataset: wins over dataset.json, COCO scales and the files' own calibration. */
    nmPerPx: z.number().positive().max(1000).optional(),
    split: z
      .object({
        by: z.enum(['image', 'group']).optional(),
        validationFraction: z.number().gt(0).lt(1).optional(),
        testFraction: z.number().min(0).lt(1).optional(),
        seed: z.number().int().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();
export type TrainingRequest = z.infer<typeof TrainingRequestSchema>;

export interface CheckDatasetInput {
  readonly bucket: string;
  readonly request: unknown;
}

export interface DatasetCheck {
  readonly bucket: string;
  readonly dataset: string;
  readonly datasetPrefix: string;
  readonly fingerprint: string;
  readonly changed: boolean;
  readonly reason: string;
  readonly championVersion: string | null;
  readonly championFingerprint: string | null;
  readonly imageCount: number;
  readonly annotationFiles: number;
  readonly runId: string;
  readonly modelVersion: string;
  readonly trainingJobName: string;
  readonly request: TrainingRequest;
}

export function parseTrainingRequest(request: unknown): TrainingRequest {
  const parsed = TrainingRequestSchema.safeParse(request);
  if (!parsed.success) {
    throw new DatasetError(`invalid training request ${JSON.stringify(request)}: ${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}

/**
 * SHA-256 over the sorted (relative key, size, ETag) lines. Any added, removed,
 * renamed or rewritten file changes it; listing order does not.
 */
export function datasetFingerprint(objects: readonly ListedObject[], datasetPrefix: string): string {
  const lines = objects
    .map((o) => `${o.key.slice(datasetPrefix.length)}\t${o.size}\t${o.etag}`)
    .sort();
  return createHash('sha256').update(lines.join('\n')).digest('hex');
}

/** `20261125-083000-1a2b3c4d`: sortable, unique per second and dataset state, valid as a SageMaker job name part. */
export function runIdFor(now: Date, fingerprint: string): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${stamp}-${fingerprint.slice(0, 8)}`;
}

export async function checkDataset(s3: S3Client, input: CheckDatasetInput, now: Date = new Date()): Promise<DatasetCheck> {
  const request = parseTrainingRequest(input.request);
  const datasetPrefix = `${PREFIX.datasets}${request.dataset}/`;
  const objects = await listAllObjects(s3, input.bucket, datasetPrefix);
  if (objects.length === 0) {
    throw new DatasetError(`s3://${input.bucket}/${datasetPrefix} is empty or does not exist`);
  }
  const relative = objects.map((o) => o.key.slice(datasetPrefix.length));
  const imageCount = relative.filter(isImage).length;
  const annotationFiles = relative.filter(isAnnotationFile).length;
  if (imageCount === 0) {
    throw new DatasetError(`s3://${input.bucket}/${datasetPrefix} holds no images (.png, .jpg, .jpeg, .tif, .tiff)`);
  }
  if (annotationFiles === 0) {
    throw new DatasetError(
      `s3://${input.bucket}/${datasetPrefix} holds ${imageCount} images but no annotation files (YOLO .txt, COCO .json, VOC .xml, makesense .csv)`,
    );
  }

  const fingerprint = datasetFingerprint(objects, datasetPrefix);
  const champion = await readChampion(s3, input.bucket);
  const championFingerprint = champion?.dataset_listing_fingerprint ?? champion?.dataset_fingerprint ?? null;
  let changed = true;
  let reason: string;
  if (champion === undefined) {
    reason = 'no trained champion yet: the new model is promoted only if it beats the bundled default model on the held-out images';
  } else if (request.force) {
    reason = `forced: training although the dataset ${championFingerprint === fingerprint ? 'is unchanged' : 'changed'}`;
  } else if (champion.dataset !== undefined && champion.dataset !== request.dataset) {
    reason = `the champion ${champion.version} was trained on dataset "${champion.dataset}", this run uses "${request.dataset}"`;
  } else if (championFingerprint !== fingerprint) {
    reason = `datasets/${request.dataset}/ changed since the champion ${champion.version} was trained`;
  } else {
    changed = false;
    // Only the data is compared (the champion record keeps no settings): say so, or new settings read as ignored.
    reason = `nothing changed: datasets/${request.dataset}/ is identical to what the champion ${champion.version} was trained on (only the data is compared, not hyperparameters or where training starts)`;
  }

  const runId = runIdFor(now, fingerprint);
  return {
    bucket: input.bucket,
    dataset: request.dataset,
    datasetPrefix,
    fingerprint,
    changed,
    reason,
    championVersion: champion?.version ?? null,
    championFingerprint,
    imageCount,
    annotationFiles,
    runId,
    modelVersion: runId,
    trainingJobName: `exodetect-${runId}`,
    request,
  };
}
