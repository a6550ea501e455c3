import { resolve } from "node:path";
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
