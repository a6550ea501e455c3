import { randomUUID } from "node:crypto";
import { waitForLock, type LockHolder } from "./lock-holder.js";
import { currentProcess, isProcessGone } from "./process-identity.js";
import type { LockOptions } from "./state-store.js";

/**
 * A lock kept as a record (a SQLite row, a lock file) rather than by a live session: the holder
 * refreshes `heartbeatAt` while it runs, and a record whose process is gone or whose heartbeat
 * stopped is stale and may be taken over.
 */
export interface LockRecord extends LockHolder {
  /** Unique per acquisition, so a holder only refreshes or removes its own record. */
  token: string;
  heartbeatAt: Date;
}

export interface LockTiming {
  /** How often a holder refreshes its heartbeat. Default 5 s. */
  heartbeatMs: number;
  /** A heartbeat older than this marks the lock stale. Default 60 s. */
  staleAfterMs: number;
}

export const DEFAULT_LOCK_TIMING: LockTiming = { heartbeatMs: 5_000, staleAfterMs: 60_000 };

export function lockTiming(overrides: Partial<LockTiming> | undefined): LockTiming {
  return { ...DEFAULT_LOCK_TIMING, ...overrides };
}

export function isLockStale(record: LockRecord, staleAfterMs: number, now: Date = new Date()): boolean {
  return isProcessGone(record) || now.getTime() - record.heartbeatAt.getTime() > staleAfterMs;
}

/** The storage side of a recorded lock; each method must be atomic against other processes. */
export interface RecordedLockTable {
  /** Writes `candidate` unless a lock that is not stale exists; returns that holder if so. */
  tryAcquire(
    stateId: string,
    candidate: LockRecord,
    isStale: (record: LockRecord) => boolean,
  ): Promise<LockRecord | undefined>;
  /** Refreshes the heartbeat of the record with `token`, if it is still ours. */
  heartbeat(stateId: string, token: string, at: Date): Promise<void>;
  /** Removes the record with `token`, if it is still ours. */
  release(stateId: string, token: string): Promise<void>;
}

/**
 * `StateStore.withLock` for stores that keep lock records. Errors while refreshing or releasing
 * are swallowed on purpose: `fn` has already done its work (and stored its state), and a record
 * we failed to refresh or remove only goes stale and is taken over after `staleAfterMs`.
 */
export async function withRecordedLock<T>(
  table: RecordedLockTable,
  timing: LockTiming,
  stateId: string,
  fn: () => Promise<T>,
  options: LockOptions | undefined,
): Promise<T> {
  const token = await waitForLock({
    stateId,
    waitSeconds: options?.waitSeconds,
    attempt: async () => {
      const now = new Date();
      const candidate: LockRecord = {
        ...currentProcess(),
        token: randomUUID(),
        acquiredAt: now,
        heartbeatAt: now,
        ...(options?.runId === undefined ? {} : { runId: options.runId }),
      };
      const holder = await table.tryAcquire(stateId, candidate, (r) => isLockStale(r, timing.staleAfterMs));
      return holder === undefined
        ? { acquired: true as const, value: candidate.token }
        : { acquired: false as const, holder };
    },
  });
  let beating = false;
  const timer = setInterval(() => {
    if (beating) return; // a slow disk must not pile up refreshes
    beating = true;
    table
      .heartbeat(stateId, token, new Date())
      .catch(() => undefined)
      .finally(() => (beating = false));
  }, timing.heartbeatMs);
  // The heartbeat must not keep a finished CLI alive.
  timer.unref();
  try {
    return await fn();
  } finally {
    clearInterval(timer);
    await table.release(stateId, token).catch(() => undefined);
  }
}
