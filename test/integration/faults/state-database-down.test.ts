import fs from "node:fs";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startEmbeddedPostgres, type EmbeddedServer } from "@sluice/postgres-server";
import { freePort } from "@sluice/postgres-server/free-port";
import type { SingerState } from "../../../src/protocol/state.js";
import { postgresStateError } from "../../../src/state/postgres-system-database.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { tempDir } from "../../support/pipeline.js";
import { describeResult } from "../../support/run-cli.js";
import { DUCKDB_FILE, PROJECT_STATE_ID, projectSpec, TestProject } from "../../support/test-project.js";
import { describeDifference, duckdbRowTexts, sourceRowTexts } from "../../support/table-diff.js";
import { RUN_ARGS, errorMessages, logLines, waitFor } from "./fault-support.js";

/**
 * The state lives in a PostgreSQL system database (`database_uri`) on a server of this test's own,
 * which becomes unavailable while a run commits: stopped mid-run, and refusing the write (a
 * trigger raising an error) while up. Each time the run fails with a message naming the state
 * database, with exit 75 when a later run can succeed unchanged (the database down, the lock's
 * session gone) and 1 when it cannot (the write refused); the run does not retry within itself,
 * as its lock lives in that database. The stored state stays where the last successful commit
 * left it (never past DuckDB), and the next run, with the state database back, ends with DuckDB
 * equal to the source and no key twice.
 */
const ROWS = 40_000;
const BATCH = 500;

let db: TestDatabase;
let project: TestProject;
let stateDir: string;
let statePort: number;
let stateServer: EmbeddedServer | undefined;

beforeAll(async () => {
  db = await createTestDatabase("statedown");
  stateDir = tempDir("sluice-state-pg-");
  statePort = await freePort();
  stateServer = await startEmbeddedPostgres({ dataDir: stateDir, port: statePort });
  await db.query("CREATE TABLE big (id bigint PRIMARY KEY, body text NOT NULL)");
  await db.query(`INSERT INTO big SELECT i, repeat(md5(i::text), 3) FROM generate_series(1, ${ROWS}) i`);
  const spec = projectSpec(db, {
    select: ["public-big.*"],
    metadata: { "public-big": { "replication-method": "INCREMENTAL", "replication-key": "id" } },
    tap: { batch_size_rows: BATCH },
  });
  project = TestProject.forDatabase(
    db,
    { ...spec, database_uri: stateServer.url("postgres") },
    { prefix: "sluice-state-down-", localSpool: true },
  );
});

afterAll(async () => {
  await stateServer?.stop();
  await db?.drop();
  project?.remove();
  fs.rmSync(stateDir, { recursive: true, force: true });
});

async function withStateDb<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: stateServer!.url("postgres") });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function storedBookmark(): Promise<number | undefined> {
  const rows = await withStateDb(
    async (c) =>
      (
        await c.query<{ state: SingerState }>("SELECT state FROM sluice.state WHERE state_id = $1", [
          PROJECT_STATE_ID,
        ])
      ).rows,
  );
  const value = rows[0]?.state.bookmarks["public-big"]?.replication_key_value;
  return value === undefined || value === null ? undefined : Number(value);
}

/** The bookmark of the last `state-committed` event a run logged. */
function lastCommitted(stderr: string): number | undefined {
  const commits = logLines(stderr).filter((l) => l.event === "state-committed");
  const bookmark = commits.at(-1)?.bookmark as { replication_key_value?: unknown } | undefined;
  return bookmark?.replication_key_value === undefined ? undefined : Number(bookmark.replication_key_value);
}

const sourceSql = "SELECT id::text AS k, body AS v FROM big";
const duckdbSql = "SELECT CAST(id AS VARCHAR) AS k, body AS v FROM public.big";

describe("the state database is unavailable at commit time", () => {
  test("stopped mid-run: exit 75 naming it, state at the last commit; the rerun recovers", async () => {
    const file = project.file(DUCKDB_FILE);
    const where = `127.0.0.1:${statePort}/postgres`;

    const run = project.start(RUN_ARGS);
    await waitFor(
      run,
      "three state commits",
      () => (run.output().stderr.match(/"event":"state-committed"/g) ?? []).length >= 3,
    );
    await stateServer!.stop();
    stateServer = undefined;
    const ended = await run.done;
    expect(ended.code, ended.stderr).toBe(75);
    expect(ended.stderr).toContain('"transient":true');
    const message = errorMessages(ended.stderr);
    // Which the run notices first is a race: its next commit failing, or the end of the session
    // holding its lock on the state id. Either message names the database and says what to do.
    expect(message, ended.stderr).toContain(`the state database at ${where}`);
    expect(message, ended.stderr).toMatch(/could not be reached|ended the lock's session/);
    expect(message, ended.stderr).toContain(`store the state of "${PROJECT_STATE_ID}"`);
    expect(ended.stderr, "the password is never shown").not.toContain("sluice-demo");

    stateServer = await startEmbeddedPostgres({ dataDir: stateDir, port: statePort });
    const committed = lastCommitted(ended.stderr);
    const stored = await storedBookmark();
    expect(stored, "the state is the last one the run committed").toBe(committed);
    const loaded = await duckdbRowTexts(file, duckdbSql);
    expect(loaded.duplicates).toEqual([]);
    expect(loaded.count, "the run did not finish before the state database went").toBeLessThan(ROWS);
    expect(Math.max(...[...loaded.rows.keys()].map(Number)), "state past DuckDB").toBeGreaterThanOrEqual(
      stored!,
    );

    const rerun = await project.run(RUN_ARGS, { timeoutMs: 90_000 });
    expect(rerun.code, describeResult(rerun)).toBe(0);
    const after = await duckdbRowTexts(file, duckdbSql);
    expect(after.duplicates).toEqual([]);
    expect(describeDifference(await sourceRowTexts(db, sourceSql), after.rows)).toBe("");
    expect(await storedBookmark()).toBe(ROWS);
  });

  test("refusing the write: exit 1 naming it, state unmoved; the rerun recovers", async () => {
    const file = project.file(DUCKDB_FILE);
    const before = await storedBookmark();
    expect(before).toBe(ROWS);
    await withStateDb((c) =>
      c.query(`
        CREATE FUNCTION public.refuse_state() RETURNS trigger LANGUAGE plpgsql AS
          $$ BEGIN RAISE EXCEPTION 'state writes are refused by the test'; END $$;
        CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON sluice.state
          FOR EACH ROW EXECUTE FUNCTION public.refuse_state();`),
    );
    await db.query(
      `INSERT INTO big SELECT i, 'later ' || i FROM generate_series(${ROWS + 1}, ${ROWS + 5 * BATCH}) i`,
    );
    const failed = await project.run(RUN_ARGS);
    expect(failed.code, describeResult(failed)).toBe(1);
    const message = errorMessages(failed.stderr);
    expect(message, failed.stderr).toContain(
      `the state database at 127.0.0.1:${statePort}/postgres refused to store the state of "${PROJECT_STATE_ID}"`,
    );
    expect(message).toContain("state writes are refused by the test");
    expect(await storedBookmark(), "state unmoved").toBe(before);
    // The batch DuckDB committed before the refused state write stays: the rerun reads it again.
    const loaded = await duckdbRowTexts(file, duckdbSql);
    expect(loaded.duplicates).toEqual([]);

    await withStateDb((c) => c.query("DROP TRIGGER refuse ON sluice.state"));
    const rerun = await project.run(RUN_ARGS, { timeoutMs: 90_000 });
    expect(rerun.code, describeResult(rerun)).toBe(0);
    const after = await duckdbRowTexts(file, duckdbSql);
    expect(after.duplicates).toEqual([]);
    expect(describeDifference(await sourceRowTexts(db, sourceSql), after.rows)).toBe("");
    expect(await storedBookmark()).toBe(ROWS + 5 * BATCH);
  });

  test("the lock's session ended mid-run (a failover, pg_terminate_backend): the run stops with 75, state at its last commit", async () => {
    const file = project.file(DUCKDB_FILE);
    // --full-refresh reads every row again, batch by batch, merging into the rows DuckDB has.
    const run = project.start([...RUN_ARGS, "--full-refresh"]);
    await waitFor(
      run,
      "three state commits",
      () => (run.output().stderr.match(/"event":"state-committed"/g) ?? []).length >= 3,
    );
    const terminated = await withStateDb(
      async (c) =>
        (
          await c.query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'sluice state lock'",
          )
        ).rowCount,
    );
    expect(terminated, "the run's lock session").toBe(1);
    const ended = await run.done;
    expect(ended.code, ended.stderr).toBe(75);
    expect(errorMessages(ended.stderr), ended.stderr).toContain(
      `cannot store the state of "${PROJECT_STATE_ID}": this run's lock on it was lost`,
    );
    expect(await storedBookmark(), "the state is the last one the run committed").toBe(
      lastCommitted(ended.stderr),
    );

    const rerun = await project.run(RUN_ARGS, { timeoutMs: 90_000 });
    expect(rerun.code, describeResult(rerun)).toBe(0);
    const after = await duckdbRowTexts(file, duckdbSql);
    expect(after.duplicates).toEqual([]);
    expect(describeDifference(await sourceRowTexts(db, sourceSql), after.rows)).toBe("");
    expect(await storedBookmark()).toBe(ROWS + 5 * BATCH);
  });

  test("a server shutting down or restarting is 'could not be reached', not 'refused'", () => {
    const target = { where: "db.example.com:5432/sluice", password: "secret" };
    for (const code of ["57P01", "57P02", "57P03"]) {
      const error = Object.assign(new Error("the database system is shutting down"), { code });
      expect(postgresStateError(target, 'store the state of "x"', error).message).toBe(
        `the state database at db.example.com:5432/sluice could not be reached (to store the state of "x"): the database system is shutting down (SQLSTATE ${code})`,
      );
    }
  });
});
