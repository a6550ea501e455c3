import { ConfigError, StateError, isTransient } from "../errors.js";
import type { ProjectFile } from "../project/project-file.js";

/**
 * How a run retries a transient failure (see `errors.ts`) before it gives up and exits 75: at
 * most `maxRetries` times, waiting `firstDelayMs` before the first retry and twice as long
 * before each next one (at most `maxDelayMs`), give or take a fifth so that pipelines failing
 * together do not come back together.
 */
export interface RetryPolicy {
  maxRetries: number;
  firstDelayMs: number;
  maxDelayMs: number;
}

/**
 * 5 retries, 5 s then doubling: about two and a half minutes, which a server restart or a
 * managed database's failover (typically one to two minutes) fits in. Longer outages are the
 * orchestrator's to retry (exit 75).
 */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxRetries: 5,
  firstDelayMs: 5_000,
  maxDelayMs: 5 * 60_000,
};

/** No retries: the first transient failure ends the run (with exit 75). */
export const NO_RETRIES: RetryPolicy = { ...DEFAULT_RETRY_POLICY, maxRetries: 0 };

/**
 * The project's policy: `max_retries` and `retry_delay_seconds` of the project file, else the
 * defaults; `maxRetries` (the `--max-retries` option) wins over the file.
 */
export function retryPolicyOf(project: ProjectFile, override: { maxRetries?: number } = {}): RetryPolicy {
  const maxRetries = override.maxRetries ?? project.max_retries ?? DEFAULT_RETRY_POLICY.maxRetries;
  if (!Number.isInteger(maxRetries) || maxRetries < 0) {
    throw new ConfigError(`--max-retries: expected a whole number, 0 or more, got ${maxRetries}`);
  }
  return {
    ...DEFAULT_RETRY_POLICY,
    maxRetries,
    ...(project.retry_delay_seconds !== undefined
      ? { firstDelayMs: project.retry_delay_seconds * 1000 }
      : {}),
  };
}

/** The wait before retry number `retry` (1 for the first). */
export function retryDelayMs(policy: RetryPolicy, retry: number): number {
  const delay = Math.min(policy.maxDelayMs, policy.firstDelayMs * 2 ** Math.max(0, retry - 1));
  return Math.round(delay * (0.8 + Math.random() * 0.4));
}

/**
 * Whether the runner may retry `error` within the run: a transient error, but not the state
 * store's. The run's lock lives in the state store, and a store that went away may have dropped
 * it with its session (PostgreSQL's advisory lock): going on could write over another run's
 * state. Those end the run with exit 75, and the next run takes the lock again.
 */
export function retriableInRun(error: unknown): boolean {
  return isTransient(error) && !(error instanceof StateError);
}

/**
 * Waits `ms`, or less when `signal` aborts (SIGTERM during a wait stops the run at once, as it
 * would between two batches). True when the whole wait passed.
 */
export function waitBeforeRetry(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (passed: boolean): void => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", stop);
      resolve(passed);
    };
    const stop = (): void => done(false);
    const timer = setTimeout(() => done(true), ms);
    signal?.addEventListener("abort", stop, { once: true });
  });
}
