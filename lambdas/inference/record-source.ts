/**
 * Where per-image result documents come from: S3 (paginated listing, reads
 * with bounded concurrency, yielded in listing order so outputs are
 * deterministic) or a local results folder (the CLI). At most `concurrency`
 * documents are in memory at once, whatever the batch size.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { listObjects } from '../shared/s3-objects.js';
import { mapOrdered } from '../shared/concurrency.js';
import type { ImageRecord } from '../shared/contracts.js';
import { resultsPrefix } from '../shared/keys.js';
import { parseImageRecord, ResultDocumentError } from './image-record.js';
import { ExodetectError } from '../shared/errors.js';

/** One result document, parsed, or the reason it could not be used. */
export type RecordEntry =
  | { readonly resultKey: string; readonly record: ImageRecord; readonly problem?: undefined }
  | { readonly resultKey: string; readonly record?: undefined; readonly problem: string };

/** All keys under a prefix, page by page (ListObjectsV2 returns them in UTF-8 binary order). */
export async function* listKeys(s3: S3Client, bucket: string, prefix: string): AsyncGenerator<string> {
  for await (const object of listObjects(s3, bucket, prefix)) yield object.key;
}

function toEntry(resultKey: string, text: string): RecordEntry {
  try {
    return { resultKey, record: parseImageRecord(text, resultKey) };
  } catch (err) {
    if (err instanceof ResultDocumentError) return { resultKey, problem: err.message };
    throw err;
  }
}

export interface S3RecordSourceProps {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly batchId: string;
  /** Documents read in parallel. Default 32. */
  readonly concurrency?: number;
}

/** The result keys of a batch: results/<batchId>/images/**.json. */
export async function* listResultKeys(s3: S3Client, bucket: string, batchId: string): AsyncGenerator<string> {
  for await (const key of listKeys(s3, bucket, `${resultsPrefix(batchId)}images/`)) {
    if (key.endsWith('.json')) yield key;
  }
}

export function readRecordsFromS3(props: S3RecordSourceProps): AsyncGenerator<RecordEntry> {
  const concurrency = props.concurrency ?? 32;
  return mapOrdered(listResultKeys(props.s3, props.bucket, props.batchId), concurrency, async (key) => {
    const response = await props.s3.send(new GetObjectCommand({ Bucket: props.bucket, Key: key }));
    if (!response.Body) return { resultKey: key, problem: `${key}: empty response body` };
    return toEntry(key, await response.Body.transformToString('utf-8'));
  });
}

async function* walkJsonFiles(dir: string): AsyncGenerator<string> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walkJsonFiles(path);
    else if (entry.isFile() && entry.name.endsWith('.json')) yield path;
  }
}

/** A local folder is not a copy of results/<batchId>/. */
export class ResultsFolderError extends ExodetectError {}

/**
 * A local copy of results/<batchId>/ (with its images/ folder of per-image
 * JSON). Keys are reported as `results/<batchId>/images/<rel>.json` when the
 * batch id is known, else as paths relative to the folder.
 */
export async function* readRecordsFromDirectory(resultsDir: string, props: { readonly batchId?: string; readonly concurrency?: number } = {}): AsyncGenerator<RecordEntry> {
  const imagesDir = join(resultsDir, 'images');
  try {
    await readdir(imagesDir);
  } catch {
    throw new ResultsFolderError(`"${resultsDir}" is not a results folder: it has no images/ sub-folder of per-image JSON results`);
  }
  const keyOf = (path: string): string => {
    const rel = relative(imagesDir, path).split(sep).join('/');
    return props.batchId ? `${resultsPrefix(props.batchId)}images/${rel}` : `images/${rel}`;
  };
  yield* mapOrdered(walkJsonFiles(imagesDir), props.concurrency ?? 16, async (path) => toEntry(keyOf(path), await readFile(path, 'utf8')));
}
