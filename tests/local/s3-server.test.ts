import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CopyObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../lambdas/shared/s3-client.js';
import { startLocalS3Server, type LocalS3Server, type S3EventRecord } from '../../local/s3-server.js';

describe('local S3 server', () => {
  let dir: string;
  let server: LocalS3Server;
  let s3: S3Client;
  const events: S3EventRecord[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'exodetect-s3-'));
    server = await startLocalS3Server({ directory: dir, buckets: ['data'] });
    server.events.on('object', (record: S3EventRecord) => events.push(record));
    s3 = createS3Client({ EXODETECT_S3_ENDPOINT: server.endpoint });
  });
  afterAll(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('pages listings with continuation tokens (s3rver uses single DES, absent from OpenSSL 3 by default)', async () => {
    for (let i = 0; i < 5; i++) {
      await s3.send(new PutObjectCommand({ Bucket: 'data', Key: `page/${i}.txt`, Body: `${i}` }));
    }
    const keys: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: 'data', Prefix: 'page/', MaxKeys: 2, ContinuationToken: token }));
      keys.push(...(page.Contents ?? []).map((o) => o.Key!));
      token = page.NextContinuationToken;
      pages++;
    } while (token);
    expect(pages).toBe(3);
    expect(keys).toEqual(['page/0.txt', 'page/1.txt', 'page/2.txt', 'page/3.txt', 'page/4.txt']);
  });

  it('emits an object event per upload', () => {
    expect(events.filter((e) => e.s3.object.key.startsWith('page/')).map((e) => e.eventName)).toEqual(
      Array(5).fill('ObjectCreated:Put'),
    );
  });

  it('copies keys holding + and spaces, URL-encoded as real S3 requires', async () => {
    const key = 'datasets/set a/img+1.png';
    await s3.send(new PutObjectCommand({ Bucket: 'data', Key: key, Body: 'pixels' }));
    await s3.send(
      new CopyObjectCommand({ Bucket: 'data', Key: 'copy/img+1.png', CopySource: `data/${key.split('/').map(encodeURIComponent).join('/')}` }),
    );
    const copied = await s3.send(new GetObjectCommand({ Bucket: 'data', Key: 'copy/img+1.png' }));
    expect(await copied.Body!.transformToString()).toBe('pixels');
  });
});
