/** cdk-nag acknowledgements shared by the workflow constructs: finding-specific, with reasons. */
import { Stack, Validations } from 'aws-cdk-lib';
import type { CfnFunction, IFunction } from 'aws-cdk-lib/aws-lambda';
import type { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';

/** grantInvoke allows `<function arn>:*` (versions and aliases): acknowledge exactly those findings. */
export function acknowledgeInvokes(stateMachine: StateMachine, functions: readonly IFunction[]): void {
  const stack = Stack.of(stateMachine);
  for (const fn of functions) {
    const logicalId = stack.getLogicalId(fn.node.defaultChild as CfnFunction);
    Validations.of(stateMachine.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>:*]`,
      reason: `The state machine invokes ${fn.node.id}; ':*' covers its published versions and aliases, nothing else.`,
    });
  }
  Validations.of(stateMachine.role).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason: 'X-Ray tracing of the state machine: xray:PutTraceSegments, PutTelemetryRecords and GetSamplingRules/Targets have no resource-level permissions.',
  });
}
