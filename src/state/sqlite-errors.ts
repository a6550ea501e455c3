import { SluiceError, StateError } from "../errors.js";

/**
 * The one place that reads what better-sqlite3 threw, for the SQLite system database (state,
 * locks, run history). Its `SqliteError`s carry SQLite's result code as text (`SQLITE_BUSY`,
 * or an extended one such as `SQLITE_BUSY_SNAPSHOT`, `SQLITE_LOCKED_SHAREDCACHE`).
 *
 * Transient: `SQLITE_BUSY*` (another process held the write lock longer than the busy timeout)
 * and `SQLITE_LOCKED*` (a conflict inside one process's connections); the other holder finishes
 * and a later try gets through. Everything else is terminal: a full disk (`SQLITE_FULL`), a file
 * that cannot be opened or written (`SQLITE_CANTOPEN`, `SQLITE_READONLY`, `SQLITE_IOERR*`), a
 * corrupt one (`SQLITE_CORRUPT`, `SQLITE_NOTADB`), a constraint.
 */
export function isTransientSqliteError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^SQLITE_(BUSY|LOCKED)(_|$)/.test(code);
}

/**
 * The StateError for a SQLite failure; `failed` says what could not be done, where
 * (`could not store the state of "x" in the system database at /p/.sluice/sluice.db`).
 * Our own errors pass through as they are.
 */
export function sqliteStateError(error: unknown, failed: string): SluiceError {
  if (error instanceof SluiceError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const transient = isTransientSqliteError(error);
  const code = (error as { code?: unknown } | null)?.code;
  return new StateError(
    `${failed}: ${message}${transient ? ` (${String(code)}: another process was writing it; a retry succeeds once it is done)` : ""}`,
    { cause: error, transient },
  );
}
