/**
 * Yields the items of several async iterators as each becomes ready, pulling at most one item
 * ahead per source, so a slow consumer pauses every source (backpressure, not buffering). The
 * first failure is thrown after `stop` was called (so the sources can end their work early) and
 * every source has settled and been closed.
 */
export async function* mergeConcurrently<T>(
  sources: AsyncIterator<T>[],
  stop: () => void = () => undefined,
): AsyncGenerator<T, void, undefined> {
  const pending = new Map<number, Promise<{ index: number; result: IteratorResult<T> }>>();
  const pull = (index: number): void => {
    const next = sources[index]!.next().then((result) => ({ index, result }));
    // Read when raced; a rejection must not count as unhandled while another is awaited.
    next.catch(() => undefined);
    pending.set(index, next);
  };
  sources.forEach((_, index) => pull(index));
  let complete = false;
  try {
    while (pending.size > 0) {
      const { index, result } = await Promise.race(pending.values());
      if (result.done) {
        pending.delete(index);
        continue;
      }
      pull(index);
      yield result.value;
    }
    complete = true;
  } finally {
    if (!complete) {
      stop();
      await Promise.allSettled(pending.values());
      await Promise.allSettled(sources.map((source) => source.return?.()));
    }
  }
}
