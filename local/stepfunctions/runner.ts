/**
 * Local Step Functions: runs statemachines/*.asl.json with
 * aws-local-stepfunctions, every Task bound in-process (Lambda handlers,
 * local service stand-ins, the Distributed Map executor). A Task without a
 * binding fails the load: nothing is ever sent to AWS.
 */
import '../polyfills.js';
import os from 'node:os';
import { EventEmitter } from 'node:events';
import type { S3Client } from '@aws-sdk/client-s3';
import { ExecutionError, ExecutionTimeoutError, StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import {
  LOCAL_ACCOUNT,
  LOCAL_DISTRIBUTED_MAP_RESOURCE,
  LOCAL_REGION,
  prepareDefinition,
  type AslDefinition,
  type PreparedDefinition,
  type JsonObject,
  type JsonValue,
} from './definition.js';
import { runDistributedMap, type ChildOutcome, type MapProgress } from './distributed-map.js';
import { ExecutionAlreadyExistsError, LocalDefinitionError, NoLocalBindingError } from './errors.js';
import { invokeLocalFunction, invokeViaLambdaIntegration, moduleHandlerResolver, type HandlerResolver } from './lambda.js';
import type { ExecutionContext } from './template.js';

export const LAMBDA_INVOKE_RESOURCE = 'arn:aws:states:::lambda:invoke';
const DIRECT_LAMBDA_ARN = /^arn:aws[a-z-]*:lambda:[^:]*:[^:]*:function:[^:]+(?::[^:]+)?$/;

export interface TaskInvocation {
  readonly stateName: string;
  readonly resource: string;
  readonly context: ExecutionContext;
}

/** A local stand-in for a service integration (e.g. sagemaker:createTrainingJob.sync): Parameters in, result out. */
export type ServiceIntegration = (parameters: JsonValue, task: TaskInvocation) => Promise<JsonValue>;

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

export interface ExecutionOutcome {
  readonly executionArn: string;
  readonly name: string;
  readonly status: Exclude<ExecutionStatus, 'RUNNING'>;
  readonly output?: JsonValue;
  readonly error?: string;
  readonly cause?: string;
  readonly startDate: Date;
  readonly stopDate: Date;
}

export interface LocalStepFunctionsProps {
  /** Client for ItemReader and ResultWriter (the local S3). */
  readonly s3: S3Client;
  /** Lambda function name -> handler. Default: the modules in lambdas/. */
  readonly handlers?: HandlerResolver;
  /** Local stand-ins by Task Resource ARN. Default: none. */
  readonly integrations?: Readonly<Record<string, ServiceIntegration>>;
  /** Most Distributed Map children at once on this machine. Default: the number of CPUs. */
  readonly concurrencyCap?: number;
  /** Retry waits in ms by state name (aws-local-stepfunctions' retryIntervalOverrides), e.g. to test retries fast. */
  readonly retryIntervalOverrides?: Readonly<Record<string, number | number[]>>;
}

/**
 * Events on `LocalStepFunctions.events`:
 *  'execution-started' {executionArn, name, stateMachineName}
 *  'execution-finished' ExecutionOutcome
 *  'map-progress' MapProgress & {executionArn}
 *  'state-entered' {executionArn, stateName}
 *  'task-succeeded' {executionArn, stateName, output}: a Task's result, as in the execution history
 */
export class LocalStepFunctions {
  readonly events = new EventEmitter();
  private readonly handlers: HandlerResolver;
  private readonly concurrencyCap: number;
  private readonly prepared = new WeakMap<AslDefinition, PreparedDefinition>();

  constructor(private readonly props: LocalStepFunctionsProps) {
    this.handlers = props.handlers ?? moduleHandlerResolver();
    this.concurrencyCap = props.concurrencyCap ?? os.availableParallelism();
    if (!Number.isInteger(this.concurrencyCap) || this.concurrencyCap < 1) {
      throw new RangeError(`concurrencyCap must be a positive integer, got ${String(props.concurrencyCap)}`);
    }
  }

  createStateMachine(name: string, definition: AslDefinition): LocalStateMachine {
    this.prepare(definition, name);
    return new LocalStateMachine(this, name, definition);
  }

  /**
   * Rewrites and validates a definition once: asl-validator takes ~0.3 s per
   * definition here, which would otherwise be paid by every Distributed Map child.
   */
  private prepare(definition: AslDefinition, source: string): PreparedDefinition {
    let prepared = this.prepared.get(definition);
    if (!prepared) {
      prepared = prepareDefinition(definition, source);
      try {
        new StateMachine(structuredClone(prepared.definition) as unknown as StateMachineDefinition);
      } catch (err) {
        throw new LocalDefinitionError(`${source}: ${(err as Error).message}`, { cause: err });
      }
      this.prepared.set(definition, prepared);
    }
    return prepared;
  }

  /** Runs one execution of a definition to its end; never throws for a failed execution. */
  async runExecution(
    definition: AslDefinition,
    input: JsonValue,
    ids: { executionArn: string; name: string; stateMachineArn: string; stateMachineName: string },
  ): Promise<ExecutionOutcome> {
    const startDate = new Date();
    const context: ExecutionContext = {
      Execution: { Id: ids.executionArn, Name: ids.name, StartTime: startDate.toISOString(), RoleArn: `arn:aws:iam::${LOCAL_ACCOUNT}:role/local` },
      StateMachine: { Id: ids.stateMachineArn, Name: ids.stateMachineName },
    };
    const finish = (rest: Pick<ExecutionOutcome, 'status' | 'output' | 'error' | 'cause'>): ExecutionOutcome => {
      const outcome: ExecutionOutcome = { executionArn: ids.executionArn, name: ids.name, startDate, stopDate: new Date(), ...rest };
      this.events.emit('execution-finished', outcome);
      return outcome;
    };
    this.events.emit('execution-started', { executionArn: ids.executionArn, name: ids.name, stateMachineName: ids.stateMachineName });
    let machine: StateMachine;
    let overrides: Record<string, (input: JsonValue) => Promise<JsonValue>>;
    try {
      const prepared = this.prepare(definition, ids.stateMachineName);
      overrides = this.bindTasks(prepared, context, ids);
      machine = new StateMachine(prepared.definition as unknown as StateMachineDefinition, { validationOptions: { noValidate: true } });
    } catch (err) {
      return finish({ status: 'FAILED', error: (err as Error).name, cause: (err as Error).message });
    }
    const execution = machine.run(input as never, {
      context: context as never,
      overrides: { taskResourceLocalHandlers: overrides as never, retryIntervalOverrides: this.props.retryIntervalOverrides as never },
    });
    void this.forwardStateEvents(execution.eventLogs, ids.executionArn);
    try {
      const output = (await execution.result) as JsonValue;
      return finish({ status: 'SUCCEEDED', output });
    } catch (err) {
      if (err instanceof ExecutionTimeoutError) return finish({ status: 'TIMED_OUT', error: 'States.Timeout', cause: 'execution timed out' });
      const cause = err instanceof ExecutionError ? ((err as Error).cause as Error) : (err as Error);
      return finish({ status: 'FAILED', error: cause?.name ?? 'Error', cause: cause?.message ?? String(err) });
    }
  }

  private async forwardStateEvents(logs: AsyncGenerator<{ type: string; state?: { name: string } }>, executionArn: string): Promise<void> {
    if (this.events.listenerCount('state-entered') === 0) return;
    for await (const event of logs) {
      if (event.type === 'StateEntered' && event.state) this.events.emit('state-entered', { executionArn, stateName: event.state.name });
    }
  }

  private bindTasks(
    prepared: PreparedDefinition,
    context: ExecutionContext,
    ids: { executionArn: string; stateMachineName: string },
  ): Record<string, (input: JsonValue) => Promise<JsonValue>> {
    const overrides: Record<string, (input: JsonValue) => Promise<JsonValue>> = {};
    for (const task of prepared.tasks.values()) {
      const { stateName, resource } = task;
      if (resource === LOCAL_DISTRIBUTED_MAP_RESOURCE) {
        const state = prepared.distributedMaps.get(stateName)!;
        overrides[stateName] = (input) =>
          runDistributedMap({
            stateName,
            state,
            input,
            context,
            parentExecutionArn: ids.executionArn,
            s3: this.props.s3,
            concurrencyCap: this.concurrencyCap,
            onProgress: (p: MapProgress) => this.events.emit('map-progress', { ...p, executionArn: ids.executionArn }),
            runChild: async (req): Promise<ChildOutcome> => {
              const outcome = await this.runExecution(req.definition, req.input, {
                executionArn: req.executionArn,
                name: req.name,
                stateMachineArn: req.stateMachineArn,
                stateMachineName: `${ids.stateMachineName}/${stateName}`,
              });
              return outcome.status === 'SUCCEEDED'
                ? { status: 'SUCCEEDED', output: outcome.output ?? null }
                : { status: 'FAILED', error: outcome.error ?? 'States.TaskFailed', cause: outcome.cause ?? '' };
            },
          });
      } else if (resource === LAMBDA_INVOKE_RESOURCE) {
        overrides[stateName] = (input) => invokeViaLambdaIntegration(this.handlers, input);
      } else if (DIRECT_LAMBDA_ARN.test(resource)) {
        overrides[stateName] = (input) => invokeLocalFunction(this.handlers, resource, input);
      } else {
        const integration = this.props.integrations?.[resource];
        if (!integration) {
          throw new NoLocalBindingError(
            `${task.path}: Task Resource ${resource} has no local binding (bound: lambda:invoke, Lambda ARNs, ` +
              `${Object.keys(this.props.integrations ?? {}).join(', ') || 'no service integrations'}); nothing is sent to AWS`,
          );
        }
        overrides[stateName] = (input) => integration(input, { stateName, resource, context });
      }
    }
    // Like GetExecutionHistory's TaskSucceeded events: what each Task returned (the CLI reads run ids and problems from them).
    for (const [stateName, fn] of Object.entries(overrides)) {
      overrides[stateName] = async (input) => {
        const output = await fn(input);
        this.events.emit('task-succeeded', { executionArn: ids.executionArn, stateName, output });
        return output;
      };
    }
    return overrides;
  }
}

export interface LocalExecution {
  readonly executionArn: string;
  readonly name: string;
  /** True when StartExecution found a running execution with this name and input (AWS returns it again). */
  readonly alreadyStarted: boolean;
  readonly done: Promise<ExecutionOutcome>;
}

/** One state machine with Step Functions' execution-name rules. */
export class LocalStateMachine {
  readonly arn: string;
  private readonly executions = new Map<string, { input: string; status: ExecutionStatus; done: Promise<ExecutionOutcome>; executionArn: string }>();
  private counter = 0;

  constructor(
    private readonly service: LocalStepFunctions,
    readonly name: string,
    private readonly definition: AslDefinition,
  ) {
    this.arn = `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:stateMachine:${name}`;
  }

  /**
   * StartExecution: a name already used fails with ExecutionAlreadyExists,
   * except while that execution runs with the same input (then it is returned again).
   */
  startExecution(input: JsonValue, name?: string): LocalExecution {
    const executionName = name ?? `local-${Date.now()}-${++this.counter}`;
    if (!/^[A-Za-z0-9_-]{1,80}$/.test(executionName)) {
      throw new RangeError(`execution name "${executionName}" must be 1-80 characters of A-Z a-z 0-9 - _`);
    }
    const inputText = JSON.stringify(input);
    const existing = this.executions.get(executionName);
    if (existing) {
      if (existing.status === 'RUNNING' && existing.input === inputText) {
        return { executionArn: existing.executionArn, name: executionName, alreadyStarted: true, done: existing.done };
      }
      throw new ExecutionAlreadyExistsError(`Execution Already Exists: '${existing.executionArn}'`);
    }
    const executionArn = `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:execution:${this.name}:${executionName}`;
    const entry = { input: inputText, status: 'RUNNING' as ExecutionStatus, executionArn, done: undefined as unknown as Promise<ExecutionOutcome> };
    entry.done = this.service
      .runExecution(this.definition, input, { executionArn, name: executionName, stateMachineArn: this.arn, stateMachineName: this.name })
      .then((outcome) => {
        entry.status = outcome.status;
        return outcome;
      });
    this.executions.set(executionName, entry);
    return { executionArn, name: executionName, alreadyStarted: false, done: entry.done };
  }

  describeExecution(name: string): { status: ExecutionStatus; executionArn: string } | undefined {
    const e = this.executions.get(name);
    return e ? { status: e.status, executionArn: e.executionArn } : undefined;
  }

  get executionCount(): number {
    return this.executions.size;
  }
}

export type { JsonObject, JsonValue };
