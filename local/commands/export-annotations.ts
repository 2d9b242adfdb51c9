/**
 * `exodetect export-annotations <batch-id|results-dir> --format coco|yolo|voc --out DIR`:
 * a batch's predictions as an annotation set to correct in makesense.ai, CVAT
 * or Label Studio, then upload under datasets/<name>/ to train the next model.
 * The CLI wiring (arguments, progress) lives in local/cli; this is the logic.
 */
import { createWriteStream } from 'node:fs';
import { copyFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ImageRecord } from '../../lambdas/shared/contracts.js';
import { BATCH_ID_PATTERN } from '../../lambdas/shared/keys.js';
import {
  ANNOTATION_FORMATS as ANNOTATION_FORMAT_CHOICES,
  AnnotationExportError,
  createAnnotationWriter,
  parseAnnotationFormat,
  toAnnotationImage,
  type AnnotationFormat,
  type ExportOutput,
} from '../../lambdas/evaluation/annotation-export.js';
import { mapOrdered } from '../../lambdas/shared/concurrency.js';
import { readRecordsFromDirectory, readRecordsFromS3, type RecordEntry } from '../../lambdas/inference/record-source.js';
import { createFileTextSink, type TextSink } from '../../lambdas/inference/sinks.js';
import { PSEUDO_LABEL_FOLDER } from '../../lambdas/training/dataset-files.js';

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
  /**
   * Local results folder only: the folder the batch's images came from (the one given to `exodetect run`);
   * each image is copied beside its labels, so `out` is a complete dataset folder. Default: none.
   */
  readonly imagesDir?: string;
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
    if (props.imagesDir) throw new AnnotationExportError('imagesDir is for a local results folder; for a batch in S3 use includeImages');
  } else if (props.includeImages) {
    throw new AnnotationExportError('includeImages needs a batch in S3: a local results folder holds no images (give imagesDir, the folder the images came from)');
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
  const batchIds = new Set<string>();
  // A results folder says its batch in its records: read when the writer opens, at the first image.
  const writer = createAnnotationWriter(format, directoryOutput(props.out), { get batchId() { return fixedBatchId ?? [...batchIds].join(', '); } });
  const threshold = props.scoreThreshold ?? 0;
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
    if (props.includeImages || props.imagesDir) toDownload.push({ key: record.image_key, file: image.file });
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
  if (props.imagesDir) {
    const imagesDir = props.imagesDir;
    for await (const _ of mapOrdered(toDownload, concurrency, (item) => copyLocalImage(imagesDir, item.file, join(resolve(props.out), ...item.file.split('/'))))) {
      imagesDownloaded++;
    }
  }
  return { format, out: props.out, batchIds: [...batchIds], images, objects, belowThreshold, skipped, files, imagesDownloaded };
}

async function copyLocalImage(imagesDir: string, relativePath: string, target: string): Promise<void> {
  const source = join(resolve(imagesDir), ...relativePath.split('/'));
  await mkdir(dirname(target), { recursive: true });
  try {
    await copyFile(source, target);
  } catch (err) {
    throw new AnnotationExportError(`cannot copy image ${source} for ${relativePath}: ${(err as Error).message}`);
  }
}

/** Where `exodetect run` copies a batch's results locally (exodetect-results/<batch-id>/). */
export const LOCAL_RESULTS_DIR = 'exodetect-results';

async function isDirectory(path: string): Promise<boolean> {
  try {
    await readdir(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * `exodetect export-annotations <batch-id|results-dir> --format coco|yolo|voc --out DIR`
 * (argv: the arguments after the command name). A folder argument is a
 * results folder; a batch id is looked up in exodetect-results/<id>/, else in
 * the bucket (--bucket or EXODETECT_BUCKET; EXODETECT_S3_ENDPOINT for s3rver).
 */
export async function exportAnnotationsCli(
  argv: string[],
  io: { out: (line: string) => void } = { out: (line) => process.stdout.write(`${line}\n`) },
): Promise<ExportAnnotationsResult | undefined> {
  const { Command, CommanderError, Option } = await import('commander');
  const program = new Command('exodetect export-annotations')
    .description("Export a batch's detections as an annotation set (COCO, YOLO or Pascal VOC) to correct in makesense.ai, CVAT or Label Studio and train on.")
    .argument('<batch-id|results-dir>', 'a results folder (e.g. exodetect-results/<batch-id>) or a batch id')
    .addOption(new Option('--format <format>', 'annotation format').choices([...ANNOTATION_FORMAT_CHOICES]).makeOptionMandatory())
    .requiredOption('--out <dir>', 'output folder (must be empty unless --overwrite)')
    .option('--score-threshold <x>', 'keep detections with score >= x (default: all stored detections)', (v: string) => {
      const x = Number(v);
      if (!Number.isFinite(x)) throw new AnnotationExportError(`--score-threshold must be a number in [0, 1], got "${v}"`);
      return x;
    })
    .option('--bucket <name>', 'data bucket for a batch id (env EXODETECT_BUCKET)')
    .option('--with-images', 'S3 only: download the images beside the labels', false)
    .option('--images <dir>', 'local results: copy the images from this folder (the one given to exodetect run) beside the labels')
    .option('--overwrite', 'write into a non-empty output folder', false)
    .exitOverride()
    // Usage errors become one ExodetectError line (the CLI prints those without a stack).
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: () => undefined });
  try {
    program.parse(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version') return undefined;
      throw new AnnotationExportError(`export-annotations: ${err.message.replace(/^error: /, '')} (see --help)`);
    }
    throw err;
  }
  const target = program.args[0]!;
  const opts = program.opts<{ format: AnnotationFormat; out: string; scoreThreshold?: number; bucket?: string; withImages: boolean; images?: string; overwrite: boolean }>();

  let source: ExportAnnotationsProps['source'];
  if (await isDirectory(target)) source = target;
  else if (BATCH_ID_PATTERN.test(target) && (await isDirectory(join(LOCAL_RESULTS_DIR, target))) && !opts.bucket) source = join(LOCAL_RESULTS_DIR, target);
  else {
    const bucket = opts.bucket ?? process.env.EXODETECT_BUCKET;
    if (!bucket) {
      throw new AnnotationExportError(`"${target}" is neither a results folder nor a batch in ${LOCAL_RESULTS_DIR}/: give a folder, or --bucket (or EXODETECT_BUCKET) for a batch in S3`);
    }
    const { createS3Client } = await import('../../lambdas/shared/s3-client.js');
    source = { s3: createS3Client(), bucket, batchId: target };
  }
  const result = await exportAnnotations({
    source,
    format: opts.format,
    out: opts.out,
    scoreThreshold: opts.scoreThreshold,
    includeImages: opts.withImages,
    imagesDir: opts.images,
    overwrite: opts.overwrite,
  });
  io.out(
    `Exported ${result.objects} objects in ${result.images} images as ${result.format.toUpperCase()} to ${result.out}` +
      (result.belowThreshold ? ` (${result.belowThreshold} detections below the score threshold left out)` : '') +
      (result.imagesDownloaded ? `; ${opts.images ? 'copied' : 'downloaded'} ${result.imagesDownloaded} images` : ''),
  );
  for (const s of result.skipped) io.out(`  skipped ${s.image}: ${s.reason}`);
  const parts = resolve(result.out).split(sep);
  const pseudoAt = parts.lastIndexOf(PSEUDO_LABEL_FOLDER);
  if (pseudoAt > 0) {
    // Self-training: the export went into a dataset's pseudo-labels/ folder, and the dataset is what trains.
    io.out(
      `These are pseudo-labels: npx exodetect train ${parts.slice(0, pseudoAt).join(sep)} trains on them beside the annotated images` +
        `${result.imagesDownloaded ? '' : ' (put the images beside their labels first: --images <dir> does it)'}; they are never held out for validation.`,
    );
    return result;
  }
  io.out(
    result.imagesDownloaded
      ? `Correct the labels, then train on the folder: npx exodetect train <folder> (or, for a deployed stack, upload it under datasets/<name>/).`
      : `Put the images beside their labels (same relative paths; --images <dir> does it), correct the labels, then train on the folder: npx exodetect train <folder> (or, for a deployed stack, upload it under datasets/<name>/).`,
  );
  return result;
}

/** The entry local/cli.ts calls. */
export const main = exportAnnotationsCli;
