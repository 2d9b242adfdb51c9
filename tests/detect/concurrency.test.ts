import { describe, expect, it } from 'vitest';
import { mapWithConcurrency } from '../../lambdas/shared/concurrency.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('mapWithConcurrency', () => {
  it('keeps order and never exceeds the limit', async () => {
    let inFlight = 0;
    let peak = 0;
    const out = await mapWithConcurrency([5, 1, 4, 2, 3], 2, async (v) => {
      peak = Math.max(peak, ++inFlight);
      await sleep(v * 2);
      inFlight--;
      return v * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30]);
    expect(peak).toBe(2);
  });

  it('starts nothing new after a failure and rejects only when the others have settled', async () => {
    const started: number[] = [];
    const finished: number[] = [];
    const run = mapWithConcurrency([0, 1, 2, 3], 2, async (v) => {
      started.push(v);
      if (v === 0) throw new Error('boom');
      await sleep(20);
      finished.push(v);
      return v;
    });
    await expect(run).rejects.toThrow('boom');
    expect(started).toEqual([0, 1]);
    expect(finished).toEqual([1]);
    await expect(mapWithConcurrency([], 0, async () => 1)).rejects.toThrow(/positive integer/);
  });
});
