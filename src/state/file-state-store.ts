import { randomUUID } from "node:crypto";
import { link, mkdir, open, readFile, readdir, rename, stat, unlink, utimes } from "node:fs/promises";
import { join, resolve } from "node:path";
import { StateError, messageOf } from "../errors.js";
import type { SingerState } from "../protocol/state.js";
import {
  lockTiming,
  withRecordedLock,
  type LockRecord,
  type LockTiming,
  type RecordedLockTable,
} from "./recorded-lock.js";
import { filterStateIds } from "./state-id-pattern.js";
import type { LockOptions, StateStore } from "./state-store.js";
import { parseStoredState, serializeState } from "./stored-state.js";

export interface FileStateStoreOptions {
  /** The folder of state files, created if missing. */
  dir: string;
  lockTiming?: Partial<LockTiming>;
}

const STATE_SUFFIX = ".json";
const LOCK_SUFFIX = ".lock";

/**
 * The file name of a state id: reversible (for `list`) and safe on every file system.
 * encodeURIComponent leaves `*` (invalid on Windows) and a leading `.` (hidden, and our temp
 * files start with one), so those are escaped too.
 */
export function stateFileName(stateId: string): string {
  return encodeURIComponent(stateId).replaceAll("*", "%2A").replace(/^\./, "%2E") + STATE_SUFFIX;
}

/** The state id of a file name written by `stateFileName`; undefined for any other file. */
export function stateIdOfFileName(name: string): string | undefined {
  if (!name.endsWith(STATE_SUFFIX) || name.startsWith(".")) return undefined;
  try {
    return decodeURIComponent(name.slice(0, -STATE_SUFFIX.length));
  } catch {
    return undefined;
  }
}

/**
 * State as one JSON file per state id in a folder (`state_backend: file:///path`), holding the
 * Singer state exactly as `sluice state export` prints it, so the files can be read and edited by
 * hand. `updatedAt` is the file's modification time. A lock is a `<name>.lock` file beside the
 * state, created atomically (hard link of a complete temp file); its mtime is the heartbeat.
 */
export class FileStateStore implements StateStore {
  private readonly lockTable: RecordedLockTable;

  private constructor(
    readonly dir: string,
    private readonly timing: LockTiming,
  ) {
    this.lockTable = {
      tryAcquire: (stateId, candidate, isStale) => this.tryAcquireLock(stateId, candidate, isStale),
      heartbeat: async (stateId, token, at) => {
        const path = this.lockPath(stateId);
        // Only our own lock; the window between the check and utimes at worst refreshes a
        // lock that was just taken over, which then lives a little longer.
        if ((await readLock(path))?.token === token) await utimes(path, at, at);
      },
      release: async (stateId, token) => {
        const path = this.lockPath(stateId);
        if ((await readLock(path))?.token === token) await unlinkIfPresent(path);
      },
    };
  }

  static async open(options: FileStateStoreOptions): Promise<FileStateStore> {
    const dir = resolve(options.dir);
    try {
      await mkdir(dir, { recursive: true });
    } catch (error) {
      throw new StateError(`could not create the state folder ${dir}: ${messageOf(error)}`, { cause: error });
    }
    return new FileStateStore(dir, lockTiming(options.lockTiming));
  }

  async get(stateId: string): Promise<SingerState | undefined> {
    const path = this.statePath(stateId);
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (error) {
      if (isErrno(error, "ENOENT")) return undefined;
      throw new StateError(`could not read the state of "${stateId}" from ${path}: ${messageOf(error)}`, {
        cause: error,
      });
    }
    return parseStoredState(stateId, text, path);
  }

  async set(stateId: string, state: SingerState): Promise<void> {
    const json = serializeState(stateId, state);
    const path = this.statePath(stateId);
    const temp = join(this.dir, `.${randomUUID()}.tmp`);
    try {
      // Write aside, fsync, rename over, fsync the folder: a crash leaves the old file or the
      // new one, never a torn one, and the rename itself survives a power loss.
      const file = await open(temp, "w");
      try {
        await file.writeFile(`${json}\n`, "utf8");
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(temp, path);
      await syncDir(this.dir);
    } catch (error) {
      await unlinkIfPresent(temp).catch(() => undefined);
      throw new StateError(`could not store the state of "${stateId}" in ${path}: ${messageOf(error)}`, {
        cause: error,
      });
    }
  }

  async clear(stateId: string): Promise<boolean> {
    const path = this.statePath(stateId);
    try {
      const existed = await unlinkIfPresent(path);
      if (existed) await syncDir(this.dir);
      return existed;
    } catch (error) {
      throw new StateError(`could not clear the state of "${stateId}" in ${path}: ${messageOf(error)}`, {
        cause: error,
      });
    }
  }

  async list(pattern?: string): Promise<{ stateId: string; updatedAt: Date }[]> {
    try {
      const entries: { stateId: string; updatedAt: Date }[] = [];
      for (const name of await readdir(this.dir)) {
        const stateId = stateIdOfFileName(name);
        if (stateId === undefined) continue;
        try {
          entries.push({ stateId, updatedAt: (await stat(join(this.dir, name))).mtime });
        } catch (error) {
          if (!isErrno(error, "ENOENT")) throw error; // cleared while we listed
        }
      }
      return filterStateIds(entries, pattern);
    } catch (error) {
      throw new StateError(`could not list the state folder ${this.dir}: ${messageOf(error)}`, {
        cause: error,
      });
    }
  }

  withLock<T>(stateId: string, fn: () => Promise<T>, options?: LockOptions): Promise<T> {
    return withRecordedLock(this.lockTable, this.timing, stateId, fn, options);
  }

  async close(): Promise<void> {
    // Nothing is held open between calls.
  }

  private statePath(stateId: string): string {
    return join(this.dir, stateFileName(stateId));
  }

  /** The lock file of a state id (exported shape for tests: `<state file name minus .json>.lock`). */
  lockPath(stateId: string): string {
    return this.statePath(stateId).slice(0, -STATE_SUFFIX.length) + LOCK_SUFFIX;
  }

  private async tryAcquireLock(
    stateId: string,
    candidate: LockRecord,
    isStale: (record: LockRecord) => boolean,
  ): Promise<LockRecord | undefined> {
    const path = this.lockPath(stateId);
    try {
      // A few rounds: each lost race (released, taken over meanwhile) just means look again.
      let lastHolder: LockRecord | undefined;
      for (let round = 0; round < 5; round++) {
        if (await createExclusive(path, candidate, this.dir)) return undefined;
        const holder = await readLock(path);
        if (holder === undefined) continue; // released between our attempts
        if (!isStale(holder)) return holder;
        lastHolder = holder;
        // Take over: move the stale lock aside (only one racer wins the rename), check that what
        // we moved is the stale lock we judged, and put it back if someone replaced it meanwhile.
        const aside = `${path}.${randomUUID()}.stale`;
        try {
          await rename(path, aside);
        } catch (error) {
          if (isErrno(error, "ENOENT")) continue;
          throw error;
        }
        const moved = await readLock(aside);
        if (moved?.token !== holder.token) await link(aside, path).catch(() => undefined);
        await unlinkIfPresent(aside);
      }
      // Still racing after several rounds: report it as held (the caller may wait and retry).
      return (await readLock(path)) ?? lastHolder ?? { ...candidate, pid: 0, hostname: "unknown", token: "" };
    } catch (error) {
      throw new StateError(`could not lock state id "${stateId}" with ${path}: ${messageOf(error)}`, {
        cause: error,
      });
    }
  }
}

/** Creates the lock file with its whole content at once (hard link fails if it exists). */
async function createExclusive(path: string, record: LockRecord, dir: string): Promise<boolean> {
  const temp = join(dir, `.${randomUUID()}.tmp`);
  const body = JSON.stringify({
    token: record.token,
    pid: record.pid,
    hostname: record.hostname,
    runId: record.runId,
    acquiredAt: record.acquiredAt.toISOString(),
  });
  const file = await open(temp, "w");
  try {
    await file.writeFile(body, "utf8");
  } finally {
    await file.close();
  }
  try {
    await link(temp, path);
    return true;
  } catch (error) {
    if (isErrno(error, "EEXIST")) return false;
    throw error;
  } finally {
    await unlinkIfPresent(temp);
  }
}

/** The lock record in `path` (heartbeat = mtime), or undefined when there is no lock file. */
async function readLock(path: string): Promise<LockRecord | undefined> {
  try {
    const [info, text] = await Promise.all([stat(path), readFile(path, "utf8")]);
    const value = parseLockFile(text);
    return {
      token: typeof value.token === "string" ? value.token : "",
      // A lock file we cannot read names no process: only its heartbeat can make it stale.
      pid: typeof value.pid === "number" ? value.pid : 0,
      hostname: typeof value.hostname === "string" ? value.hostname : "unknown",
      acquiredAt: typeof value.acquiredAt === "string" ? new Date(value.acquiredAt) : info.mtime,
      heartbeatAt: info.mtime,
      ...(typeof value.runId === "string" ? { runId: value.runId } : {}),
    };
  } catch (error) {
    if (isErrno(error, "ENOENT")) return undefined;
    throw error;
  }
}

function parseLockFile(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function unlinkIfPresent(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (error) {
    if (isErrno(error, "ENOENT")) return false;
    throw error;
  }
}

function isErrno(error: unknown, code: string): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === code;
}
