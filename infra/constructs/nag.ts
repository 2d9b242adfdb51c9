/** cdk-nag acknowledgements shared by the workflow constructs: finding-specific, with reasons. */
import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import type { CfnFunction, IFunction } from 'aws-cdk-lib/aws-lambda';
import type { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';

/**
 * An ARN as cdk-nag prints it in a finding id: literal parts kept, `Ref`s as
 * `<Name>`, `Fn::GetAtt`s as `<Resource.Attribute>`. Region and partition are
 * literals when the stack's env is concrete and tokens otherwise, so ids are
 * computed, never hard-coded.
 */
export function nagArn(scope: IConstruct, arn: string): string {
  const render = (value: unknown): string => {
    if (typeof value === 'string') return value;
    const v = value as Record<string, any>;
    if (v['Fn::Join']) return (v['Fn::Join'][1] as unknown[]).map(render).join(v['Fn::Join'][0]);
    if (v.Ref) return `<${v.Ref}>`;
    if (v['Fn::GetAtt']) return `<${v['Fn::GetAtt'][0]}.${v['Fn::GetAtt'][1]}>`;
    return JSON.stringify(value);
  };
  return render(Stack.of(scope).resolve(arn));
}

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
