/**
 * `exodetect export-annotations <batch-id|results-dir> --format coco|yolo|voc --out DIR`:
 * a batch's predictions as an annotation set to correct in makesense.ai, CVAT
 * or Label Studio, then upload under datasets/<name>/ to train the next model.
 * The CLI wiring (arguments, progress) lives in local/cli; this is the logic.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ImageRecord } from '../../lambdas/core/contracts.js';
import { BATCH_ID_PATTERN } from '../../lambdas/core/keys.js';
import {
  AnnotationExportError,
  createAnnotationWriter,
  parseAnnotationFormat,
  toAnnotationImage,
  type AnnotationFormat,
  type ExportOutput,
} from '../../lambdas/results/annotation-export.js';
import { mapOrdered, readRecordsFromDirectory, readRecordsFromS3, type RecordEntry } from '../../lambdas/results/record-source.js';
import { createFileTextSink, type TextSink } from '../../lambdas/results/sinks.js';

export interface S3BatchSource {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly batchId: string;
}

export interface ExportAnnotationsProps {
  /** A local results folder (a copy of results/<batchId>/, with images/*.json) or a batch in S3. */
  readonly source: string | S3BatchSource;
  /** 'coco' | 'yolo' | 'voc' (case-insensitive). */
  readonly format: AnnotationFormat | string;
  /** Output folder; created if missing, must be empty unless `overwrite`. */
  readonly out: string;
  /** Keep detections with score >= this. Default: every stored detection (already above the batch's threshold). */
  readonly scoreThreshold?: number;
  /** S3 source only: also download each image beside its labels, so `out` is a complete dataset folder. Default false. */
  readonly includeImages?: boolean;
  /** Allow a non-empty output folder (files with the same names are replaced). Default false. */
  readonly overwrite?: boolean;
  /** Result documents (and images) read in parallel. Default 16. */
  readonly concurrency?: number;
  /** Called after each image with the number done so far. */
  readonly onProgress?: (imagesDone: number) => void;
}

export interface ExportAnnotationsResult {
  readonly format: AnnotationFormat;
  readonly out: string;
  readonly batchIds: string[];
  /** Images written (with or without objects). */
  readonly images: number;
  /** Objects written. */
  readonly objects: number;
  /** Detections left out by scoreThreshold. */
  readonly belowThreshold: number;
  /** Images without a usable result (error records, unreadable documents): not exported. */
  readonly skipped: { readonly image: string; readonly reason: string }[];
  /** Files written, relative to `out`. */
  readonly files: string[];
  readonly imagesDownloaded: number;
}

/** Writes under a folder; refuses paths that would leave it. */
export function directoryOutput(root: string): ExportOutput {
  const base = resolve(root);
  const target = (relativePath: string): string => {
    const path = resolve(base, ...relativePath.split('/'));
    if (path !== base && !path.startsWith(base + sep)) throw new AnnotationExportError(`refusing to write "${relativePath}" outside ${base}`);
    return path;
  };
  return {
    writeFile: async (relativePath, content) => {
      const path = target(relativePath);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, content, 'utf8');
    },
    openSink: async (relativePath): Promise<TextSink> => createFileTextSink(target(relativePath)),
  };
}

function validate(props: ExportAnnotationsProps): AnnotationFormat {
  const format = parseAnnotationFormat(String(props.format));
  if (!props.out) throw new AnnotationExportError(`out must be a folder path, got ${JSON.stringify(props.out)}`);
  if (props.scoreThreshold !== undefined && !(props.scoreThreshold >= 0 && props.scoreThreshold <= 1)) {
    throw new AnnotationExportError(`scoreThreshold must be in [0, 1], got ${props.scoreThreshold}`);
  }
  if (typeof props.source !== 'string') {
    if (!BATCH_ID_PATTERN.test(props.source.batchId)) throw new AnnotationExportError(`batch id must match ${BATCH_ID_PATTERN}, got "${props.source.batchId}"`);
    if (!props.source.bucket) throw new AnnotationExportError(`bucket must be set, got ${JSON.stringify(props.source.bucket)}`);
  } else if (props.includeImages) {
    throw new AnnotationExportError('includeImages needs a batch in S3: a local results folder holds no images');
  }
  return format;
}

async function ensureOutputFolder(out: string, overwrite: boolean): Promise<void> {
  await mkdir(out, { recursive: true });
  const entries = await readdir(out);
  if (entries.length > 0 && !overwrite) {
    throw new AnnotationExportError(`output folder "${out}" is not empty (${entries.length} entries): choose an empty folder or allow overwriting`);
  }
}

async function downloadImage(s3: S3Client, bucket: string, key: string, path: string): Promise<void> {
  const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  if (!response.Body) throw new AnnotationExportError(`s3://${bucket}/${key}: empty body`);
  await mkdir(dirname(path), { recursive: true });
  await pipeline(response.Body as Readable, createWriteStream(path));
}

export async function exportAnnotations(props: ExportAnnotationsProps): Promise<ExportAnnotationsResult> {
  const format = validate(props);
  const concurrency = props.concurrency ?? 16;
  await ensureOutputFolder(props.out, props.overwrite ?? false);
  const entries: AsyncIterable<RecordEntry> =
    typeof props.source === 'string'
      ? readRecordsFromDirectory(props.source, { concurrency })
      : readRecordsFromS3({ ...props.source, concurrency });
  const fixedBatchId = typeof props.source === 'string' ? undefined : props.source.batchId;
  const writer = createAnnotationWriter(format, directoryOutput(props.out), { batchId: fixedBatchId ?? '' });
  const threshold = props.scoreThreshold ?? 0;
  const batchIds = new Set<string>();
  const skipped: { image: string; reason: string }[] = [];
  const toDownload: { key: string; file: string }[] = [];
  let images = 0;
  let objects = 0;
  let belowThreshold = 0;

  for await (const entry of entries) {
    if (!entry.record) {
      skipped.push({ image: entry.resultKey, reason: entry.problem });
      continue;
    }
    const record: ImageRecord = entry.record;
    if (fixedBatchId && record.batch_id !== fixedBatchId) {
      skipped.push({ image: record.image_key, reason: `belongs to batch "${record.batch_id}", not "${fixedBatchId}"` });
      continue;
    }
    batchIds.add(record.batch_id);
    if (record.status === 'error') {
      skipped.push({ image: record.image_key, reason: `${record.error.code}: ${record.error.message}` });
      continue;
    }
    const image = toAnnotationImage(record.batch_id, record, threshold);
    await writer.add(image);
    images++;
    objects += image.objects.length;
    belowThreshold += record.detections.length - image.objects.length;
    if (props.includeImages) toDownload.push({ key: record.image_key, file: image.file });
    props.onProgress?.(images);
  }
  const files = await writer.finish();

  let imagesDownloaded = 0;
  if (props.includeImages && typeof props.source !== 'string') {
    const { s3, bucket } = props.source;
    // Paths were checked by the writer (no absolute paths, no "..").
    for await (const _ of mapOrdered(toDownload, concurrency, (item) => downloadImage(s3, bucket, item.key, join(resolve(props.out), ...item.file.split('/'))))) {
      imagesDownloaded++;
    }
  }
  return { format, out: props.out, batchIds: [...batchIds], images, objects, belowThreshold, skipped, files, imagesDownloaded };
}
