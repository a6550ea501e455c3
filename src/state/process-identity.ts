import { hostname } from "node:os";

/** The process that holds a lock or runs a pipeline, as far as another process can check it. */
export interface ProcessIdentity {
  pid: number;
  hostname: string;
}

export function currentProcess(): ProcessIdentity {
  return { pid: process.pid, hostname: hostname() };
}

/**
 * True only when we can tell for sure that the process is gone: it ran on this host and its pid
 * no longer exists. A pid on another host cannot be checked from here, so it counts as alive
 * (its lock then goes stale by heartbeat instead).
 */
export function isProcessGone(owner: ProcessIdentity): boolean {
  if (owner.hostname !== hostname() || owner.pid === process.pid) return false;
  // NOTE: kill(0 or negative pid) signals a whole process group; never probe those.
  if (!Number.isSafeInteger(owner.pid) || owner.pid <= 0) return false;
  try {
    process.kill(owner.pid, 0);
    return false;
  } catch (error) {
    // EPERM means the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}
