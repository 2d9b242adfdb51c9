/**
 * The training path: EventBridge Scheduler (weekly by default) or an
 * on-demand StartExecution -> the training state machine
 * (statemachines/training.asl.json): check dataset -> split -> SageMaker
 * training job (GPU, managed spot, checkpoints in S3) -> register -> promote
 * -> notify.
 */
import { ArnFormat, Duration, Stack, Validations } from 'aws-cdk-lib';
import { DockerImageAsset, Platform } from 'aws-cdk-lib/aws-ecr-assets';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Schedule, ScheduleExpression, ScheduleTargetInput } from 'aws-cdk-lib/aws-scheduler';
import { StepFunctionsStartExecution } from 'aws-cdk-lib/aws-scheduler-targets';
import type { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { ANY, CHAMPION_KEY, DATASET_NAME_PATTERN, modelCardKey, modelPromotionKey, modelWeightsKey, PREFIX, trainingRunKeys } from '../../lambdas/shared/keys.js';
import { NATIVE_MODULES } from '../bundle/esbuild-options.js';
import { fromRoot } from '../paths.js';
import { PropsError, checkDuration, checkInteger, checkPattern } from '../validation.js';
import { DEFAULT_MIN_VALIDATION_OBJECTS } from '../../lambdas/training/promotion.js';
import { aslStateMachine } from './asl-state-machine.js';
import { HandlerFunction } from './handler-function.js';
import { nagArn } from './nag.js';
import type { DataStorage } from './storage.js';

/** IAM object patterns of every training run's keys. */
const anyRun = trainingRunKeys(ANY);

export interface TrainingWorkflowProps {
  readonly storage: DataStorage;
  readonly notifyFunction: IFunction;
  /** The dataset (folder under datasets/) the scheduled run trains on. Default `exodetect`. */
  readonly dataset?: string;
  /** EventBridge Scheduler expression. Default `cron(0 3 ? * SUN *)`: Sundays 03:00 UTC. */
  readonly schedule?: string;
  /** Default true. Disable to train only on demand. */
  readonly scheduleEnabled?: boolean;
  /** SageMaker GPU instance type. Default `ml.g4dn.xlarge` (1 T4, the cheapest GPU that fits this model). */
  readonly instanceType?: string;
  /** Training time limit. Default 4 hours. */
  readonly maxRuntime?: Duration;
  /** Spot: runtime plus waiting for capacity; >= maxRuntime. Default 8 hours. */
  readonly maxWait?: Duration;
  /** EBS volume for the job in GB. Default 30. */
  readonly volumeSizeGb?: number;
  /** Hyperparameters every run gets (strings); a run's input overrides them. Default: the trainer's own defaults. */
  readonly defaultHyperparameters?: Readonly<Record<string, string>>;
  /** A pre-built training image URI. Default: built from training-container/ as a DockerImageAsset at deploy time. */
  readonly trainingImageUri?: string;
  /**
   * No promotion is decided on a validation split with fewer annotated objects than this: the model is
   * registered, not made champion. Default 30 (DEFAULT_MIN_VALIDATION_OBJECTS); 0 decides on any split.
   */
  readonly minValidationObjects?: number;
  /** Default: one month. */
  readonly logRetention?: RetentionDays;
}

export const DEFAULT_TRAINING_SCHEDULE = 'cron(0 3 ? * SUN *)';
const TRAINING_JOB_PREFIX = 'exodetect-';

export class TrainingWorkflow extends Construct {
  readonly stateMachine: StateMachine;
  readonly sageMakerRole: Role;
  readonly trainingImage?: DockerImageAsset;
  readonly schedule: Schedule;
  readonly checkDatasetFunction: HandlerFunction;
  readonly splitDatasetFunction: HandlerFunction;
  readonly registerModelFunction: HandlerFunction;
  readonly promoteModelFunction: HandlerFunction;

  constructor(scope: Construct, id: string, props: TrainingWorkflowProps) {
    super(scope, id);
    const dataset = checkPattern('dataset', props.dataset ?? 'exodetect', DATASET_NAME_PATTERN, 'must be a folder name under datasets/');
    const scheduleExpression = checkPattern(
      'schedule',
      props.schedule ?? DEFAULT_TRAINING_SCHEDULE,
      /^(cron\([^)]+\)|rate\(\d+ (minute|minutes|hour|hours|day|days)\))$/,
      'must be an EventBridge Scheduler cron(...) or rate(...) expression',
    );
    const instanceType = checkPattern('instanceType', props.instanceType ?? 'ml.g4dn.xlarge', /^ml\.[a-z0-9]+\.[a-z0-9]+$/, 'must be a SageMaker instance type like ml.g4dn.xlarge');
    const maxRuntime = checkDuration('maxRuntime', props.maxRuntime ?? Duration.hours(4), 600, 28 * 24 * 3600);
    const maxWait = checkDuration('maxWait', props.maxWait ?? Duration.hours(8), 600, 28 * 24 * 3600);
    if (maxWait.toSeconds() < maxRuntime.toSeconds()) {
      throw new PropsError(`maxWait must be >= maxRuntime for managed spot, got maxWait ${maxWait.toSeconds()} s < maxRuntime ${maxRuntime.toSeconds()} s`);
    }
    const volumeSizeGb = checkInteger('volumeSizeGb', props.volumeSizeGb ?? 30, 1, 16_384);
    const minValidationObjects = checkInteger('minValidationObjects', props.minValidationObjects ?? DEFAULT_MIN_VALIDATION_OBJECTS, 0, 1_000_000);
    const hyperparameters = props.defaultHyperparameters ?? {};
    for (const [name, value] of Object.entries(hyperparameters)) {
      if (typeof value !== 'string') throw new PropsError(`defaultHyperparameters.${name} must be a string, got ${JSON.stringify(value)}`);
    }
    const { storage, logRetention } = props;
    const stack = Stack.of(this);

    // Lambdas of the workflow, each limited to the prefixes it touches.
    this.checkDatasetFunction = new HandlerFunction(this, 'CheckDataset', {
      entry: 'lambdas/check-dataset.ts',
      serviceName: 'exodetect-check-dataset',
      description: 'exodetect: fingerprint datasets/<name>/ and compare with the champion',
      memorySize: 512,
      timeout: Duration.seconds(120),
      logRetention,
    });
    storage.grantObjects(this.checkDatasetFunction, {
      list: [`${PREFIX.datasets}${ANY}`],
      read: [CHAMPION_KEY],
      reason: 'check-dataset lists the dataset to fingerprint it and reads the champion record.',
    });

    this.splitDatasetFunction = new HandlerFunction(this, 'SplitDataset', {
      entry: 'lambdas/split-dataset.ts',
      serviceName: 'exodetect-split-dataset',
      description: 'exodetect: deterministic train/validation/test split and SageMaker channel manifests',
      memorySize: 2048, // images decoded 16 at a time, and the OCR worker
      timeout: Duration.minutes(10), // reads every image's header and copies a few thousand files, 16 at a time
      environment: { TRAINING_DEFAULT_HYPERPARAMETERS: JSON.stringify(hyperparameters) },
      // The ingestion decodes each image and calibrates it as inference does: sharp, and tesseract.js for scale bars.
      nativeModules: ['sharp', 'tesseract.js', '@tesseract.js-data/eng'],
      logRetention,
    });
    storage.grantObjects(this.splitDatasetFunction, {
      list: [`${PREFIX.datasets}${ANY}`],
      read: [`${PREFIX.datasets}${ANY}`, CHAMPION_KEY, modelWeightsKey(ANY)],
      write: [`${PREFIX.training}${ANY}`],
      reason: 'split-dataset reads a dataset\'s images and annotations, copies the images into the run\'s channels and writes truth.json and the manifests under training/<runId>/; it checks the weights a run fine-tunes from.',
    });

    this.registerModelFunction = new HandlerFunction(this, 'RegisterModel', {
      entry: 'lambdas/register-model.ts',
      serviceName: 'exodetect-register-model',
      description: 'exodetect: unpack model.tar.gz into models/<version>/',
      memorySize: 1024, // the archive is held and gunzipped in memory (a model is a few MB; the limit is 256 MiB)
      timeout: Duration.minutes(5),
      logRetention,
    });
    // models/*/* is models/<version>/<file>: it cannot reach models/champion.json.
    storage.grantObjects(this.registerModelFunction, {
      read: [`${anyRun.output}${ANY}`],
      write: [`${PREFIX.models}${ANY}/${ANY}`],
      reason: 'register-model reads the job\'s model.tar.gz and writes models/<version>/<file>; the pattern excludes models/champion.json.',
    });

    // Runs champion and candidate over the run's validation split (head-to-head): the detect runtime and sizing.
    this.promoteModelFunction = new HandlerFunction(this, 'PromoteModel', {
      entry: 'lambdas/promote-model.ts',
      serviceName: 'exodetect-promote-model',
      description: 'exodetect: score champion and candidate on the held-out split; promote if better',
      memorySize: 3538,
      timeout: Duration.minutes(15),
      nativeModules: NATIVE_MODULES,
      environment: { PROMOTION_MIN_VALIDATION_OBJECTS: String(minValidationObjects) },
      logRetention,
    });
    storage.grantObjects(this.promoteModelFunction, {
      // Listing models/ makes a missing object a 404, not a 403: whether a champion has a held-out check model (validated.onnx).
      list: [`${PREFIX.training}${ANY}`, `${PREFIX.models}${ANY}`],
      read: [`${PREFIX.models}${ANY}`, `${anyRun.channel('validation')}${ANY}`],
      write: [CHAMPION_KEY, modelPromotionKey(ANY), modelCardKey(ANY)],
      reason:
        'promote-model scores both models (models/; a refit model by its validated.onnx) on the run\'s validation channel and writes only models/champion.json and each candidate\'s models/<version>/promotion.json and card.md (the head-to-head figures added to it).',
    });

    // The training image: built by `cdk deploy` from training-container/ (synthesis needs no Docker engine).
    let imageUri = props.trainingImageUri;
    if (imageUri === undefined) {
      this.trainingImage = new DockerImageAsset(this, 'TrainingImage', {
        directory: fromRoot('training-container'),
        platform: Platform.LINUX_AMD64, // SageMaker GPU instances are x86_64
        exclude: ['tests', '**/__pycache__', '**/*.pyc', '.pytest_cache'],
      });
      imageUri = this.trainingImage.imageUri;
    }

    // SageMaker's execution role: read its channels, write its output and checkpoints, nothing else in the bucket.
    this.sageMakerRole = new Role(this, 'SageMakerRole', {
      assumedBy: new ServicePrincipal('sagemaker.amazonaws.com'),
      description: 'exodetect training jobs: read split channels, write model output and checkpoints',
    });
    storage.grantObjects(this.sageMakerRole, {
      list: [`${PREFIX.training}${ANY}`],
      read: [`${anyRun.manifests}${ANY}`, `${anyRun.channels}${ANY}`, `${anyRun.checkpoints}${ANY}`, modelWeightsKey(ANY)],
      write: [`${anyRun.output}${ANY}`, `${anyRun.checkpoints}${ANY}`],
      reason: 'SageMaker reads the run\'s channel files and manifests (and model weights to fine-tune from), and syncs checkpoints and the model output of the run.',
    });
    this.trainingImage?.repository.grantPull(this.sageMakerRole);
    const trainingLogs = stack.formatArn({ service: 'logs', resource: 'log-group', resourceName: '/aws/sagemaker/TrainingJobs:*', arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    this.sageMakerRole.addToPolicy(
      new PolicyStatement({
        actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
        resources: [trainingLogs],
      }),
    );
    this.sageMakerRole.addToPolicy(
      new PolicyStatement({
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringLike: { 'cloudwatch:namespace': '/aws/sagemaker/*' } },
      }),
    );

    this.stateMachine = aslStateMachine(this, {
      name: 'training',
      definitionFile: 'training.asl.json',
      substitutions: {
        CheckDatasetFunctionArn: this.checkDatasetFunction.functionArn,
        SplitDatasetFunctionArn: this.splitDatasetFunction.functionArn,
        RegisterModelFunctionArn: this.registerModelFunction.functionArn,
        PromoteModelFunctionArn: this.promoteModelFunction.functionArn,
        NotifyFunctionArn: props.notifyFunction.functionArn,
        DataBucket: storage.bucket.bucketName,
        TrainingImageUri: imageUri,
        SageMakerRoleArn: this.sageMakerRole.roleArn,
        TrainingInstanceType: instanceType,
        TrainingMaxRuntimeSeconds: String(maxRuntime.toSeconds()),
        TrainingMaxWaitSeconds: String(maxWait.toSeconds()),
        TrainingVolumeSizeGb: String(volumeSizeGb),
      },
      invokedFunctions: [this.checkDatasetFunction, this.splitDatasetFunction, this.registerModelFunction, this.promoteModelFunction, props.notifyFunction],
      timeout: Duration.seconds(maxWait.toSeconds() + 3600),
      logRetention,
    });
    const trainingJobs = stack.formatArn({ service: 'sagemaker', resource: 'training-job', resourceName: `${TRAINING_JOB_PREFIX}*` });
    this.stateMachine.addToRolePolicy(
      new PolicyStatement({
        actions: ['sagemaker:CreateTrainingJob', 'sagemaker:DescribeTrainingJob', 'sagemaker:StopTrainingJob', 'sagemaker:AddTags'],
        resources: [trainingJobs],
      }),
    );
    Validations.of(this.stateMachine.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagArn(this, trainingJobs)}]`,
      reason: 'Training job names carry the run id (exodetect-<runId>), created per run; only jobs with the exodetect- prefix.',
    });
    this.stateMachine.addToRolePolicy(
      new PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [this.sageMakerRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'sagemaker.amazonaws.com' } },
      }),
    );
    // createTrainingJob.sync waits through this Step Functions-managed rule.
    this.stateMachine.addToRolePolicy(
      new PolicyStatement({
        actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
        resources: [stack.formatArn({ service: 'events', resource: 'rule', resourceName: 'StepFunctionsGetEventsForSageMakerTrainingJobsRule' })],
      }),
    );

    this.schedule = new Schedule(this, 'Retraining', {
      description: `exodetect: scheduled retraining on datasets/${dataset}/ (skips itself when nothing changed)`,
      schedule: ScheduleExpression.expression(scheduleExpression),
      enabled: props.scheduleEnabled ?? true,
      target: new StepFunctionsStartExecution(this.stateMachine, {
        input: ScheduleTargetInput.fromObject({ dataset }),
        retryAttempts: 3,
        maxEventAge: Duration.hours(6),
      }),
    });

    Validations.of(this.sageMakerRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagArn(this, trainingLogs)}]`,
      reason: 'SageMaker writes each job\'s log streams into /aws/sagemaker/TrainingJobs; stream names are per job.',
    });
    Validations.of(this.sageMakerRole).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'cloudwatch:PutMetricData has no resource-level permissions; the statement is limited to the /aws/sagemaker/* namespace by condition, and ecr:GetAuthorizationToken is account-wide by design.',
    });
  }
}
