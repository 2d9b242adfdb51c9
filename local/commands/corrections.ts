/**
 * The reviewed annotations that report.html downloads (a COCO dataset of the
 * reviewed images, named as in the batch, with nm/px per image) put under
 * datasets/<name>/<batch-id>/ together with the images they name: copied
 * inside the bucket from batches/<batch-id>/images/, or uploaded from a local
 * folder. The annotation file goes last, so a training run that lists the
 * dataset meanwhile never sees labels without their images.
 *
 * Used by `exodetect train --annotations` (the local S3) and
 * `exodetect upload-corrections` (a deployed stack's bucket).
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { CopyObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { BATCH_ID_PATTERN, PREFIX, batchImagesPrefix } from '../../lambdas/shared/keys.js';
import { parseCocoDataset } from '../../lambdas/evaluation/annotation-import.js';
import { mapWithConcurrency } from '../../lambdas/shared/concurrency.js';
import { copySource, objectExists } from '../../lambdas/shared/s3-objects.js';
import { InputError } from '../errors.js';
import { checkDatasetName } from './dataset-name.js';

export interface ReviewedAnnotations {
  /** The file as given. */
  readonly file: string;
  readonly text: string;
  /** info.batch_id, when the file says which batch it reviews (the report's download does). */
  readonly batchId: string | undefined;
  /** The images it names (file_name: their paths in the batch). */
  readonly images: string[];
  readonly boxes: number;
}

/** "demo.reviewed.coco.json" -> "demo.reviewed": names things after a file without a batch id. */
export function annotationsStem(file: string): string {
  return path.basename(file).replace(/(\.coco)?\.json$/i, '').replace(/[^A-Za-z0-9._-]+/g, '-');
}

function checkRelativePath(file: string, image: string): void {
  if (image === '' || image.startsWith('/') || /^[A-Za-z]:/.test(image) || image.split(/[\\/]/).some((part) => part === '..' || part === '')) {
    throw new InputError(`${file}: image "${image}" is not a path inside a batch (absolute, empty or with "..")`);
  }
}

/** Reads and checks a reviewed COCO file; every problem names the file. */
export async function readReviewedAnnotations(file: string): Promise<ReviewedAnnotations> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new InputError(`cannot read ${file}: ${(err as Error).message}`);
  }
  let parsed;
  try {
    parsed = parseCocoDataset(text, file);
  } catch (err) {
    throw new InputError((err as Error).message);
  }
  if (parsed.length === 0) throw new InputError(`${file} names no images: mark images as reviewed in the report before downloading`);
  const seen = new Set<string>();
  for (const image of parsed) {
    checkRelativePath(file, image.file);
    if (seen.has(image.file)) throw new InputError(`${file}: image "${image.file}" is listed twice`);
    seen.add(image.file);
  }
  const info = (JSON.parse(text.replace(/^\uFEFF/, '')) as { info?: { batch_id?: unknown } }).info;
  const batchId = typeof info?.batch_id === 'string' ? info.batch_id : undefined;
  if (batchId !== undefined && !BATCH_ID_PATTERN.test(batchId)) throw new InputError(`${file}: info.batch_id "${batchId}" is not a batch id`);
  return { file, text, batchId, images: [...seen], boxes: parsed.reduce((n, i) => n + i.objects.length, 0) };
}

export interface StageCorrectionsProps {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly annotations: ReviewedAnnotations;
  readonly datasetName: string;
  /** Take the images from this folder (paths as in the file). Default: batches/<batch id>/images/ in the bucket. */
  readonly imagesDir?: string;
  /** Parallel copies or uploads. Default 8. */
  readonly concurrency?: number;
  readonly onProgress?: (p: { image: string; done: number; total: number }) => void;
}

export interface StagedCorrections {
  /** datasets/<name>/<batch id>/ */
  readonly prefix: string;
  readonly images: number;
  readonly annotationsKey: string;
  readonly source: 'bucket' | 'folder';
}

/** The images must all be there before anything is written: a half-staged dataset would train on a part. */
async function checkImages(props: StageCorrectionsProps, sourceOf: (image: string) => string): Promise<void> {
  const { annotations, imagesDir } = props;
  const missing: string[] = [];
  await mapWithConcurrency(annotations.images, props.concurrency ?? 8, async (image) => {
    const found = imagesDir
      ? await stat(sourceOf(image)).then((s) => s.isFile(), () => false)
      : await objectExists(props.s3, props.bucket, sourceOf(image));
    if (!found) missing.push(image);
  });
  if (missing.length === 0) return;
  const where = imagesDir ? `the folder ${imagesDir}` : `s3://${props.bucket}/${batchImagesPrefix(annotations.batchId!)}`;
  const hint = imagesDir ? '' : ' (give the folder with the batch\'s images)';
  throw new InputError(`${missing.length} image(s) named in ${annotations.file} are not in ${where}${hint}: ${missing.sort().slice(0, 10).join(', ')}${missing.length > 10 ? ', ...' : ''}`);
}

export async function stageCorrections(props: StageCorrectionsProps): Promise<StagedCorrections> {
  const { s3, bucket, annotations, imagesDir } = props;
  checkDatasetName(props.datasetName);
  if (!imagesDir && annotations.batchId === undefined) {
    throw new InputError(`${annotations.file} does not say which batch it reviews (no info.batch_id): give the folder with its images`);
  }
  const group = annotations.batchId ?? annotationsStem(annotations.file);
  const prefix = `${PREFIX.datasets}${props.datasetName}/${group}/`;
  const sourceOf = (image: string): string => (imagesDir ? path.join(imagesDir, ...image.split('/')) : `${batchImagesPrefix(annotations.batchId!)}${image}`);
  await checkImages(props, sourceOf);
  let done = 0;
  await mapWithConcurrency(annotations.images, props.concurrency ?? 8, async (image) => {
    const key = `${prefix}${image}`;
    if (imagesDir) {
      await new Upload({ client: s3, params: { Bucket: bucket, Key: key, Body: createReadStream(sourceOf(image)) }, partSize: 8 * 1024 * 1024 }).done();
    } else {
      await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: key, CopySource: copySource(bucket, sourceOf(image)) }));
    }
    props.onProgress?.({ image, done: ++done, total: annotations.images.length });
  });
  const annotationsKey = `${prefix}${path.basename(annotations.file)}`;
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: annotationsKey, Body: annotations.text, ContentType: 'application/json' }));
  return { prefix, images: annotations.images.length, annotationsKey, source: imagesDir ? 'folder' : 'bucket' };
}
