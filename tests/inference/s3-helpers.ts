/** Test helpers around the real local S3 server (s3rver). */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../../lambdas/shared/s3-client.js';
import { startLocalS3Server, type LocalS3Server } from '../../local/s3-server.js';
import { mapOrdered } from '../../lambdas/shared/concurrency.js';

export interface S3Fixture {
  readonly server: LocalS3Server;
  readonly s3: S3Client;
  readonly bucket: string;
  readonly directory: string;
  close(): Promise<void>;
}

export async function startS3Fixture(bucket = 'exodetect-data'): Promise<S3Fixture> {
  const directory = await mkdtemp(join(tmpdir(), 'exodetect-results-s3-'));
  const server = await startLocalS3Server({ directory, buckets: [bucket] });
  const s3 = createS3Client({ EXODETECT_S3_ENDPOINT: server.endpoint });
  return {
    server,
    s3,
    bucket,
    directory,
    close: async () => {
      s3.destroy();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

export async function putAll(s3: S3Client, bucket: string, objects: Iterable<{ key: string; body: string }>, concurrency = 16): Promise<void> {
  for await (const _ of mapOrdered(objects, concurrency, (o) => s3.send(new PutObjectCommand({ Bucket: bucket, Key: o.key, Body: o.body })))) {
    // drained in order
  }
}

export async function getText(s3: S3Client, bucket: string, key: string): Promise<string> {
  const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return response.Body!.transformToString('utf-8');
}
