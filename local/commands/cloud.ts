/**
 * Commands against a deployed stack: upload a batch (images, then the
 * manifest), the status of a batch, and its results. Clients and settings
 * are parameters, so the commands are tested with aws-sdk-client-mock.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { DescribeExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import type { BatchManifest } from '../../lambdas/shared/contracts.js';
import { inferenceExecutionName } from '../../lambdas/shared/events.js';
import { BATCH_ID_PATTERN, RESULT_FILES, batchFailureKey, batchImagesPrefix, batchManifestKey, resultsPrefix } from '../../lambdas/shared/keys.js';
import { getJson, isNotFound, listAllKeys, listObjects } from '../../lambdas/shared/s3-objects.js';
import { InputError } from '../errors.js';
import { findImages } from '../workflow.js';
import { resumableUpload } from './resumable-upload.js';

export interface CloudSettings {
  /** The stack's data bucket (stack output, or env EXODETECT_BUCKET). */
  readonly bucket: string;
  /** The inference state machine (stack output, or env EXODETECT_INFERENCE_STATE_MACHINE_ARN); needed by status. */
  readonly inferenceStateMachineArn?: string;
}

/** Reads settings from options, then the environment; names the missing one. */
export function cloudSettings(options: { bucket?: string; stateMachineArn?: string }, env: NodeJS.ProcessEnv = process.env): CloudSettings {
  const bucket = options.bucket ?? env.EXODETECT_BUCKET;
  if (!bucket) throw new InputError('no data bucket: pass --bucket or set EXODETECT_BUCKET (the stack output DataBucketName)');
  const arn = options.stateMachineArn ?? env.EXODETECT_INFERENCE_STATE_MACHINE_ARN;
  return { bucket, ...(arn && { inferenceStateMachineArn: arn }) };
}

function checkBatchId(batchId: string): void {
  if (!BATCH_ID_PATTERN.test(batchId)) throw new InputError(`batch id "${batchId}" must be 1-80 characters of letters, digits, '.', '_' or '-', starting with a letter or digit`);
}

export interface UploadBatchProps {
  readonly s3: S3Client;
  readonly settings: CloudSettings;
  readonly imagesDir: string;
  readonly batchId: string;
  readonly manifest?: BatchManifest;
  /** Files above this go multipart (resumable). Default: 16 MiB. */
  readonly multipartThreshold?: number;
  /** Part size for multipart. Default: 8 MiB. */
  readonly partSize?: number;
  /** Where interrupted multipart uploads are remembered. Default: ~/.cache/exodetect/uploads. */
  readonly uploadStateDir?: string;
  readonly onProgress?: (p: { file: string; done: number; total: number; skipped: boolean }) => void;
}

export interface UploadBatchResult {
  readonly uploaded: number;
  readonly skipped: number;
  readonly manifestKey: string;
}

/**
 * Images first, then batch.json (which starts the workflow). Resumable: an
 * image already in S3 with the same size is skipped, and a large image's
 * multipart upload continues from the parts S3 already has, so running the
 * command again after an interruption uploads only what is missing.
 */
export async function uploadBatch(props: UploadBatchProps): Promise<UploadBatchResult> {
  checkBatchId(props.batchId);
  const { s3, settings } = props;
  const images = await findImages(props.imagesDir);
  const threshold = props.multipartThreshold ?? 16 * 1024 * 1024;
  let uploaded = 0;
  let skipped = 0;
  for (const [i, file] of images.entries()) {
    const key = `${batchImagesPrefix(props.batchId)}${path.relative(props.imagesDir, file).split(path.sep).join('/')}`;
    const size = (await stat(file)).size;
    const existing = await s3.send(new HeadObjectCommand({ Bucket: settings.bucket, Key: key })).catch((err: unknown) => {
      if (isNotFound(err)) return undefined;
      throw err;
    });
    if (existing?.ContentLength === size) {
      skipped++;
      props.onProgress?.({ file, done: i + 1, total: images.length, skipped: true });
      continue;
    }
    if (size > threshold) {
      await resumableUpload({ s3, bucket: settings.bucket, key, file, partSize: props.partSize, stateDir: props.uploadStateDir });
    } else {
      await s3.send(new PutObjectCommand({ Bucket: settings.bucket, Key: key, Body: createReadStream(file), ContentLength: size }));
    }
    uploaded++;
    props.onProgress?.({ file, done: i + 1, total: images.length, skipped: false });
  }
  const manifestKey = batchManifestKey(props.batchId);
  await s3.send(
    new PutObjectCommand({ Bucket: settings.bucket, Key: manifestKey, Body: JSON.stringify(props.manifest ?? {}, null, 2), ContentType: 'application/json' }),
  );
  return { uploaded, skipped, manifestKey };
}

export interface BatchStatus {
  readonly batchId: string;
  /** NOT_SUBMITTED (no batch.json), or the execution's status, or PENDING before it exists. */
  readonly status: string;
  readonly executionName?: string;
  readonly executionArn?: string;
  readonly images: number;
  readonly results: number;
  readonly summary?: unknown;
  readonly failure?: unknown;
}

async function countKeys(s3: S3Client, bucket: string, prefix: string): Promise<number> {
  let n = 0;
  for await (const _ of listObjects(s3, bucket, prefix)) n++;
  return n;
}

/** The execution for the current batch.json version (the name start-inference gives it), and result counts. */
export async function batchStatus(props: { s3: S3Client; sfn: SFNClient; settings: CloudSettings; batchId: string }): Promise<BatchStatus> {
  checkBatchId(props.batchId);
  const { s3, sfn, settings, batchId } = props;
  const images = await countKeys(s3, settings.bucket, batchImagesPrefix(batchId));
  const results = await countKeys(s3, settings.bucket, `${resultsPrefix(batchId)}images/`);
  let head;
  try {
    head = await s3.send(new HeadObjectCommand({ Bucket: settings.bucket, Key: batchManifestKey(batchId) }));
  } catch (err) {
    if (isNotFound(err)) return { batchId, status: 'NOT_SUBMITTED', images, results };
    throw err;
  }
  const version = head.VersionId && head.VersionId !== 'null' ? head.VersionId : (head.ETag ?? '');
  const executionName = inferenceExecutionName(batchId, version);
  const summary = await getJson(s3, settings.bucket, `${resultsPrefix(batchId)}${RESULT_FILES.summary}`);
  const failure = await getJson(s3, settings.bucket, batchFailureKey(batchId));
  if (!settings.inferenceStateMachineArn) {
    return { batchId, status: summary ? 'SUCCEEDED' : failure ? 'FAILED' : 'UNKNOWN', executionName, images, results, summary, failure };
  }
  const executionArn = `${settings.inferenceStateMachineArn.replace(':stateMachine:', ':execution:')}:${executionName}`;
  try {
    const execution = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    return { batchId, status: execution.status ?? 'UNKNOWN', executionName, executionArn, images, results, summary, failure };
  } catch (err) {
    if ((err as { name?: string }).name === 'ExecutionDoesNotExist') return { batchId, status: 'PENDING', executionName, executionArn, images, results };
    throw err;
  }
}

/** Copies results/<batch-id>/ into a folder; errors when there is nothing yet. */
export async function downloadResults(props: {
  s3: S3Client;
  settings: CloudSettings;
  batchId: string;
  outDir: string;
  onProgress?: (p: { key: string; done: number; total: number }) => void;
}): Promise<number> {
  checkBatchId(props.batchId);
  const prefix = resultsPrefix(props.batchId);
  const keys = await listAllKeys(props.s3, props.settings.bucket, prefix);
  if (keys.length === 0) throw new InputError(`no results for batch ${props.batchId} under s3://${props.settings.bucket}/${prefix} (yet)`);
  for (const [i, key] of keys.entries()) {
    const relative = key.slice(prefix.length);
    const target = path.resolve(props.outDir, ...relative.split('/'));
    if (!target.startsWith(path.resolve(props.outDir) + path.sep)) throw new InputError(`refusing to write ${key} outside ${props.outDir}`);
    await mkdir(path.dirname(target), { recursive: true });
    const object = await props.s3.send(new GetObjectCommand({ Bucket: props.settings.bucket, Key: key }));
    await pipeline(object.Body as Readable, createWriteStream(target));
    props.onProgress?.({ key, done: i + 1, total: keys.length });
  }
  return keys.length;
}
