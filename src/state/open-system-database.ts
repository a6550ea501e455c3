import { isAbsolute, resolve } from "node:path";
import { ConfigError } from "../errors.js";
import { FileStateStore } from "./file-state-store.js";
import { PostgresSystemDatabase } from "./postgres-system-database.js";
import type { RunHistory } from "./run-history.js";
import { SqliteSystemDatabase } from "./sqlite-system-database.js";
import type { StateStore } from "./state-store.js";
import type { SystemDatabase } from "./system-database.js";

/** Where the system database (run history, and state unless `state_backend` says otherwise) lives. */
export type SystemDatabaseTarget =
  { kind: "sqlite"; path: string } | { kind: "postgres"; url: string; schema?: string };

/** Where state lives: the system database, or a folder of JSON files. */
export type StateBackendTarget = SystemDatabaseTarget | { kind: "file"; dir: string };

/** The system database of a project when `database_uri` is not set, relative to the project folder. */
export const DEFAULT_SYSTEM_DATABASE_PATH = ".sluice/sluice.db";

export async function openSystemDatabase(target: SystemDatabaseTarget): Promise<SystemDatabase> {
  switch (target.kind) {
    case "sqlite":
      return SqliteSystemDatabase.open({ path: target.path });
    case "postgres":
      return PostgresSystemDatabase.open({
        url: target.url,
        ...(target.schema === undefined ? {} : { schema: target.schema }),
      });
  }
}

export async function openStateStore(target: StateBackendTarget): Promise<StateStore> {
  if (target.kind === "file") return FileStateStore.open({ dir: target.dir });
  return (await openSystemDatabase(target)).stateStore;
}

export async function openRunHistory(target: SystemDatabaseTarget): Promise<RunHistory> {
  return (await openSystemDatabase(target)).runHistory;
}

export interface StateAndRunHistory {
  stateStore: StateStore;
  runHistory: RunHistory;
  /** Closes both (once, when they share a database). */
  close(): Promise<void>;
}

/**
 * What a run needs: run history from `database` (`database_uri`), and state from `stateBackend`
 * (`state_backend`) or, when it is absent or the same place, from the same database and
 * connection.
 */
export async function openStateAndRunHistory(options: {
  database: SystemDatabaseTarget;
  stateBackend?: StateBackendTarget;
}): Promise<StateAndRunHistory> {
  const database = await openSystemDatabase(options.database);
  if (options.stateBackend === undefined || sameTarget(options.stateBackend, options.database)) {
    return {
      stateStore: database.stateStore,
      runHistory: database.runHistory,
      close: () => database.close(),
    };
  }
  let stateStore: StateStore;
  try {
    stateStore = await openStateStore(options.stateBackend);
  } catch (error) {
    await database.close();
    throw error;
  }
  return {
    stateStore,
    runHistory: database.runHistory,
    close: async () => {
      await Promise.all([stateStore.close(), database.close()]);
    },
  };
}

function sameTarget(a: StateBackendTarget, b: SystemDatabaseTarget): boolean {
  if (a.kind === "sqlite" && b.kind === "sqlite") return resolve(a.path) === resolve(b.path);
  if (a.kind === "postgres" && b.kind === "postgres") return a.url === b.url && a.schema === b.schema;
  return false;
}

/**
 * Reads `database_uri` / `state_backend.uri`: `postgresql://` (or `postgres://`), `sqlite:///path`
 * (SQLAlchemy style, as Meltano: relative after three slashes, absolute after four) and
 * `file:///abs/folder` or `file://relative/folder`. Relative paths are resolved from `baseDir`
 * (the project folder). The URI is never repeated in an error: it may hold a password.
 */
export function targetFromUri(uri: string, baseDir: string): StateBackendTarget {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(uri)?.[1]?.toLowerCase();
  const rest = scheme === undefined ? "" : uri.slice(scheme.length + 3);
  const path = (p: string): string => (isAbsolute(p) ? p : resolve(baseDir, p));
  switch (scheme) {
    case "postgresql":
    case "postgres":
      return { kind: "postgres", url: uri };
    case "sqlite": {
      if (!rest.startsWith("/") || rest.length < 2) {
        throw new ConfigError(
          "a sqlite URI must look like sqlite:///relative/path.db or sqlite:////absolute/path.db",
        );
      }
      return { kind: "sqlite", path: path(decodeURIComponent(rest.slice(1))) };
    }
    case "file":
      if (rest === "" || rest === "/") throw new ConfigError("a file:// state backend must name a folder");
      return { kind: "file", dir: path(decodeURIComponent(rest)) };
    default:
      throw new ConfigError(
        `unsupported system database URI scheme ${scheme === undefined ? "(none)" : `"${scheme}://"`}: ` +
          "use postgresql://, sqlite:/// or file://",
      );
  }
}

/** `targetFromUri` for `database_uri`, which cannot be a folder of files. */
export function systemDatabaseTargetFromUri(uri: string, baseDir: string): SystemDatabaseTarget {
  const target = targetFromUri(uri, baseDir);
  if (target.kind === "file") {
    throw new ConfigError(
      "database_uri cannot be a file:// folder: use it as state_backend, with sqlite or postgresql here",
    );
  }
  return target;
}
