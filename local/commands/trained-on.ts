/**
 * Which of the images `exodetect evaluate` scores a store model trained on: figures on those are optimistic, and a
 * user who scores the folder they trained on should be told. The model's run record (`training/<version>/split.json`)
 * names its training images; an image counts when the scored file has the same path in its folder and the same
 * bytes as the copy the run trained on (the store's ETag is the file's MD5), so another folder that happens to
 * use the same file names is not mistaken for it.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { modelMetricsKey, PREFIX, trainingRunKeys } from '../../lambdas/shared/keys.js';
import { getObjectText } from '../../lambdas/shared/s3-objects.js';
import { LOCAL_BUCKET } from '../workflow.js';

export interface TrainingImages {
  /** The run (the model's version). */
  readonly run: string;
  /** Path in the dataset folder -> the MD5 of the copy the run trained on. */
  readonly md5: ReadonlyMap<string, string>;
}

/** A training run's split.json (`exodetect-split`), as far as its readers here need it. */
export interface SplitRecord {
  readonly format?: string;
  readonly run_id?: string;
  readonly dataset?: string;
  readonly channels?: Record<string, { readonly images?: unknown }>;
}

/** The images of the named channels of a split record (paths in the dataset folder). */
export function channelImages(split: SplitRecord, channels: readonly string[]): string[] {
  return channels.flatMap((c) => {
    const images = split.channels?.[c]?.images;
    return Array.isArray(images) ? (images as string[]) : [];
  });
}

/**
 * The images a store model was trained on: its run's train channel, and with a refit the validation channel too
 * (`validatedOnly`: the run's validated model, trained on the train channel alone). Undefined when the store holds no
 * record of the run (a model file, the bundled model, a store from before split records).
 */
export async function storeTrainingImages(s3: S3Client, version: string, validatedOnly: boolean): Promise<TrainingImages | undefined> {
  const splitText = await getObjectText(s3, LOCAL_BUCKET, trainingRunKeys(version).split);
  if (splitText === undefined) return undefined;
  const split = JSON.parse(splitText) as SplitRecord;
  const metricsText = validatedOnly ? undefined : await getObjectText(s3, LOCAL_BUCKET, modelMetricsKey(version));
  const refit = metricsText !== undefined && (JSON.parse(metricsText) as { refit?: unknown }).refit != null;
  const files = channelImages(split, refit ? ['train', 'validation'] : ['train']);
  const md5 = new Map<string, string>();
  for (const file of files) {
    const head = await s3
      .send(new HeadObjectCommand({ Bucket: LOCAL_BUCKET, Key: `${PREFIX.datasets}${split.dataset}/${file}` }))
      .catch(() => undefined);
    if (head?.ETag) md5.set(file, head.ETag.replaceAll('"', ''));
  }
  return { run: version, md5 };
}

/** The scored files (paths in `datasetDir`) that are byte for byte images the model trained on. */
export async function scoredTrainingImages(datasetDir: string, files: readonly string[], trained: TrainingImages): Promise<string[]> {
  const same: string[] = [];
  for (const file of files) {
    const md5 = trained.md5.get(file);
    if (md5 === undefined) continue;
    const bytes = await readFile(path.join(datasetDir, file)).catch(() => undefined);
    if (bytes && createHash('md5').update(bytes).digest('hex') === md5) same.push(file);
  }
  return same;
}
