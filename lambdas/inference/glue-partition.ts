/**
 * Registers a batch's analytics partition (batch_id=<id>) in the Glue table
 * right after summarize writes its JSON Lines, so Athena sees the batch at once
 * instead of after a manual MSCK REPAIR TABLE. Idempotent: a partition that
 * already exists (a rerun of the same batch) counts as registered.
 */
import { BatchCreatePartitionCommand, GetTableCommand, type GlueClient } from '@aws-sdk/client-glue';
import { analyticsKey, BATCH_ID_PATTERN } from '../shared/keys.js';
import { ExodetectError } from '../shared/errors.js';
import { ANALYTICS_PARTITION_COLUMN } from './jsonl.js';

/** Bad props, a table that is not partitioned by batch_id, or Glue refused the partition. */
export class GluePartitionError extends ExodetectError {}

export interface RegisterBatchPartitionProps {
  /** Glue database of the detections table. */
  readonly database: string;
  /** Glue table name, e.g. `detections`. */
  readonly table: string;
  /** Data bucket holding analytics/detections/batch_id=<id>/. */
  readonly bucket: string;
  readonly batchId: string;
  /** Glue catalog (account id). Default: the caller's account. */
  readonly catalogId?: string;
}

export interface RegisterBatchPartitionResult {
  /** `created` now, or `exists` already (a rerun): either way Athena can query it. */
  readonly status: 'created' | 'exists';
  readonly location: string;
}

/** s3://<bucket>/analytics/detections/batch_id=<id>/ (the folder of analyticsKey, so the two cannot drift). */
export function partitionLocation(bucket: string, batchId: string): string {
  const key = analyticsKey(batchId);
  return `s3://${bucket}/${key.slice(0, key.lastIndexOf('/') + 1)}`;
}

function validate(props: RegisterBatchPartitionProps): void {
  for (const name of ['database', 'table', 'bucket'] as const) {
    const value = props[name];
    if (typeof value !== 'string' || value.trim() === '') throw new GluePartitionError(`${name} must be a non-empty string, got ${JSON.stringify(value)}`);
  }
  if (typeof props.batchId !== 'string' || !BATCH_ID_PATTERN.test(props.batchId)) {
    throw new GluePartitionError(`batchId must match ${BATCH_ID_PATTERN}, got ${JSON.stringify(props.batchId)}`);
  }
}

export async function registerBatchPartition(glue: GlueClient, props: RegisterBatchPartitionProps): Promise<RegisterBatchPartitionResult> {
  validate(props);
  const { database, table, batchId, catalogId } = props;
  const location = partitionLocation(props.bucket, batchId);
  const described = await glue.send(new GetTableCommand({ CatalogId: catalogId, DatabaseName: database, Name: table }));
  const partitionKeys = (described.Table?.PartitionKeys ?? []).map((key) => key.Name);
  if (partitionKeys.length !== 1 || partitionKeys[0] !== ANALYTICS_PARTITION_COLUMN) {
    throw new GluePartitionError(`${database}.${table} must be partitioned by [${ANALYTICS_PARTITION_COLUMN}] alone, got [${partitionKeys.join(', ')}]`);
  }
  const storage = described.Table?.StorageDescriptor;
  if (!storage) throw new GluePartitionError(`${database}.${table} has no StorageDescriptor to copy for partition ${ANALYTICS_PARTITION_COLUMN}=${batchId}`);

  const response = await glue.send(
    new BatchCreatePartitionCommand({
      CatalogId: catalogId,
      DatabaseName: database,
      TableName: table,
      // Same columns, formats and SerDe as the table; only the folder differs.
      PartitionInputList: [{ Values: [batchId], StorageDescriptor: { ...storage, Location: location } }],
    }),
  );
  // BatchCreatePartition reports per-partition failures in Errors with a 200, not as an exception.
  const error = response.Errors?.[0]?.ErrorDetail;
  if (!error) return { status: 'created', location };
  if (error.ErrorCode === 'AlreadyExistsException') return { status: 'exists', location };
  throw new GluePartitionError(`Glue refused partition ${ANALYTICS_PARTITION_COLUMN}=${batchId} of ${database}.${table}: ${error.ErrorCode}: ${error.ErrorMessage}`);
}
