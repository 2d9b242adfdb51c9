/**
 * The SNS topic people subscribe to (batch done/failed, model promoted/
 * rejected, training failed, alarms) and the notify function both state
 * machines call.
 */
import { Duration } from 'aws-cdk-lib';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Alias } from 'aws-cdk-lib/aws-kms';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { EMAIL_PATTERN, checkPattern } from '../validation.js';
import { HandlerFunction } from './handler-function.js';
import type { DataStorage } from './storage.js';
import { ANY, batchFailureKey, trainingRunKeys } from '../../lambdas/shared/keys.js';

export interface NotificationsProps {
  readonly storage: DataStorage;
  /** Addresses subscribed by email (each confirms once). Default: none. */
  readonly emails?: readonly string[];
  /** Key for the topic. Default: the AWS managed key alias/aws/sns. */
  readonly encryptionKey?: IKey;
  /** Default: one month. */
  readonly logRetention?: RetentionDays;
}

export class Notifications extends Construct {
  readonly topic: Topic;
  readonly notifyFunction: HandlerFunction;

  constructor(scope: Construct, id: string, props: NotificationsProps) {
    super(scope, id);
    const emails = (props.emails ?? []).map((e, i) => checkPattern(`emails[${i}]`, e, EMAIL_PATTERN, 'must be an email address'));
    this.topic = new Topic(this, 'Topic', {
      displayName: 'exodetect',
      enforceSSL: true,
      masterKey: props.encryptionKey ?? Alias.fromAliasName(this, 'SnsManagedKey', 'alias/aws/sns'),
    });
    for (const email of emails) this.topic.addSubscription(new EmailSubscription(email));

    this.notifyFunction = new HandlerFunction(this, 'Notify', {
      entry: 'lambdas/notify.ts',
      serviceName: 'exodetect-notify',
      description: 'exodetect: batch and training notifications (SNS), failure records',
      memorySize: 256,
      timeout: Duration.seconds(30),
      environment: { NOTIFY_TOPIC_ARN: this.topic.topicArn },
      logRetention: props.logRetention,
    });
    this.topic.grantPublish(this.notifyFunction);
    props.storage.grantObjects(this.notifyFunction, {
      write: [batchFailureKey(ANY), trainingRunKeys(ANY).failure],
      reason: 'notify records why a batch or a training run failed (results/<id>/failure.json, training/<runId>/failure.json) and writes nothing else.',
    });
  }
}
