import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parseLsn } from "../../../src/connectors/tap-postgres/cdc/replication-message.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { describeResult } from "../../support/run-cli.js";
import {
  DUCKDB_FILE,
  PROJECT_STATE_ID,
  projectSpec,
  TestProject,
  TestProjects,
  type ProjectSpecOptions,
} from "../../support/test-project.js";
import { describeDifference, duckdbRowTexts, sourceRowTexts } from "../../support/table-diff.js";
import {
  RUN_ARGS,
  duckdbTables,
  errorMessages,
  keysHeldTwice,
  randomBetween,
  startWriter,
  waitFor,
} from "./fault-support.js";

/**
 * SIGTERM is a clean stop: the batch being loaded commits whole (with its state) or not at all,
 * the run ends promptly with exit 1 and says it was stopped and that a rerun continues, run
 * history records it as cancelled, and the rerun reaches equality. A LOG_BASED `--follow` run
 * stops at a checkpoint with exit 0, as its normal end.
 */
const ROWS = 30_000;
const BATCH = 500;

let db: TestDatabase;
const projects = new TestProjects();

beforeAll(async () => {
  db = await createTestDatabase("sigterm");
  await db.query("CREATE TABLE big (id bigint PRIMARY KEY, v int NOT NULL, body text NOT NULL)");
  await db.query(
    `INSERT INTO big SELECT i, i % 13, repeat(md5(i::text), 4) FROM generate_series(1, ${ROWS}) i`,
  );
});

afterAll(async () => {
  await db?.query(
    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database() AND NOT active",
  );
  await db?.drop();
  projects.removeAll();
});

function newProject(options: ProjectSpecOptions): TestProject {
  const spec = projectSpec(db, options);
  return projects.add(TestProject.forDatabase(db, spec, { prefix: "sluice-sigterm-", localSpool: true }));
}

const sourceSql = (table: string): string =>
  `SELECT id::text AS k, v::text || '|' || body AS v FROM ${table}`;
const duckdbSql = (table: string): string =>
  `SELECT CAST(id AS VARCHAR) AS k, CAST(v AS VARCHAR) || '|' || body AS v FROM public.${table}`;

/** Starts a run, waits until `ready`, sends SIGTERM a random while later, and returns how it ended. */
async function terminate(project: TestProject, args: readonly string[], ready: string, maxDelayMs: number) {
  const run = project.start(args);
  await waitFor(run, ready, () => run.output().stderr.includes(ready));
  const delay = randomBetween(0, maxDelayMs);
  await sleep(delay);
  const sentAt = Date.now();
  run.child.kill("SIGTERM");
  const ended = await run.done;
  return { ...ended, delay, stopSeconds: (Date.now() - sentAt) / 1000 };
}

describe("SIGTERM", () => {
  test("INCREMENTAL: the batch in flight commits whole with its state, exit 1 with a clear message, the rerun completes", async () => {
    const project = newProject({
      select: ["public-big.*"],
      metadata: { "public-big": { "replication-method": "INCREMENTAL", "replication-key": "id" } },
      tap: { batch_size_rows: BATCH },
    });
    const file = project.file(DUCKDB_FILE);
    const ended = await terminate(project, RUN_ARGS, '"event":"state-committed"', 200);
    const where = `SIGTERM ${ended.delay} ms after the first state commit`;
    expect(ended.signal, `${where}\n${ended.stderr}`).toBeNull();
    expect(ended.code, `${where}\n${ended.stderr}`).toBe(1);
    expect(ended.stderr).toContain("SIGTERM received");
    const message = errorMessages(ended.stderr);
    expect(message, where).toMatch(/stopped/i);
    expect(message, where).toMatch(/run again|rerun|next run/i);
    expect(ended.stopSeconds, `${where}: a clean stop is prompt`).toBeLessThan(20);
    expect(project.storedRuns().map((r) => r.status)).toEqual(["cancelled"]);

    // Whole batches only, and the state names the last of them: ids 1..n, n a whole number of
    // batches, and the bookmark at n.
    const loaded = await duckdbRowTexts(file, duckdbSql("big"));
    expect(loaded.duplicates).toEqual([]);
    const ids = [...loaded.rows.keys()].map(Number).sort((a, b) => a - b);
    const n = ids.length;
    expect(n % BATCH, `${where}: ${n} rows is not whole batches`).toBe(0);
    expect(n, `${where}: the stop came after the load finished`).toBeLessThan(ROWS);
    expect(ids.at(-1) ?? 0).toBe(n);
    const bookmark = project.storedState(PROJECT_STATE_ID)?.bookmarks["public-big"]?.replication_key_value;
    expect(Number(bookmark), where).toBe(n);
    const source = await sourceRowTexts(db, sourceSql("big"));
    const prefix = new Map([...source].filter(([k]) => Number(k) <= n));
    expect(describeDifference(prefix, loaded.rows), where).toBe("");

    const rerun = await project.run(RUN_ARGS, { timeoutMs: 90_000 });
    expect(rerun.code, describeResult(rerun)).toBe(0);
    const after = await duckdbRowTexts(file, duckdbSql("big"));
    expect(after.duplicates).toEqual([]);
    expect(describeDifference(source, after.rows)).toBe("");
  });

  test("FULL_TABLE: the copy in progress is dropped whole, the old table stays, the rerun replaces it", async () => {
    // All of big (60 batches): on a fast machine a third of it was loaded before the SIGTERM came.
    await db.query("CREATE TABLE snap AS SELECT * FROM big");
    await db.query("ALTER TABLE snap ADD PRIMARY KEY (id)");
    const project = newProject({
      select: ["public-snap.*"],
      metadata: { "public-snap": { "replication-method": "FULL_TABLE" } },
      // Small batches keep the copy going well past the SIGTERM's random delay.
      tap: { batch_size_rows: 100 },
    });
    const file = project.file(DUCKDB_FILE);
    const load = await project.run(RUN_ARGS, { timeoutMs: 90_000 });
    expect(load.code, describeResult(load)).toBe(0);
    const first = await sourceRowTexts(db, sourceSql("snap"));
    const stateBefore = project.storedState(PROJECT_STATE_ID);
    await db.query("UPDATE snap SET v = v + 100 WHERE id % 3 = 0");
    await db.query("DELETE FROM snap WHERE id % 7 = 0");

    const ended = await terminate(project, RUN_ARGS, '"event":"batch-loaded"', 100);
    const where = `SIGTERM ${ended.delay} ms after the first batch`;
    expect(ended.code, `${where}\n${ended.stderr}`).toBe(1);
    expect(errorMessages(ended.stderr), where).toMatch(/stopped/i);
    expect(project.storedState(PROJECT_STATE_ID), where).toEqual(stateBefore);
    expect(await duckdbTables(file), `${where}: the new copy was not dropped`).toEqual(["snap"]);
    const kept = await duckdbRowTexts(file, duckdbSql("snap"));
    expect(describeDifference(first, kept.rows), `${where}: the old table changed`).toBe("");

    const rerun = await project.run(RUN_ARGS, { timeoutMs: 90_000 });
    expect(rerun.code, describeResult(rerun)).toBe(0);
    const replaced = await duckdbRowTexts(file, duckdbSql("snap"));
    expect(replaced.duplicates).toEqual([]);
    expect(describeDifference(await sourceRowTexts(db, sourceSql("snap")), replaced.rows)).toBe("");
  });

  test("LOG_BASED --follow: stops at a checkpoint with exit 0, the slot not past the state, the rerun catches up", async () => {
    await db.query("CREATE TABLE feed (id bigint PRIMARY KEY, v int NOT NULL)");
    await db.query("INSERT INTO feed SELECT i, 0 FROM generate_series(1, 2000) i");
    const project = newProject({
      select: ["public-feed.*"],
      metadata: { "public-feed": { "replication-method": "LOG_BASED" } },
      tap: { logical_commit_seconds: 0, tap_id: "sigterm" },
      target: { add_metadata_columns: true },
    });
    const file = project.file(DUCKDB_FILE);
    let next = 2000;
    const writer = startWriter(db, () => [
      `INSERT INTO feed VALUES (${++next}, 0)`,
      `UPDATE feed SET v = v + 1 WHERE id = ${randomBetween(1, next)}`,
      `DELETE FROM feed WHERE id = ${randomBetween(1, next)}`,
    ]);
    let ended: Awaited<ReturnType<typeof terminate>>;
    try {
      ended = await terminate(project, [...RUN_ARGS, "--follow"], '"event":"changes-committed"', 1500);
    } finally {
      await writer.stop();
    }
    const where = `SIGTERM ${ended.delay} ms after the first checkpoint`;
    expect(ended.code, `${where}\n${ended.stderr}`).toBe(0);
    expect(ended.stderr).toContain("SIGTERM received");
    expect(ended.stopSeconds, `${where}: a clean stop is prompt`).toBeLessThan(20);
    const lsn = project.storedState(PROJECT_STATE_ID)?.bookmarks["public-feed"]?.lsn;
    const [slot] = await db.query<{ lsn: string }>(
      "SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE database = current_database() AND NOT temporary",
    );
    expect(lsn, where).toBeDefined();
    expect(parseLsn(slot!.lsn) <= BigInt(lsn!), `${where}: slot ${slot!.lsn} past the state ${lsn}`).toBe(
      true,
    );
    expect(await keysHeldTwice(file, "public.feed"), where).toEqual([]);

    const rerun = await project.run(RUN_ARGS, { timeoutMs: 90_000 });
    expect(rerun.code, describeResult(rerun)).toBe(0);
    const loaded = await duckdbRowTexts(
      file,
      "SELECT CAST(id AS VARCHAR) AS k, CAST(v AS VARCHAR) AS v FROM public.feed WHERE _sdc_deleted_at IS NULL",
    );
    expect(loaded.duplicates).toEqual([]);
    expect(
      describeDifference(
        await sourceRowTexts(db, "SELECT id::text AS k, v::text AS v FROM feed"),
        loaded.rows,
      ),
    ).toBe("");
  });
});
