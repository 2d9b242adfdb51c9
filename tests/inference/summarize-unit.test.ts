import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, CreateMultipartUploadCommand } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { summarizeBatch } from '../../lambdas/inference/summarize-batch.js';
import { mapOrdered } from '../../lambdas/shared/concurrency.js';
import { generateImageResult, resultKeyFor } from './batch-generator.js';

const batchId = 'unit-batch';
const s3Mock = mockClient(S3Client);
const body = (text: string) => ({ transformToString: async () => text }) as never;

beforeEach(() => s3Mock.reset());

describe('summarizeBatch failure handling', () => {
  it('fails the invocation on an S3 read error (so Step Functions retries) and writes no summary', async () => {
    const keys = ['a.tif', 'b.tif', 'c.tif'].map((f) => resultKeyFor(batchId, f));
    s3Mock.on(ListObjectsV2Command).resolves({ Contents: keys.map((Key) => ({ Key })), IsTruncated: false });
    s3Mock.on(GetObjectCommand, { Key: keys[0] }).resolves({ Body: body(JSON.stringify(generateImageResult({ batchId, file: 'a.tif', detections: 3, seed: 1 }))) });
    s3Mock.on(GetObjectCommand, { Key: keys[1] }).rejects(Object.assign(new Error('Access Denied'), { name: 'AccessDenied' }));
    s3Mock.on(GetObjectCommand, { Key: keys[2] }).resolves({ Body: body('{}') });
    await expect(summarizeBatch({ s3: new S3Client({ region: 'us-east-1' }), bucket: 'b', batchId, concurrency: 2 })).rejects.toThrow(/Access Denied/);
    expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(0);
    expect(s3Mock.commandCalls(CreateMultipartUploadCommand)).toHaveLength(0);
  });

  it('follows listing pages', async () => {
    const files = ['a.tif', 'b.tif', 'c.tif'];
    s3Mock
      .on(ListObjectsV2Command, { Prefix: `results/${batchId}/images/`, ContinuationToken: undefined })
      .resolves({ Contents: [{ Key: resultKeyFor(batchId, files[0]!) }, { Key: `results/${batchId}/images/readme.txt` }], IsTruncated: true, NextContinuationToken: 't1' })
      .on(ListObjectsV2Command, { Prefix: `results/${batchId}/images/`, ContinuationToken: 't1' })
      .resolves({ Contents: files.slice(1).map((f) => ({ Key: resultKeyFor(batchId, f) })), IsTruncated: false })
      .on(ListObjectsV2Command, { Prefix: `batches/${batchId}/images/` })
      .resolves({ Contents: [], IsTruncated: false });
    for (const [i, f] of files.entries()) {
      s3Mock.on(GetObjectCommand, { Key: resultKeyFor(batchId, f) }).resolves({ Body: body(JSON.stringify(generateImageResult({ batchId, file: f, detections: i + 1, seed: i }))) });
    }
    s3Mock.on(PutObjectCommand).resolves({});
    const result = await summarizeBatch({ s3: new S3Client({ region: 'us-east-1' }), bucket: 'b', batchId });
    expect(result).toMatchObject({ images: 3, failed: 0, detections: 6 });
    const putKeys = s3Mock.commandCalls(PutObjectCommand).map((c) => c.args[0].input.Key).sort();
    expect(putKeys).toEqual(
      [`analytics/detections/batch_id=${batchId}/detections.jsonl`, ...['annotations.coco.json', 'detections.coco.json', 'detections.csv', 'report.html', 'summary.json'].map((f) => `results/${batchId}/${f}`)].sort(),
    );
  });
});

describe('summarizeBatch without list permission on batches/', () => {
  it('still writes the summary and says what it could not check', async () => {
    s3Mock
      .on(ListObjectsV2Command, { Prefix: `results/${batchId}/images/` })
      .resolves({ Contents: [{ Key: resultKeyFor(batchId, 'a.tif') }], IsTruncated: false })
      .on(ListObjectsV2Command, { Prefix: `batches/${batchId}/images/` })
      .rejects(Object.assign(new Error('Access Denied'), { name: 'AccessDenied' }));
    s3Mock.on(GetObjectCommand).resolves({ Body: body(JSON.stringify(generateImageResult({ batchId, file: 'a.tif', detections: 2, seed: 1 }))) });
    s3Mock.on(PutObjectCommand).resolves({});
    const result = await summarizeBatch({ s3: new S3Client({ region: 'us-east-1' }), bucket: 'b', batchId });
    expect(result).toMatchObject({ images: 1, failed: 0, detections: 2 });
    const summaryPut = s3Mock.commandCalls(PutObjectCommand).find((c) => c.args[0].input.Key === result.summaryKey)!;
    const summary = JSON.parse(String(summaryPut.args[0].input.Body));
    expect(summary.notes).toEqual([`could not list batches/${batchId}/images/ (AccessDenied): images without any result document are not reported`]);
  });
});

describe('mapOrdered', () => {
  it('keeps input order and never exceeds the concurrency', async () => {
    let inFlight = 0;
    let peak = 0;
    const out: number[] = [];
    for await (const v of mapOrdered(Array.from({ length: 40 }, (_, i) => i), 5, async (i) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, (i * 7) % 5));
      inFlight--;
      return i * 2;
    })) out.push(v);
    expect(out).toEqual(Array.from({ length: 40 }, (_, i) => i * 2));
    expect(peak).toBe(5);
  });
});
