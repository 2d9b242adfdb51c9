/**
 * An in-memory bucket behind aws-sdk-client-mock: Get/Head/List/Put/Copy
 * behave like S3 (404 names, pagination, ETags), so the modules under test
 * run their real request sequences and the test inspects what they wrote.
 */
import { createHash } from 'node:crypto';
import {
  CopyObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';

export class FakeBucket {
  readonly objects = new Map<string, Buffer>();
  readonly client = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  readonly mock = mockClient(this.client);

  constructor(readonly name = 'exodetect-data', pageSize = 1000) {
    const notFound = (key: string) => Object.assign(new Error(`NoSuchKey ${key}`), { name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } });
    const etag = (b: Buffer) => `"${createHash('md5').update(b).digest('hex')}"`;
    this.mock.on(GetObjectCommand).callsFake(async ({ Bucket, Key }) => {
      const body = Bucket === this.name ? this.objects.get(Key) : undefined;
      if (!body) throw notFound(Key);
      return {
        Body: { transformToByteArray: async () => new Uint8Array(body), transformToString: async () => body.toString('utf8') },
        ETag: etag(body),
      } as never;
    });
    this.mock.on(HeadObjectCommand).callsFake(async ({ Bucket, Key }) => {
      const body = Bucket === this.name ? this.objects.get(Key) : undefined;
      if (!body) throw Object.assign(new Error('NotFound'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } });
      return { ContentLength: body.length, ETag: etag(body) };
    });
    this.mock.on(PutObjectCommand).callsFake(async ({ Bucket, Key, Body }) => {
      if (Bucket !== this.name) throw new Error(`unexpected bucket ${Bucket}`);
      const body = typeof Body === 'string' ? Buffer.from(Body) : Buffer.from(Body as Uint8Array);
      this.objects.set(Key, body);
      return { ETag: etag(body) };
    });
    this.mock.on(CopyObjectCommand).callsFake(async ({ Bucket, Key, CopySource }) => {
      const source = decodeURIComponent(String(CopySource));
      const [srcBucket, ...rest] = source.split('/');
      const body = srcBucket === this.name ? this.objects.get(rest.join('/')) : undefined;
      if (!body) throw notFound(source);
      this.objects.set(Key, body);
      return {};
    });
    this.mock.on(ListObjectsV2Command).callsFake(async ({ Bucket, Prefix = '', ContinuationToken }) => {
      if (Bucket !== this.name) throw new Error(`unexpected bucket ${Bucket}`);
      const keys = [...this.objects.keys()].filter((k) => k.startsWith(Prefix)).sort();
      const start = ContinuationToken ? Number(ContinuationToken) : 0;
      const page = keys.slice(start, start + pageSize);
      const truncated = start + pageSize < keys.length;
      return {
        Contents: page.map((Key) => ({ Key, Size: this.objects.get(Key)!.length, ETag: etag(this.objects.get(Key)!) })),
        IsTruncated: truncated,
        NextContinuationToken: truncated ? String(start + pageSize) : undefined,
        KeyCount: page.length,
      };
    });
  }

  put(key: string, body: string | Buffer | object): this {
    this.objects.set(key, Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)));
    return this;
  }

  json(key: string): any {
    const body = this.objects.get(key);
    if (!body) throw new Error(`no object ${key}; have: ${[...this.objects.keys()].join(', ')}`);
    return JSON.parse(body.toString('utf8'));
  }

  text(key: string): string {
    const body = this.objects.get(key);
    if (!body) throw new Error(`no object ${key}; have: ${[...this.objects.keys()].join(', ')}`);
    return body.toString('utf8');
  }

  keys(prefix = ''): string[] {
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
  }
}
