/**
 * The exodetect stack: one data bucket, the inference and training
 * workflows, notifications, analytics and observability.
 */
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { Analytics } from './constructs/analytics.js';
import { InferenceWorkflow } from './constructs/inference.js';
import { Notifications } from './constructs/notifications.js';
import { Observability } from './constructs/observability.js';
import { DataStorage } from './constructs/storage.js';
import { TrainingWorkflow } from './constructs/training.js';
import { acknowledgeBucketDeploymentTarget, acknowledgeFrameworkFindings } from './nag-acknowledgements.js';
import type { CfnBucket } from 'aws-cdk-lib/aws-s3';

export interface ExodetectStackProps extends StackProps {
  /** Encrypt the data bucket (and the topic) with a new customer managed KMS key with rotation. Default false: SSE-S3. */
  readonly useKmsKey?: boolean;
  /** Emails subscribed to the notifications topic. Default: none. */
  readonly notificationEmails?: readonly string[];
  /** Inference tuning: see InferenceWorkflowProps. */
  readonly mapMaxConcurrency?: number;
  readonly toleratedFailurePercentage?: number;
  readonly detectItemsPerBatch?: number;
  readonly detectMemoryMb?: number;
  readonly detectReservedConcurrency?: number;
  /** Training: see TrainingWorkflowProps. */
  readonly trainingDataset?: string;
  readonly trainingSchedule?: string;
  readonly trainingScheduleEnabled?: boolean;
  readonly trainingInstanceType?: string;
  readonly trainingMaxRuntime?: Duration;
  readonly trainingMaxWait?: Duration;
  readonly trainingHyperparameters?: Readonly<Record<string, string>>;
  readonly trainingImageUri?: string;
  readonly minValidationObjects?: number;
  /** Default RETAIN. */
  readonly dataRemovalPolicy?: RemovalPolicy;
  /** Default: one month. */
  readonly logRetention?: RetentionDays;
}

export class ExodetectStack extends Stack {
  readonly storage: DataStorage;
  readonly notifications: Notifications;
  readonly inference: InferenceWorkflow;
  readonly training: TrainingWorkflow;
  readonly analytics: Analytics;
  readonly observability: Observability;

  constructor(scope: Construct, id: string, props: ExodetectStackProps = {}) {
    super(scope, id, props);
    const encryptionKey = props.useKmsKey
      ? new Key(this, 'DataKey', { enableKeyRotation: true, description: 'exodetect data bucket and topic', removalPolicy: RemovalPolicy.RETAIN })
      : undefined;
    const logRetention = props.logRetention;

    this.storage = new DataStorage(this, 'Storage', { encryptionKey, removalPolicy: props.dataRemovalPolicy });
    this.notifications = new Notifications(this, 'Notifications', {
      storage: this.storage,
      emails: props.notificationEmails,
      encryptionKey,
      logRetention,
    });
    // Before inference: summarize registers each batch's partition in its table.
    this.analytics = new Analytics(this, 'Analytics', { storage: this.storage });
    this.inference = new InferenceWorkflow(this, 'Inference', {
      storage: this.storage,
      notifyFunction: this.notifications.notifyFunction,
      mapMaxConcurrency: props.mapMaxConcurrency,
      toleratedFailurePercentage: props.toleratedFailurePercentage,
      detectItemsPerBatch: props.detectItemsPerBatch,
      detectMemoryMb: props.detectMemoryMb,
      detectReservedConcurrency: props.detectReservedConcurrency,
      analyticsTable: this.analytics,
      logRetention,
    });
    this.training = new TrainingWorkflow(this, 'Training', {
      storage: this.storage,
      notifyFunction: this.notifications.notifyFunction,
      dataset: props.trainingDataset,
      schedule: props.trainingSchedule,
      scheduleEnabled: props.trainingScheduleEnabled,
      instanceType: props.trainingInstanceType,
      maxRuntime: props.trainingMaxRuntime,
      maxWait: props.trainingMaxWait,
      defaultHyperparameters: props.trainingHyperparameters,
      trainingImageUri: props.trainingImageUri,
      minValidationObjects: props.minValidationObjects,
      logRetention,
    });
    this.observability = new Observability(this, 'Observability', {
      topic: this.notifications.topic,
      inferenceStateMachine: this.inference.stateMachine,
      trainingStateMachine: this.training.stateMachine,
      detectFunction: this.inference.detectFunction,
      functions: [
        this.inference.validateBatchFunction,
        this.inference.detectFunction,
        this.inference.summarizeFunction,
        this.inference.startFunction,
        this.training.checkDatasetFunction,
        this.training.splitDatasetFunction,
        this.training.registerModelFunction,
        this.training.promoteModelFunction,
        this.notifications.notifyFunction,
      ],
    });
    acknowledgeFrameworkFindings(this);
    acknowledgeBucketDeploymentTarget(this, this.getLogicalId(this.storage.bucket.node.defaultChild as CfnBucket));

    new CfnOutput(this, 'DataBucketName', { value: this.storage.bucket.bucketName, description: 'Upload batches/<id>/images/* then batches/<id>/batch.json here' });
    new CfnOutput(this, 'InferenceStateMachineArn', { value: this.inference.stateMachine.stateMachineArn });
    new CfnOutput(this, 'TrainingStateMachineArn', { value: this.training.stateMachine.stateMachineArn });
    new CfnOutput(this, 'StartTrainingCommand', {
      description: 'On-demand training (the schedule does the same weekly)',
      value: `aws stepfunctions start-execution --state-machine-arn ${this.training.stateMachine.stateMachineArn} --input '{"dataset":"${props.trainingDataset ?? 'exodetect'}"}'`,
    });
    new CfnOutput(this, 'NotificationsTopicArn', { value: this.notifications.topic.topicArn });
    new CfnOutput(this, 'AthenaWorkGroup', { value: this.analytics.workGroup.ref });
  }
}
