/**
 * A state machine from one of statemachines/*.asl.json, the way both of ours are deployed: the ASL file
 * with substitutions, X-Ray tracing, a vended log group (no execution data: it can hold file names),
 * and invoke rights on exactly the Lambdas the definition calls.
 */
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { DefinitionBody, LogLevel, StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { fromRoot } from '../paths.js';
import { acknowledgeInvokes } from './nag.js';

export interface AslStateMachineProps {
  /** Suffix of the state machine name: `<stack name>-<name>`. */
  readonly name: string;
  /** File name under statemachines/. */
  readonly definitionFile: string;
  readonly substitutions: Record<string, string>;
  /** The Lambdas the definition invokes: each gets lambda:InvokeFunction for the state machine. */
  readonly invokedFunctions: readonly IFunction[];
  /** Execution timeout. */
  readonly timeout: Duration;
  /** Log retention. Default one month. */
  readonly logRetention?: RetentionDays;
}

export function aslStateMachine(scope: Construct, props: AslStateMachineProps): StateMachine {
  const stateMachineName = `${Stack.of(scope).stackName}-${props.name}`;
  const logs = new LogGroup(scope, 'StateMachineLogs', {
    logGroupName: `/aws/vendedlogs/states/${stateMachineName}`,
    retention: props.logRetention ?? RetentionDays.ONE_MONTH,
    removalPolicy: RemovalPolicy.DESTROY,
  });
  const stateMachine = new StateMachine(scope, 'StateMachine', {
    stateMachineName,
    definitionBody: DefinitionBody.fromFile(fromRoot('statemachines', props.definitionFile)),
    definitionSubstitutions: props.substitutions,
    tracingEnabled: true,
    logs: { destination: logs, level: LogLevel.ALL, includeExecutionData: false },
    timeout: props.timeout,
  });
  for (const fn of props.invokedFunctions) fn.grantInvoke(stateMachine);
  acknowledgeInvokes(stateMachine, props.invokedFunctions);
  return stateMachine;
}
