/**
 * Sends what happened to people: SNS when NOTIFY_TOPIC_ARN is set (AWS), the
 * log otherwise (locally). A failed batch is also recorded in results/<id>/failure.json,
 * a failed training run in training/<runId>/failure.json.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { Context } from 'aws-lambda';
import { optionalEnv } from './shared/env.js';
import { createS3Client } from './shared/s3-client.js';
import { formatNotification, parseNotificationEvent, recordBatchFailure, recordTrainingFailure, type NotificationKind } from './shared/notification.js';
import { createObservability } from './shared/observability.js';

const { logger, metrics, tracer } = createObservability('notify');
const s3 = tracer.captureAWSv3Client(createS3Client());
const topicArn = optionalEnv('NOTIFY_TOPIC_ARN', '');
const sns = topicArn ? tracer.captureAWSv3Client(new SNSClient({})) : undefined;

export interface NotifyResult {
  readonly kind: NotificationKind;
  readonly subject: string;
  readonly published: boolean;
  readonly failureKey?: string;
}

export async function handler(event: unknown, context?: Context): Promise<NotifyResult> {
  if (context) logger.addContext(context);
  const parsed = parseNotificationEvent(event);
  const failureKey =
    parsed.kind === 'batch.failed'
      ? await recordBatchFailure(s3, parsed.detail)
      : parsed.kind === 'training.failed'
        ? await recordTrainingFailure(s3, parsed.detail)
        : undefined;
  const { subject, message } = formatNotification(parsed);
  if (sns) {
    await sns.send(
      new PublishCommand({
        TopicArn: topicArn,
        Subject: subject,
        Message: message,
        MessageAttributes: { kind: { DataType: 'String', StringValue: parsed.kind } },
      }),
    );
  }
  const detections = (parsed.detail.summary as { detections?: unknown } | undefined)?.detections;
  if (parsed.kind === 'batch.succeeded' && typeof detections === 'number') {
    metrics.addMetric('DetectionsPerBatch', MetricUnit.Count, detections);
  }
  metrics.addMetric(parsed.kind === 'batch.failed' || parsed.kind === 'training.failed' ? 'FailureNotifications' : 'Notifications', MetricUnit.Count, 1);
  metrics.publishStoredMetrics();
  logger.info(message, { kind: parsed.kind, subject, published: Boolean(sns) });
  return { kind: parsed.kind, subject, published: Boolean(sns), ...(failureKey && { failureKey }) };
}
