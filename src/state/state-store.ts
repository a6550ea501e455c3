import type { SingerState } from "../protocol/state.js";

/** How long `withLock` may wait, and what it records about the holder. */
export interface LockOptions {
  /** Seconds to wait for another holder to release the lock before giving up. Default 0: refuse at once. */
  waitSeconds?: number;
  /** The run holding the lock, recorded so a refused run can name it. */
  runId?: string;
}

/**
 * Where the Singer state of each pipeline (state id `<environment>:<extractor>-to-<loader>`) is
 * kept between runs. The runner calls `set` only after the loader made every batch before that
 * state durable, so a state that was stored is never ahead of the warehouse.
 * Every failure is a `StateError`; the stored state is left as it was.
 */
export interface StateStore {
  /** The last state stored for `stateId`, or undefined when there is none. Unknown fields are kept. */
  get(stateId: string): Promise<SingerState | undefined>;
  /**
   * Replaces the state of `stateId`. Durable when it resolves (SQLite: synchronous=FULL in WAL
   * mode; PostgreSQL: committed; file: temp file + fsync + rename + fsync of the folder).
   */
  set(stateId: string, state: SingerState): Promise<void>;
  /** Removes the state of `stateId`; false when there was none. */
  clear(stateId: string): Promise<boolean>;
  /** State ids with their last update, sorted by id. `pattern` is a glob where `*` matches any text. */
  list(pattern?: string): Promise<{ stateId: string; updatedAt: Date }[]>;
  /**
   * Runs `fn` while holding the exclusive lock of `stateId`, so two runs of one pipeline never
   * overlap. A second holder waits up to `waitSeconds` (default 0), then throws a `StateError`
   * naming the run that holds it (run id, pid, host, since when). A lock left by a process that
   * died (SIGKILL, a lost machine) does not block forever: PostgreSQL drops it with the session;
   * the SQLite and file stores take it over when its pid is gone from this host or its heartbeat
   * is older than 60 s. The lock is released when `fn` settles, and `fn`'s error is rethrown.
   */
  withLock<T>(stateId: string, fn: () => Promise<T>, options?: LockOptions): Promise<T>;
  /** Releases connections and files. Locks held by running `withLock` calls are not waited for. */
  close(): Promise<void>;
}
