import { BatchCreatePartitionCommand, EntityNotFoundException, GetTableCommand, GlueClient } from '@aws-sdk/client-glue';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { GluePartitionError, partitionLocation, registerBatchPartition } from '../../lambdas/inference/glue-partition.js';

const glueMock = mockClient(GlueClient);
const glue = new GlueClient({ region: 'us-east-1' });
const props = { database: 'exodetect', table: 'detections', bucket: 'data-bucket', batchId: 'run-42' };
const tableStorage = {
  Columns: [{ Name: 'image_key', Type: 'string' }, { Name: 'diameter_nm', Type: 'double' }],
  Location: 's3://data-bucket/analytics/detections/',
  InputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
  OutputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
  SerdeInfo: { SerializationLibrary: 'org.openx.data.jsonserde.JsonSerDe', Parameters: { 'ignore.malformed.json': 'true' } },
};
const givenTable = (partitionKeys = [{ Name: 'batch_id', Type: 'string' }]) =>
  glueMock.on(GetTableCommand, { DatabaseName: 'exodetect', Name: 'detections' }).resolves({
    Table: { Name: 'detections', DatabaseName: 'exodetect', PartitionKeys: partitionKeys, StorageDescriptor: tableStorage },
  });

beforeEach(() => glueMock.reset());

describe('registerBatchPartition', () => {
  it('creates the batch_id partition with the table storage descriptor and the batch folder as location', async () => {
    givenTable();
    glueMock.on(BatchCreatePartitionCommand).resolves({ Errors: [] });
    const result = await registerBatchPartition(glue, props);
    expect(result).toEqual({ status: 'created', location: 's3://data-bucket/analytics/detections/batch_id=run-42/' });
    const calls = glueMock.commandCalls(BatchCreatePartitionCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input).toEqual({
      DatabaseName: 'exodetect',
      TableName: 'detections',
      PartitionInputList: [{ Values: ['run-42'], StorageDescriptor: { ...tableStorage, Location: 's3://data-bucket/analytics/detections/batch_id=run-42/' } }],
    });
  });

  it('treats AlreadyExistsException in the response Errors as registered (reruns are idempotent)', async () => {
    givenTable();
    glueMock.on(BatchCreatePartitionCommand).resolves({
      Errors: [{ PartitionValues: ['run-42'], ErrorDetail: { ErrorCode: 'AlreadyExistsException', ErrorMessage: 'Partition already exists.' } }],
    });
    await expect(registerBatchPartition(glue, props)).resolves.toEqual({ status: 'exists', location: partitionLocation('data-bucket', 'run-42') });
  });

  it('throws a GluePartitionError naming the code for any other per-partition error', async () => {
    givenTable();
    glueMock.on(BatchCreatePartitionCommand).resolves({
      Errors: [{ PartitionValues: ['run-42'], ErrorDetail: { ErrorCode: 'ResourceNumberLimitExceededException', ErrorMessage: 'too many partitions' } }],
    });
    const failure = registerBatchPartition(glue, props);
    await expect(failure).rejects.toBeInstanceOf(GluePartitionError);
    await expect(failure).rejects.toThrow(/batch_id=run-42 of exodetect\.detections: ResourceNumberLimitExceededException: too many partitions/);
  });

  it('lets a failed GetTable (missing table, no permission) propagate and creates nothing', async () => {
    glueMock.on(GetTableCommand).rejects(new EntityNotFoundException({ message: 'Table detections not found.', $metadata: {} }));
    await expect(registerBatchPartition(glue, props)).rejects.toThrow(/Table detections not found/);
    expect(glueMock.commandCalls(BatchCreatePartitionCommand)).toHaveLength(0);
  });

  it('refuses a table that is not partitioned by batch_id alone', async () => {
    givenTable([{ Name: 'dt', Type: 'string' }]);
    await expect(registerBatchPartition(glue, props)).rejects.toThrow(/must be partitioned by \[batch_id\] alone, got \[dt\]/);
    expect(glueMock.commandCalls(BatchCreatePartitionCommand)).toHaveLength(0);
  });

  it('validates its props before calling Glue, quoting the bad value', async () => {
    await expect(registerBatchPartition(glue, { ...props, batchId: '../x' })).rejects.toThrow(/batchId must match .*"\.\.\/x"/);
    await expect(registerBatchPartition(glue, { ...props, database: '' })).rejects.toThrow(/database must be a non-empty string, got ""/);
    expect(glueMock.calls()).toHaveLength(0);
  });
});
