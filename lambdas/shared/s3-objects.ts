/**
 * The small S3 toolkit every part shares (handlers, the local runner, the
 * CLI): listing with the SDK's paginator, "is it a 404" on the SDK's own
 * error names, JSON and bytes in and out, one s3:// URI parser. Functions
 * take the client as a parameter, so unit tests pass a mocked one and the
 * local runner an s3rver one.
 */
import { GetObjectCommand, HeadObjectCommand, paginateListObjectsV2, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';

export interface ListedObject {
  readonly key: string;
  readonly size: number;
  /** Without the surrounding quotes S3 puts on it. */
  readonly etag: string;
}

/** Every object under a prefix, page by page as S3 returns them (UTF-8 binary key order). Folder placeholders (keys ending in '/') are left out. */
export async function* listObjects(s3: S3Client, bucket: string, prefix: string): AsyncGenerator<ListedObject> {
  for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: bucket, Prefix: prefix })) {
    for (const o of page.Contents ?? []) {
      if (!o.Key || o.Key.endsWith('/')) continue;
      yield { key: o.Key, size: o.Size ?? 0, etag: (o.ETag ?? '').replaceAll('"', '') };
    }
  }
}

export async function listAllObjects(s3: S3Client, bucket: string, prefix: string): Promise<ListedObject[]> {
  const out: ListedObject[] = [];
  for await (const o of listObjects(s3, bucket, prefix)) out.push(o);
  return out;
}

/** The keys under a prefix, in S3's order. */
export async function listAllKeys(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  return (await listAllObjects(s3, bucket, prefix)).map((o) => o.key);
}

/** S3's "there is no such object": NoSuchKey from GetObject, NotFound from HeadObject (a 404 either way). */
export function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}

export async function objectExists(s3: S3Client, bucket: string, key: string): Promise<boolean> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

/** The object's bytes, or undefined when it does not exist. */
export async function getObjectBytes(s3: S3Client, bucket: string, key: string): Promise<Uint8Array | undefined> {
  try {
    const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    if (!res.Body) return new Uint8Array();
    return await res.Body.transformToByteArray();
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

export async function getObjectText(s3: S3Client, bucket: string, key: string): Promise<string | undefined> {
  const bytes = await getObjectBytes(s3, bucket, key);
  return bytes === undefined ? undefined : new TextDecoder().decode(bytes);
}

/** The object parsed as JSON, or undefined when it does not exist (a body that is not JSON throws). */
export async function getJson<T>(s3: S3Client, bucket: string, key: string): Promise<T | undefined> {
  const text = await getObjectText(s3, bucket, key);
  return text === undefined ? undefined : (JSON.parse(text) as T);
}

export async function putJson(s3: S3Client, bucket: string, key: string, value: unknown): Promise<void> {
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: `${JSON.stringify(value, null, 2)}\n`,
      ContentType: 'application/json',
    }),
  );
}

export interface S3Location {
  readonly bucket: string;
  readonly key: string;
}

/** `s3://bucket/key` (or `s3://bucket/` and `s3://bucket`, key '') -> parts; a RangeError names anything else. */
export function parseS3Uri(uri: string): S3Location {
  const m = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(uri);
  if (!m) throw new RangeError(`"${uri}" is not an s3://bucket/key URI`);
  return { bucket: m[1]!, key: m[2] ?? '' };
}

/** CopyObject's CopySource: bucket/key with each path segment URL-encoded. */
export function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}
