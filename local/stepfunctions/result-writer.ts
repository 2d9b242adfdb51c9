/**
 * Distributed Map ResultWriter with AWS's layout:
 *   <Prefix>/<map-run-id>/manifest.json
 *   <Prefix>/<map-run-id>/SUCCEEDED_0.json, FAILED_0.json, PENDING_0.json
 * Each results file is a JSON array of child-execution records whose Input
 * and Output are JSON strings, as Step Functions writes them.
 */
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { JsonObject, JsonValue } from './definition.js';
import { StatesError } from './errors.js';

export interface ChildExecutionRecord {
  readonly executionArn: string;
  readonly name: string;
  readonly stateMachineArn: string;
  readonly input: JsonValue;
  readonly status: 'SUCCEEDED' | 'FAILED' | 'PENDING';
  readonly output?: JsonValue;
  readonly error?: string;
  readonly cause?: string;
  readonly startDate: Date;
  readonly stopDate?: Date;
}

export interface ResultWriterTarget {
  readonly bucket: string;
  /** Without trailing slash handling: `a/b` and `a/b/` both give `a/b/<id>/...`. */
  readonly prefix: string;
  readonly mapRunArn: string;
  readonly mapRunId: string;
}

export interface ResultWriterDetails {
  readonly Bucket: string;
  readonly Key: string;
}

const toAwsRecord = (r: ChildExecutionRecord): JsonObject => {
  const record: JsonObject = {
    ExecutionArn: r.executionArn,
    Input: JSON.stringify(r.input),
    InputDetails: { Included: true },
    Name: r.name,
    RedriveCount: 0,
    RedriveStatus: 'NOT_REDRIVABLE',
    StartDate: r.startDate.toISOString(),
    StateMachineArn: r.stateMachineArn,
    Status: r.status,
  };
  if (r.stopDate) record.StopDate = r.stopDate.toISOString();
  if (r.status === 'SUCCEEDED') {
    record.Output = JSON.stringify(r.output ?? null);
    record.OutputDetails = { Included: true };
  }
  if (r.status === 'FAILED') {
    record.Error = r.error ?? 'States.TaskFailed';
    record.Cause = r.cause ?? '';
  }
  return record;
};

export function resultWriterBase(target: ResultWriterTarget): string {
  const prefix = target.prefix.replace(/\/+$/, '');
  return prefix === '' ? `${target.mapRunId}/` : `${prefix}/${target.mapRunId}/`;
}

export async function writeMapResults(s3: S3Client, target: ResultWriterTarget, records: readonly ChildExecutionRecord[]): Promise<ResultWriterDetails> {
  const base = resultWriterBase(target);
  const files: Record<'SUCCEEDED' | 'FAILED' | 'PENDING', { Key: string; Size: number }[]> = { SUCCEEDED: [], FAILED: [], PENDING: [] };
  try {
    for (const status of ['SUCCEEDED', 'FAILED', 'PENDING'] as const) {
      const subset = records.filter((r) => r.status === status);
      if (subset.length === 0) continue;
      const key = `${base}${status}_0.json`;
      const body = JSON.stringify(subset.map(toAwsRecord));
      await s3.send(new PutObjectCommand({ Bucket: target.bucket, Key: key, Body: body, ContentType: 'application/json' }));
      files[status].push({ Key: key, Size: Buffer.byteLength(body) });
    }
    const manifestKey = `${base}manifest.json`;
    const manifest = { DestinationBucket: target.bucket, MapRunArn: target.mapRunArn, ResultFiles: files };
    await s3.send(
      new PutObjectCommand({ Bucket: target.bucket, Key: manifestKey, Body: JSON.stringify(manifest), ContentType: 'application/json' }),
    );
    return { Bucket: target.bucket, Key: manifestKey };
  } catch (err) {
    if (err instanceof StatesError) throw err;
    throw new StatesError('States.ResultWriterFailed', `cannot write map results to s3://${target.bucket}/${base}: ${(err as Error).message}`);
  }
}
