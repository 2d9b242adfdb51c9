import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../lambdas/shared/s3-client.js';
import { startLocalS3Server, type LocalS3Server } from '../../local/s3-server.js';
import { loadDefinitionFile, prepareDefinition, parseDefinition, substituteDefinition } from '../../local/stepfunctions/definition.js';
import { LocalStepFunctions } from '../../local/stepfunctions/runner.js';
import { tableHandlerResolver, kebabCase, functionNameFromArn, type LambdaHandler } from '../../local/stepfunctions/lambda.js';
import { batchItems, exceedsTolerance } from '../../local/stepfunctions/distributed-map.js';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
const BUCKET = 'fixture-bucket';

let server: LocalS3Server;
let dir: string;
let s3: S3Client;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'exodetect-sfn-'));
  server = await startLocalS3Server({ directory: dir, buckets: [BUCKET] });
  s3 = createS3Client({ EXODETECT_S3_ENDPOINT: server.endpoint });
});
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

const getJson = async (key: string): Promise<unknown> => {
  const object = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return JSON.parse(await object.Body!.transformToString());
};

async function putItems(prefix: string, names: string[]): Promise<void> {
  for (const name of names) await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}${name}`, Body: name }));
}

interface WorkEvent {
  Items: { Key: string; Size: number; index: number }[];
  BatchInput: { tag: string; execution: string };
}

function fixtureHandlers(seen: WorkEvent[], failWhen: (key: string) => boolean, transientOnce = new Set<string>()): Record<string, LambdaHandler> {
  return {
    Validate: async (event) => ({ bucket: BUCKET, prefix: (event as { prefix: string }).prefix, tag: 'T1' }),
    Work: async (event) => {
      const e = event as WorkEvent;
      seen.push(e);
      for (const item of e.Items) {
        if (transientOnce.has(item.Key)) {
          transientOnce.delete(item.Key);
          throw Object.assign(new Error('try again'), { name: 'Transient' });
        }
        if (failWhen(item.Key)) throw new RangeError(`cannot process ${item.Key}`);
      }
      return { done: e.Items.map((i) => i.Key) };
    },
    Summarize: async (event) => ({ summarized: event }),
  };
}

describe('definition loading', () => {
  it('substitutes ${XxxFunctionArn} with local ARNs and reports missing names', () => {
    const text = '{"a":"${DetectFunctionArn}","b":"${DataBucket}","c":${N}}';
    expect(substituteDefinition(text, { DataBucket: 'bkt', N: 3 })).toBe(
      '{"a":"arn:aws:lambda:local:000000000000:function:Detect","b":"bkt","c":3}',
    );
    expect(() => substituteDefinition(text, {})).toThrow(/\$\{DataBucket\}, \$\{N\}/);
  });

  it('rewrites Distributed Map to a Task, keeps Retry/Catch/Next, and lifts the 60 s Task default', async () => {
    const def = await loadDefinitionFile(path.join(FIXTURES, 'fanout.asl.json'), { ToleratedPercent: 10 });
    const prepared = prepareDefinition(def);
    const fanOut = prepared.definition.States.FanOut!;
    expect(fanOut.Type).toBe('Task');
    expect(fanOut.Next).toBe('Summarize');
    expect(fanOut.Catch).toEqual(def.States.FanOut!.Catch);
    expect(fanOut.ItemReader).toBeUndefined();
    expect(prepared.distributedMaps.get('FanOut')?.ItemBatcher).toBeDefined();
    expect(prepared.definition.States.Validate!.TimeoutSeconds).toBeGreaterThan(60);
    expect([...prepared.tasks.keys()].sort()).toEqual(['FanOut', 'Summarize', 'Validate']);
    // The original is untouched.
    expect(def.States.FanOut!.Type).toBe('Map');
  });

  it('refuses JSONata and Tasks that share a name with different resources', () => {
    expect(() => prepareDefinition(parseDefinition('{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}'))).toThrow(
      /JSONata/,
    );
    const clash = {
      StartAt: 'P',
      States: {
        P: {
          Type: 'Parallel',
          End: true,
          Branches: [
            { StartAt: 'T', States: { T: { Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke', End: true } } },
            { StartAt: 'T', States: { T: { Type: 'Task', Resource: 'arn:aws:states:::sns:publish', End: true } } },
          ],
        },
      },
    };
    expect(() => prepareDefinition(clash as never)).toThrow(/names must be unique/);
  });

  it('maps function names to handler modules', () => {
    expect(kebabCase('ValidateBatch')).toBe('validate-batch');
    expect(kebabCase('Detect')).toBe('detect');
    expect(kebabCase('PromoteModel')).toBe('promote-model');
    expect(functionNameFromArn('arn:aws:lambda:local:000000000000:function:SplitDataset')).toBe('SplitDataset');
    expect(functionNameFromArn('arn:aws:lambda:us-east-1:1:function:Detect:$LATEST')).toBe('Detect');
  });
});

describe('batching and tolerance', () => {
  it('batches by count and by bytes', () => {
    const items = [1, 2, 3, 4, 5].map((n) => ({ k: 'x'.repeat(n * 10) }));
    expect(batchItems(items, { maxItems: 2 }).map((b) => (b.Items as unknown[]).length)).toEqual([2, 2, 1]);
    const byBytes = batchItems(items, { maxBytes: 90 });
    for (const b of byBytes) expect(Buffer.byteLength(JSON.stringify(b))).toBeLessThanOrEqual(90);
    expect(byBytes.flatMap((b) => b.Items as unknown[])).toEqual(items);
    expect(batchItems(items, { maxItems: 10, batchInput: { a: 1 } })[0]).toEqual({ Items: items, BatchInput: { a: 1 } });
    expect(() => batchItems([{ k: 'y'.repeat(200) }], { maxBytes: 50 })).toThrow(/exceeds MaxInputBytesPerBatch/);
  });

  it('applies AWS tolerance rules', () => {
    expect(exceedsTolerance(1, 100, undefined, undefined)).toBe(true);
    expect(exceedsTolerance(0, 100, undefined, undefined)).toBe(false);
    expect(exceedsTolerance(10, 100, 10, undefined)).toBe(false);
    expect(exceedsTolerance(11, 100, 10, undefined)).toBe(true);
    expect(exceedsTolerance(3, 100, undefined, 3)).toBe(false);
    expect(exceedsTolerance(4, 100, 50, 3)).toBe(true);
  });
});

describe('local execution of a Distributed Map machine', () => {
  it('reads the listing, batches with BatchInput, writes AWS-layout results and passes them on', async () => {
    const names = ['a.png', 'b.png', 'c.png', 'd.png', 'e.png'];
    await putItems('ok/', names);
    const seen: WorkEvent[] = [];
    const sfn = new LocalStepFunctions({ s3, handlers: tableHandlerResolver(fixtureHandlers(seen, () => false, new Set(['ok/c.png']))), concurrencyCap: 2 });
    const progress: number[] = [];
    sfn.events.on('map-progress', (p: { itemsSucceeded: number }) => progress.push(p.itemsSucceeded));
    const def = await loadDefinitionFile(path.join(FIXTURES, 'fanout.asl.json'), { ToleratedPercent: 0 });
    const machine = sfn.createStateMachine('Fanout', def);
    const outcome = await machine.startExecution({ prefix: 'ok/' }, 'run-1').done;
    expect(outcome.status, outcome.cause).toBe('SUCCEEDED');

    expect(new Set(seen.flatMap((e) => e.Items.map((i) => i.Key)))).toEqual(new Set(names.map((n) => `ok/${n}`)));
    expect(seen.every((e) => e.Items.length <= 2)).toBe(true);
    expect(seen[0]!.BatchInput).toEqual({ tag: 'T1', execution: 'run-1' });
    expect(seen.flatMap((e) => e.Items).find((i) => i.Key === 'ok/e.png')).toMatchObject({ Size: 5, index: 4 });
    // The retried batch (Transient on c.png) ran twice.
    expect(seen.filter((e) => e.Items.some((i) => i.Key === 'ok/c.png'))).toHaveLength(2);
    expect(progress.at(-1)).toBe(5);

    const out = outcome.output as { summarized: { manifest: { Bucket: string; Key: string }; execution: string } };
    expect(out.summarized.execution).toBe('arn:aws:states:local:000000000000:execution:Fanout:run-1');
    expect(out.summarized.manifest.Key).toMatch(/^results\/map\/[0-9a-f-]{36}\/manifest\.json$/);
    const manifest = (await getJson(out.summarized.manifest.Key)) as {
      DestinationBucket: string;
      ResultFiles: { SUCCEEDED: { Key: string; Size: number }[]; FAILED: unknown[] };
    };
    expect(manifest.DestinationBucket).toBe(BUCKET);
    expect(manifest.ResultFiles.FAILED).toEqual([]);
    const succeeded = (await getJson(manifest.ResultFiles.SUCCEEDED[0]!.Key)) as { Status: string; Output: string; Input: string }[];
    expect(succeeded).toHaveLength(3);
    expect(succeeded.every((r) => r.Status === 'SUCCEEDED')).toBe(true);
    expect(succeeded.flatMap((r) => (JSON.parse(r.Output) as { done: string[] }).done).sort()).toEqual(names.map((n) => `ok/${n}`));
    expect((JSON.parse(succeeded[0]!.Input) as WorkEvent).Items).toHaveLength(2);
  });

  it('tolerates failures up to the threshold and records them in FAILED_0.json', async () => {
    const names = Array.from({ length: 10 }, (_, i) => `img${i}.png`);
    await putItems('some-bad/', names);
    const seen: WorkEvent[] = [];
    const sfn = new LocalStepFunctions({ s3, handlers: tableHandlerResolver(fixtureHandlers(seen, (k) => k.endsWith('img3.png'))) });
    const def = await loadDefinitionFile(path.join(FIXTURES, 'fanout.asl.json'), { ToleratedPercent: 20 });
    const outcome = await sfn.createStateMachine('Fanout', def).startExecution({ prefix: 'some-bad/' }).done;
    expect(outcome.status, outcome.cause).toBe('SUCCEEDED');
    const manifestKey = (outcome.output as { summarized: { manifest: { Key: string } } }).summarized.manifest.Key;
    const manifest = (await getJson(manifestKey)) as { ResultFiles: { FAILED: { Key: string }[] } };
    const failed = (await getJson(manifest.ResultFiles.FAILED[0]!.Key)) as { Error: string; Cause: string; Input: string }[];
    expect(failed).toHaveLength(1);
    expect(failed[0]!.Error).toBe('RangeError');
    expect(JSON.parse(failed[0]!.Cause).errorMessage).toBe('cannot process some-bad/img3.png');
  });

  it('fails the map with States.ExceedToleratedFailureThreshold, which the ASL can catch', async () => {
    const names = Array.from({ length: 8 }, (_, i) => `x${i}.png`);
    await putItems('mostly-bad/', names);
    const sfn = new LocalStepFunctions({ s3, handlers: tableHandlerResolver(fixtureHandlers([], (k) => !k.endsWith('x0.png'))), concurrencyCap: 1 });
    const def = await loadDefinitionFile(path.join(FIXTURES, 'fanout.asl.json'), { ToleratedPercent: 10 });
    const outcome = await sfn.createStateMachine('Fanout', def).startExecution({ prefix: 'mostly-bad/' }).done;
    expect(outcome.status).toBe('FAILED');
    expect(outcome.error).toBe('BatchFailed');
  });

  it('refuses a Task without a local binding instead of calling AWS', async () => {
    const sfn = new LocalStepFunctions({ s3, handlers: tableHandlerResolver({}) });
    const def = parseDefinition(
      JSON.stringify({ StartAt: 'Publish', States: { Publish: { Type: 'Task', Resource: 'arn:aws:states:::sns:publish', Parameters: { Message: 'x' }, End: true } } }),
    );
    const outcome = await sfn.createStateMachine('Sns', def).startExecution({}).done;
    expect(outcome.status).toBe('FAILED');
    expect(outcome.error).toBe('NoLocalBindingError');
    expect(outcome.cause).toMatch(/sns:publish has no local binding/);
  });

  it('fails a Lambda Task whose handler is missing with a clear error', async () => {
    const sfn = new LocalStepFunctions({ s3, handlers: tableHandlerResolver({}) });
    const def = parseDefinition(
      JSON.stringify({
        StartAt: 'Call',
        States: { Call: { Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke', Parameters: { FunctionName: 'arn:aws:lambda:local:000000000000:function:Nope', Payload: {} }, End: true } },
      }),
    );
    const outcome = await sfn.createStateMachine('Missing', def).startExecution({}).done;
    expect(outcome.status).toBe('FAILED');
    expect(outcome.cause).toMatch(/no local handler for Lambda function "Nope"/);
  });

  it('honours explicit Task timeouts and Step Functions execution-name rules', async () => {
    const slow: LambdaHandler = () => new Promise((resolve) => setTimeout(() => resolve('late'), 3000));
    const sfn = new LocalStepFunctions({ s3, handlers: tableHandlerResolver({ Slow: slow }) });
    const def = parseDefinition(
      JSON.stringify({
        StartAt: 'Call',
        States: { Call: { Type: 'Task', Resource: 'arn:aws:lambda:local:000000000000:function:Slow', TimeoutSeconds: 1, End: true } },
      }),
    );
    const machine = sfn.createStateMachine('Slow', def);
    const first = machine.startExecution({ a: 1 }, 'same-name');
    const again = machine.startExecution({ a: 1 }, 'same-name');
    expect(again.alreadyStarted).toBe(true);
    expect(() => machine.startExecution({ a: 2 }, 'same-name')).toThrow(/Already Exists/);
    const outcome = await first.done;
    expect(outcome.status).toBe('FAILED');
    expect(outcome.error).toBe('States.Timeout');
    expect(() => machine.startExecution({ a: 1 }, 'same-name')).toThrow(/Already Exists/);
    expect(machine.executionCount).toBe(1);
  });
});

/** A one-state Distributed Map around an echoing function, with the given Map fields. */
function echoMap(fields: Record<string, unknown>) {
  return parseDefinition(
    JSON.stringify({
      StartAt: 'Each',
      States: {
        Each: {
          Type: 'Map',
          ItemProcessor: {
            ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'EXPRESS' },
            StartAt: 'Echo',
            States: { Echo: { Type: 'Task', Resource: 'arn:aws:lambda:local:000000000000:function:Echo', End: true } },
          },
          End: true,
          ...fields,
        },
      },
    }),
  );
}

describe('Distributed Map item sources and limits', () => {
  const echo: LambdaHandler = async (event) => event;
  const reader = (InputType: string, Key: string, extra: Record<string, unknown> = {}) => ({
    ItemReader: { Resource: 'arn:aws:states:::s3:getObject', ReaderConfig: { InputType, ...extra }, Parameters: { Bucket: BUCKET, Key } },
  });

  it('reads JSON, JSONL and CSV manifests from S3, honouring MaxItems', async () => {
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'm/items.json', Body: JSON.stringify([{ n: 1 }, { n: 2 }, { n: 3 }]) }));
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'm/items.jsonl', Body: '{"n":1}\n\n{"n":2}\n' }));
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'm/items.csv', Body: 'key,label\r\na.png,"x, y"\nb.png,"say ""hi"""\n' }));
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'm/bad.jsonl', Body: '{"n":1}\nnot json\n' }));
    const sfn = new LocalStepFunctions({ s3, handlers: tableHandlerResolver({ Echo: echo }) });
    const run = async (fields: Record<string, unknown>, input: unknown = {}) => sfn.createStateMachine('M', echoMap(fields)).startExecution(input as never).done;
    expect((await run(reader('JSON', 'm/items.json'))).output).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    expect((await run(reader('JSON', 'm/items.json', { MaxItems: 2 }))).output).toEqual([{ n: 1 }, { n: 2 }]);
    expect((await run(reader('JSONL', 'm/items.jsonl'))).output).toEqual([{ n: 1 }, { n: 2 }]);
    expect((await run(reader('CSV', 'm/items.csv', { CSVHeaderLocation: 'FIRST_ROW' }))).output).toEqual([
      { key: 'a.png', label: 'x, y' },
      { key: 'b.png', label: 'say "hi"' },
    ]);
    expect((await run(reader('CSV', 'm/items.csv', { CSVHeaderLocation: 'GIVEN', CSVHeaders: ['k', 'l'] }))).output).toHaveLength(3);
    const bad = await run(reader('JSONL', 'm/bad.jsonl'));
    expect(bad.status).toBe('FAILED');
    expect(bad.error).toBe('States.ItemReaderFailed');
    expect(bad.cause).toMatch(/m\/bad\.jsonl line 2/);
  });

  it('takes items from the input with ItemsPath, and batches them with MaxItemsPerBatchPath', async () => {
    const sfn = new LocalStepFunctions({ s3, handlers: tableHandlerResolver({ Echo: echo }) });
    const def = echoMap({ ItemsPath: '$.things', ItemBatcher: { MaxItemsPerBatchPath: '$.per' } });
    const outcome = await sfn.createStateMachine('P', def).startExecution({ things: [1, 2, 3], per: 2 }).done;
    expect(outcome.output).toEqual([{ Items: [1, 2] }, { Items: [3] }]);
  });

  it('keeps at most MaxConcurrency (and the local cap) children running', async () => {
    let running = 0;
    let peak = 0;
    const slow: LambdaHandler = async (event) => {
      peak = Math.max(peak, ++running);
      await new Promise((r) => setTimeout(r, 100));
      running--;
      return event;
    };
    const items = Array.from({ length: 12 }, (_, i) => i);
    for (const [maxConcurrency, cap, expected] of [
      [3, 8, 3],
      [0, 2, 2],
    ] as const) {
      peak = 0;
      const sfn = new LocalStepFunctions({ s3, handlers: tableHandlerResolver({ Echo: slow }), concurrencyCap: cap });
      const outcome = await sfn.createStateMachine('C', echoMap({ ItemsPath: '$.items', MaxConcurrency: maxConcurrency })).startExecution({ items }).done;
      expect(outcome.output).toEqual(items);
      expect(peak).toBe(expected);
    }
  });

  it('refuses ResultWriter transformations it does not implement', async () => {
    const sfn = new LocalStepFunctions({ s3, handlers: tableHandlerResolver({ Echo: echo }) });
    const def = echoMap({
      ItemsPath: '$.items',
      ResultWriter: { Resource: 'arn:aws:states:::s3:putObject', Parameters: { Bucket: BUCKET, Prefix: 'x' }, WriterConfig: { OutputType: 'JSONL', Transformation: 'FLATTEN' } },
    });
    const outcome = await sfn.createStateMachine('W', def).startExecution({ items: [1] }).done;
    expect(outcome.status).toBe('FAILED');
    expect(outcome.cause).toMatch(/not supported locally/);
  });
});
