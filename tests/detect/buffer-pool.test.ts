import { describe, expect, it } from 'vitest';
import { BufferPool } from '../../lambdas/detect/buffer-pool.js';

describe('BufferPool', () => {
  it('hands a released buffer back for the same length, and a new one for another length', () => {
    const pool = new BufferPool((n) => new Float32Array(n));
    const a = pool.acquire(16);
    pool.release(a);
    expect(pool.acquire(16)).toBe(a);
    expect(pool.acquire(16)).not.toBe(a);
    expect(pool.acquire(32)).toHaveLength(32);
  });

  it('keeps at most keepPerLength buffers a length and maxLengths lengths, dropping the least recently released', () => {
    const pool = new BufferPool((n) => new Uint8Array(n), 2, 2);
    const [a, b, c] = [pool.acquire(8), pool.acquire(8), pool.acquire(8)];
    for (const x of [a, b, c]) pool.release(x);
    expect(pool.held).toBe(2);
    pool.release(pool.acquire(4));
    pool.release(pool.acquire(2)); // a third length: the 8s go
    expect(pool.held).toBe(2);
    const eight = pool.acquire(8);
    expect([a, b, c]).not.toContain(eight);
    expect(() => new BufferPool((n) => new Uint8Array(n), -1)).toThrow(/keepPerLength must be an integer >= 0, got -1/);
    expect(() => new BufferPool((n) => new Uint8Array(n), 2, 0)).toThrow(/maxLengths must be an integer >= 1, got 0/);
  });

  it('takes the buffer back after use, also when use fails', async () => {
    const pool = new BufferPool((n) => new Uint16Array(n));
    let used: Uint16Array | undefined;
    await expect(
      pool.with(10, async (buffer) => {
        used = buffer;
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(pool.acquire(10)).toBe(used);
    expect(await pool.with(10, async (buffer) => buffer.length)).toBe(10);
  });
});
