import fs from "node:fs";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startEmbeddedPostgres, type EmbeddedServer } from "@sluice/postgres-server";
import { freePort } from "@sluice/postgres-server/free-port";
import { parseLsn } from "../../../src/connectors/tap-postgres/cdc/replication-message.js";
import type { TestDatabase } from "../../support/pg.js";
import { tempDir } from "../../support/pipeline.js";
import { describeResult } from "../../support/run-cli.js";
import {
  DUCKDB_FILE,
  PROJECT_STATE_ID,
  projectSpec,
  TestProject,
  TestProjects,
  type ProjectSpec,
} from "../../support/test-project.js";
import { describeDifference, duckdbRowTexts, sourceRowTexts } from "../../support/table-diff.js";
import { RUN_ARGS, errorMessages, logLines, waitFor } from "./fault-support.js";

/**
 * The source PostgreSQL (a server of this test's own, with a persistent data folder) goes away
 * while a run reads it: the COPYs of an INCREMENTAL and a FULL_TABLE table, and a LOG_BASED run
 * streaming changes. A transient failure is retried within the run (`max_retries`,
 * `retry_delay_seconds`): the streams that had not finished start again from their committed
 * state, so when the server is back within the budget the run succeeds with DuckDB equal to the
 * source, nothing lost and no key twice. When it is not back in time, the run exits 75 (the
 * code an orchestrator retries), its state not past DuckDB, and the next run recovers.
 */
// NOTE: big enough (12 MB) that the COPY is still running when the server stops: a smaller table
// fits in the socket buffers and the COPY ends server-side before the stop.
const ROWS = 60_000;

let server: EmbeddedServer | undefined;
let dataDir: string;
let port: number;
let db: TestDatabase;
const projects = new TestProjects();

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
  for (const table of ["big", "big_full"]) {
    await query(`CREATE TABLE ${table} (id bigint PRIMARY KEY, body text NOT NULL)`);
    await query(`INSERT INTO ${table} SELECT i, repeat(md5(i::text), 6) FROM generate_series(1, ${ROWS}) i`);
  }
  await query("CREATE TABLE events (id bigint PRIMARY KEY, v int NOT NULL)");
  await query("INSERT INTO events SELECT i, 0 FROM generate_series(1, 5000) i");
});

afterAll(async () => {
  await server?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
  projects.removeAll();
});

function newProject(spec: ProjectSpec): TestProject {
  return projects.add(
    TestProject.forDatabase(db, spec, { prefix: "sluice-source-restart-", localSpool: true }),
  );
}

async function stopSource(): Promise<void> {
  await server!.stop();
  server = undefined;
}

async function startSource(): Promise<void> {
  server = await startEmbeddedPostgres({ dataDir, port });
}

function retryingEvents(stderr: string): Record<string, unknown>[] {
  return logLines(stderr).filter((l) => l.event === "retrying");
}

/** One INCREMENTAL and one FULL_TABLE table, read at once, in batches of 500 rows. */
function copyProject(retries: { max_retries: number; retry_delay_seconds: number }): TestProject {
  const spec = projectSpec(db, {
    select: ["public-big.*", "public-big_full.*"],
    metadata: {
      "public-big": { "replication-method": "INCREMENTAL", "replication-key": "id" },
      "public-big_full": { "replication-method": "FULL_TABLE" },
    },
    tap: { batch_size_rows: 500, max_parallel_streams: 2 },
  });
  return newProject({ ...spec, ...retries });
}

async function expectWarehouseEqualsSource(file: string): Promise<void> {
  for (const table of ["big", "big_full"]) {
    const loaded = await duckdbRowTexts(
      file,
      `SELECT CAST(id AS VARCHAR) AS k, body AS v FROM public.${table}`,
    );
    expect(loaded.duplicates, table).toEqual([]);
    expect(
      describeDifference(
        await sourceRowTexts(db, `SELECT id::text AS k, body AS v FROM ${table}`),
        loaded.rows,
      ),
      table,
    ).toBe("");
  }
}

describe("the source PostgreSQL goes away mid-run", () => {
  test("restarted within the retry budget: the unfinished streams start again and the run succeeds, exact", async () => {
    const project = copyProject({ max_retries: 6, retry_delay_seconds: 0.5 });
    const file = project.file(DUCKDB_FILE);
    const run = project.start(RUN_ARGS);
    await waitFor(
      run,
      "three state commits",
      () => (run.output().stderr.match(/"event":"state-committed"/g) ?? []).length >= 3,
    );
    await stopSource();
    await startSource();
    const ended = await run.done;
    expect(ended.code, ended.stderr).toBe(0);

    const retries = retryingEvents(ended.stderr);
    expect(retries.length, ended.stderr).toBeGreaterThanOrEqual(1);
    expect(retries[0]).toMatchObject({ level: "warning", scope: "streams", retry: 1, maxRetries: 6 });
    expect(String(retries[0]!.error)).toMatch(/PostgreSQL|connection/);
    // The INCREMENTAL stream went on from its bookmark; the FULL_TABLE one was copied again whole.
    await expectWarehouseEqualsSource(file);
    const bookmark = project.storedState(PROJECT_STATE_ID)?.bookmarks["public-big"];
    expect(Number(bookmark?.replication_key_value)).toBe(ROWS);
    expect(project.storedState(PROJECT_STATE_ID)?.bookmarks["public-big_full"]).toMatchObject({
      last_replication_method: "FULL_TABLE",
    });
  });

  test("not back within the budget: exit 75 after max_retries, state not past DuckDB; the rerun recovers", async () => {
    const project = copyProject({ max_retries: 2, retry_delay_seconds: 0.2 });
    const file = project.file(DUCKDB_FILE);
    const run = project.start(RUN_ARGS);
    await waitFor(
      run,
      "three state commits",
      () => (run.output().stderr.match(/"event":"state-committed"/g) ?? []).length >= 3,
    );
    await stopSource();
    const ended = await run.done;
    expect(ended.code, ended.stderr).toBe(75);
    expect(retryingEvents(ended.stderr).map((e) => e.retry)).toEqual([1, 2]);
    const final = logLines(ended.stderr).at(-1);
    expect(final, ended.stderr).toMatchObject({ level: "error", transient: true });
    // What failed last is reopening the source: the server is still down.
    expect(errorMessages(ended.stderr), ended.stderr).toMatch(
      new RegExp(`PostgreSQL at 127.0.0.1:${port} is unreachable|the connection to PostgreSQL broke`),
    );

    await startSource();
    const bookmark = Number(
      project.storedState(PROJECT_STATE_ID)?.bookmarks["public-big"]?.replication_key_value,
    );
    const loaded = await duckdbRowTexts(file, "SELECT CAST(id AS VARCHAR) AS k, body AS v FROM public.big");
    expect(loaded.duplicates).toEqual([]);
    expect(loaded.count, "the run did not finish before the stop").toBeLessThan(ROWS);
    expect(Math.max(...[...loaded.rows.keys()].map(Number)), "state past DuckDB").toBeGreaterThanOrEqual(
      bookmark,
    );

    const rerun = await project.run(RUN_ARGS, { timeoutMs: 90_000 });
    expect(rerun.code, describeResult(rerun)).toBe(0);
    await expectWarehouseEqualsSource(file);
  });

  test("LOG_BASED --follow: the replication stream resumes from the committed position; nothing lost or twice", async () => {
    const spec = projectSpec(db, {
      select: ["public-events.*"],
      metadata: { "public-events": { "replication-method": "LOG_BASED" } },
      tap: { logical_commit_seconds: 0, tap_id: "restart" },
      target: { add_metadata_columns: true },
    });
    const project = newProject({ ...spec, max_retries: 6, retry_delay_seconds: 0.5 });
    const file = project.file(DUCKDB_FILE);
    const run = project.start([...RUN_ARGS, "--follow"]);
    await waitFor(run, "streaming", () => run.output().stderr.includes('"mode":"incremental"'));
    await query("UPDATE events SET v = v + 1 WHERE id % 10 = 0");
    await waitFor(run, "a change committed", () =>
      run.output().stderr.includes('"event":"changes-committed"'),
    );
    // Changed while the run streams, then the server stops before (or while) they are read.
    await query("DELETE FROM events WHERE id % 7 = 0");
    await stopSource();
    await startSource();
    await waitFor(run, "streaming again", () => retryingEvents(run.output().stderr).length > 0);
    await query("INSERT INTO events SELECT i, 1 FROM generate_series(5001, 5100) i");
    await query("UPDATE events SET v = v + 10 WHERE id % 9 = 0");
    // DuckDB's file is the run's while it runs: wait until it committed past these changes.
    const [{ lsn: end }] = (await query<{ lsn: string }>("SELECT pg_current_wal_lsn()::text AS lsn")) as [
      { lsn: string },
    ];
    await waitFor(run, "the changes after the restart committed", () =>
      logLines(run.output().stderr).some(
        (l) => l.event === "changes-committed" && BigInt(String(l.position)) >= parseLsn(end),
      ),
    );
    run.child.kill("SIGTERM");
    const ended = await run.done;
    expect(ended.code, ended.stderr).toBe(0);
    expect(retryingEvents(ended.stderr)[0]).toMatchObject({ scope: "streams", streamIds: ["public-events"] });

    const lsn = project.storedState(PROJECT_STATE_ID)?.bookmarks["public-events"]?.lsn;
    const [slot] = await query<{ lsn: string }>(
      "SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE NOT temporary",
    );
    expect(lsn).toBeDefined();
    expect(parseLsn(slot!.lsn) <= BigInt(lsn!), `slot ${slot!.lsn} past the state ${lsn}`).toBe(true);
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
