/**
 * The local executor for Map states in DISTRIBUTED mode, which
 * aws-local-stepfunctions does not know: ItemReader (S3 listing and
 * manifests) or ItemsPath, ItemSelector, ItemBatcher, MaxConcurrency,
 * ToleratedFailurePercentage/Count and ResultWriter, each child a nested
 * state machine execution of the ItemProcessor.
 */
import { randomUUID } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { LOCAL_ACCOUNT, LOCAL_REGION, type AslDefinition, type AslState, type JsonObject, type JsonValue } from './definition.js';
import { NoLocalBindingError, StatesError } from './errors.js';
import { readItems, type ReaderConfig } from './item-reader.js';
import { writeMapResults, type ChildExecutionRecord } from './result-writer.js';
import { evaluatePath, evaluateTemplate, type ExecutionContext } from './template.js';

export type ChildOutcome =
  | { readonly status: 'SUCCEEDED'; readonly output: JsonValue }
  | { readonly status: 'FAILED'; readonly error: string; readonly cause: string };

export interface ChildExecutionRequest {
  readonly definition: AslDefinition;
  readonly input: JsonValue;
  readonly executionArn: string;
  readonly name: string;
  readonly stateMachineArn: string;
}

export interface MapProgress {
  readonly stateName: string;
  readonly mapRunArn: string;
  /** Items (not batches) read by the ItemReader. */
  readonly itemsTotal: number;
  readonly itemsSucceeded: number;
  readonly itemsFailed: number;
  readonly childrenTotal: number;
  readonly childrenDone: number;
}

export interface DistributedMapProps {
  readonly stateName: string;
  /** The original Map state (before the rewrite to a Task). */
  readonly state: AslState;
  /** The Map state's effective input (InputPath applied). */
  readonly input: JsonValue;
  /** The parent execution's context object. */
  readonly context: ExecutionContext;
  readonly parentExecutionArn: string;
  readonly s3: S3Client;
  /** Upper bound on children running at once, whatever MaxConcurrency says (one machine). */
  readonly concurrencyCap: number;
  readonly runChild: (request: ChildExecutionRequest) => Promise<ChildOutcome>;
  readonly onProgress?: (progress: MapProgress) => void;
}

export const TOLERATED_FAILURE_ERROR = 'States.ExceedToleratedFailureThreshold';

interface Batcher {
  readonly maxItems?: number;
  readonly maxBytes?: number;
  readonly batchInput?: JsonValue;
}

/** Groups items as ItemBatcher does: up to maxItems per batch and maxBytes of batch JSON. */
export function batchItems(items: readonly JsonValue[], batcher: Batcher): JsonObject[] {
  const batches: JsonObject[] = [];
  const make = (group: JsonValue[]): JsonObject =>
    batcher.batchInput === undefined ? { Items: group } : { Items: group, BatchInput: batcher.batchInput };
  let current: JsonValue[] = [];
  for (const item of items) {
    const candidate = [...current, item];
    const tooMany = batcher.maxItems !== undefined && candidate.length > batcher.maxItems;
    const tooBig = batcher.maxBytes !== undefined && Buffer.byteLength(JSON.stringify(make(candidate))) > batcher.maxBytes;
    if ((tooMany || tooBig) && current.length > 0) {
      batches.push(make(current));
      current = [item];
    } else {
      current = candidate;
    }
    if (batcher.maxBytes !== undefined && current.length === 1 && Buffer.byteLength(JSON.stringify(make(current))) > batcher.maxBytes) {
      throw new StatesError('States.Runtime', `an item alone exceeds MaxInputBytesPerBatch ${batcher.maxBytes}: ${JSON.stringify(item).slice(0, 200)}`);
    }
  }
  if (current.length > 0) batches.push(make(current));
  return batches;
}

/** True when the failures exceed what the state tolerates (both limits 0 unless set). */
export function exceedsTolerance(failed: number, total: number, percentage: number | undefined, count: number | undefined): boolean {
  if (failed === 0) return false;
  const byCount = count !== undefined && failed > count;
  const byPercentage = percentage !== undefined && total > 0 && (failed / total) * 100 > percentage;
  if (percentage === undefined && count === undefined) return true;
  if (percentage === undefined) return byCount;
  if (count === undefined) return byPercentage;
  return byCount || byPercentage;
}

async function numberField(state: AslState, field: string, input: JsonValue, context: ExecutionContext): Promise<number | undefined> {
  const direct = state[field];
  if (typeof direct === 'number') return direct;
  const path = state[`${field}Path`];
  if (typeof path === 'string') {
    const value = await evaluatePath(path, input, context);
    if (typeof value !== 'number') throw new StatesError('States.Runtime', `${field}Path ${path} gave ${JSON.stringify(value)}, not a number`);
    return value;
  }
  return undefined;
}

async function readMapItems(props: DistributedMapProps): Promise<JsonValue[]> {
  const { state, input, context } = props;
  const reader = state.ItemReader as JsonObject | undefined;
  if (reader) {
    const parameters = (await evaluateTemplate((reader.Parameters ?? {}) as JsonObject, input, context)) as JsonObject;
    const readerConfig = { ...((reader.ReaderConfig ?? {}) as JsonObject) } as JsonObject;
    if (typeof readerConfig.MaxItemsPath === 'string') {
      readerConfig.MaxItems = await evaluatePath(readerConfig.MaxItemsPath, input, context);
    }
    return readItems({ Resource: String(reader.Resource), Parameters: parameters, ReaderConfig: readerConfig as ReaderConfig }, props.s3);
  }
  const items = await evaluatePath(typeof state.ItemsPath === 'string' ? state.ItemsPath : '$', input, context);
  if (!Array.isArray(items)) throw new StatesError('States.Runtime', `Map ItemsPath did not give an array: ${JSON.stringify(items).slice(0, 200)}`);
  return items;
}

/** Runs one Distributed Map state; returns the state's raw result (before ResultSelector/ResultPath/OutputPath). */
export async function runDistributedMap(props: DistributedMapProps): Promise<JsonValue> {
  const { state, input, context, stateName } = props;
  const label = typeof state.Label === 'string' ? state.Label : stateName;
  const mapRunId = randomUUID();
  const parentName = String((context.StateMachine as JsonObject | undefined)?.Name ?? 'local');
  const mapRunArn = `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:mapRun:${parentName}/${label}:${mapRunId}`;
  const childMachineArn = `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:stateMachine:${parentName}/${label}`;

  const writer = state.ResultWriter as JsonObject | undefined;
  const writerConfig = (writer?.WriterConfig ?? {}) as JsonObject;
  if ((writerConfig.OutputType ?? 'JSON') !== 'JSON' || (writerConfig.Transformation ?? 'NONE') !== 'NONE' || (writer && writer.Resource === undefined)) {
    throw new NoLocalBindingError(`${stateName}: ResultWriter ${JSON.stringify(writer)} is not supported locally (S3 export with OutputType JSON, Transformation NONE is)`);
  }

  const items = await readMapItems(props);
  const selector = (state.ItemSelector ?? state.Parameters) as JsonValue | undefined;
  const selected: JsonValue[] = [];
  for (const [index, value] of items.entries()) {
    selected.push(selector === undefined ? value : await evaluateTemplate(selector, input, { ...context, Map: { Item: { Index: index, Value: value } } }));
  }

  const batcherDef = state.ItemBatcher as JsonObject | undefined;
  let childInputs: { input: JsonValue; itemCount: number }[];
  if (batcherDef) {
    const maxItems = await numberField(batcherDef as AslState, 'MaxItemsPerBatch', input, context);
    const maxBytes = await numberField(batcherDef as AslState, 'MaxInputBytesPerBatch', input, context);
    const batchInput = batcherDef.BatchInput === undefined ? undefined : await evaluateTemplate(batcherDef.BatchInput, input, context);
    childInputs = batchItems(selected, { maxItems, maxBytes, batchInput }).map((b) => ({ input: b, itemCount: (b.Items as JsonValue[]).length }));
  } else {
    childInputs = selected.map((s) => ({ input: s, itemCount: 1 }));
  }

  const toleratedPercentage = await numberField(state, 'ToleratedFailurePercentage', input, context);
  const toleratedCount = await numberField(state, 'ToleratedFailureCount', input, context);
  const maxConcurrency = (await numberField(state, 'MaxConcurrency', input, context)) ?? 0;
  const concurrency = Math.max(1, Math.min(maxConcurrency > 0 ? maxConcurrency : Infinity, props.concurrencyCap));

  const processor = state.ItemProcessor as JsonObject;
  const { ProcessorConfig: _config, ...childDefinition } = processor;
  const records: (ChildExecutionRecord | undefined)[] = new Array(childInputs.length);
  const outputs: JsonValue[] = new Array(childInputs.length).fill(null);
  let itemsSucceeded = 0;
  let itemsFailed = 0;
  let childrenDone = 0;
  let next = 0;
  let aborted = false;

  const report = () =>
    props.onProgress?.({
      stateName,
      mapRunArn,
      itemsTotal: items.length,
      itemsSucceeded,
      itemsFailed,
      childrenTotal: childInputs.length,
      childrenDone,
    });
  report();

  const worker = async (): Promise<void> => {
    while (!aborted && next < childInputs.length) {
      const index = next++;
      const child = childInputs[index]!;
      const name = randomUUID();
      const executionArn = `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:execution:${parentName}/${label}:${name}`;
      const startDate = new Date();
      let outcome: ChildOutcome;
      try {
        outcome = await props.runChild({
          definition: childDefinition as unknown as AslDefinition,
          input: child.input,
          executionArn,
          name,
          stateMachineArn: childMachineArn,
        });
      } catch (err) {
        outcome = { status: 'FAILED', error: (err as Error).name || 'States.Runtime', cause: (err as Error).message };
      }
      const common = { executionArn, name, stateMachineArn: childMachineArn, input: child.input, startDate, stopDate: new Date() };
      if (outcome.status === 'SUCCEEDED') {
        outputs[index] = outcome.output;
        records[index] = { ...common, status: 'SUCCEEDED', output: outcome.output };
        itemsSucceeded += child.itemCount;
      } else {
        records[index] = { ...common, status: 'FAILED', error: outcome.error, cause: outcome.cause };
        itemsFailed += child.itemCount;
        // AWS stops starting children once the run can no longer meet its tolerance.
        if (exceedsTolerance(itemsFailed, items.length, toleratedPercentage, toleratedCount)) aborted = true;
      }
      childrenDone++;
      report();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, childInputs.length) }, worker));

  let writerDetails: JsonObject | undefined;
  if (writer?.Resource !== undefined) {
    const params = (await evaluateTemplate((writer.Parameters ?? {}) as JsonObject, input, context)) as JsonObject;
    if (typeof params.Bucket !== 'string') throw new StatesError('States.ResultWriterFailed', 'ResultWriter needs a Bucket');
    const details = await writeMapResults(
      props.s3,
      { bucket: params.Bucket, prefix: typeof params.Prefix === 'string' ? params.Prefix : '', mapRunArn, mapRunId },
      records.filter((r): r is ChildExecutionRecord => r !== undefined),
    );
    writerDetails = { ...details };
  }

  if (exceedsTolerance(itemsFailed, items.length, toleratedPercentage, toleratedCount)) {
    const firstFailure = records.find((r) => r?.status === 'FAILED');
    throw new StatesError(
      TOLERATED_FAILURE_ERROR,
      `The specified tolerated failure threshold was crossed: ${itemsFailed} of ${items.length} items failed` +
        (firstFailure ? ` (first: ${firstFailure.error}: ${firstFailure.cause?.slice(0, 500)})` : ''),
    );
  }
  if (writerDetails) return { MapRunArn: mapRunArn, ResultWriterDetails: writerDetails };
  return outputs;
}
