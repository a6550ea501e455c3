import { ConfigError, StateError } from "../errors.js";
import type { ProcessIdentity } from "./process-identity.js";

/** What a store knows about the current holder of a state lock, to name it in a refusal. */
export interface LockHolder extends ProcessIdentity {
  runId?: string;
  acquiredAt: Date;
  heartbeatAt?: Date;
}

export function describeLockHolder(holder: LockHolder, now: Date = new Date()): string {
  const who = holder.runId === undefined ? "a run" : `run ${holder.runId}`;
  const beat =
    holder.heartbeatAt === undefined
      ? ""
      : `, last heartbeat ${Math.max(0, Math.round((now.getTime() - holder.heartbeatAt.getTime()) / 1000))} s ago`;
  return `${who} (pid ${holder.pid} on host ${holder.hostname}, since ${holder.acquiredAt.toISOString()}${beat})`;
}

export function lockRefusedError(
  stateId: string,
  holder: LockHolder | undefined,
  waitSeconds: number,
): StateError {
  const who = holder === undefined ? "another session" : describeLockHolder(holder);
  const waited = waitSeconds > 0 ? ` after waiting ${waitSeconds} s` : "";
  // Transient: the holder ends (or dies, and its lock with it), and a later try gets the lock.
  return new StateError(
    `state id "${stateId}" is locked by ${who}; gave up${waited}. Runs of one state id never overlap: ` +
      `wait for that run to end, or wait longer for the lock.`,
    { transient: true },
  );
}

export type LockAttempt<T> =
  { acquired: true; value: T } | { acquired: false; holder: LockHolder | undefined };

const POLL_MS = 200;

/**
 * Calls `attempt` until it acquires the lock or `waitSeconds` have passed (one attempt when 0),
 * then throws the refusal naming the last holder seen.
 */
export async function waitForLock<T>(options: {
  stateId: string;
  waitSeconds: number | undefined;
  attempt: () => Promise<LockAttempt<T>>;
}): Promise<T> {
  const waitSeconds = options.waitSeconds ?? 0;
  if (!Number.isFinite(waitSeconds) || waitSeconds < 0) {
    throw new ConfigError(`the lock wait must be a number of seconds >= 0, got ${waitSeconds}`);
  }
  const deadline = Date.now() + waitSeconds * 1000;
  for (;;) {
    const result = await options.attempt();
    if (result.acquired) return result.value;
    const left = deadline - Date.now();
    if (left <= 0) throw lockRefusedError(options.stateId, result.holder, waitSeconds);
    await new Promise((resolve) => setTimeout(resolve, Math.min(POLL_MS, left)));
  }
}
