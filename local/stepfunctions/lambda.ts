/**
 * Local Lambda: a function name resolves to the handler module of the same
 * name in lambdas/ (ValidateBatch -> lambdas/validate-batch.ts, export
 * `handler`), invoked in-process with a Lambda-like context. Errors keep the
 * handler's error name as Lambda's errorType, so the ASL's Retry and Catch
 * match the same names as in AWS.
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { LOCAL_ACCOUNT, LOCAL_REGION, localFunctionArn, type JsonValue } from './definition.js';
import { NoLocalBindingError, StatesError } from './errors.js';

/** The Lambda context fields handlers (and Powertools) read. */
export interface LocalLambdaContext {
  readonly functionName: string;
  readonly functionVersion: string;
  readonly invokedFunctionArn: string;
  readonly memoryLimitInMB: string;
  readonly awsRequestId: string;
  readonly logGroupName: string;
  readonly logStreamName: string;
  callbackWaitsForEmptyEventLoop: boolean;
  getRemainingTimeInMillis(): number;
}

export type LambdaHandler = (event: unknown, context: LocalLambdaContext) => unknown;
/** Function name (e.g. `Detect`) -> handler. */
export type HandlerResolver = (functionName: string) => Promise<LambdaHandler>;

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** `ValidateBatch` -> `validate-batch`. */
export const kebabCase = (name: string): string =>
  name
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/([A-Z])([A-Z][a-z])/g, '$1-$2')
    .toLowerCase();

/** `arn:aws:lambda:local:000000000000:function:Detect:$LATEST` or `Detect` -> `Detect`. */
export function functionNameFromArn(nameOrArn: string): string {
  const m = /^arn:aws[a-z-]*:lambda:[^:]*:[^:]*:function:([^:]+)(?::[^:]+)?$/.exec(nameOrArn);
  if (m?.[1]) return m[1];
  if (/^[A-Za-z0-9_-]+$/.test(nameOrArn)) return nameOrArn;
  throw new NoLocalBindingError(`"${nameOrArn}" is not a Lambda function name or ARN`);
}

export interface ModuleResolverProps {
  /** Folder of the handler modules. Default: <repo>/lambdas. */
  readonly directory?: string;
}

/** Resolves `Xxx` to `<directory>/<kebab-xxx>.ts` exporting `handler`; modules are imported once. */
export function moduleHandlerResolver(props: ModuleResolverProps = {}): HandlerResolver {
  const directory = props.directory ?? path.join(REPO_ROOT, 'lambdas');
  const cache = new Map<string, Promise<LambdaHandler>>();
  return (functionName) => {
    let pending = cache.get(functionName);
    if (!pending) {
      pending = importHandler(directory, functionName);
      cache.set(functionName, pending);
      pending.catch(() => cache.delete(functionName));
    }
    return pending;
  };
}

async function importHandler(directory: string, functionName: string): Promise<LambdaHandler> {
  const file = path.join(directory, `${kebabCase(functionName)}.ts`);
  if (!existsSync(file)) {
    throw new NoLocalBindingError(`no local handler for Lambda function "${functionName}": ${file} does not exist`);
  }
  const mod = (await import(pathToFileURL(file).href)) as { handler?: unknown };
  if (typeof mod.handler !== 'function') {
    throw new NoLocalBindingError(`${file} does not export a function named "handler"`);
  }
  return mod.handler as LambdaHandler;
}

/** A resolver over a fixed table, for tests and for overriding single functions. */
export function tableHandlerResolver(table: Readonly<Record<string, LambdaHandler>>, fallback?: HandlerResolver): HandlerResolver {
  return async (functionName) => {
    const handler = table[functionName];
    if (handler) return handler;
    if (fallback) return fallback(functionName);
    throw new NoLocalBindingError(`no local handler for Lambda function "${functionName}"`);
  };
}

function lambdaContext(functionName: string, timeoutMs: number): LocalLambdaContext {
  const deadline = Date.now() + timeoutMs;
  return {
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: localFunctionArn(functionName),
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `local/${LOCAL_REGION}/${LOCAL_ACCOUNT}`,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

/** JSON round trip, as a Lambda's payload takes: drops undefined, turns Dates into strings. */
const asJson = (value: unknown): JsonValue => (value === undefined ? null : (JSON.parse(JSON.stringify(value)) as JsonValue));

export interface InvokeProps {
  /** What the handler's context reports as remaining time. Default: 900 s (Lambda's maximum). */
  readonly timeoutMs?: number;
}

/**
 * Invokes a function in-process. A thrown error becomes a StatesError named
 * after the error (Lambda's errorType) with Lambda's JSON error document as
 * the Cause, as the lambda:invoke integration reports it.
 */
export async function invokeLocalFunction(resolve: HandlerResolver, nameOrArn: string, payload: unknown, props: InvokeProps = {}): Promise<JsonValue> {
  const functionName = functionNameFromArn(nameOrArn);
  const handler = await resolve(functionName);
  try {
    return asJson(await handler(asJson(payload), lambdaContext(functionName, props.timeoutMs ?? 900_000)));
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    const errorType = error.name || 'Error';
    const cause = JSON.stringify({
      errorType,
      errorMessage: error.message,
      trace: (error.stack ?? '').split('\n'),
    });
    throw new StatesError(errorType, cause);
  }
}

/** The `arn:aws:states:::lambda:invoke` integration: Parameters in, `{Payload, StatusCode, ...}` out. */
export async function invokeViaLambdaIntegration(resolve: HandlerResolver, parameters: JsonValue, props: InvokeProps = {}): Promise<JsonValue> {
  const params = parameters as { FunctionName?: unknown; Payload?: JsonValue; InvocationType?: unknown } | null;
  if (!params || typeof params.FunctionName !== 'string') {
    throw new StatesError('States.Runtime', 'lambda:invoke Parameters need a FunctionName string');
  }
  if (params.InvocationType !== undefined && params.InvocationType !== 'RequestResponse') {
    throw new NoLocalBindingError(`lambda:invoke with InvocationType ${String(params.InvocationType)} is not supported locally`);
  }
  const payload = await invokeLocalFunction(resolve, params.FunctionName, params.Payload ?? {}, props);
  return { ExecutedVersion: '$LATEST', Payload: payload, StatusCode: 200 };
}
