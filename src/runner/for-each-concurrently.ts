import { PipelineError } from "../errors.js";

/**
 * Runs `work` for every item, at most `limit` at a time, in order of the items. The first
 * failure aborts the signal the others got and is thrown once every started one has settled
 * (so no stream is left loading while the run reports its end). A stop of `outer` is a failure.
 */
export async function forEachConcurrently<T>(
  items: readonly T[],
  limit: number,
  outer: AbortSignal | undefined,
  work: (item: T, signal: AbortSignal) => Promise<void>,
): Promise<void> {
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  outer?.addEventListener("abort", stop, { once: true });
  if (outer?.aborted) controller.abort();
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (next < items.length && !failure) {
      if (controller.signal.aborted) {
        failure ??= { error: new PipelineError("the run was stopped before it finished") };
        return;
      }
      const item = items[next++]!;
      try {
        await work(item, controller.signal);
      } catch (error) {
        failure ??= { error };
        controller.abort();
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  } finally {
    outer?.removeEventListener("abort", stop);
  }
  if (failure) throw failure.error;
}
