import { describe, expect, it } from 'vitest';
import { stackPropsFromContext } from '../../infra/context.js';

const from = (ctx: Record<string, unknown>) => stackPropsFromContext((key) => ctx[key]);

describe('stackPropsFromContext', () => {
  it('leaves everything at the stack defaults when no context is given', () => {
    expect(Object.values(from({})).every((v) => v === undefined)).toBe(true);
  });

  it('parses command-line strings and cdk.json values alike', () => {
    const props = from({
      notificationEmail: 'a@b.org, c@d.org',
      useKmsKey: 'true',
      mapMaxConcurrency: '200',
      detectItemsPerBatch: 4,
      trainingScheduleEnabled: false,
      trainingMaxRuntimeHours: '1.5',
      trainingHyperparameters: '{"epochs":"80"}',
      trainingDataset: 'visn',
    });
    expect(props).toMatchObject({
      notificationEmails: ['a@b.org', 'c@d.org'],
      useKmsKey: true,
      mapMaxConcurrency: 200,
      detectItemsPerBatch: 4,
      trainingScheduleEnabled: false,
      trainingHyperparameters: { epochs: '80' },
      trainingDataset: 'visn',
    });
    expect(props.trainingMaxRuntime?.toMinutes()).toBe(90);
    expect(from({ trainingHyperparameters: { lr: '0.001' } }).trainingHyperparameters).toEqual({ lr: '0.001' });
  });

  it.each([
    [{ mapMaxConcurrency: 'fifty' }, /context mapMaxConcurrency must be a number, got "fifty"/],
    [{ useKmsKey: 'yes' }, /context useKmsKey must be true or false, got "yes"/],
    [{ trainingHyperparameters: '{epochs: 80}' }, /context trainingHyperparameters must be a JSON object of strings, got "\{epochs: 80\}"/],
    [{ trainingHyperparameters: '{"epochs": 80}' }, /must be a JSON object of strings/],
  ])('rejects %j quoting the value', (ctx, message) => {
    expect(() => from(ctx)).toThrow(message);
  });
});
