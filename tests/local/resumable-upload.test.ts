import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListPartsCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MIN_PART_SIZE, resumableUpload } from '../../local/commands/resumable-upload.js';

const s3Mock = mockClient(S3Client);
let dir: string;
let file: string;
const SIZE = 2 * MIN_PART_SIZE + 1234; // three parts, the last one short

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'exodetect-mpu-'));
  file = path.join(dir, 'big.tif');
  const bytes = Buffer.alloc(SIZE);
  for (let i = 0; i < SIZE; i++) bytes[i] = i % 251;
  await writeFile(file, bytes);
});
afterAll(() => rm(dir, { recursive: true, force: true }));
beforeEach(() => s3Mock.reset());

const props = () => ({ s3: new S3Client({ region: 'eu-west-1' }), bucket: 'b', key: 'batches/x/images/big.tif', file, partSize: MIN_PART_SIZE, stateDir: path.join(dir, 'state') });

describe('resumable multipart upload', () => {
  it('resumes an interrupted upload, sending only the parts S3 does not have', async () => {
    s3Mock.on(CreateMultipartUploadCommand).resolves({ UploadId: 'u-1' });
    s3Mock.on(UploadPartCommand, { PartNumber: 1 }).resolves({ ETag: '"e1"' });
    s3Mock.on(UploadPartCommand, { PartNumber: 2 }).rejects(new Error('connection reset'));
    s3Mock.on(UploadPartCommand, { PartNumber: 3 }).resolves({ ETag: '"e3"' });
    await expect(resumableUpload({ ...props(), concurrency: 1 })).rejects.toThrow(/connection reset/);
    expect(await readdir(path.join(dir, 'state'))).toHaveLength(1);

    s3Mock.reset();
    s3Mock.on(ListPartsCommand).resolves({ Parts: [{ PartNumber: 1, ETag: '"e1"', Size: MIN_PART_SIZE }] });
    s3Mock.on(UploadPartCommand).callsFake((input: { PartNumber: number }) => ({ ETag: `"e${input.PartNumber}"` }));
    s3Mock.on(CompleteMultipartUploadCommand).resolves({});
    const result = await resumableUpload(props());
    expect(result).toEqual({ parts: 3, reused: 1 });
    expect(s3Mock.commandCalls(CreateMultipartUploadCommand)).toHaveLength(0);
    const sent = s3Mock.commandCalls(UploadPartCommand).map((c) => c.args[0].input);
    expect(sent.map((p) => p.PartNumber).sort()).toEqual([2, 3]);
    expect(sent.every((p) => p.UploadId === 'u-1')).toBe(true);
    expect(sent.find((p) => p.PartNumber === 3)!.ContentLength).toBe(1234);
    const complete = s3Mock.commandCalls(CompleteMultipartUploadCommand)[0]!.args[0].input;
    expect(complete.UploadId).toBe('u-1');
    expect(complete.MultipartUpload!.Parts).toEqual([
      { PartNumber: 1, ETag: '"e1"' },
      { PartNumber: 2, ETag: '"e2"' },
      { PartNumber: 3, ETag: '"e3"' },
    ]);
    expect(await readdir(path.join(dir, 'state'))).toHaveLength(0);
  });

  it('starts again when S3 no longer knows the upload', async () => {
    s3Mock.on(CreateMultipartUploadCommand).resolves({ UploadId: 'u-2' });
    s3Mock.on(UploadPartCommand).resolves({ ETag: '"x"' });
    s3Mock.on(UploadPartCommand, { PartNumber: 1 }).rejects(new Error('interrupted'));
    await expect(resumableUpload({ ...props(), concurrency: 1 })).rejects.toThrow(/interrupted/);
    s3Mock.reset();
    s3Mock.on(ListPartsCommand).rejects(Object.assign(new Error('gone'), { name: 'NoSuchUpload' }));
    s3Mock.on(CreateMultipartUploadCommand).resolves({ UploadId: 'u-3' });
    s3Mock.on(UploadPartCommand).resolves({ ETag: '"y"' });
    s3Mock.on(CompleteMultipartUploadCommand).resolves({});
    expect(await resumableUpload(props())).toEqual({ parts: 3, reused: 0 });
    expect(s3Mock.commandCalls(CompleteMultipartUploadCommand)[0]!.args[0].input.UploadId).toBe('u-3');
  });

  it('refuses parts smaller than S3 allows', async () => {
    await expect(resumableUpload({ ...props(), partSize: 1024 })).rejects.toThrow(/at least 5242880/);
  });
});
