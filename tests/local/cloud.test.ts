import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { DescribeExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { batchStatus, cloudSettings, downloadResults, uploadBatch } from '../../local/commands/cloud.js';

const s3Mock = mockClient(S3Client);
const sfnMock = mockClient(SFNClient);
const settings = { bucket: 'data-bucket', inferenceStateMachineArn: 'arn:aws:states:eu-west-1:123456789012:stateMachine:exodetect-inference' };
let dir: string;

const notFound = () => Object.assign(new Error('NotFound'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } });
/** downloadResults streams Body into a file: a plain Readable is what it consumes. */
const body = (text: string) => Readable.from([Buffer.from(text)]);

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'exodetect-cloud-'));
  await mkdir(path.join(dir, 'images', 'grid2'), { recursive: true });
  await writeFile(path.join(dir, 'images', 'a.png'), 'aaaa');
  await writeFile(path.join(dir, 'images', 'grid2', 'b.tif'), 'bbbbbbbb');
  await writeFile(path.join(dir, 'images', 'notes.txt'), 'not an image');
});
afterAll(() => rm(dir, { recursive: true, force: true }));
beforeEach(() => {
  s3Mock.reset();
  sfnMock.reset();
});

describe('cloud settings', () => {
  it('takes options, then the environment, and names what is missing', () => {
    expect(cloudSettings({ bucket: 'b' }, {})).toEqual({ bucket: 'b' });
    expect(cloudSettings({}, { EXODETECT_BUCKET: 'e', EXODETECT_INFERENCE_STATE_MACHINE_ARN: 'arn' })).toEqual({ bucket: 'e', inferenceStateMachineArn: 'arn' });
    expect(() => cloudSettings({}, {})).toThrow(/--bucket or set EXODETECT_BUCKET/);
  });
});

describe('exodetect upload', () => {
  it('uploads the images, then batch.json last, skipping images already there (resume)', async () => {
    s3Mock.on(HeadObjectCommand, { Key: 'batches/b1/images/a.png' }).resolves({ ContentLength: 4 });
    s3Mock.on(HeadObjectCommand, { Key: 'batches/b1/images/grid2/b.tif' }).rejects(notFound());
    s3Mock.on(PutObjectCommand).resolves({});
    const result = await uploadBatch({ s3: new S3Client({ region: 'eu-west-1' }), settings, imagesDir: path.join(dir, 'images'), batchId: 'b1', manifest: { nm_per_px: 1.5 } });
    expect(result).toEqual({ uploaded: 1, skipped: 1, manifestKey: 'batches/b1/batch.json' });
    const puts = s3Mock.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
    expect(puts.map((p) => p.Key)).toEqual(['batches/b1/images/grid2/b.tif', 'batches/b1/batch.json']);
    expect(puts.every((p) => p.Bucket === 'data-bucket')).toBe(true);
    expect(JSON.parse(String(puts[1]!.Body))).toEqual({ nm_per_px: 1.5 });
  });

  it('sends images above the threshold as a (resumable) multipart upload', async () => {
    s3Mock.on(HeadObjectCommand).rejects(notFound());
    s3Mock.on(PutObjectCommand).resolves({});
    s3Mock.on(CreateMultipartUploadCommand).resolves({ UploadId: 'u' });
    s3Mock.on(UploadPartCommand).resolves({ ETag: '"p"' });
    s3Mock.on(CompleteMultipartUploadCommand).resolves({});
    await uploadBatch({
      s3: new S3Client({ region: 'eu-west-1' }),
      settings,
      imagesDir: path.join(dir, 'images'),
      batchId: 'b3',
      multipartThreshold: 5,
      uploadStateDir: path.join(dir, 'upload-state'),
    });
    expect(s3Mock.commandCalls(CreateMultipartUploadCommand).map((c) => c.args[0].input.Key)).toEqual(['batches/b3/images/grid2/b.tif']);
    expect(s3Mock.commandCalls(PutObjectCommand).map((c) => c.args[0].input.Key)).toEqual(['batches/b3/images/a.png', 'batches/b3/batch.json']);
  });

  it('refuses a bad batch id and a folder without images before touching S3', async () => {
    const s3 = new S3Client({ region: 'eu-west-1' });
    await expect(uploadBatch({ s3, settings, imagesDir: path.join(dir, 'images'), batchId: '../x' })).rejects.toThrow(/batch id/);
    await expect(uploadBatch({ s3, settings, imagesDir: path.join(dir, 'nope'), batchId: 'b2' })).rejects.toThrow(/does not exist/);
    expect(s3Mock.calls()).toHaveLength(0);
  });
});

describe('exodetect status', () => {
  it('finds the execution named after the batch.json version, with result counts', async () => {
    const keys = (prefix: string, names: string[]) => ({ KeyCount: names.length, Contents: names.map((n) => ({ Key: `${prefix}${n}` })) });
    s3Mock.on(ListObjectsV2Command, { Prefix: 'batches/b1/images/' }).resolves(keys('batches/b1/images/', ['a.png', 'b.png', 'c.png']));
    s3Mock.on(ListObjectsV2Command, { Prefix: 'results/b1/images/' }).resolves(keys('results/b1/images/', ['a.png.json', 'b.png.json']));
    s3Mock.on(HeadObjectCommand, { Key: 'batches/b1/batch.json' }).resolves({ ETag: '"0123abcd"' });
    s3Mock.on(GetObjectCommand).rejects(Object.assign(new Error('NoSuchKey'), { name: 'NoSuchKey' }));
    sfnMock.on(DescribeExecutionCommand).resolves({ status: 'RUNNING' });
    const status = await batchStatus({ s3: new S3Client({ region: 'eu-west-1' }), sfn: new SFNClient({ region: 'eu-west-1' }), settings, batchId: 'b1' });
    expect(status).toMatchObject({ status: 'RUNNING', images: 3, results: 2, executionName: 'b1-0123abcd' });
    expect(sfnMock.commandCalls(DescribeExecutionCommand)[0]!.args[0].input.executionArn).toBe(
      'arn:aws:states:eu-west-1:123456789012:execution:exodetect-inference:b1-0123abcd',
    );
  });

  it('says NOT_SUBMITTED when there is no batch.json, PENDING before the execution exists', async () => {
    s3Mock.on(ListObjectsV2Command).resolves({ KeyCount: 0 });
    s3Mock.on(HeadObjectCommand).rejects(notFound());
    const s3 = new S3Client({ region: 'eu-west-1' });
    const sfn = new SFNClient({ region: 'eu-west-1' });
    expect((await batchStatus({ s3, sfn, settings, batchId: 'b9' })).status).toBe('NOT_SUBMITTED');
    s3Mock.on(HeadObjectCommand).resolves({ ETag: '"ff"', VersionId: 'v3' });
    s3Mock.on(GetObjectCommand).rejects(Object.assign(new Error('NoSuchKey'), { name: 'NoSuchKey' }));
    sfnMock.on(DescribeExecutionCommand).rejects(Object.assign(new Error('nope'), { name: 'ExecutionDoesNotExist' }));
    expect(await batchStatus({ s3, sfn, settings, batchId: 'b9' })).toMatchObject({ status: 'PENDING', executionName: 'b9-v3' });
  });
});

describe('exodetect results', () => {
  it('downloads results/<batch-id>/ keeping paths, and errors when there is nothing', async () => {
    s3Mock.on(ListObjectsV2Command).resolves({ Contents: [{ Key: 'results/b1/summary.json' }, { Key: 'results/b1/images/grid2/b.tif.json' }] });
    s3Mock.on(GetObjectCommand, { Key: 'results/b1/summary.json' }).callsFake(() => ({ Body: body('{"images":2}') }));
    s3Mock.on(GetObjectCommand, { Key: 'results/b1/images/grid2/b.tif.json' }).callsFake(() => ({ Body: body('{"status":"ok"}') }));
    const out = path.join(dir, 'out');
    const n = await downloadResults({ s3: new S3Client({ region: 'eu-west-1' }), settings, batchId: 'b1', outDir: out });
    expect(n).toBe(2);
    expect(await readFile(path.join(out, 'summary.json'), 'utf8')).toBe('{"images":2}');
    expect(await readFile(path.join(out, 'images', 'grid2', 'b.tif.json'), 'utf8')).toBe('{"status":"ok"}');
    s3Mock.on(ListObjectsV2Command).resolves({ Contents: [] });
    await expect(downloadResults({ s3: new S3Client({ region: 'eu-west-1' }), settings, batchId: 'b2', outDir: out })).rejects.toThrow(/no results for batch b2/);
  });
});
