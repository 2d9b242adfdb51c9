/**
 * One Lambda handler from lambdas/: Node.js 24 on arm64 (Graviton: ~20% cheaper
 * per GB-second than x86), bundled by esbuild into ESM, Powertools configured,
 * JSON logs with a retention, X-Ray tracing.
 */
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, LoggingFormat, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ESM_REQUIRE_BANNER, LAMBDA_NODE_TARGET, MAIN_FIELDS } from '../bundle/esbuild-options.js';
import { PROJECT_ROOT, fromRoot } from '../paths.js';
import { checkDuration, checkInteger } from '../validation.js';

export interface HandlerFunctionProps {
  /** Entry file relative to the repository root, e.g. `lambdas/detect.ts`. */
  readonly entry: string;
  /** Powertools service name (metrics dimension `service`, log field). */
  readonly serviceName: string;
  readonly description: string;
  /** MB; 128-10240. vCPUs scale with it: 1769 MB = 1 vCPU. */
  readonly memorySize: number;
  /** At most 15 minutes. */
  readonly timeout: Duration;
  readonly environment?: Readonly<Record<string, string>>;
  /** Native modules copied in for linux-arm64 after bundling. Default: none. */
  readonly nativeModules?: readonly string[];
  /** Default: one month. */
  readonly logRetention?: RetentionDays;
  /** Default: unreserved. */
  readonly reservedConcurrentExecutions?: number;
}

export class HandlerFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: HandlerFunctionProps) {
    checkInteger(`${id}.memorySize`, props.memorySize, 128, 10240);
    checkDuration(`${id}.timeout`, props.timeout, 1, 900);
    const natives = props.nativeModules ?? [];
    const logGroup = new LogGroup(scope, `${id}Logs`, {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // Its own role with only its own log group (instead of the account-wide AWSLambdaBasicExecutionRole).
    const role = new Role(scope, `${id}Role`, {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `exodetect ${props.serviceName}`,
    });
    logGroup.grantWrite(role);
    super(scope, id, {
      role,
      entry: fromRoot(props.entry),
      handler: 'handler',
      description: props.description,
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize,
      timeout: props.timeout,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      tracing: Tracing.ACTIVE,
      loggingFormat: LoggingFormat.JSON,
      logGroup,
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: fromRoot('package-lock.json'),
      environment: {
        POWERTOOLS_SERVICE_NAME: props.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: 'exodetect',
        POWERTOOLS_LOG_LEVEL: 'INFO',
        NODE_OPTIONS: '--enable-source-maps',
        ...props.environment,
      },
      bundling: {
        format: OutputFormat.ESM,
        target: LAMBDA_NODE_TARGET,
        mainFields: MAIN_FIELDS,
        banner: ESM_REQUIRE_BANNER,
        minify: true,
        // Error classes name themselves from the class (new.target.name): Step Functions and the
        // notifications show that name, so minification must not mangle it.
        keepNames: true,
        sourceMap: true,
        // The SDK is bundled (not taken from the runtime) so the tested version is the deployed one.
        bundleAwsSDK: true,
        externalModules: [...natives],
        forceDockerBundling: false,
        ...(natives.length > 0 && {
          commandHooks: {
            beforeBundling: () => [],
            beforeInstall: () => [],
            afterBundling: (_inputDir: string, outputDir: string) => [
              `node "${fromRoot('infra', 'bundle', 'natives.mjs')}" "${outputDir}" ${natives.join(' ')}`,
            ],
          },
        }),
      },
    });
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'Active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords do not support resource-level permissions.',
    });
  }
}
