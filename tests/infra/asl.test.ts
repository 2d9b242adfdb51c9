import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { NON_INVOCATION_ERROR_NAMES, PERMANENT_ERROR_NAMES } from '../../lambdas/shared/errors.js';

// asl-validator ships no types and mutates its input (adds QueryLanguage): always pass a clone.
const require = createRequire(import.meta.url);
const validateAsl = require('asl-validator') as (definition: unknown) => { isValid: boolean; errors: unknown[] };

type Json = Record<string, any>;
const load = (name: string): Json => JSON.parse(readFileSync(new URL(`../../statemachines/${name}.asl.json`, import.meta.url), 'utf8'));
const inference = load('inference');
const training = load('training');

/** Every `${Name}` placeholder in a definition. */
const substitutionsOf = (definition: Json): string[] =>
  [...new Set([...JSON.stringify(definition).matchAll(/\$\{([A-Za-z0-9]+)\}/g)].map((m) => m[1]!))].sort();

/** Every state, including those nested in Map item processors. */
function allStates(definition: Json): Array<[string, Json]> {
  const out: Array<[string, Json]> = [];
  for (const [name, state] of Object.entries(definition.States as Json)) {
    out.push([name, state as Json]);
    if ((state as Json).ItemProcessor) out.push(...allStates((state as Json).ItemProcessor));
  }
  return out;
}

describe.each([
  ['inference', inference],
  ['training', training],
])('%s.asl.json', (_name, definition) => {
  it('is valid ASL according to asl-validator', () => {
    const clone = structuredClone(definition);
    const result = validateAsl(clone);
    expect(result.errors).toEqual([]);
    expect(result.isValid).toBe(true);
    expect(definition.QueryLanguage).toBeUndefined(); // the original was not mutated
  });

  it('is JSONPath, not JSONata', () => {
    expect(JSON.stringify(definition)).not.toMatch(/JSONata|\{%/);
  });

  it('sets TimeoutSeconds on every Task and retries Lambda service errors with backoff', () => {
    for (const [name, state] of allStates(definition).filter(([, s]) => s.Type === 'Task')) {
      expect(state.TimeoutSeconds, name).toBeGreaterThan(0);
      if (state.Resource === 'arn:aws:states:::lambda:invoke') {
        expect(state.Parameters.FunctionName, name).toMatch(/^\$\{[A-Za-z]+FunctionArn\}$/);
        const retry = (state.Retry as Json[]).find((r) => r.ErrorEquals.includes('Lambda.TooManyRequestsException'));
        expect(retry, name).toBeDefined();
        expect(retry!.ErrorEquals).toContain('Lambda.ServiceException');
        expect(retry!.BackoffRate).toBeGreaterThan(1);
      }
    }
  });

  it('never retries a permanent error, and retries transient task failures with backoff and jitter', () => {
    for (const [name, state] of allStates(definition).filter(([, s]) => s.Resource === 'arn:aws:states:::lambda:invoke')) {
      const retry = state.Retry as Json[];
      expect(retry[0], name).toEqual({ ErrorEquals: [...PERMANENT_ERROR_NAMES], MaxAttempts: 0 });
      const last = retry.at(-1)!;
      expect(last.ErrorEquals, name).toEqual(['States.TaskFailed']);
      expect(last.MaxAttempts, name).toBeGreaterThan(0);
      expect(last.BackoffRate, name).toBeGreaterThan(1);
      expect(last.JitterStrategy, name).toBe('FULL');
    }
  });
});

/** `class XxxError extends YyyError` in every module under lambdas/. */
function namedErrorClasses(): string[] {
  const root = new URL('../../lambdas/', import.meta.url).pathname;
  const names: string[] = [];
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const text = readFileSync(path.join(entry.parentPath, entry.name), 'utf8');
    for (const m of text.matchAll(/class (\w+) extends (\w*Error)\b/g)) names.push(m[1]!);
  }
  return names;
}

describe('error names', () => {
  it('accounts for every named error of lambdas/: permanent, or never leaving a handler', () => {
    const known = new Set<string>([...PERMANENT_ERROR_NAMES, ...NON_INVOCATION_ERROR_NAMES, 'ExodetectError']);
    const classes = namedErrorClasses();
    expect(classes.length).toBeGreaterThan(10);
    expect(classes.filter((n) => !known.has(n))).toEqual([]);
  });
});

describe('inference.asl.json structure', () => {
  it('uses exactly the documented substitutions', () => {
    expect(substitutionsOf(inference)).toEqual([
      'DetectFunctionArn',
      'DetectItemsPerBatch',
      'MapMaxConcurrency',
      'NotifyFunctionArn',
      'SummarizeFunctionArn',
      'ToleratedFailurePercentage',
      'ValidateBatchFunctionArn',
    ]);
  });

  it('validates, fans out, summarises and notifies in that order', () => {
    const s = inference.States;
    expect(inference.StartAt).toBe('ValidateBatch');
    expect(s.ValidateBatch.Next).toBe('LoadSettings');
    expect(s.LoadSettings.Next).toBe('DetectImages');
    expect(s.DetectImages.Next).toBe('Summarize');
    expect(s.Summarize.Next).toBe('BatchOutcome');
    expect(s.BatchOutcome.Default).toBe('NotifySuccess');
    expect(s.BatchOutcome.Choices.map((c: Json) => c.Next)).toEqual(['NotifyFailure', 'TooManyImagesFailed']);
    expect(s.TooManyImagesFailed.Next).toBe('NotifyFailure');
    // Too many failed invocations still summarise what exists before the batch fails.
    expect(s.DetectImages.Catch[0]).toEqual({ ErrorEquals: ['States.ExceedToleratedFailureThreshold'], ResultPath: '$.error', Next: 'Summarize' });
    expect(s.NotifySuccess.Next).toBe('BatchDone');
    expect(s.BatchDone.Type).toBe('Succeed');
  });

  it('runs a Distributed Map over the batch images prefix with the DetectEvent batch input', () => {
    const map = inference.States.DetectImages;
    expect(map.Type).toBe('Map');
    expect(map.ItemProcessor.ProcessorConfig).toEqual({ Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' });
    expect(map.ItemReader).toEqual({
      Resource: 'arn:aws:states:::s3:listObjectsV2',
      Parameters: { 'Bucket.$': '$.bucket', 'Prefix.$': '$.imagesPrefix' },
    });
    // Field names of DetectEvent.BatchInput in lambdas/shared/contracts.ts.
    expect(Object.keys(map.ItemBatcher.BatchInput).sort()).toEqual(['batchId.$', 'bucket.$', 'modelKey.$', 'params.$']);
    expect(map.MaxConcurrencyPath).toBe('$.settings.mapMaxConcurrency');
    expect(map.ToleratedFailurePercentagePath).toBe('$.settings.toleratedFailurePercentage');
    expect(map.ResultWriter.Resource).toBe('arn:aws:states:::s3:putObject');
    expect(map.ResultWriter.Parameters['Prefix.$']).toBe('$.mapResultsPrefix');
    expect(map.ItemProcessor.States.Detect.Parameters.FunctionName).toBe('${DetectFunctionArn}');
  });

  it('turns the numeric substitutions into numbers that the Map reads', () => {
    const params = inference.States.LoadSettings.Parameters;
    expect(params['mapMaxConcurrency.$']).toBe("States.StringToJson('${MapMaxConcurrency}')");
    expect(params['toleratedFailurePercentage.$']).toBe("States.StringToJson('${ToleratedFailurePercentage}')");
    expect(params['itemsPerBatch.$']).toBe("States.StringToJson('${DetectItemsPerBatch}')");
  });

  it('routes every failure of the work states to a failure notification and a Fail state', () => {
    for (const name of ['ValidateBatch', 'DetectImages', 'Summarize']) {
      const last = inference.States[name].Catch.at(-1);
      expect(last, name).toEqual({ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'NotifyFailure' });
    }
    expect(inference.States.NotifyFailure.Parameters.Payload.kind).toBe('batch.failed');
    expect(inference.States.NotifyFailure.Next).toBe('BatchFailed');
    expect(inference.States.BatchFailed.Type).toBe('Fail');
  });
});

describe('training.asl.json structure', () => {
  it('uses exactly the documented substitutions', () => {
    expect(substitutionsOf(training)).toEqual([
      'CheckDatasetFunctionArn',
      'DataBucket',
      'NotifyFunctionArn',
      'PromoteModelFunctionArn',
      'RegisterModelFunctionArn',
      'SageMakerRoleArn',
      'SplitDatasetFunctionArn',
      'TrainingImageUri',
      'TrainingInstanceType',
      'TrainingMaxRuntimeSeconds',
      'TrainingMaxWaitSeconds',
      'TrainingVolumeSizeGb',
    ]);
  });

  it('stops early with a clear status when the dataset did not change', () => {
    const choice = training.States.DatasetChanged;
    expect(training.States.CheckDataset.Next).toBe('DatasetChanged');
    expect(choice.Choices[0]).toMatchObject({ Variable: '$.changed', BooleanEquals: true, Next: 'SplitDataset' });
    expect(choice.Default).toBe('NothingChanged');
    expect(training.States.NothingChanged.Parameters.status).toBe('unchanged');
    expect(training.States.NothingChanged.Next).toBe('TrainingSkipped');
    expect(training.States.TrainingSkipped.Type).toBe('Succeed');
  });

  it('trains on SageMaker with managed spot, checkpoints and the trainer log line metrics', () => {
    const train = training.States.Train;
    expect(train.Resource).toBe('arn:aws:states:::sagemaker:createTrainingJob.sync');
    const p = train.Parameters;
    expect(p.EnableManagedSpotTraining).toBe(true);
    expect(p.CheckpointConfig).toEqual({ 'S3Uri.$': '$.split.Payload.checkpointUri', LocalPath: '/opt/ml/checkpoints' });
    expect(p.StoppingCondition['MaxRuntimeInSeconds.$']).toContain('${TrainingMaxRuntimeSeconds}');
    expect(p.StoppingCondition['MaxWaitTimeInSeconds.$']).toContain('${TrainingMaxWaitSeconds}');
    expect(p.ResourceConfig.InstanceType).toBe('${TrainingInstanceType}');
    expect(p.AlgorithmSpecification.TrainingImage).toBe('${TrainingImageUri}');
    expect(p.RoleArn).toBe('${SageMakerRoleArn}');

    // The regexes must pull the numbers out of the trainer's per-epoch line (team brief).
    const line = 'epoch=3 train_loss=0.1234 val_ap50=0.8100 val_f1=0.7700 lr=0.001000 epoch_time_s=12.3';
    const values = Object.fromEntries(
      (p.AlgorithmSpecification.MetricDefinitions as Array<{ Name: string; Regex: string }>).map((m) => [
        m.Name,
        Number(new RegExp(m.Regex).exec(line)?.[1]),
      ]),
    );
    expect(values).toEqual({
      epoch: 3,
      train_loss: 0.1234,
      val_ap50: 0.81,
      val_f1: 0.77,
      learning_rate: 0.001,
      epoch_time_s: 12.3,
    });
  });

  it('registers, promotes and notifies promoted or rejected', () => {
    const s = training.States;
    expect(s.Train.Next).toBe('RegisterModel');
    expect(s.RegisterModel.Next).toBe('PromoteModel');
    expect(s.PromoteModel.Next).toBe('IsPromoted');
    expect(s.IsPromoted.Choices[0]).toMatchObject({ Variable: '$.promotion.Payload.promoted', BooleanEquals: true, Next: 'NotifyPromoted' });
    expect(s.IsPromoted.Default).toBe('NotifyRejected');
    expect(s.NotifyPromoted.Parameters.Payload.kind).toBe('model.promoted');
    expect(s.NotifyRejected.Parameters.Payload.kind).toBe('model.rejected');
    expect([s.NotifyPromoted.Next, s.Promoted.Parameters.status, s.Promoted.Next, s[s.Promoted.Next].Type]).toEqual(['Promoted', 'promoted', 'ModelPromoted', 'Succeed']);
    expect([s.NotifyRejected.Next, s.Rejected.Parameters.status, s.Rejected.Next, s[s.Rejected.Next].Type]).toEqual(['Rejected', 'rejected', 'ModelRejected', 'Succeed']);
    for (const name of ['CheckDataset', 'SplitDataset', 'Train', 'RegisterModel', 'PromoteModel']) {
      expect(s[name].Catch[0].Next, name).toBe('NotifyTrainingFailed');
    }
  });
});
