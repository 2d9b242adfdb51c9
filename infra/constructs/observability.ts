/**
 * What an operator watches: a dashboard (executions, images per minute,
 * failed images, detect duration, detections per batch, training outcomes)
 * and alarms that mail the SNS topic.
 */
import { Duration } from 'aws-cdk-lib';
import {
  Alarm,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  MathExpression,
  Metric,
  SingleValueWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE } from '../../lambdas/shared/observability.js';
import { checkInteger } from '../validation.js';

export interface ObservabilityProps {
  readonly topic: ITopic;
  readonly inferenceStateMachine: StateMachine;
  readonly trainingStateMachine: StateMachine;
  readonly detectFunction: IFunction;
  /** Every function whose errors should raise an alarm. */
  readonly functions: readonly IFunction[];
  /** Failed-image share (percent, over 15 minutes) that raises an alarm. Default 20. */
  readonly failedImagesAlarmPercent?: number;
  /** Default `<stack>-exodetect`. */
  readonly dashboardName?: string;
}

const detectMetric = (metricName: string, statistic: string, period = Duration.minutes(1)): Metric =>
  new Metric({ namespace: METRICS_NAMESPACE, metricName, dimensionsMap: { service: 'exodetect-detect' }, statistic, period });
const notifyMetric = (metricName: string, statistic: string): Metric =>
  new Metric({ namespace: METRICS_NAMESPACE, metricName, dimensionsMap: { service: 'exodetect-notify' }, statistic, period: Duration.hours(1) });

export class Observability extends Construct {
  readonly dashboard: Dashboard;
  readonly alarms: Alarm[] = [];

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    const failedPercent = checkInteger('failedImagesAlarmPercent', props.failedImagesAlarmPercent ?? 20, 1, 100);
    const action = new SnsAction(props.topic);
    const alarm = (alarmId: string, a: ConstructorParameters<typeof Alarm>[2]): Alarm => {
      const created = new Alarm(this, alarmId, { treatMissingData: TreatMissingData.NOT_BREACHING, ...a });
      created.addAlarmAction(action);
      this.alarms.push(created);
      return created;
    };

    const inf = props.inferenceStateMachine;
    const trn = props.trainingStateMachine;
    alarm('InferenceFailed', {
      alarmDescription: 'An inference execution failed, timed out or was aborted: see results/<batch-id>/failure.json',
      metric: new MathExpression({
        expression: 'failed + timedout + aborted',
        usingMetrics: { failed: inf.metricFailed(), timedout: inf.metricTimedOut(), aborted: inf.metricAborted() },
        period: Duration.minutes(5),
      }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    alarm('TrainingFailed', {
      alarmDescription: 'A training execution failed or timed out: see the execution history and the SageMaker job logs',
      metric: new MathExpression({
        expression: 'failed + timedout',
        usingMetrics: { failed: trn.metricFailed(), timedout: trn.metricTimedOut() },
        period: Duration.hours(1),
      }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    const failedImages = detectMetric('ImagesFailed', 'Sum', Duration.minutes(15));
    const processedImages = detectMetric('ImagesProcessed', 'Sum', Duration.minutes(15));
    alarm('FailedImagesShare', {
      alarmDescription: `More than ${failedPercent}% of images failed in 15 minutes (unreadable uploads, or a broken model)`,
      metric: new MathExpression({
        expression: 'IF(ok + failed > 0, 100 * failed / (ok + failed), 0)',
        usingMetrics: { ok: processedImages, failed: failedImages },
        period: Duration.minutes(15),
      }),
      threshold: failedPercent,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
    });
    props.functions.forEach((fn) =>
      alarm(`${fn.node.id}Errors`, {
        alarmDescription: `Lambda errors in ${fn.node.path} (after Step Functions retries these fail a batch or a run)`,
        metric: fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      }),
    );
    alarm('DetectThrottles', {
      alarmDescription: 'detect is throttled: raise the account concurrency or lower mapMaxConcurrency',
      metric: props.detectFunction.metricThrottles({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 10,
      evaluationPeriods: 2,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });

    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
      defaultInterval: Duration.days(1),
    });
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Inference executions',
        left: [inf.metricStarted(), inf.metricSucceeded(), inf.metricFailed(), inf.metricTimedOut()],
        width: 12,
      }),
      new GraphWidget({
        title: 'Images per minute',
        left: [detectMetric('ImagesProcessed', 'Sum').with({ label: 'processed' }), detectMetric('ImagesFailed', 'Sum').with({ label: 'failed' })],
        width: 12,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Failed images',
        left: [detectMetric('ImagesFailed', 'Sum', Duration.minutes(5))],
        width: 8,
      }),
      new GraphWidget({
        title: 'Detect duration (ms)',
        left: [
          props.detectFunction.metricDuration({ statistic: 'p50' }),
          props.detectFunction.metricDuration({ statistic: 'p90' }),
          props.detectFunction.metricDuration({ statistic: 'Maximum' }),
        ],
        right: [detectMetric('ImageProcessingTime', 'p50', Duration.minutes(5)).with({ label: 'per image p50' })],
        width: 8,
      }),
      new GraphWidget({
        title: 'Detections per batch',
        left: [notifyMetric('DetectionsPerBatch', 'Average'), notifyMetric('DetectionsPerBatch', 'Maximum')],
        width: 8,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Training executions',
        left: [trn.metricStarted(), trn.metricSucceeded(), trn.metricFailed()],
        width: 12,
      }),
      new SingleValueWidget({
        title: 'Models promoted / rejected (7 days)',
        metrics: [
          new Metric({ namespace: METRICS_NAMESPACE, metricName: 'ModelsPromoted', dimensionsMap: { service: 'exodetect-promote-model' }, statistic: 'Sum', period: Duration.days(7) }),
          new Metric({ namespace: METRICS_NAMESPACE, metricName: 'ModelsRejected', dimensionsMap: { service: 'exodetect-promote-model' }, statistic: 'Sum', period: Duration.days(7) }),
        ],
        width: 12,
      }),
    );
  }
}
