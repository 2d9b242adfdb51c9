import type * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { exclusiveRun } from '../../lambdas/detect/model-turns.js';

const session = () => ({}) as ort.InferenceSession;
const tick = () => new Promise((resolve) => setTimeout(resolve, 1));

describe('exclusiveRun', () => {
  it('runs one call at a time and gives the next turn to the lowest priority, then to arrival order', async () => {
    const s = session();
    const order: string[] = [];
    let running = 0;
    const call = (name: string, priority: number) =>
      exclusiveRun(
        s,
        async () => {
          running++;
          expect(running).toBe(1);
          order.push(name);
          await tick();
          running--;
          return name;
        },
        priority,
      );
    // Image 0's first tile holds the model while image 1 and image 0's later tiles queue up.
    const calls = [call('img0-tile0', 0), call('img1-tile0', 1), call('img0-tile1', 0), call('img1-tile1', 1), call('img0-tile2', 0)];
    expect(await Promise.all(calls)).toEqual(['img0-tile0', 'img1-tile0', 'img0-tile1', 'img1-tile1', 'img0-tile2']);
    expect(order).toEqual(['img0-tile0', 'img0-tile1', 'img0-tile2', 'img1-tile0', 'img1-tile1']);
  });

  it('passes the turn on when a run fails, and keeps sessions independent', async () => {
    const a = session();
    const b = session();
    const failing = exclusiveRun(a, async () => {
      await tick();
      throw new Error('boom');
    });
    const after = exclusiveRun(a, async () => 'next');
    let otherStarted = false;
    const other = exclusiveRun(b, async () => {
      otherStarted = true;
    });
    await other;
    expect(otherStarted).toBe(true);
    await expect(failing).rejects.toThrow('boom');
    await expect(after).resolves.toBe('next');
  });
});
