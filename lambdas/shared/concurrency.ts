/**
 * Bounded concurrency, the two ways exodetect needs it. `mapWithConcurrency`
 * (fail fast, results in input order) for a known list; `mapOrdered` for a
 * stream whose results are consumed as they come, in input order.
 *
 * Maps over items with at most `limit` promises in flight; results keep the
 * input order. After the first failure no new item starts, and the call
 * rejects only once the items in flight have settled, so nothing keeps
 * running after the caller has moved on (or the Lambda has returned).
 */
export async function mapWithConcurrency<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`concurrency limit must be a positive integer, got ${limit}`);
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (next < items.length && !failure) {
      const index = next++;
      try {
        results[index] = await fn(items[index]!, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
  return results;
}

/**
 * Applies `fn` to each item with at most `concurrency` calls in flight and
 * yields the results in input order. A rejection surfaces, in order, from
 * the iterator.
 */
export async function* mapOrdered<T, R>(source: AsyncIterable<T> | Iterable<T>, concurrency: number, fn: (item: T) => Promise<R>): AsyncGenerator<R> {
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
  const queue: Promise<R>[] = [];
  for await (const item of source) {
    const pending = fn(item);
    pending.catch(() => undefined); // awaited below, in order; avoid an early unhandled rejection
    queue.push(pending);
    if (queue.length >= concurrency) yield await queue.shift()!;
  }
  while (queue.length > 0) yield await queue.shift()!;
}
