/**
 * Scratch typed arrays reused by length. Touching fresh memory costs page
 * faults: on the 2-core dev hosts ~3 ms per MB, more than filling a model
 * tensor or drawing an overlay. Images of a batch mostly share sizes, so a
 * few buffers per size serve them all.
 *
 * A buffer from `acquire` holds whatever its last user left: callers write
 * every element they read.
 */
export type ScratchArray = Uint8Array | Uint16Array | Float32Array;

export class BufferPool<T extends ScratchArray> {
  private readonly free = new Map<number, T[]>();

  /**
   * @param create makes a new buffer of a length (e.g. `(n) => new Float32Array(n)`)
   * @param keepPerLength buffers kept for each length once released. Default 2: the images a
   *   detect invocation has in flight.
   * @param maxLengths lengths kept at once; the longest unused goes first. Default 8 (a warm
   *   Lambda that sees many image sizes does not hoard a buffer for each).
   */
  constructor(
    private readonly create: (length: number) => T,
    private readonly keepPerLength = 2,
    private readonly maxLengths = 8,
  ) {
    if (!Number.isInteger(keepPerLength) || keepPerLength < 0) throw new RangeError(`keepPerLength must be an integer >= 0, got ${keepPerLength}`);
    if (!Number.isInteger(maxLengths) || maxLengths < 1) throw new RangeError(`maxLengths must be an integer >= 1, got ${maxLengths}`);
  }

  acquire(length: number): T {
    return this.free.get(length)?.pop() ?? this.create(length);
  }

  release(buffer: T): void {
    const free = this.free.get(buffer.length) ?? [];
    if (free.length < this.keepPerLength) free.push(buffer);
    // Re-inserted: the Map's order is least recently released first.
    this.free.delete(buffer.length);
    this.free.set(buffer.length, free);
    if (this.free.size > this.maxLengths) this.free.delete(this.free.keys().next().value!);
  }

  /** Buffers held for reuse, over all lengths. */
  get held(): number {
    let count = 0;
    for (const free of this.free.values()) count += free.length;
    return count;
  }

  /** Runs `use` with a buffer of `length`, and takes the buffer back once `use` has settled. */
  async with<R>(length: number, use: (buffer: T) => Promise<R>): Promise<R> {
    const buffer = this.acquire(length);
    try {
      return await use(buffer);
    } finally {
      this.release(buffer);
    }
  }
}
