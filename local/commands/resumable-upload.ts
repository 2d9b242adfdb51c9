/**
 * Multipart upload that survives an interrupted command: the upload id is
 * kept in a small state file, and a second run asks S3 which parts it already
 * has (ListParts) and sends only the rest.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListPartsCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';

/** S3's minimum part size (except the last). */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
export const DEFAULT_UPLOAD_STATE_DIR = path.join(os.homedir(), '.cache', 'exodetect', 'uploads');

export interface ResumableUploadProps {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly key: string;
  readonly file: string;
  /** Default 8 MiB; at least 5 MiB. */
  readonly partSize?: number;
  /** Parts in flight. Default 4. */
  readonly concurrency?: number;
  /** Where upload ids are remembered. Default: ~/.cache/exodetect/uploads. */
  readonly stateDir?: string;
  readonly onPart?: (p: { partNumber: number; parts: number; resumed: boolean }) => void;
}

interface UploadState {
  readonly uploadId: string;
  readonly bucket: string;
  readonly key: string;
  readonly size: number;
  readonly mtimeMs: number;
  readonly partSize: number;
}

export interface ResumableUploadResult {
  readonly parts: number;
  /** Parts S3 already had from an earlier, interrupted run. */
  readonly reused: number;
}

interface StoredPart {
  readonly etag: string;
  readonly size?: number;
}

async function existingParts(s3: S3Client, state: UploadState): Promise<Map<number, StoredPart> | undefined> {
  const parts = new Map<number, StoredPart>();
  let marker: string | undefined;
  try {
    do {
      const page = await s3.send(new ListPartsCommand({ Bucket: state.bucket, Key: state.key, UploadId: state.uploadId, PartNumberMarker: marker }));
      for (const p of page.Parts ?? []) if (p.PartNumber !== undefined && p.ETag) parts.set(p.PartNumber, { etag: p.ETag, size: p.Size });
      marker = page.IsTruncated ? page.NextPartNumberMarker : undefined;
    } while (marker);
  } catch (err) {
    // The upload was completed or aborted (or expired by a lifecycle rule): start again.
    if ((err as { name?: string }).name === 'NoSuchUpload') return undefined;
    throw err;
  }
  return parts;
}

export async function resumableUpload(props: ResumableUploadProps): Promise<ResumableUploadResult> {
  const partSize = props.partSize ?? 8 * 1024 * 1024;
  if (partSize < MIN_PART_SIZE) throw new RangeError(`partSize must be at least ${MIN_PART_SIZE} bytes (S3's minimum), got ${partSize}`);
  const info = await stat(props.file);
  const stateDir = props.stateDir ?? DEFAULT_UPLOAD_STATE_DIR;
  const stateFile = path.join(stateDir, `${createHash('sha256').update(`${props.bucket}\n${props.key}\n${path.resolve(props.file)}`).digest('hex').slice(0, 32)}.json`);
  const parts = Math.max(1, Math.ceil(info.size / partSize));

  let state: UploadState | undefined;
  let done = new Map<number, StoredPart>();
  try {
    const saved = JSON.parse(await readFile(stateFile, 'utf8')) as UploadState;
    // A changed file, or another part size, cannot reuse the parts.
    if (saved.size === info.size && saved.mtimeMs === info.mtimeMs && saved.partSize === partSize) {
      const found = await existingParts(props.s3, saved);
      if (found) {
        state = saved;
        done = found;
      }
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' && !(err instanceof SyntaxError)) throw err;
  }
  if (!state) {
    const created = await props.s3.send(new CreateMultipartUploadCommand({ Bucket: props.bucket, Key: props.key }));
    if (!created.UploadId) throw new Error(`S3 returned no UploadId for s3://${props.bucket}/${props.key}`);
    state = { uploadId: created.UploadId, bucket: props.bucket, key: props.key, size: info.size, mtimeMs: info.mtimeMs, partSize };
    await mkdir(stateDir, { recursive: true });
    await writeFile(stateFile, JSON.stringify(state));
  }

  const expectedSize = (n: number) => (n < parts ? partSize : info.size - partSize * (parts - 1));
  const reusable = (n: number) => {
    const p = done.get(n);
    return p !== undefined && (p.size === undefined || p.size === expectedSize(n));
  };
  const todo = Array.from({ length: parts }, (_, i) => i + 1).filter((n) => !reusable(n));
  const reused = parts - todo.length;
  const completed = new Map<number, CompletedPart>();
  for (const n of Array.from({ length: parts }, (_, i) => i + 1)) if (reusable(n)) completed.set(n, { PartNumber: n, ETag: done.get(n)!.etag });

  const handle = await open(props.file, 'r');
  try {
    let next = 0;
    const worker = async () => {
      while (next < todo.length) {
        const partNumber = todo[next++]!;
        const length = expectedSize(partNumber);
        const body = Buffer.alloc(length);
        await handle.read(body, 0, length, (partNumber - 1) * partSize);
        const res = await props.s3.send(
          new UploadPartCommand({ Bucket: props.bucket, Key: props.key, UploadId: state.uploadId, PartNumber: partNumber, Body: body, ContentLength: length }),
        );
        completed.set(partNumber, { PartNumber: partNumber, ETag: res.ETag });
        props.onPart?.({ partNumber, parts, resumed: reused > 0 });
      }
    };
    await Promise.all(Array.from({ length: Math.min(props.concurrency ?? 4, Math.max(1, todo.length)) }, worker));
  } finally {
    await handle.close();
  }
  await props.s3.send(
    new CompleteMultipartUploadCommand({
      Bucket: props.bucket,
      Key: props.key,
      UploadId: state.uploadId,
      MultipartUpload: { Parts: [...completed.values()].sort((a, b) => a.PartNumber! - b.PartNumber!) },
    }),
  );
  await rm(stateFile, { force: true });
  return { parts, reused };
}
