import { readFileSync } from 'node:fs';
import { Duration } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ExodetectStack } from '../../infra/exodetect-stack.js';
import { ANALYTICS_COLUMNS } from '../../lambdas/inference/jsonl.js';
import { logicalId, renderResource, s3AccessOf, statementsOfRole, synthStack } from './template.js';

let stack: ExodetectStack;
let template: Template;
let bucketId: string;
const roleOf = (fn: { role?: unknown }) => logicalId(stack, (fn as { role: { node: { defaultChild?: unknown } } }).role);

beforeAll(() => {
  ({ stack, template } = synthStack({ notificationEmails: ['ops@example.org'] }));
  bucketId = logicalId(stack, stack.storage.bucket);
});

describe('data bucket', () => {
  it('is private, encrypted, versioned, access-logged and sends events to EventBridge', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      VersioningConfiguration: { Status: 'Enabled' },
      LoggingConfiguration: { DestinationBucketName: { Ref: logicalId(stack, stack.storage.accessLogsBucket) }, LogFilePrefix: 'data-bucket/' },
    });
    template.hasResourceProperties('Custom::S3BucketNotifications', {
      BucketName: { Ref: bucketId },
      NotificationConfiguration: { EventBridgeConfiguration: {} },
    });
  });

  it('refuses plain HTTP and TLS below 1.2', () => {
    const policy = Object.values(template.findResources('AWS::S3::BucketPolicy')).find(
      (p: any) => p.Properties.Bucket.Ref === bucketId,
    ) as any;
    const denies = policy.Properties.PolicyDocument.Statement.filter((s: any) => s.Effect === 'Deny');
    expect(denies.map((s: any) => s.Condition)).toEqual(
      expect.arrayContaining([{ Bool: { 'aws:SecureTransport': 'false' } }, { NumericLessThan: { 's3:TlsVersion': 1.2 } }]),
    );
  });

  it('expires intermediate training data and old versions', () => {
    const bucket = template.findResources('AWS::S3::Bucket')[bucketId] as any;
    const rules = bucket.Properties.LifecycleConfiguration.Rules;
    expect(rules).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Prefix: 'training/', ExpirationInDays: 30, Status: 'Enabled' }),
        expect.objectContaining({ NoncurrentVersionExpiration: { NoncurrentDays: 90 }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 } }),
      ]),
    );
  });

  it('deploys the bundled default model to models/default/', () => {
    template.hasResourceProperties('Custom::CDKBucketDeployment', {
      DestinationBucketKeyPrefix: 'models/default/',
      Prune: false,
    });
  });
});

describe('triggers', () => {
  it('starts inference only for batches/*/batch.json in the data bucket, with retries and a dead-letter queue', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.s3'],
        'detail-type': ['Object Created'],
        detail: { bucket: { name: [{ Ref: bucketId }] }, object: { key: [{ wildcard: 'batches/*/batch.json' }] } },
      },
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [logicalId(stack, stack.inference.startFunction), 'Arn'] },
          RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 21600 },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [logicalId(stack, stack.inference.deadLetterQueue), 'Arn'] } },
        }),
      ],
    });
  });

  it('retrains weekly on the configured dataset with EventBridge Scheduler', () => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 3 ? * SUN *)',
      State: 'ENABLED',
      Target: Match.objectLike({
        Arn: { Ref: logicalId(stack, stack.training.stateMachine) },
        Input: JSON.stringify({ dataset: 'exodetect' }),
      }),
    });
  });
});

describe('state machines', () => {
  const placeholders = (file: string) =>
    [...new Set([...readFileSync(new URL(`../../statemachines/${file}`, import.meta.url), 'utf8').matchAll(/\$\{([A-Za-z0-9]+)\}/g)].map((m) => m[1]))].sort();

  it.each([
    ['inference', 'inference.asl.json'],
    ['training', 'training.asl.json'],
  ] as const)('%s: deploys the ASL file with a substitution for every placeholder, logging ALL and tracing', (which, file) => {
    const sm = which === 'inference' ? stack.inference.stateMachine : stack.training.stateMachine;
    const resource = template.findResources('AWS::StepFunctions::StateMachine')[logicalId(stack, sm)] as any;
    expect(Object.keys(resource.Properties.DefinitionSubstitutions).sort()).toEqual(placeholders(file));
    expect(resource.Properties.DefinitionS3Location).toBeDefined(); // the ASL file itself, uploaded as an asset
    expect(resource.Properties.LoggingConfiguration.Level).toBe('ALL');
    expect(resource.Properties.TracingConfiguration).toEqual({ Enabled: true });
  });

  it('passes the Map settings and training limits as strings', () => {
    const inf = template.findResources('AWS::StepFunctions::StateMachine')[logicalId(stack, stack.inference.stateMachine)] as any;
    expect(inf.Properties.DefinitionSubstitutions).toMatchObject({ MapMaxConcurrency: '50', ToleratedFailurePercentage: '10', DetectItemsPerBatch: '8' });
    const trn = template.findResources('AWS::StepFunctions::StateMachine')[logicalId(stack, stack.training.stateMachine)] as any;
    expect(trn.Properties.DefinitionSubstitutions).toMatchObject({
      TrainingInstanceType: 'ml.g4dn.xlarge',
      TrainingMaxRuntimeSeconds: '14400',
      TrainingMaxWaitSeconds: '28800',
      TrainingVolumeSizeGb: '30',
      DataBucket: { Ref: bucketId },
      SageMakerRoleArn: { 'Fn::GetAtt': [logicalId(stack, stack.training.sageMakerRole), 'Arn'] },
    });
  });
});

describe('functions', () => {
  it('run on Node.js 24, arm64, with Powertools settings and X-Ray', () => {
    const functions = Object.values(template.findResources('AWS::Lambda::Function')).filter(
      (f: any) => f.Properties.Environment?.Variables?.POWERTOOLS_METRICS_NAMESPACE === 'exodetect',
    ) as any[];
    expect(functions).toHaveLength(9);
    for (const f of functions) {
      expect(f.Properties).toMatchObject({ Runtime: 'nodejs24.x', Architectures: ['arm64'], TracingConfig: { Mode: 'Active' } });
      expect(f.Properties.Environment.Variables.POWERTOOLS_SERVICE_NAME).toMatch(/^exodetect-/);
    }
  });

  it('decides no promotion on fewer than 30 validation objects unless told otherwise', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: 'exodetect-promote-model', PROMOTION_MIN_VALIDATION_OBJECTS: '30' }) },
    });
  });

  it('sizes detect for two vCPUs and tells onnxruntime to use both', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      MemorySize: 3538,
      Timeout: 300,
      Environment: { Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: 'exodetect-detect', DETECT_INTRA_OP_THREADS: '2' }) },
    });
  });
});

describe('least privilege (S3 by prefix)', () => {
  const access = (fn: { role?: unknown }) => s3AccessOf(template, roleOf(fn), bucketId);

  it('detect reads batch images and models, writes results only', () => {
    expect(access(stack.inference.detectFunction)).toEqual([
      's3:AbortMultipartUpload <Bucket>/results/*',
      's3:GetObject <Bucket>/batches/*/images/*',
      's3:GetObject <Bucket>/models/*',
      's3:PutObject <Bucket>/results/*',
    ]);
  });

  it('validate-batch only reads; summarize reads and writes results and analytics', () => {
    expect(access(stack.inference.validateBatchFunction)).toEqual([
      's3:GetObject <Bucket>/batches/*/batch.json',
      's3:GetObject <Bucket>/models/*',
      's3:ListBucket <Bucket> prefix=batches/*',
    ]);
    expect(access(stack.inference.summarizeFunction)).toEqual([
      's3:AbortMultipartUpload <Bucket>/analytics/detections/*',
      's3:AbortMultipartUpload <Bucket>/results/*',
      's3:GetObject <Bucket>/results/*',
      's3:ListBucket <Bucket> prefix=results/*,batches/*',
      's3:PutObject <Bucket>/analytics/detections/*',
      's3:PutObject <Bucket>/results/*',
    ]);
  });

  it('summarize registers Glue partitions of the detections table only (catalog, database, table ARNs)', () => {
    const glue = statementsOfRole(template, roleOf(stack.inference.summarizeFunction)).filter((s) =>
      ([] as string[]).concat(s.Action).some((a) => a.startsWith('glue:')),
    );
    expect(glue).toHaveLength(1);
    expect(glue[0]!.Effect).toBe('Allow');
    expect(([] as string[]).concat(glue[0]!.Action).sort()).toEqual(['glue:BatchCreatePartition', 'glue:GetTable']);
    const arn = (resource: string) => `arn:<AWS::Partition>:glue:<AWS::Region>:<AWS::AccountId>:${resource}`;
    expect(([] as unknown[]).concat(glue[0]!.Resource).map((r) => renderResource(r, bucketId))).toEqual([
      arn('catalog'),
      arn('database/exodetect'),
      arn('table/exodetect/detections'),
    ]);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('^exodetect: batch summary'),
      Environment: { Variables: Match.objectLike({ GLUE_DATABASE: 'exodetect', GLUE_TABLE: 'detections' }) },
    });
    // No other role may touch the Glue catalog.
    const others = Object.keys(template.findResources('AWS::IAM::Role')).filter((id) => id !== roleOf(stack.inference.summarizeFunction));
    for (const role of others) {
      for (const s of statementsOfRole(template, role)) expect(([] as string[]).concat(s.Action).filter((a) => a.startsWith('glue:')), role).toEqual([]);
    }
  });

  it('only promote-model can write models/champion.json (and its decision and figures beside each model); register-model writes models/<version>/ files', () => {
    expect(access(stack.training.promoteModelFunction)).toEqual([
      's3:AbortMultipartUpload <Bucket>/models/*/card.md',
      's3:AbortMultipartUpload <Bucket>/models/*/promotion.json',
      's3:AbortMultipartUpload <Bucket>/models/champion.json',
      's3:GetObject <Bucket>/models/*',
      's3:GetObject <Bucket>/training/*/channels/validation/*',
      's3:ListBucket <Bucket> prefix=training/*,models/*',
      's3:PutObject <Bucket>/models/*/card.md',
      's3:PutObject <Bucket>/models/*/promotion.json',
      's3:PutObject <Bucket>/models/champion.json',
    ]);
    expect(access(stack.training.registerModelFunction)).toEqual([
      's3:AbortMultipartUpload <Bucket>/models/*/*',
      's3:GetObject <Bucket>/training/*/output/*',
      's3:PutObject <Bucket>/models/*/*',
    ]);
    expect(access(stack.notifications.notifyFunction)).toEqual([
      's3:AbortMultipartUpload <Bucket>/results/*/failure.json',
      's3:AbortMultipartUpload <Bucket>/training/*/failure.json',
      's3:PutObject <Bucket>/results/*/failure.json',
      's3:PutObject <Bucket>/training/*/failure.json',
    ]);
  });

  it('the SageMaker role reads its split channels, manifests and model weights, and writes its output and checkpoints, inside training/ only', () => {
    const lines = s3AccessOf(template, logicalId(stack, stack.training.sageMakerRole), bucketId);
    expect(lines).toEqual([
      's3:AbortMultipartUpload <Bucket>/training/*/checkpoints/*',
      's3:AbortMultipartUpload <Bucket>/training/*/output/*',
      's3:GetObject <Bucket>/models/*/model.pt',
      's3:GetObject <Bucket>/training/*/channels/*',
      's3:GetObject <Bucket>/training/*/checkpoints/*',
      's3:GetObject <Bucket>/training/*/manifests/*',
      's3:ListBucket <Bucket> prefix=training/*',
      's3:PutObject <Bucket>/training/*/checkpoints/*',
      's3:PutObject <Bucket>/training/*/output/*',
    ]);
  });

  it('no role of ours can delete objects or touch the whole bucket', () => {
    const ours = [
      ...[stack.inference.detectFunction, stack.inference.validateBatchFunction, stack.inference.summarizeFunction, stack.inference.startFunction, stack.training.checkDatasetFunction, stack.training.splitDatasetFunction, stack.training.registerModelFunction, stack.training.promoteModelFunction, stack.notifications.notifyFunction].map(roleOf),
      logicalId(stack, stack.training.sageMakerRole),
      logicalId(stack, stack.inference.stateMachine.role),
      logicalId(stack, stack.training.stateMachine.role),
    ];
    for (const role of ours) {
      for (const line of s3AccessOf(template, role, bucketId)) {
        expect(line, role).not.toMatch(/s3:\*|s3:DeleteObject|<Bucket>\/\*$/);
      }
    }
  });
});

describe('state machine roles', () => {
  it('training passes only the SageMaker role, only to SageMaker, and manages only exodetect-* jobs', () => {
    const statements = statementsOfRole(template, logicalId(stack, stack.training.stateMachine.role));
    const passRole = statements.find((s) => s.Action === 'iam:PassRole')!;
    expect(passRole.Resource).toEqual({ 'Fn::GetAtt': [logicalId(stack, stack.training.sageMakerRole), 'Arn'] });
    expect(passRole.Condition).toEqual({ StringEquals: { 'iam:PassedToService': 'sagemaker.amazonaws.com' } });
    const sagemaker = statements.find((s) => ([] as string[]).concat(s.Action).includes('sagemaker:CreateTrainingJob'))!;
    expect(JSON.stringify(sagemaker.Resource)).toContain(':training-job/exodetect-*');
  });

  it('inference may start only its own child executions and list only batches/', () => {
    const statements = statementsOfRole(template, logicalId(stack, stack.inference.stateMachine.role));
    const start = statements.find((s) => s.Action === 'states:StartExecution')!;
    expect(JSON.stringify(start.Resource)).toContain(':stateMachine:Exo-inference');
    expect(s3AccessOf(template, logicalId(stack, stack.inference.stateMachine.role), bucketId)).toEqual([
      's3:AbortMultipartUpload <Bucket>/results/*/map/*',
      's3:GetObject <Bucket>/results/*/map/*',
      's3:ListBucket <Bucket> prefix=batches/*',
      's3:ListMultipartUploadParts <Bucket>/results/*/map/*',
      's3:PutObject <Bucket>/results/*/map/*',
    ]);
  });
});

describe('outputs', () => {
  it('tells the operator where to upload and how to train on demand', () => {
    const outputs = template.toJSON().Outputs;
    expect(outputs.DataBucketName.Value).toEqual({ Ref: bucketId });
    expect(JSON.stringify(outputs.StartTrainingCommand.Value)).toContain('aws stepfunctions start-execution --state-machine-arn ');
    expect(JSON.stringify(outputs.StartTrainingCommand.Value)).toContain(`--input '{\\"dataset\\":\\"exodetect\\"}'`);
  });
});

describe('notifications, observability, analytics', () => {
  it('has an encrypted topic with the email subscription', () => {
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.org' });
  });

  it('alarms on failed executions and failed images, mailing the topic, and has a dashboard', () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')) as any[];
    expect(alarms.length).toBeGreaterThanOrEqual(4);
    for (const a of alarms) expect(a.Properties.AlarmActions).toEqual([{ Ref: logicalId(stack, stack.notifications.topic) }]);
    expect(alarms.some((a) => /inference execution failed/.test(a.Properties.AlarmDescription))).toBe(true);
    expect(alarms.some((a) => /of images failed/.test(a.Properties.AlarmDescription))).toBe(true);
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  });

  it('defines the Glue table from the JSON Lines writer columns, partitioned by batch_id', () => {
    const table = Object.values(template.findResources('AWS::Glue::Table'))[0] as any;
    const input = table.Properties.TableInput;
    expect(input.PartitionKeys).toEqual([{ Name: 'batch_id', Type: 'string' }]);
    expect(input.StorageDescriptor.Columns).toEqual(
      Object.entries(ANALYTICS_COLUMNS).filter(([n]) => n !== 'batch_id').map(([Name, Type]) => ({ Name, Type })),
    );
    expect(input.StorageDescriptor.SerdeInfo.SerializationLibrary).toBe('org.openx.data.jsonserde.JsonSerDe');
    expect(JSON.stringify(input.StorageDescriptor.Location)).toContain('/analytics/detections/');
    template.hasResourceProperties('AWS::Athena::WorkGroup', {
      WorkGroupConfiguration: Match.objectLike({ EnforceWorkGroupConfiguration: true, BytesScannedCutoffPerQuery: 10 * 1024 ** 3 }),
    });
  });
});

describe('options', () => {
  it('uses a customer managed key with rotation when asked', () => {
    const { stack: kmsStack, template: t } = synthStack({ useKmsKey: true });
    t.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    t.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          Match.objectLike({ ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: Match.anyValue() }, BucketKeyEnabled: true }),
        ],
      },
    });
    // The detect role may use the key (decrypt images, encrypt results).
    const detectRole = logicalId(kmsStack, (kmsStack.inference.detectFunction as any).role);
    const kms = statementsOfRole(t, detectRole).filter((s) => ([] as string[]).concat(s.Action).some((a) => a.startsWith('kms:')));
    expect(kms.length).toBeGreaterThan(0);
  });

  it.each([
    [{ mapMaxConcurrency: 0 }, /mapMaxConcurrency must be an integer in \[1, 10000\], got 0/],
    [{ toleratedFailurePercentage: 150 }, /toleratedFailurePercentage .* got 150/],
    [{ detectMemoryMb: 1024 }, /detectMemoryMb .* got 1024/],
    [{ trainingSchedule: 'weekly' }, /schedule must be an EventBridge Scheduler cron\(\.\.\.\) or rate\(\.\.\.\) expression, got "weekly"/],
    [{ trainingInstanceType: 'g4dn.xlarge' }, /instanceType .* got "g4dn\.xlarge"/],
    [{ trainingMaxRuntime: Duration.hours(10), trainingMaxWait: Duration.hours(5) }, /maxWait must be >= maxRuntime/],
    [{ notificationEmails: ['not-an-email'] }, /emails\[0\] must be an email address, got "not-an-email"/],
    [{ trainingDataset: '../x' }, /dataset must be a folder name under datasets\/, got "\.\.\/x"/],
    [{ minValidationObjects: -1 }, /minValidationObjects must be an integer in \[0, 1000000\], got -1/],
  ])('rejects %j with the bad value in the message', (props, message) => {
    expect(() => synthStack(props as never)).toThrow(message);
  });
});
