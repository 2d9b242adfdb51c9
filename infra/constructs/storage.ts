/**
 * The one data bucket (prefixes per concern, lambdas/shared/keys.ts) and its
 * server access log bucket. Why one bucket: every workflow step reads one
 * prefix and writes another, which IAM expresses per prefix as precisely as
 * per bucket; one EventBridge switch, one encryption setting, one lifecycle
 * policy, one place for the local runner to mirror (docs/deploy.md).
 */
import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type { IGrantable } from 'aws-cdk-lib/aws-iam';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  CfnBucket,
  ObjectOwnership,
  StorageClass,
  type IBucket,
} from 'aws-cdk-lib/aws-s3';
import { BucketDeployment, Source } from 'aws-cdk-lib/aws-s3-deployment';
import { Construct, type IConstruct } from 'constructs';
import { PREFIX } from '../../lambdas/shared/keys.js';
import { fromRoot } from '../paths.js';
import { checkInteger } from '../validation.js';

export interface DataStorageProps {
  /** Customer managed KMS key for the data bucket. Default: none, S3-managed keys (SSE-S3). */
  readonly encryptionKey?: IKey;
  /** Days after which intermediate data (training/) expires. Default 30. */
  readonly intermediateDataExpirationDays?: number;
  /** Days after which Athena query results (analytics/query-results/) expire. Default 30. */
  readonly queryResultsExpirationDays?: number;
  /** Days a replaced or deleted object version is kept. Default 90. */
  readonly noncurrentVersionExpirationDays?: number;
  /** Days server access logs are kept. Default 365. */
  readonly accessLogsExpirationDays?: number;
  /** Default RETAIN: micrographs and models outlive the stack. */
  readonly removalPolicy?: RemovalPolicy;
  /** Upload models/default/ (the bundled model) with a BucketDeployment. Default true. */
  readonly deployDefaultModel?: boolean;
}

/** Which object key patterns (ARN wildcards below the bucket) a principal may use. */
export interface ObjectAccess {
  /** s3:ListBucket limited by an s3:prefix condition, e.g. `batches/*`. */
  readonly list?: readonly string[];
  /** s3:GetObject on these key patterns. */
  readonly read?: readonly string[];
  /** s3:PutObject (+ multipart abort) on these key patterns. */
  readonly write?: readonly string[];
  /** Why this principal needs exactly these prefixes: the cdk-nag acknowledgement of the key wildcards. */
  readonly reason: string;
}

export const ANALYTICS_QUERY_RESULTS_PREFIX = 'analytics/query-results/';

export class DataStorage extends Construct {
  readonly bucket: Bucket;
  readonly accessLogsBucket: Bucket;
  readonly encryptionKey?: IKey;
  readonly defaultModelDeployment?: BucketDeployment;

  constructor(scope: Construct, id: string, props: DataStorageProps = {}) {
    super(scope, id);
    const intermediateDays = checkInteger('intermediateDataExpirationDays', props.intermediateDataExpirationDays ?? 30, 1, 3650);
    const queryDays = checkInteger('queryResultsExpirationDays', props.queryResultsExpirationDays ?? 30, 1, 3650);
    const noncurrentDays = checkInteger('noncurrentVersionExpirationDays', props.noncurrentVersionExpirationDays ?? 90, 1, 3650);
    const logDays = checkInteger('accessLogsExpirationDays', props.accessLogsExpirationDays ?? 365, 1, 3650);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    this.encryptionKey = props.encryptionKey;

    // Server access logs only support SSE-S3 on the target bucket.
    this.accessLogsBucket = new Bucket(this, 'AccessLogs', {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_PREFERRED,
      versioned: false,
      removalPolicy,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(logDays) }],
    });
    Validations.of(this.accessLogsBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This is the server access log bucket of the data bucket; logging it into itself would recurse.',
    });

    this.bucket = new Bucket(this, 'Data', {
      encryption: props.encryptionKey ? BucketEncryption.KMS : BucketEncryption.S3_MANAGED,
      encryptionKey: props.encryptionKey,
      bucketKeyEnabled: props.encryptionKey ? true : undefined, // fewer KMS calls for thousands of small result files
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true, // micrographs, annotations and models are hard to recreate; a version id also names each inference run
      eventBridgeEnabled: true,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'data-bucket/',
      removalPolicy,
      lifecycleRules: [
        { id: 'expire-training-intermediates', prefix: PREFIX.training, expiration: Duration.days(intermediateDays) },
        { id: 'expire-athena-query-results', prefix: ANALYTICS_QUERY_RESULTS_PREFIX, expiration: Duration.days(queryDays) },
        {
          id: 'expire-old-versions',
          noncurrentVersionExpiration: Duration.days(noncurrentDays),
          noncurrentVersionTransitions: [{ storageClass: StorageClass.INFREQUENT_ACCESS, transitionAfter: Duration.days(30) }],
          abortIncompleteMultipartUploadAfter: Duration.days(7),
          expiredObjectDeleteMarker: true,
        },
      ],
    });

    if (props.deployDefaultModel ?? true) {
      this.defaultModelDeployment = new BucketDeployment(this, 'DefaultModel', {
        sources: [Source.asset(fromRoot('models', 'default'))],
        destinationBucket: this.bucket,
        destinationKeyPrefix: `${PREFIX.models}default/`,
        prune: false,
        retainOnDelete: true,
        memoryLimit: 512,
      });
    }
  }

  /**
   * Grants exactly the listed key patterns, and the KMS use that goes with
   * them. Patterns are ARN wildcards below the bucket: `models/*\/*` matches
   * `models/v1/model.onnx` but not `models/champion.json`.
   */
  grantObjects(grantee: IGrantable, access: ObjectAccess): void {
    const principal = grantee.grantPrincipal;
    const arns = (patterns: readonly string[]) => patterns.map((p) => this.bucket.arnForObjects(p));
    if (access.list?.length) {
      principal.addToPrincipalPolicy(
        new PolicyStatement({
          actions: ['s3:ListBucket'],
          resources: [this.bucket.bucketArn],
          conditions: { StringLike: { 's3:prefix': [...access.list] } },
        }),
      );
    }
    if (access.read?.length) {
      principal.addToPrincipalPolicy(new PolicyStatement({ actions: ['s3:GetObject'], resources: arns(access.read) }));
    }
    if (access.write?.length) {
      principal.addToPrincipalPolicy(
        new PolicyStatement({ actions: ['s3:PutObject', 's3:AbortMultipartUpload'], resources: arns(access.write) }),
      );
    }
    if (this.encryptionKey) {
      if (access.write?.length) this.encryptionKey.grantEncryptDecrypt(principal);
      else this.encryptionKey.grantDecrypt(principal);
    }
    // The wildcards are the least privilege itself: object keys below a prefix are not known in advance.
    const target = Validations.of(principal as unknown as IConstruct); // the role that holds the policy
    const bucketArn = `<${Stack.of(this).getLogicalId(this.bucket.node.defaultChild as CfnBucket)}.Arn>`;
    const patterns = new Set([...(access.read ?? []), ...(access.write ?? [])]);
    for (const pattern of patterns) {
      if (!pattern.includes('*')) continue;
      target.acknowledge({ id: `AwsSolutions-IAM5[Resource::${bucketArn}/${pattern}]`, reason: `Object keys under ${pattern}: ${access.reason}` });
    }
    if (this.encryptionKey) {
      for (const action of ['kms:GenerateDataKey*', 'kms:ReEncrypt*']) {
        target.acknowledge({
          id: `AwsSolutions-IAM5[Action::${action}]`,
          reason: `${action} is what grantEncryptDecrypt needs on the data key for SSE-KMS reads and writes; the resource is that one key.`,
        });
      }
    }
  }

  get dataBucket(): IBucket {
    return this.bucket;
  }
}
