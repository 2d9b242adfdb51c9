/**
 * Local EventBridge: s3rver's object notifications become S3's "Object
 * Created" EventBridge events, are matched against the stack's own rule
 * pattern (lambdas/shared/events.ts), and start the inference state machine
 * with an execution name per manifest version, as start-inference does in AWS.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { announcedVersion, batchManifestEventPattern, inferenceExecutionName, type EventPattern, type ObjectCreatedEvent } from '../lambdas/shared/events.js';
import { batchIdFromManifestKey } from '../lambdas/shared/keys.js';
import type { S3EventRecord } from './s3-server.js';
import { ExecutionAlreadyExistsError } from './stepfunctions/errors.js';
import type { ExecutionOutcome, LocalExecution, LocalStateMachine } from './stepfunctions/runner.js';
import { LOCAL_ACCOUNT } from './stepfunctions/definition.js';

const REASONS: Record<string, ObjectCreatedEvent['detail']['reason']> = {
  Put: 'PutObject',
  Post: 'CompleteMultipartUpload',
  Copy: 'CopyObject',
  CompleteMultipartUpload: 'CompleteMultipartUpload',
};

/** S3 notification record -> EventBridge "Object Created" event; undefined for deletions. */
export function toObjectCreatedEvent(record: S3EventRecord, region = 'us-east-1'): ObjectCreatedEvent | undefined {
  const m = /^ObjectCreated:(.+)$/.exec(record.eventName);
  if (!m) return undefined;
  const object = record.s3.object;
  // S3 notifications URL-encode keys (spaces as '+'); EventBridge events carry them decoded.
  const key = decodeURIComponent(object.key.replace(/\+/g, ' '));
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Object Created',
    source: 'aws.s3',
    account: LOCAL_ACCOUNT,
    time: record.eventTime,
    region,
    resources: [`arn:aws:s3:::${record.s3.bucket.name}`],
    detail: {
      version: '0',
      bucket: { name: record.s3.bucket.name },
      object: {
        key,
        ...(object.size !== undefined ? { size: object.size } : {}),
        ...(object.eTag !== undefined ? { etag: object.eTag.replace(/"/g, '') } : {}),
        ...(object.sequencer !== undefined ? { sequencer: String(object.sequencer) } : {}),
      },
      'request-id': randomUUID(),
      requester: LOCAL_ACCOUNT,
      reason: REASONS[m[1] ?? 'Put'] ?? 'PutObject',
    },
  };
}

const wildcardRegExp = (pattern: string): RegExp =>
  new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 's');

function matchesCondition(value: unknown, present: boolean, condition: unknown): boolean {
  if (condition === null || typeof condition !== 'object') return present && value === condition;
  const c = condition as Record<string, unknown>;
  if ('exists' in c) return c.exists === present;
  if (!present) return false;
  if ('prefix' in c) return typeof value === 'string' && value.startsWith(String(c.prefix));
  if ('suffix' in c) return typeof value === 'string' && value.endsWith(String(c.suffix));
  if ('wildcard' in c) return typeof value === 'string' && wildcardRegExp(String(c.wildcard)).test(value);
  if ('equals-ignore-case' in c) return typeof value === 'string' && value.toLowerCase() === String(c['equals-ignore-case']).toLowerCase();
  if ('anything-but' in c) {
    const but = c['anything-but'];
    return !(Array.isArray(but) ? but : [but]).some((b) => matchesCondition(value, present, b));
  }
  throw new Error(`event pattern condition ${JSON.stringify(condition)} is not supported locally`);
}

/** EventBridge pattern matching: every field in the pattern must match; arrays are OR; values in arrays match any element. */
export function matchesEventPattern(event: unknown, pattern: EventPattern): boolean {
  for (const [field, expected] of Object.entries(pattern)) {
    const present = event !== null && typeof event === 'object' && field in (event as object);
    const value = present ? (event as Record<string, unknown>)[field] : undefined;
    if (Array.isArray(expected)) {
      const values = Array.isArray(value) ? value : [value];
      const ok = expected.some((condition) =>
        values.some((v) => matchesCondition(v, present, condition)) || (value === undefined && matchesCondition(undefined, present, condition)),
      );
      if (!ok) return false;
    } else {
      if (!present || value === null || typeof value !== 'object') return false;
      if (!matchesEventPattern(value, expected as EventPattern)) return false;
    }
  }
  return true;
}

export interface BatchManifestBridgeProps {
  /** s3rver's events (LocalS3Server.events), emitting 'object' with S3EventRecords. */
  readonly objectEvents: EventEmitter;
  readonly bucket: string;
  readonly inference: LocalStateMachine;
}

export interface BatchStarted {
  readonly batchId: string;
  readonly key: string;
  readonly execution: LocalExecution;
}

/**
 * Listens for batch manifests and starts inference. Emits 'started'
 * (BatchStarted), 'duplicate' ({batchId, key, executionName}) when the same
 * manifest version was already processed, 'finished' (ExecutionOutcome & {batchId})
 * and 'error' is never emitted (a failed start is reported as 'start-failed').
 */
export class BatchManifestBridge extends EventEmitter {
  private readonly pattern: EventPattern;
  private readonly listener: (record: S3EventRecord) => void;
  private readonly running = new Set<Promise<ExecutionOutcome>>();

  constructor(private readonly props: BatchManifestBridgeProps) {
    super();
    this.pattern = batchManifestEventPattern(props.bucket) as unknown as EventPattern;
    this.listener = (record) => this.onObject(record);
    props.objectEvents.on('object', this.listener);
  }

  /** Feeds one EventBridge event through the rule (also usable without s3rver). */
  handleEvent(event: ObjectCreatedEvent): BatchStarted | undefined {
    if (!matchesEventPattern(event, this.pattern)) return undefined;
    const key = event.detail.object.key;
    const batchId = batchIdFromManifestKey(key);
    if (!batchId) return undefined;
    const name = inferenceExecutionName(batchId, announcedVersion(event) ?? event.id ?? '');
    let execution: LocalExecution;
    try {
      execution = this.props.inference.startExecution({ bucket: event.detail.bucket.name, key }, name);
    } catch (err) {
      if (err instanceof ExecutionAlreadyExistsError) {
        this.emit('duplicate', { batchId, key, executionName: name });
        return undefined;
      }
      this.emit('start-failed', { batchId, key, error: err });
      return undefined;
    }
    if (execution.alreadyStarted) {
      this.emit('duplicate', { batchId, key, executionName: name });
      return undefined;
    }
    const started: BatchStarted = { batchId, key, execution };
    const done = execution.done.then((outcome) => {
      this.running.delete(done);
      this.emit('finished', { ...outcome, batchId });
      return outcome;
    });
    this.running.add(done);
    this.emit('started', started);
    return started;
  }

  private onObject(record: S3EventRecord): void {
    const event = toObjectCreatedEvent(record);
    if (event) this.handleEvent(event);
  }

  /** Resolves when every execution started so far has ended. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
  }

  close(): void {
    this.props.objectEvents.off('object', this.listener);
  }
}
