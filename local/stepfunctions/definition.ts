/**
 * Loading a statemachines/*.asl.json for local execution: definition
 * substitutions as CDK applies them, and the rewrites aws-local-stepfunctions
 * needs (Distributed Map states become Tasks run by our own executor; Task
 * timeouts follow AWS's default instead of the library's 60 s).
 */
import { readFile } from 'node:fs/promises';
import { LocalDefinitionError } from './errors.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** One state of an ASL definition; fields beyond Type are read where needed. */
export type AslState = JsonObject & { Type: string };

export interface AslDefinition {
  StartAt: string;
  States: Record<string, AslState>;
  TimeoutSeconds?: number;
  Comment?: string;
  QueryLanguage?: string;
  [key: string]: JsonValue | Record<string, AslState> | undefined;
}

export const LOCAL_ACCOUNT = '000000000000';
export const LOCAL_REGION = 'local';
/** The Resource a Distributed Map state is rewritten to; the runner binds it to the local executor. */
export const LOCAL_DISTRIBUTED_MAP_RESOURCE = 'arn:aws:states:::exodetect-local:distributedMap';
/**
 * Node timers overflow above 2^31-1 ms (they then fire at once), so AWS's
 * default Task timeout of 99999999 s is capped here: ~23 days.
 */
export const MAX_LOCAL_TIMEOUT_SECONDS = 2_000_000;

/** `${ValidateBatchFunctionArn}` -> the local ARN of the function `ValidateBatch`. */
export const localFunctionArn = (functionName: string): string =>
  `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:${functionName}`;

const SUBSTITUTION = /\$\{([A-Za-z0-9_]+)\}/g;
const FUNCTION_ARN_SUBSTITUTION = /^([A-Za-z0-9_]+)FunctionArn$/;

/**
 * Replaces `${Name}` like CDK's definitionSubstitutions (textually, before
 * parsing, so `"MaxConcurrency": ${MapMaxConcurrency}` works too).
 * `${XxxFunctionArn}` defaults to the local ARN of function Xxx; any other
 * name must be given, else the error lists every missing one.
 */
export function substituteDefinition(text: string, substitutions: Readonly<Record<string, string | number>>, source = 'definition'): string {
  const missing = new Set<string>();
  const result = text.replace(SUBSTITUTION, (whole, name: string) => {
    const given = substitutions[name];
    if (given !== undefined) return String(given);
    const fn = FUNCTION_ARN_SUBSTITUTION.exec(name);
    if (fn?.[1]) return localFunctionArn(fn[1]);
    missing.add(name);
    return whole;
  });
  if (missing.size > 0) {
    throw new LocalDefinitionError(`${source}: no value for substitution(s) ${[...missing].map((m) => '${' + m + '}').join(', ')}`);
  }
  return result;
}

export async function loadDefinitionFile(path: string, substitutions: Readonly<Record<string, string | number>> = {}): Promise<AslDefinition> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new LocalDefinitionError(`cannot read state machine definition ${path}: ${(err as Error).message}`, { cause: err });
  }
  return parseDefinition(substituteDefinition(text, substitutions, path), path);
}

export function parseDefinition(text: string, source = 'definition'): AslDefinition {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new LocalDefinitionError(`${source} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  assertDefinition(parsed, source);
  return parsed;
}

function assertDefinition(value: unknown, source: string): asserts value is AslDefinition {
  const v = value as Partial<AslDefinition> | null;
  if (!v || typeof v !== 'object' || typeof v.StartAt !== 'string' || !v.States || typeof v.States !== 'object') {
    throw new LocalDefinitionError(`${source} is not a state machine definition (needs StartAt and States)`);
  }
}

export const isDistributedMap = (state: AslState): boolean =>
  state.Type === 'Map' && (state.ItemProcessor as JsonObject | undefined)?.ProcessorConfig !== undefined &&
  ((state.ItemProcessor as JsonObject).ProcessorConfig as JsonObject).Mode === 'DISTRIBUTED';

/** A Task state the local runner must bind, with where it sits (for error messages). */
export interface TaskBinding {
  readonly stateName: string;
  readonly resource: string;
  readonly path: string;
}

export interface PreparedDefinition {
  /** What aws-local-stepfunctions runs. */
  readonly definition: AslDefinition;
  /** Task states by name (the library overrides Tasks by name, across nested Maps and Parallels). */
  readonly tasks: ReadonlyMap<string, TaskBinding>;
  /** The original Distributed Map states, by name, run by the local executor. */
  readonly distributedMaps: ReadonlyMap<string, AslState>;
}

/** Fields of a Map state that stay on the Task that replaces it. */
const KEPT_ON_REWRITE = ['Comment', 'InputPath', 'ResultSelector', 'ResultPath', 'OutputPath', 'Retry', 'Catch', 'Next', 'End'];

/** Deep-copies the definition and rewrites it for aws-local-stepfunctions. */
export function prepareDefinition(original: AslDefinition, source = 'definition'): PreparedDefinition {
  const definition = structuredClone(original);
  const tasks = new Map<string, TaskBinding>();
  const distributedMaps = new Map<string, AslState>();
  rewriteStates(definition, source, tasks, distributedMaps);
  if (definition.TimeoutSeconds !== undefined && definition.TimeoutSeconds > MAX_LOCAL_TIMEOUT_SECONDS) {
    definition.TimeoutSeconds = MAX_LOCAL_TIMEOUT_SECONDS;
  }
  return { definition, tasks, distributedMaps };
}

function rewriteStates(
  machine: { States: Record<string, AslState>; QueryLanguage?: unknown },
  path: string,
  tasks: Map<string, TaskBinding>,
  distributedMaps: Map<string, AslState>,
): void {
  if (machine.QueryLanguage === 'JSONata') {
    throw new LocalDefinitionError(`${path}: JSONata is not supported locally (aws-local-stepfunctions ignores it silently); use JSONPath`);
  }
  for (const [name, state] of Object.entries(machine.States)) {
    const where = `${path} > ${name}`;
    if (state.QueryLanguage === 'JSONata') {
      throw new LocalDefinitionError(`${where}: JSONata is not supported locally; use JSONPath`);
    }
    if (isDistributedMap(state)) {
      const original = structuredClone(state);
      const task: AslState = { Type: 'Task', Resource: LOCAL_DISTRIBUTED_MAP_RESOURCE, TimeoutSeconds: MAX_LOCAL_TIMEOUT_SECONDS };
      for (const key of KEPT_ON_REWRITE) if (state[key] !== undefined) task[key] = state[key] as JsonValue;
      machine.States[name] = task;
      registerTask(tasks, { stateName: name, resource: LOCAL_DISTRIBUTED_MAP_RESOURCE, path: where });
      if (distributedMaps.has(name)) throw new LocalDefinitionError(`${where}: two Distributed Map states are named "${name}"`);
      distributedMaps.set(name, original);
      continue;
    }
    if (state.Type === 'Task') {
      if (typeof state.Resource !== 'string') throw new LocalDefinitionError(`${where}: Task without a Resource`);
      if (state.TimeoutSeconds === undefined && state.TimeoutSecondsPath === undefined) {
        state.TimeoutSeconds = MAX_LOCAL_TIMEOUT_SECONDS;
      } else if (typeof state.TimeoutSeconds === 'number' && state.TimeoutSeconds > MAX_LOCAL_TIMEOUT_SECONDS) {
        state.TimeoutSeconds = MAX_LOCAL_TIMEOUT_SECONDS;
      }
      registerTask(tasks, { stateName: name, resource: state.Resource, path: where });
    }
    if (state.Type === 'Map') {
      const processor = (state.ItemProcessor ?? state.Iterator) as { States: Record<string, AslState> } | undefined;
      if (processor) rewriteStates(processor, where, tasks, distributedMaps);
    }
    if (state.Type === 'Parallel') {
      const branches = state.Branches as unknown as { States: Record<string, AslState> }[];
      branches.forEach((branch, i) => rewriteStates(branch, `${where} > branch ${i}`, tasks, distributedMaps));
    }
  }
}

function registerTask(tasks: Map<string, TaskBinding>, binding: TaskBinding): void {
  const existing = tasks.get(binding.stateName);
  if (existing && existing.resource !== binding.resource) {
    throw new LocalDefinitionError(
      `${binding.path}: Task name "${binding.stateName}" is also used at ${existing.path} with another Resource; ` +
        'aws-local-stepfunctions binds Tasks by name, so names must be unique',
    );
  }
  tasks.set(binding.stateName, binding);
}
