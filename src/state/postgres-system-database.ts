import { createHash } from "node:crypto";
import pg from "pg";
import { StateError } from "../errors.js";
import type { SingerState } from "../protocol/state.js";
import {
  classifyPostgresError,
  type PostgresFailureKind,
} from "../connectors/tap-postgres/postgres-errors.js";
import { waitForLock, type LockHolder } from "./lock-holder.js";
import { currentProcess } from "./process-identity.js";
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
import { parseStoredState, serializeState } from "./stored-state.js";
import type { SystemDatabase } from "./system-database.js";

export interface PostgresSystemDatabaseOptions {
  /** `postgresql://user:password@host:port/database`; the password never appears in a message. */
  url: string;
  /** Schema holding sluice's tables, created if missing. Default `sluice`. */
  schema?: string;
  /** Connections of the pool (each `withLock` uses one more, of its own). Default 3. */
  maxConnections?: number;
  /** How long to wait for a connection before giving up. Default 10 s. */
  connectTimeoutMs?: number;
}

/** Each migration brings the schema from `version - 1` to `version`; `{schema}` is the quoted schema. */
const MIGRATIONS: readonly { version: number; sql: string }[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE {schema}.state (
        state_id text PRIMARY KEY,
        state jsonb NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE {schema}.state_locks (
        state_id text PRIMARY KEY,
        backend_pid integer NOT NULL,
        pid integer NOT NULL,
        hostname text NOT NULL,
        run_id text,
        acquired_at timestamptz NOT NULL
      );
      CREATE TABLE {schema}.runs (
        seq bigint GENERATED ALWAYS AS IDENTITY,
        run_id text PRIMARY KEY,
        state_id text NOT NULL,
        extractor text NOT NULL,
        loader text NOT NULL,
        started_at timestamptz NOT NULL,
        ended_at timestamptz,
        status text NOT NULL CHECK (status IN ('running', 'success', 'failed', 'cancelled')),
        streams jsonb NOT NULL DEFAULT '{}',
        error text,
        peak_rss_bytes bigint,
        pid integer,
        hostname text
      );
      CREATE INDEX runs_by_state ON {schema}.runs (state_id, started_at DESC);
      CREATE INDEX runs_by_start ON {schema}.runs (started_at DESC);
    `,
  },
];

export const POSTGRES_SCHEMA_VERSION = MIGRATIONS.length;

/** Serialises migrations of every sluice on this server (an arbitrary constant: "sluice" in ASCII). */
const MIGRATION_LOCK_KEY = 0x736c7569;

/**
 * The two int4 keys of the advisory lock of a state id: the first 8 bytes of a SHA-256 of the id.
 * Computed here rather than with `hashtext()` so the key does not depend on the server version.
 */
export function advisoryLockKeys(stateId: string): [number, number] {
  const digest = createHash("sha256").update(`sluice state lock\0${stateId}`).digest();
  return [digest.readInt32BE(0), digest.readInt32BE(4)];
}

interface RunRow {
  run_id: string;
  state_id: string;
  extractor: string;
  loader: string;
  started_at: Date;
  ended_at: Date | null;
  status: RunStatus;
  streams: unknown;
  error: string | null;
  peak_rss_bytes: string | null;
  pid: number | null;
  hostname: string | null;
}

/**
 * State, locks and run history in a PostgreSQL schema (e.g. the Cloud SQL instance of the seed).
 * Locks are session advisory locks on a dedicated connection held while `fn` runs: if the process
 * dies, the server ends the session and the lock with it, so no heartbeat is needed. A row in
 * `state_locks` only names the holder for the refusal message.
 */
export class PostgresSystemDatabase implements SystemDatabase {
  readonly stateStore: StateStore;
  readonly runHistory: RunHistory;
  private closed = false;
  /** Locks this process holds, by state id; `lost` once the lock's session has ended under it. */
  private readonly heldLocks = new Map<string, { lost: boolean }>();

  private constructor(
    private readonly pool: pg.Pool,
    private readonly target: PostgresTarget,
    private readonly schema: string,
    private readonly clientConfig: pg.ClientConfig,
  ) {
    this.stateStore = {
      get: (stateId) => this.getState(stateId),
      set: (stateId, state) => this.setState(stateId, state),
      clear: (stateId) => this.clearState(stateId),
      list: (pattern) => this.listStates(pattern),
      withLock: (stateId, fn, options) => this.withLock(stateId, fn, options),
      close: () => this.close(),
    };
    this.runHistory = {
      start: (run) => this.startRun(run),
      finish: (runId, outcome) => this.finishRun(runId, outcome),
      list: (options) => this.listRuns(options),
      get: (runId) => this.getRun(runId),
      close: () => this.close(),
    };
  }

  /** Connects, creates the schema and tables if missing, and migrates them. */
  static async open(options: PostgresSystemDatabaseOptions): Promise<PostgresSystemDatabase> {
    const target = parsePostgresUrl(options.url);
    const schemaName = options.schema ?? "sluice";
    if (schemaName === "") throw new StateError("the schema of the state database must not be empty");
    const clientConfig: pg.ClientConfig = {
      connectionString: options.url,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
      application_name: "sluice",
    };
    const pool = new pg.Pool({ ...clientConfig, max: options.maxConnections ?? 3 });
    // NOTE: an idle pooled connection that the server drops emits "error" on the pool; without a
    // listener that would crash the process. The next query reconnects and reports any problem.
    pool.on("error", () => undefined);
    const db = new PostgresSystemDatabase(pool, target, quoteIdentifier(schemaName), clientConfig);
    try {
      await db.migrate();
      return db;
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw error;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  private async migrate(): Promise<void> {
    await this.transaction("create the sluice tables", async (client) => {
      await client.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK_KEY]);
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${this.schema}`);
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${this.schema}.schema_version (version integer NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
      );
      const { rows } = await client.query<{ version: number | null }>(
        `SELECT max(version) AS version FROM ${this.schema}.schema_version`,
      );
      const current = rows[0]?.version ?? 0;
      if (current > POSTGRES_SCHEMA_VERSION) {
        throw new StateError(
          `the state database at ${this.target.where} has sluice schema version ${current} in ${this.schema}, ` +
            `newer than this sluice knows (${POSTGRES_SCHEMA_VERSION}): upgrade sluice`,
        );
      }
      for (const migration of MIGRATIONS) {
        if (migration.version <= current) continue;
        await client.query(migration.sql.replaceAll("{schema}", this.schema));
        await client.query(`INSERT INTO ${this.schema}.schema_version (version) VALUES ($1)`, [
          migration.version,
        ]);
      }
    });
  }

  private async getState(stateId: string): Promise<SingerState | undefined> {
    const rows = await this.query<{ state: unknown }>(
      `read the state of "${stateId}"`,
      `SELECT state FROM ${this.schema}.state WHERE state_id = $1`,
      [stateId],
    );
    const row = rows[0];
    return row === undefined ? undefined : parseStoredState(stateId, row.state, this.target.where);
  }

  private async setState(stateId: string, state: SingerState): Promise<void> {
    const json = serializeState(stateId, state);
    // The advisory lock lives as long as its session: once the server ended that session
    // (restart, failover, pg_terminate_backend), another run may hold the lock and be writing
    // this state. Writing on would interleave two runs' states; stop instead.
    if (this.heldLocks.get(stateId)?.lost) {
      // A server that is down says so (the likelier news); one that is up lost our lock.
      await this.query(`store the state of "${stateId}"`, "SELECT 1");
      // Transient, but not within this run: a new run takes the lock again (or waits for it).
      throw new StateError(
        `cannot store the state of "${stateId}": this run's lock on it was lost when the state database at ${this.target.where} ended the lock's session (a restart, a failover or pg_terminate_backend), so another run may hold it now; the state stays at this run's last commit: run again`,
        { transient: true },
      );
    }
    await this.query(
      `store the state of "${stateId}"`,
      `INSERT INTO ${this.schema}.state (state_id, state, updated_at) VALUES ($1, $2::jsonb, now())
       ON CONFLICT (state_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`,
      [stateId, json],
    );
  }

  private async clearState(stateId: string): Promise<boolean> {
    const rows = await this.query(
      `clear the state of "${stateId}"`,
      `DELETE FROM ${this.schema}.state WHERE state_id = $1 RETURNING state_id`,
      [stateId],
    );
    return rows.length > 0;
  }

  private async listStates(pattern: string | undefined): Promise<{ stateId: string; updatedAt: Date }[]> {
    const rows = await this.query<{ state_id: string; updated_at: Date }>(
      "list state ids",
      `SELECT state_id, updated_at FROM ${this.schema}.state`,
    );
    return filterStateIds(
      rows.map((r) => ({ stateId: r.state_id, updatedAt: r.updated_at })),
      pattern,
    );
  }

  private async withLock<T>(
    stateId: string,
    fn: () => Promise<T>,
    options: LockOptions | undefined,
  ): Promise<T> {
    const [key1, key2] = advisoryLockKeys(stateId);
    // A session advisory lock belongs to a connection, so each holder gets its own (not the
    // pool's, which would hand the connection, and the lock, to other queries).
    const client = new pg.Client({ ...this.clientConfig, application_name: "sluice state lock" });
    // NOTE: if the server ends this session (restart, pg_terminate_backend) the client emits
    // "error" (unhandled, that would crash the process) and "end": the lock is gone with the
    // session, which `setState` must know.
    const held = { lost: false };
    let releasing = false;
    client.on("error", () => {
      held.lost = true;
    });
    client.on("end", () => {
      if (!releasing) held.lost = true;
    });
    await this.connectClient(client, `lock state id "${stateId}"`);
    try {
      await waitForLock({
        stateId,
        waitSeconds: options?.waitSeconds,
        attempt: async () => {
          const { rows } = await this.lockQuery<{ locked: boolean }>(
            client,
            stateId,
            "SELECT pg_try_advisory_lock($1, $2) AS locked",
            [key1, key2],
          );
          if (rows[0]?.locked === true) return { acquired: true as const, value: undefined };
          return { acquired: false as const, holder: await this.lockHolder(client, stateId) };
        },
      });
      const me = currentProcess();
      await this.lockQuery(
        client,
        stateId,
        `INSERT INTO ${this.schema}.state_locks (state_id, backend_pid, pid, hostname, run_id, acquired_at)
         VALUES ($1, pg_backend_pid(), $2, $3, $4, now())
         ON CONFLICT (state_id) DO UPDATE SET backend_pid = excluded.backend_pid, pid = excluded.pid,
           hostname = excluded.hostname, run_id = excluded.run_id, acquired_at = excluded.acquired_at`,
        [stateId, me.pid, me.hostname, options?.runId ?? null],
      );
      this.heldLocks.set(stateId, held);
      return await fn();
    } finally {
      releasing = true;
      if (this.heldLocks.get(stateId) === held) this.heldLocks.delete(stateId);
      // Ending the session releases the advisory lock; the row is only a description, removed
      // when we still can (a row left behind is overwritten by the next holder).
      await client
        .query(
          `DELETE FROM ${this.schema}.state_locks WHERE state_id = $1 AND backend_pid = pg_backend_pid()`,
          [stateId],
        )
        .catch(() => undefined);
      await client.end().catch(() => undefined);
    }
  }

  private async lockHolder(client: pg.Client, stateId: string): Promise<LockHolder | undefined> {
    const { rows } = await this.lockQuery<{
      pid: number;
      hostname: string;
      run_id: string | null;
      acquired_at: Date;
    }>(
      client,
      stateId,
      `SELECT pid, hostname, run_id, acquired_at FROM ${this.schema}.state_locks WHERE state_id = $1`,
      [stateId],
    );
    const row = rows[0];
    if (row === undefined) return undefined;
    return {
      pid: row.pid,
      hostname: row.hostname,
      acquiredAt: row.acquired_at,
      ...(row.run_id === null ? {} : { runId: row.run_id }),
    };
  }

  private async startRun(run: RunStart): Promise<void> {
    const me = currentProcess();
    await this.query(
      `record the start of run ${run.runId}`,
      `INSERT INTO ${this.schema}.runs (run_id, state_id, extractor, loader, started_at, status, pid, hostname)
       VALUES ($1, $2, $3, $4, $5, 'running', $6, $7)`,
      [run.runId, run.stateId, run.extractor, run.loader, run.startedAt, me.pid, me.hostname],
    );
  }

  private async finishRun(runId: string, outcome: RunFinish): Promise<void> {
    const rows = await this.query(
      `record the end of run ${runId}`,
      `UPDATE ${this.schema}.runs SET status = $2, ended_at = $3, streams = $4::jsonb, error = $5, peak_rss_bytes = $6
       WHERE run_id = $1 RETURNING run_id`,
      [
        runId,
        outcome.status,
        outcome.endedAt,
        JSON.stringify(outcome.streams),
        outcome.error ?? null,
        outcome.peakRssBytes ?? null,
      ],
    );
    if (rows.length === 0) {
      throw new StateError(
        `cannot record the end of run ${runId}: no such run in the state database at ${this.target.where}`,
      );
    }
  }

  private async listRuns(options: { stateId?: string; limit?: number } | undefined): Promise<RunRecord[]> {
    const limit = checkListLimit(options?.limit) ?? null; // LIMIT NULL means no limit
    const rows = await this.query<RunRow>(
      "list runs",
      `SELECT * FROM ${this.schema}.runs WHERE ($1::text IS NULL OR state_id = $1)
       ORDER BY started_at DESC, seq DESC LIMIT $2`,
      [options?.stateId ?? null, limit],
    );
    return this.settleAbandoned(rows.map(runRecordOf));
  }

  private async getRun(runId: string): Promise<RunRecord | undefined> {
    const rows = await this.query<RunRow>(
      `read run ${runId}`,
      `SELECT * FROM ${this.schema}.runs WHERE run_id = $1`,
      [runId],
    );
    const row = rows[0];
    return row === undefined ? undefined : (await this.settleAbandoned([runRecordOf(row)]))[0];
  }

  private async settleAbandoned(records: RunRecord[]): Promise<RunRecord[]> {
    const abandoned = abandonedRuns(records).map((r) => r.runId);
    if (abandoned.length === 0) return records;
    await this.query(
      "mark abandoned runs as failed",
      `UPDATE ${this.schema}.runs SET status = 'failed', error = $2 WHERE run_id = ANY($1) AND status = 'running'`,
      [abandoned, ABANDONED_RUN_ERROR],
    );
    return records.map((r) => (abandoned.includes(r.runId) ? markAbandoned(r) : r));
  }

  private async query<R extends pg.QueryResultRow>(
    action: string,
    sql: string,
    params: unknown[] = [],
  ): Promise<R[]> {
    this.checkOpen(action);
    try {
      return (await this.pool.query<R>(sql, params)).rows;
    } catch (error) {
      throw this.stateError(action, error);
    }
  }

  private async transaction(action: string, fn: (client: pg.PoolClient) => Promise<void>): Promise<void> {
    this.checkOpen(action);
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw this.stateError(action, error);
    }
    try {
      await client.query("BEGIN");
      await fn(client);
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error instanceof StateError ? error : this.stateError(action, error);
    } finally {
      client.release();
    }
  }

  private async connectClient(client: pg.Client, action: string): Promise<void> {
    this.checkOpen(action);
    try {
      await client.connect();
    } catch (error) {
      // NOTE: the socket closed outright, not `client.end()`: after a failed (TLS) connect the
      // goodbye can wait forever for a close (see abandonClient in postgres-connection.ts).
      client.connection.stream.destroy();
      throw this.stateError(action, error);
    }
  }

  private async lockQuery<R extends pg.QueryResultRow>(
    client: pg.Client,
    stateId: string,
    sql: string,
    params: unknown[],
  ): Promise<pg.QueryResult<R>> {
    try {
      return await client.query<R>(sql, params);
    } catch (error) {
      throw this.stateError(`lock state id "${stateId}"`, error);
    }
  }

  private checkOpen(action: string): void {
    if (this.closed)
      throw new StateError(`cannot ${action}: the state database at ${this.target.where} is closed`);
  }

  private stateError(action: string, error: unknown): StateError {
    return postgresStateError(this.target, action, error);
  }
}

/** Where a PostgreSQL state database is, for messages: never the password. */
export interface PostgresTarget {
  /** `host:port/database` */
  where: string;
  password: string;
}

export function parsePostgresUrl(url: string): PostgresTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    // The URI itself may hold a password: do not repeat it.
    throw new StateError("the state database URI is not a valid postgresql:// URI", { cause: error });
  }
  if (parsed.protocol !== "postgresql:" && parsed.protocol !== "postgres:") {
    throw new StateError(`the state database URI must start with postgresql://, not ${parsed.protocol}//`);
  }
  const host = parsed.hostname || parsed.searchParams.get("host") || "localhost";
  const port = parsed.port || parsed.searchParams.get("port") || "5432";
  const database =
    decodeURIComponent(parsed.pathname.replace(/^\//, "")) || decodeURIComponent(parsed.username);
  return { where: `${host}:${port}/${database}`, password: decodeURIComponent(parsed.password) };
}

/**
 * The one place a `pg` error becomes a StateError: the server's code, detail and hint are kept.
 * What the failure is, and whether a retry can help, is `classifyPostgresError`'s call: a server
 * down, restarting or dropping the connection is transient; a refused login, a missing database
 * or a refused write (a permission, a trigger) is not.
 */
export function postgresStateError(target: PostgresTarget, action: string, error: unknown): StateError {
  const failure = classifyPostgresError(error);
  const code = failure.server.code;
  const unreachable = REACHING_KINDS.has(failure.kind);
  let reason = failure.message;
  if (code !== undefined) reason += ` (SQLSTATE ${code})`;
  if (failure.server.detail !== undefined) reason += `; ${failure.server.detail}`;
  if (failure.server.hint !== undefined) reason += `; hint: ${failure.server.hint}`;
  // Belt and braces: a driver message should never hold the password, but if it does, hide it.
  if (target.password.length >= 4) reason = reason.replaceAll(target.password, "***");
  const message = unreachable
    ? `the state database at ${target.where} could not be reached (to ${action}): ${reason}`
    : `the state database at ${target.where} refused to ${action}: ${reason}`;
  return new StateError(message, { cause: error, transient: failure.transient, server: failure.server });
}

/** Failures to reach or log in to the state database ("could not be reached"), transient or not. */
const REACHING_KINDS: ReadonlySet<PostgresFailureKind> = new Set([
  "unreachable",
  "unknown-host",
  "connection-lost",
  "authentication",
  "no-database",
]);

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function runRecordOf(row: RunRow): RunRecord {
  return {
    runId: row.run_id,
    stateId: row.state_id,
    extractor: row.extractor,
    loader: row.loader,
    startedAt: row.started_at,
    status: row.status,
    streams: parseRunStreams(row.run_id, row.streams),
    ...(row.ended_at === null ? {} : { endedAt: row.ended_at }),
    ...(row.error === null ? {} : { error: row.error }),
    // bigint arrives as text from pg; an RSS fits a double exactly.
    ...(row.peak_rss_bytes === null ? {} : { peakRssBytes: Number(row.peak_rss_bytes) }),
    ...(row.pid === null ? {} : { pid: row.pid }),
    ...(row.hostname === null ? {} : { hostname: row.hostname }),
  };
}
