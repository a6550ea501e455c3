import fs from "node:fs";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parseLsn } from "../../../src/connectors/postgres/cdc/replication-message.js";
import { startEmbeddedPostgres, type EmbeddedServer } from "../../../src/demo/embedded-postgres-server.js";
import { freePort } from "../../../src/demo/free-port.js";
import type { TestDatabase } from "../../support/pg.js";
import { tempDir } from "../../support/pipeline.js";
import {
  PROJECT_STATE_ID,
  readStoredState,
  runSluice,
  startSluice,
  writeProject,
} from "../../support/sluice-project.js";
import { describeDifference, duckdbRowTexts, sourceRowTexts } from "../../support/table-diff.js";
import { RUN_ARGS, errorMessages, waitFor } from "./fault-support.js";

/**
 * The source PostgreSQL (a server of this test's own, with a persistent data folder) is restarted
 * while a run reads it: during an INCREMENTAL copy, and while a LOG_BASED run streams changes.
 * The run fails with exit 75 and a ConnectionError saying the connection broke (it neither hangs nor
 * ends as a success), the state never points past DuckDB (the slot is never acknowledged past the
 * state), and the next run, with the server back, ends with DuckDB equal to the source.
 */
// NOTE: big enough (12 MB) that the COPY is still running when the server stops: a smaller table
// fits in the socket buffers and the COPY ends server-side before the stop.
const ROWS = 60_000;

let server: EmbeddedServer | undefined;
let dataDir: string;
let port: number;
let db: TestDatabase;
const dirs: string[] = [];

async function query<R extends pg.QueryResultRow>(sql: string, database = "src"): Promise<R[]> {
  const client = new pg.Client({ connectionString: server!.url(database) });
  await client.connect();
  try {
    return (await client.query<R>(sql)).rows;
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  dataDir = tempDir("sluice-source-pg-");
  port = await freePort();
  server = await startEmbeddedPostgres({ dataDir, port });
  await query("CREATE DATABASE src", "postgres");
  db = {
    name: "src",
    url: server.url("src"),
    host: server.host,
    port,
    user: server.user,
    password: server.password,
    query: (sql) => query(sql),
    drop: async () => undefined,
  };
  await query("CREATE TABLE big (id bigint PRIMARY KEY, body text NOT NULL)");
  await query(`INSERT INTO big SELECT i, repeat(md5(i::text), 6) FROM generate_series(1, ${ROWS}) i`);
  await query("CREATE TABLE events (id bigint PRIMARY KEY, v int NOT NULL)");
  await query("INSERT INTO events SELECT i, 0 FROM generate_series(1, 5000) i");
});

afterAll(async () => {
  await server?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

function newDir(): string {
  const dir = tempDir("sluice-source-restart-");
  dirs.push(dir);
  return dir;
}

/** Stops the source server and starts it again on the same data folder and port. */
async function restartSource(): Promise<void> {
  await server!.stop();
  server = undefined;
  server = await startEmbeddedPostgres({ dataDir, port });
}

describe("the source PostgreSQL restarts mid-run", () => {
  test("INCREMENTAL copy: exit 75 naming the table and the broken connection, state not past DuckDB, the rerun recovers", async () => {
    const dir = newDir();
    const file = path.join(dir, "warehouse.duckdb");
    writeProject(dir, db, {
      select: ["public-big.*"],
      metadata: { "public-big": { "replication-method": "INCREMENTAL", "replication-key": "id" } },
      tap: { batch_size_rows: 500 },
    });
    const run = startSluice(dir, db, RUN_ARGS);
    await waitFor(
      run,
      "three state commits",
      () => (run.output().stderr.match(/"event":"state-committed"/g) ?? []).length >= 3,
    );
    const restarted = restartSource();
    const ended = await run.exited;
    await restarted;
    expect(ended.code, ended.stderr).toBe(75);
    const message = errorMessages(ended.stderr);
    expect(message, ended.stderr).toContain("the connection to PostgreSQL broke while reading public.big");
    expect(message, ended.stderr).toContain("the next run continues from the last committed state");
    expect(ended.stderr).toContain('"error":"ConnectionError"');

    const bookmark = Number(
      readStoredState(dir, PROJECT_STATE_ID)?.bookmarks["public-big"]?.replication_key_value,
    );
    const loaded = await duckdbRowTexts(file, "SELECT CAST(id AS VARCHAR) AS k, body AS v FROM public.big");
    expect(loaded.duplicates).toEqual([]);
    expect(loaded.count, "the run did not finish before the restart").toBeLessThan(ROWS);
    expect(Math.max(...[...loaded.rows.keys()].map(Number)), "state past DuckDB").toBeGreaterThanOrEqual(
      bookmark,
    );

    await runSluice(dir, db, RUN_ARGS, { timeoutMs: 90_000 });
    const after = await duckdbRowTexts(file, "SELECT CAST(id AS VARCHAR) AS k, body AS v FROM public.big");
    expect(after.duplicates).toEqual([]);
    expect(
      describeDifference(await sourceRowTexts(db, "SELECT id::text AS k, body AS v FROM big"), after.rows),
    ).toBe("");
  });

  test("LOG_BASED --follow: exit 75 saying the server ended the stream, the slot not past the state, the rerun recovers", async () => {
    const dir = newDir();
    const file = path.join(dir, "warehouse.duckdb");
    writeProject(dir, db, {
      select: ["public-events.*"],
      metadata: { "public-events": { "replication-method": "LOG_BASED" } },
      tap: { logical_commit_seconds: 0, tap_id: "restart" },
      target: { add_metadata_columns: true },
    });
    const run = startSluice(dir, db, [...RUN_ARGS, "--follow"]);
    await waitFor(run, "streaming", () => run.output().stderr.includes('"mode":"incremental"'));
    await query("UPDATE events SET v = v + 1 WHERE id % 10 = 0");
    await waitFor(run, "a change committed", () =>
      run.output().stderr.includes('"event":"changes-committed"'),
    );
    await query("DELETE FROM events WHERE id % 7 = 0");
    const restarted = restartSource();
    const ended = await run.exited;
    await restarted;
    // A --follow run whose server went away fails (it is not a stop on purpose), without hanging.
    expect(ended.signal, ended.stderr).toBeNull();
    expect(ended.code, ended.stderr).toBe(75);
    expect(errorMessages(ended.stderr), ended.stderr).toContain(
      "the PostgreSQL server ended the replication stream",
    );
    expect(ended.stderr).toContain('"error":"ConnectionError"');

    const lsn = readStoredState(dir, PROJECT_STATE_ID)?.bookmarks["public-events"]?.lsn;
    const [slot] = await query<{ lsn: string }>(
      "SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE NOT temporary",
    );
    expect(lsn).toBeDefined();
    expect(parseLsn(slot!.lsn) <= BigInt(lsn!), `slot ${slot!.lsn} past the state ${lsn}`).toBe(true);

    await query("INSERT INTO events SELECT i, 1 FROM generate_series(5001, 5100) i");
    await runSluice(dir, db, RUN_ARGS, { timeoutMs: 90_000 });
    const sql =
      "SELECT CAST(id AS VARCHAR) AS k, CAST(v AS VARCHAR) AS v FROM public.events WHERE _sdc_deleted_at IS NULL";
    const after = await duckdbRowTexts(file, sql);
    expect(after.duplicates).toEqual([]);
    expect(
      describeDifference(
        await sourceRowTexts(db, "SELECT id::text AS k, v::text AS v FROM events"),
        after.rows,
      ),
    ).toBe("");
    await query("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE NOT active");
  });
});
