/**
 * Athena over the per-detection JSON Lines that summarize writes to
 * analytics/detections/batch_id=<id>/detections.jsonl. Columns come from the
 * writer (lambdas/inference/jsonl.ts ANALYTICS_COLUMNS), so they cannot drift.
 */
import { Aws, Stack } from 'aws-cdk-lib';
import { CfnWorkGroup } from 'aws-cdk-lib/aws-athena';
import { CfnDatabase, CfnTable } from 'aws-cdk-lib/aws-glue';
import { Construct } from 'constructs';
import { PREFIX } from '../../lambdas/shared/keys.js';
import { ANALYTICS_COLUMNS, ANALYTICS_PARTITION_COLUMN } from '../../lambdas/inference/jsonl.js';
import { checkInteger, checkPattern } from '../validation.js';
import { ANALYTICS_QUERY_RESULTS_PREFIX, type DataStorage } from './storage.js';

export interface AnalyticsProps {
  readonly storage: DataStorage;
  /** Glue database name. Default `exodetect`. */
  readonly databaseName?: string;
  /** Per-query scan limit in GB (guards against a runaway query's bill). Default 10. */
  readonly bytesScannedCutoffGb?: number;
}

/** The partition key lives in the S3 key (batch_id=<id>), not among the data columns. */
export const PARTITION_COLUMN = ANALYTICS_PARTITION_COLUMN;

/** Glue table the summarize Lambda registers each batch's partition in. */
export const DETECTIONS_TABLE_NAME = 'detections';

export class Analytics extends Construct {
  readonly database: CfnDatabase;
  readonly table: CfnTable;
  readonly workGroup: CfnWorkGroup;
  readonly databaseName: string;
  readonly tableName = DETECTIONS_TABLE_NAME;

  constructor(scope: Construct, id: string, props: AnalyticsProps) {
    super(scope, id);
    const databaseName = checkPattern('databaseName', props.databaseName ?? 'exodetect', /^[a-z0-9_]{1,255}$/, 'must be lower-case letters, digits and _');
    const cutoffGb = checkInteger('bytesScannedCutoffGb', props.bytesScannedCutoffGb ?? 10, 1, 100_000);
    const bucket = props.storage.bucket;
    this.databaseName = databaseName;

    this.database = new CfnDatabase(this, 'Database', {
      catalogId: Aws.ACCOUNT_ID,
      databaseInput: { name: databaseName, description: 'exodetect detections for Athena' },
    });
    this.table = new CfnTable(this, 'Detections', {
      catalogId: Aws.ACCOUNT_ID,
      databaseName,
      tableInput: {
        name: DETECTIONS_TABLE_NAME,
        description: 'One row per detected vesicle; summarize registers each batch partition (fallback: MSCK REPAIR TABLE detections)',
        tableType: 'EXTERNAL_TABLE',
        parameters: { classification: 'json', EXTERNAL: 'TRUE' },
        partitionKeys: [{ name: PARTITION_COLUMN, type: 'string' }],
        storageDescriptor: {
          location: `s3://${bucket.bucketName}/${PREFIX.analytics}`,
          inputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
          outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
          serdeInfo: {
            serializationLibrary: 'org.openx.data.jsonserde.JsonSerDe',
            parameters: { 'ignore.malformed.json': 'true' },
          },
          columns: Object.entries(ANALYTICS_COLUMNS)
            .filter(([name]) => name !== PARTITION_COLUMN)
            .map(([name, type]) => ({ name, type })),
        },
      },
    });
    this.table.addResourceDependency(this.database);

    this.workGroup = new CfnWorkGroup(this, 'WorkGroup', {
      name: `${Stack.of(this).stackName}-analytics`,
      description: 'exodetect detections queries',
      state: 'ENABLED',
      workGroupConfiguration: {
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        bytesScannedCutoffPerQuery: cutoffGb * 1024 ** 3,
        resultConfiguration: {
          outputLocation: `s3://${bucket.bucketName}/${ANALYTICS_QUERY_RESULTS_PREFIX}`,
          encryptionConfiguration: props.storage.encryptionKey
            ? { encryptionOption: 'SSE_KMS', kmsKey: props.storage.encryptionKey.keyArn }
            : { encryptionOption: 'SSE_S3' },
        },
      },
    });
  }
}
