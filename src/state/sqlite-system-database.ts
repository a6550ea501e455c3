import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { ConfigError, StateError } from "../errors.js";
import type { SingerState } from "../protocol/state.js";
import { currentProcess } from "./process-identity.js";
import { sqliteStateError } from "./sqlite-errors.js";
import {
  lockTiming,
  withRecordedLock,
  type LockRecord,
  type LockTiming,
  type RecordedLockTable,
} from "./recorded-lock.js";
import {
  abandonedRuns,
  checkListLimit,
  markAbandoned,
  parseRunStreams,
  ABANDONED_RUN_ERROR,
  type RunFinish,
  type RunHistory,
  type RunRecord,
  type RunStart,
  type RunStatus,
} from "./run-history.js";
import { filterStateIds } from "./state-id-pattern.js";
import type { LockOptions, StateStore } from "./state-store.js";
import type { SystemDatabase } from "./system-database.js";
import { parseStoredState, serializeState } from "./stored-state.js";

export interface SqliteSystemDatabaseOptions {
  /** The database file; missing folders are created. */
  path: string;
  /** How long a statement waits for another process's write lock. Default 5000 ms. */
  busyTimeoutMs?: number;
  lockTiming?: Partial<LockTiming>;
}

/**
 * Each migration brings the schema from `version - 1` to `version`. Never edit one that shipped:
 * add the next.
 */
const MIGRATIONS: readonly { version: number; sql: string }[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE state (
        state_id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE TABLE state_locks (
        state_id TEXT PRIMARY KEY,
        token TEXT NOT NULL,
        pid INTEGER NOT NULL,
        hostname TEXT NOT NULL,
        run_id TEXT,
        acquired_at TEXT NOT NULL,
        heartbeat_at TEXT NOT NULL
      );
      CREATE TABLE runs (
        run_id TEXT PRIMARY KEY,
        state_id TEXT NOT NULL,
        extractor TEXT NOT NULL,
        loader TEXT NOT NULL,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        status TEXT NOT NULL CHECK (status IN ('running', 'success', 'failed', 'cancelled')),
        streams TEXT NOT NULL DEFAULT '{}',
        error TEXT,
        peak_rss_bytes INTEGER,
        pid INTEGER,
        hostname TEXT
      );
      CREATE INDEX runs_by_state ON runs (state_id, started_at);
      CREATE INDEX runs_by_start ON runs (started_at);
    `,
  },
];

export const SQLITE_SCHEMA_VERSION = MIGRATIONS.length;

interface LockRow {
  token: string;
  pid: number;
  hostname: string;
  run_id: string | null;
  acquired_at: string;
  heartbeat_at: string;
}

interface RunRow {
  run_id: string;
  state_id: string;
  extractor: string;
  loader: string;
  started_at: string;
  ended_at: string | null;
  status: RunStatus;
  streams: string;
  error: string | null;
  peak_rss_bytes: number | null;
  pid: number | null;
  hostname: string | null;
}

/**
 * State, locks and run history in one SQLite file (`.sluice/sluice.db` by default). WAL mode with
 * synchronous=FULL makes each committed statement durable before it returns, and lets readers
 * (`sluice state list`) run while a pipeline writes. better-sqlite3 is synchronous; the statements
 * are small, so blocking the event loop for them is fine.
 */
export class SqliteSystemDatabase implements SystemDatabase {
  readonly stateStore: StateStore;
  readonly runHistory: RunHistory;
  private readonly lockTable: RecordedLockTable;
  private closed = false;

  private constructor(
    private readonly db: Database.Database,
    readonly path: string,
    private readonly timing: LockTiming,
  ) {
    this.stateStore = {
      get: async (stateId) => this.getState(stateId),
      set: async (stateId, state) => this.setState(stateId, state),
      clear: async (stateId) => this.clearState(stateId),
      list: async (pattern) => this.listStates(pattern),
      withLock: (stateId, fn, options) => this.withLock(stateId, fn, options),
      close: () => this.close(),
    };
    this.runHistory = {
      start: async (run) => this.startRun(run),
      finish: async (runId, outcome) => this.finishRun(runId, outcome),
      list: async (options) => this.listRuns(options),
      get: async (runId) => this.getRun(runId),
      close: () => this.close(),
    };
    this.lockTable = {
      tryAcquire: async (stateId, candidate, isStale) => this.tryAcquireLock(stateId, candidate, isStale),
      heartbeat: async (stateId, token, at) => {
        if (this.closed) return;
        this.db
          .prepare("UPDATE state_locks SET heartbeat_at = ? WHERE state_id = ? AND token = ?")
          .run(at.toISOString(), stateId, token);
      },
      release: async (stateId, token) => {
        if (this.closed) return;
        this.db.prepare("DELETE FROM state_locks WHERE state_id = ? AND token = ?").run(stateId, token);
      },
    };
  }

  static async open(options: SqliteSystemDatabaseOptions): Promise<SqliteSystemDatabase> {
    const path = resolve(options.path);
    let db: Database.Database | undefined;
    try {
      mkdirSync(dirname(path), { recursive: true });
      db = new Database(path, { timeout: options.busyTimeoutMs ?? 5_000 });
      refuseMeltanoDatabase(db, path);
      // NOTE: switching to WAL needs a moment of exclusive access; the busy timeout (set by the
      // constructor above) makes concurrent openers wait for it instead of failing with SQLITE_BUSY.
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = FULL");
      migrate(db, path);
      return new SqliteSystemDatabase(db, path, lockTiming(options.lockTiming));
    } catch (error) {
      db?.close();
      throw sqliteStateError(error, `could not open the system database at ${path}`);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  private getState(stateId: string): SingerState | undefined {
    const row = this.run(`read the state of "${stateId}"`, () =>
      this.db.prepare<[string], { state: string }>("SELECT state FROM state WHERE state_id = ?").get(stateId),
    );
    return row === undefined ? undefined : parseStoredState(stateId, row.state, this.path);
  }

  private setState(stateId: string, state: SingerState): void {
    const json = serializeState(stateId, state);
    this.run(`store the state of "${stateId}"`, () =>
      this.db
        .prepare(
          `INSERT INTO state (state_id, state, updated_at) VALUES (?, ?, ?)
           ON CONFLICT (state_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`,
        )
        .run(stateId, json, new Date().toISOString()),
    );
  }

  private clearState(stateId: string): boolean {
    const result = this.run(`clear the state of "${stateId}"`, () =>
      this.db.prepare("DELETE FROM state WHERE state_id = ?").run(stateId),
    );
    return result.changes > 0;
  }

  private listStates(pattern: string | undefined): { stateId: string; updatedAt: Date }[] {
    const rows = this.run("list state ids", () =>
      this.db
        .prepare<[], { state_id: string; updated_at: string }>("SELECT state_id, updated_at FROM state")
        .all(),
    );
    return filterStateIds(
      rows.map((r) => ({ stateId: r.state_id, updatedAt: new Date(r.updated_at) })),
      pattern,
    );
  }

  private withLock<T>(stateId: string, fn: () => Promise<T>, options: LockOptions | undefined): Promise<T> {
    return withRecordedLock(this.lockTable, this.timing, stateId, fn, options);
  }

  /** In one IMMEDIATE transaction, so two processes cannot both see the lock free. */
  private tryAcquireLock(
    stateId: string,
    candidate: LockRecord,
    isStale: (record: LockRecord) => boolean,
  ): LockRecord | undefined {
    const acquire = this.db.transaction((): LockRecord | undefined => {
      const row = this.db
        .prepare<[string], LockRow>(
          "SELECT token, pid, hostname, run_id, acquired_at, heartbeat_at FROM state_locks WHERE state_id = ?",
        )
        .get(stateId);
      if (row !== undefined) {
        const holder = lockRecordOf(row);
        if (!isStale(holder)) return holder;
      }
      this.db
        .prepare(
          `INSERT OR REPLACE INTO state_locks (state_id, token, pid, hostname, run_id, acquired_at, heartbeat_at)
           VALUES (?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          stateId,
          candidate.token,
          candidate.pid,
          candidate.hostname,
          candidate.runId ?? null,
          candidate.acquiredAt.toISOString(),
          candidate.heartbeatAt.toISOString(),
        );
      return undefined;
    });
    return this.run(`lock state id "${stateId}"`, () => acquire.immediate());
  }

  private startRun(run: RunStart): void {
    const me = currentProcess();
    this.run(`record the start of run ${run.runId}`, () =>
      this.db
        .prepare(
          `INSERT INTO runs (run_id, state_id, extractor, loader, started_at, status, pid, hostname)
           VALUES (?, ?, ?, ?, ?, 'running', ?, ?)`,
        )
        .run(
          run.runId,
          run.stateId,
          run.extractor,
          run.loader,
          run.startedAt.toISOString(),
          me.pid,
          me.hostname,
        ),
    );
  }

  private finishRun(runId: string, outcome: RunFinish): void {
    const result = this.run(`record the end of run ${runId}`, () =>
      this.db
        .prepare(
          `UPDATE runs SET status = ?, ended_at = ?, streams = ?, error = ?, peak_rss_bytes = ?
           WHERE run_id = ?`,
        )
        .run(
          outcome.status,
          outcome.endedAt.toISOString(),
          JSON.stringify(outcome.streams),
          outcome.error ?? null,
          outcome.peakRssBytes ?? null,
          runId,
        ),
    );
    if (result.changes === 0) {
      throw new StateError(`cannot record the end of run ${runId}: no such run in ${this.path}`);
    }
  }

  private listRuns(options: { stateId?: string; limit?: number } | undefined): RunRecord[] {
    const limit = checkListLimit(options?.limit) ?? -1; // SQLite: a negative LIMIT means none
    const rows = this.run("list runs", () =>
      options?.stateId === undefined
        ? this.db
            .prepare<[number], RunRow>("SELECT * FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?")
            .all(limit)
        : this.db
            .prepare<[string, number], RunRow>(
              "SELECT * FROM runs WHERE state_id = ? ORDER BY started_at DESC, rowid DESC LIMIT ?",
            )
            .all(options.stateId, limit),
    );
    return this.settleAbandoned(rows.map(runRecordOf));
  }

  private getRun(runId: string): RunRecord | undefined {
    const row = this.run(`read run ${runId}`, () =>
      this.db.prepare<[string], RunRow>("SELECT * FROM runs WHERE run_id = ?").get(runId),
    );
    return row === undefined ? undefined : this.settleAbandoned([runRecordOf(row)])[0];
  }

  private settleAbandoned(records: RunRecord[]): RunRecord[] {
    const abandoned = new Set(abandonedRuns(records).map((r) => r.runId));
    if (abandoned.size === 0) return records;
    const mark = this.db.prepare(
      "UPDATE runs SET status = 'failed', error = ? WHERE run_id = ? AND status = 'running'",
    );
    this.run("mark abandoned runs as failed", () => {
      for (const runId of abandoned) mark.run(ABANDONED_RUN_ERROR, runId);
    });
    return records.map((r) => (abandoned.has(r.runId) ? markAbandoned(r) : r));
  }

  /** Maps a driver failure to a StateError naming what we were doing and where. */
  private run<T>(action: string, fn: () => T): T {
    if (this.closed) throw new StateError(`cannot ${action}: the system database at ${this.path} is closed`);
    try {
      return fn();
    } catch (error) {
      throw sqliteStateError(error, `could not ${action} in the system database at ${this.path}`);
    }
  }
}

/**
 * A meltano.yml's `database_uri` (or MELTANO_DATABASE_URI) may name Meltano's own SQLite
 * meltano.db, whose `state` table is Meltano's. Refused before anything is changed in it (not
 * even its journal mode), saying how to keep sluice's apart and bring Meltano's states over.
 */
function refuseMeltanoDatabase(db: Database.Database, path: string): void {
  const meltano = db
    .prepare<[], { name: string }>(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'",
    )
    .get();
  const sluice = db
    .prepare<[], { name: string }>(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
    )
    .get();
  if (meltano && !sluice) {
    throw new ConfigError(
      `the system database at ${path} is Meltano's (it has Meltano's tables): sluice keeps its own. Set SLUICE_DATABASE_URI=sqlite:///.sluice/sluice.db (it wins over database_uri and MELTANO_DATABASE_URI), then bring Meltano's states over with \`sluice state import sqlite:///${path}\``,
    );
  }
}

function migrate(db: Database.Database, path: string): void {
  const apply = db.transaction(() => {
    db.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at TEXT NOT NULL)");
    const row = db
      .prepare<[], { version: number | null }>("SELECT max(version) AS version FROM schema_version")
      .get();
    const current = row?.version ?? 0;
    if (current > SQLITE_SCHEMA_VERSION) {
      throw new StateError(
        `the system database at ${path} has schema version ${current}, newer than this sluice knows ` +
          `(${SQLITE_SCHEMA_VERSION}): upgrade sluice`,
      );
    }
    for (const migration of MIGRATIONS) {
      if (migration.version <= current) continue;
      db.exec(migration.sql);
      db.prepare("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)").run(
        migration.version,
        new Date().toISOString(),
      );
    }
  });
  // IMMEDIATE: two processes opening a new database at once migrate one after the other.
  apply.immediate();
}

function lockRecordOf(row: LockRow): LockRecord {
  return {
    token: row.token,
    pid: row.pid,
    hostname: row.hostname,
    acquiredAt: new Date(row.acquired_at),
    heartbeatAt: new Date(row.heartbeat_at),
    ...(row.run_id === null ? {} : { runId: row.run_id }),
  };
}

function runRecordOf(row: RunRow): RunRecord {
  return {
    runId: row.run_id,
    stateId: row.state_id,
    extractor: row.extractor,
    loader: row.loader,
    startedAt: new Date(row.started_at),
    status: row.status,
    streams: parseRunStreams(row.run_id, row.streams),
    ...(row.ended_at === null ? {} : { endedAt: new Date(row.ended_at) }),
    ...(row.error === null ? {} : { error: row.error }),
    ...(row.peak_rss_bytes === null ? {} : { peakRssBytes: row.peak_rss_bytes }),
    ...(row.pid === null ? {} : { pid: row.pid }),
    ...(row.hostname === null ? {} : { hostname: row.hostname }),
  };
}
