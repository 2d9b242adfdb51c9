/**
 * cdk-nag AwsSolutions findings that remain by design, each with its reason.
 * Acknowledgements are as narrow as cdk-nag allows: per finding id
 * (RuleId[Finding]) and on the construct that causes it.
 */
import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { nagArn } from './constructs/nag.js';

/** Findings raised by constructs the framework generates (CDK custom resources), found by path. */
export function acknowledgeFrameworkFindings(stack: Stack): void {
  for (const child of stack.node.findAll()) {
    const path = child.node.path;
    if (/Custom::CDKBucketDeployment[0-9A-F]+/.test(path) && child.node.id.startsWith('Custom::CDKBucketDeployment')) {
      acknowledgeBucketDeployment(child, stack);
    }
    if (/BucketNotificationsHandler/.test(child.node.id)) {
      Validations.of(child).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason: 'CDK-generated handler that switches on EventBridge notifications for the data bucket; only writes its own logs.',
      });
      Validations.of(child).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'CDK-generated handler: s3:PutBucketNotification has to be granted on the bucket it configures, which CDK expresses as *.',
      });
    }
  }
}

function acknowledgeBucketDeployment(scope: IConstruct, stack: Stack): void {
  const assets = nagArn(stack, `arn:${stack.partition}:s3:::cdk-hnb659fds-assets-${stack.account}-${stack.region}/*`);
  Validations.of(scope).acknowledge({
    id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
    reason: 'CDK BucketDeployment provider that copies models/default/ at deploy time; the managed policy only allows writing its own logs.',
  });
  Validations.of(scope).acknowledge({
    id: 'AwsSolutions-L1',
    reason: 'The BucketDeployment provider runtime is chosen by aws-cdk-lib (Python with the AWS CLI layer), not by this project.',
  });
  for (const finding of ['Action::s3:GetObject*', 'Action::s3:GetBucket*', 'Action::s3:List*', 'Action::s3:DeleteObject*', 'Action::s3:Abort*']) {
    Validations.of(scope).acknowledge({
      id: `AwsSolutions-IAM5[${finding}]`,
      reason: 'CDK BucketDeployment provider: runs only during deployment to copy models/default/ from the CDK asset bucket (prune is off, so it deletes nothing).',
    });
  }
  for (const action of ['kms:GenerateDataKey*', 'kms:ReEncrypt*']) {
    Validations.of(scope).acknowledge({
      id: `AwsSolutions-IAM5[Action::${action}]`,
      reason: 'CDK BucketDeployment provider writing models/default/ into the KMS-encrypted data bucket; the resource is that one key.',
    });
  }
  Validations.of(scope).acknowledge({
    id: `AwsSolutions-IAM5[Resource::${assets}]`,
    reason: 'CDK BucketDeployment provider reads the staged asset zip from the bootstrap asset bucket.',
  });
}

/** The BucketDeployment writes to the data bucket as a whole: acknowledged on the provider only. */
export function acknowledgeBucketDeploymentTarget(stack: Stack, bucketLogicalId: string): void {
  for (const child of stack.node.findAll()) {
    if (child.node.id.startsWith('Custom::CDKBucketDeployment')) {
      Validations.of(child).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${bucketLogicalId}.Arn>/*]`,
        reason: 'CDK BucketDeployment provider writes models/default/* at deployment; CDK grants it the destination bucket, and it runs only inside CloudFormation.',
      });
    }
  }
}
