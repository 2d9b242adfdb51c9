/**
 * The inference path: batch.json lands -> EventBridge -> start-inference
 * (names the execution, so each manifest version runs once) -> the inference
 * state machine (statemachines/inference.asl.json): validate -> Distributed
 * Map of detect -> summarize -> notify.
 */
import { ArnFormat, Duration, Stack, Validations } from 'aws-cdk-lib';
import { Rule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { batchManifestEventPattern } from '../../lambdas/shared/events.js';
import { NATIVE_MODULES } from '../bundle/esbuild-options.js';
import { checkDuration, checkInteger } from '../validation.js';
import { aslStateMachine } from './asl-state-machine.js';
import { HandlerFunction } from './handler-function.js';
import { nagArn } from './nag.js';
import type { DataStorage } from './storage.js';
import { ANY, batchImagesPrefix, batchManifestKey, mapResultsPrefix, PREFIX } from '../../lambdas/shared/keys.js';

/** A Glue table partitioned by batch_id over analytics/detections/ (the Analytics construct). */
export interface AnalyticsTableRef {
  readonly databaseName: string;
  readonly tableName: string;
}

export interface InferenceWorkflowProps {
  readonly storage: DataStorage;
  readonly notifyFunction: IFunction;
  /** Distributed Map child executions in flight (each one detect invocation). Default 50; 1-10000. */
  readonly mapMaxConcurrency?: number;
  /** Failed child executions (not failed images: those are records) tolerated before the batch fails, percent. Default 10. */
  readonly toleratedFailurePercentage?: number;
  /** Images per detect invocation (ItemBatcher). Default 8; 1-100. */
  readonly detectItemsPerBatch?: number;
  /**
   * Detect memory in MB. Default 3538 = exactly 2 vCPUs (Lambda gives 1 vCPU per 1769 MB):
   * onnxruntime runs 2 intra-op threads (~17 ms vs ~32 ms per 512x512 tile with one),
   * and a 4k x 4k 16-bit micrograph with its float tensors and overlay needs ~0.5 GB.
   * Cost per image stays flat: twice the GB-seconds rate for about half the time.
   */
  readonly detectMemoryMb?: number;
  /** Default 5 minutes: 8 images x a few seconds each leaves a wide margin; at most 15 minutes. */
  readonly detectTimeout?: Duration;
  /** Reserved concurrency for detect (caps S3 and account-wide Lambda use). Default: unreserved. */
  readonly detectReservedConcurrency?: number;
  /** Default: one month. */
  readonly logRetention?: RetentionDays;
  /**
   * The detections table summarize registers each batch's partition in (glue:BatchCreatePartition),
   * so Athena sees new batches at once. Default: none (load them with MSCK REPAIR TABLE).
   */
  readonly analyticsTable?: AnalyticsTableRef;
}

export class InferenceWorkflow extends Construct {
  readonly stateMachine: StateMachine;
  readonly validateBatchFunction: HandlerFunction;
  readonly detectFunction: HandlerFunction;
  readonly summarizeFunction: HandlerFunction;
  readonly startFunction: HandlerFunction;
  readonly rule: Rule;
  readonly deadLetterQueue: Queue;

  constructor(scope: Construct, id: string, props: InferenceWorkflowProps) {
    super(scope, id);
    const mapMaxConcurrency = checkInteger('mapMaxConcurrency', props.mapMaxConcurrency ?? 50, 1, 10_000);
    const tolerated = checkInteger('toleratedFailurePercentage', props.toleratedFailurePercentage ?? 10, 0, 100);
    const itemsPerBatch = checkInteger('detectItemsPerBatch', props.detectItemsPerBatch ?? 8, 1, 100);
    const detectMemory = checkInteger('detectMemoryMb', props.detectMemoryMb ?? 3538, 1769, 10_240);
    const detectTimeout = checkDuration('detectTimeout', props.detectTimeout ?? Duration.minutes(5), 30, 900);
    const { storage, logRetention } = props;

    this.validateBatchFunction = new HandlerFunction(this, 'ValidateBatch', {
      entry: 'lambdas/validate-batch.ts',
      serviceName: 'exodetect-validate-batch',
      description: 'exodetect: parse batch.json, count images, choose the model',
      memorySize: 512,
      timeout: Duration.seconds(60),
      logRetention,
    });
    storage.grantObjects(this.validateBatchFunction, {
      list: [`${PREFIX.batches}${ANY}`],
      read: [batchManifestKey(ANY), `${PREFIX.models}${ANY}`],
      reason: 'validate-batch reads any batch manifest it is started for and checks the chosen model exists; it writes nothing.',
    });

    this.detectFunction = new HandlerFunction(this, 'Detect', {
      entry: 'lambdas/detect.ts',
      serviceName: 'exodetect-detect',
      description: 'exodetect: onnxruntime detection on a few micrographs per invocation',
      memorySize: detectMemory,
      timeout: detectTimeout,
      reservedConcurrentExecutions: props.detectReservedConcurrency,
      nativeModules: NATIVE_MODULES,
      environment: { DETECT_INTRA_OP_THREADS: String(Math.max(1, Math.floor(detectMemory / 1769))) },
      logRetention,
    });
    storage.grantObjects(this.detectFunction, {
      read: [`${batchImagesPrefix(ANY)}${ANY}`, `${PREFIX.models}${ANY}`],
      write: [`${PREFIX.results}${ANY}`],
      reason: 'detect reads the images of the batch it is given and the model it is told to use, and writes per-image results, overlays and previews under results/.',
    });

    this.summarizeFunction = new HandlerFunction(this, 'Summarize', {
      entry: 'lambdas/summarize.ts',
      serviceName: 'exodetect-summarize',
      description: 'exodetect: batch summary, CSV, COCO, JSON Lines, report page',
      memorySize: 2048, // holds every detection of a batch for the statistics (bootstrap CIs)
      timeout: Duration.minutes(10),
      environment: props.analyticsTable
        ? { GLUE_DATABASE: props.analyticsTable.databaseName, GLUE_TABLE: props.analyticsTable.tableName }
        : undefined,
      logRetention,
    });
    storage.grantObjects(this.summarizeFunction, {
      // Listing batches/<id>/images/ finds images that have no result document at all.
      list: [`${PREFIX.results}${ANY}`, `${PREFIX.batches}${ANY}`],
      read: [`${PREFIX.results}${ANY}`],
      write: [`${PREFIX.results}${ANY}`, `${PREFIX.analytics}${ANY}`],
      reason: 'summarize reads a batch\'s per-image results and writes the batch files next to them plus the JSON Lines for Athena.',
    });
    if (props.analyticsTable) {
      const { databaseName, tableName } = props.analyticsTable;
      const glueArn = (resource: string, resourceName?: string) =>
        Stack.of(this).formatArn({ service: 'glue', resource, resourceName, arnFormat: ArnFormat.SLASH_RESOURCE_NAME });
      // Glue authorises table-level calls on the catalog, the database and the table: these three, nothing else.
      this.summarizeFunction.addToRolePolicy(
        new PolicyStatement({
          actions: ['glue:BatchCreatePartition', 'glue:GetTable'],
          resources: [glueArn('catalog'), glueArn('database', databaseName), glueArn('table', `${databaseName}/${tableName}`)],
        }),
      );
    }

    const stack = Stack.of(this);
    const stateMachineName = `${stack.stackName}-inference`;
    this.stateMachine = aslStateMachine(this, {
      name: 'inference',
      definitionFile: 'inference.asl.json',
      substitutions: {
        ValidateBatchFunctionArn: this.validateBatchFunction.functionArn,
        DetectFunctionArn: this.detectFunction.functionArn,
        SummarizeFunctionArn: this.summarizeFunction.functionArn,
        NotifyFunctionArn: props.notifyFunction.functionArn,
        MapMaxConcurrency: String(mapMaxConcurrency),
        ToleratedFailurePercentage: String(tolerated),
        DetectItemsPerBatch: String(itemsPerBatch),
      },
      invokedFunctions: [this.validateBatchFunction, this.detectFunction, this.summarizeFunction, props.notifyFunction],
      timeout: Duration.hours(24),
      logRetention,
    });
    // Distributed Map: the state machine starts and watches its own child executions...
    const ownArn = stack.formatArn({ service: 'states', resource: 'stateMachine', resourceName: stateMachineName, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    const ownExecutions = stack.formatArn({ service: 'states', resource: 'execution', resourceName: `${stateMachineName}/*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    const ownMapRuns = stack.formatArn({ service: 'states', resource: 'mapRun', resourceName: `${stateMachineName}/*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    this.stateMachine.addToRolePolicy(new PolicyStatement({ actions: ['states:StartExecution'], resources: [ownArn] }));
    this.stateMachine.addToRolePolicy(
      new PolicyStatement({ actions: ['states:DescribeExecution', 'states:StopExecution'], resources: [ownExecutions] }),
    );
    this.stateMachine.addToRolePolicy(
      new PolicyStatement({ actions: ['states:DescribeMapRun', 'states:UpdateMapRun'], resources: [ownMapRuns] }),
    );
    for (const [arn, what] of [[ownExecutions, 'executions'], [ownMapRuns, 'map runs']] as const) {
      Validations.of(this.stateMachine.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${nagArn(this, arn)}]`,
        reason: `Distributed Map: the state machine watches its own child ${what}, whose names are generated per run; only those of ${stateMachineName}.`,
      });
    }
    // ...lists the batch's images (ItemReader) and writes its result manifest (ResultWriter).
    storage.grantObjects(this.stateMachine, {
      list: [`${PREFIX.batches}${ANY}`],
      write: [`${mapResultsPrefix(ANY)}${ANY}`],
      reason: 'The Distributed Map lists a batch\'s images (ItemReader) and writes its run manifest (ResultWriter) under results/<id>/map/.',
    });
    this.stateMachine.addToRolePolicy(
      new PolicyStatement({
        actions: ['s3:GetObject', 's3:ListMultipartUploadParts'],
        resources: [storage.bucket.arnForObjects(`${mapResultsPrefix(ANY)}${ANY}`)],
      }),
    );

    this.startFunction = new HandlerFunction(this, 'StartInference', {
      entry: 'lambdas/start-inference.ts',
      serviceName: 'exodetect-start-inference',
      description: 'exodetect: start inference once per batch.json version',
      memorySize: 256,
      timeout: Duration.seconds(30),
      environment: { INFERENCE_STATE_MACHINE_ARN: this.stateMachine.stateMachineArn },
      logRetention,
    });
    this.stateMachine.grantStartExecution(this.startFunction);

    this.deadLetterQueue = new Queue(this, 'StartDeadLetters', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the dead-letter queue of the batch.json EventBridge target; a DLQ of a DLQ adds nothing.',
    });
    const pattern = batchManifestEventPattern(storage.bucket.bucketName);
    this.rule = new Rule(this, 'BatchManifestUploaded', {
      description: 'batches/<id>/batch.json created: start inference for the batch',
      eventPattern: {
        source: [...pattern.source],
        detailType: [...pattern['detail-type']],
        detail: pattern.detail as unknown as Record<string, unknown>,
      },
      targets: [
        new LambdaFunction(this.startFunction, {
          retryAttempts: 8,
          maxEventAge: Duration.hours(6),
          deadLetterQueue: this.deadLetterQueue,
        }),
      ],
    });
  }
}
