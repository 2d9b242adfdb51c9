/**
 * The summarize handler's Glue step: registered on AWS (GLUE_DATABASE set),
 * skipped locally, and a Glue failure never loses the batch's results.
 * The handler reads its environment at import, so each case imports it afresh.
 */
import { BatchCreatePartitionCommand, GetTableCommand, GlueClient } from '@aws-sdk/client-glue';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { generateImageResult, resultKeyFor } from './batch-generator.js';

const batchId = 'handler-batch';
const s3Mock = mockClient(S3Client);
const glueMock = mockClient(GlueClient);
const body = (text: string) => ({ transformToString: async () => text }) as never;
const jsonlKey = `analytics/detections/batch_id=${batchId}/detections.jsonl`;

async function loadHandler(env: Record<string, string>) {
  vi.resetModules();
  for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
  return (await import('../../lambdas/summarize.js')).handler;
}

beforeEach(() => {
  s3Mock.reset();
  glueMock.reset();
  vi.stubEnv('POWERTOOLS_DEV', 'true');
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
  vi.stubEnv('AWS_REGION', 'us-east-1');
  s3Mock
    .on(ListObjectsV2Command, { Prefix: `results/${batchId}/images/` })
    .resolves({ Contents: [{ Key: resultKeyFor(batchId, 'a.tif') }], IsTruncated: false })
    .on(ListObjectsV2Command, { Prefix: `batches/${batchId}/images/` })
    .resolves({ Contents: [], IsTruncated: false });
  s3Mock.on(GetObjectCommand).resolves({ Body: body(JSON.stringify(generateImageResult({ batchId, file: 'a.tif', detections: 2, seed: 1 }))) });
  s3Mock.on(PutObjectCommand).resolves({});
  glueMock.on(GetTableCommand).resolves({
    Table: { Name: 'detections', DatabaseName: 'exodetect', PartitionKeys: [{ Name: 'batch_id', Type: 'string' }], StorageDescriptor: { Location: 's3://b/analytics/detections/' } },
  });
});

afterEach(() => vi.unstubAllEnvs());

describe('summarize handler partition registration', () => {
  it('registers the partition after the JSON Lines are written when GLUE_DATABASE is set', async () => {
    glueMock.on(BatchCreatePartitionCommand).resolves({});
    const handler = await loadHandler({ GLUE_DATABASE: 'exodetect' });
    const result = await handler({ bucket: 'b', batchId });
    expect(result).toMatchObject({ batchId, images: 1, detections: 2, partitionRegistered: true });
    const create = glueMock.commandCalls(BatchCreatePartitionCommand);
    expect(create).toHaveLength(1);
    expect(create[0]!.args[0].input).toMatchObject({ DatabaseName: 'exodetect', TableName: 'detections' });
    expect(s3Mock.commandCalls(PutObjectCommand).map((c) => c.args[0].input.Key)).toContain(jsonlKey);
  });

  it('on a Glue failure keeps the written results and returns partitionRegistered: false instead of throwing', async () => {
    glueMock.on(BatchCreatePartitionCommand).rejects(Object.assign(new Error('not authorized to perform glue:BatchCreatePartition'), { name: 'AccessDeniedException' }));
    const handler = await loadHandler({ GLUE_DATABASE: 'exodetect', GLUE_TABLE: 'detections' });
    const result = await handler({ bucket: 'b', batchId });
    expect(result).toMatchObject({ batchId, images: 1, detections: 2, partitionRegistered: false });
    const putKeys = s3Mock.commandCalls(PutObjectCommand).map((c) => c.args[0].input.Key);
    expect(putKeys).toEqual(expect.arrayContaining([jsonlKey, result.summaryKey, result.reportKey]));
  });

  it('calls no Glue API and adds no flag without GLUE_DATABASE (local runs)', async () => {
    const handler = await loadHandler({ GLUE_DATABASE: '' });
    const result = await handler({ bucket: 'b', batchId });
    expect(result).toMatchObject({ batchId, images: 1, detections: 2 });
    expect(result).not.toHaveProperty('partitionRegistered');
    expect(glueMock.calls()).toHaveLength(0);
  });
});
