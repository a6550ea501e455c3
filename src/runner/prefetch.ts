/**
 * Pulls up to `depth` items ahead of the consumer, so the extractor spools the next batches
 * while the loader loads this one. Bounded: at most `depth` items wait, then the source pauses.
 */
export async function* prefetch<T>(source: AsyncIterable<T>, depth: number): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  const pending: Promise<IteratorResult<T>>[] = [];
  const pull = (): void => {
    const next = iterator.next();
    // A rejection is read when its turn comes; until then it must not count as unhandled.
    next.catch(() => undefined);
    pending.push(next);
  };
  let done = false;
  try {
    for (let i = 0; i < depth; i++) pull();
    for (;;) {
      const result = await pending.shift()!;
      if (result.done) {
        done = true;
        return;
      }
      pull();
      yield result.value;
    }
  } finally {
    if (!done) {
      // Let queued pulls settle, then close the source (its finally blocks release connections).
      await Promise.allSettled(pending);
      await iterator.return?.(undefined);
    }
  }
}
