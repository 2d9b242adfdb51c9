/**
 * Payload templates (`"Key.$": "$.path"`, `$$.Map.Item.Value`, intrinsic
 * functions) evaluated by aws-local-stepfunctions itself, through a one-state
 * Pass machine, so the Distributed Map executor resolves paths exactly as the
 * rest of the local run does.
 */
import '../polyfills.js';
import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import type { JsonObject, JsonValue } from './definition.js';
import { StatesError } from './errors.js';

export type ExecutionContext = JsonObject;

export async function evaluateTemplate(template: JsonValue, input: JsonValue, context: ExecutionContext): Promise<JsonValue> {
  const definition = {
    StartAt: 'Evaluate',
    States: { Evaluate: { Type: 'Pass', Parameters: template, End: true } },
  } as unknown as StateMachineDefinition;
  const machine = new StateMachine(definition, { validationOptions: { noValidate: true } });
  try {
    return (await machine.run(input as never, { context: context as never }).result) as JsonValue;
  } catch (err) {
    const cause = (err as { cause?: Error }).cause ?? (err as Error);
    throw new StatesError('States.Runtime', `cannot evaluate ${JSON.stringify(template)}: ${cause.message}`);
  }
}

/** Evaluates a single `...Path` field such as `MaxItemsPerBatchPath: "$.size"`. */
export async function evaluatePath(pathExpression: string, input: JsonValue, context: ExecutionContext): Promise<JsonValue> {
  const result = (await evaluateTemplate({ 'value.$': pathExpression }, input, context)) as { value?: JsonValue };
  return result.value ?? null;
}
