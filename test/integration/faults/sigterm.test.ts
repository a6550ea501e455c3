import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { tempDir } from "../../support/pipeline.js";
import {
  PROJECT_STATE_ID,
  readRuns,
  readStoredState,
  runSluice,
  startSluice,
  writeProject,
} from "../../support/sluice-project.js";
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
import { parseLsn } from "../../../src/connectors/tap-postgres/cdc/replication-message.js";
import { sleep } from "../../support/sluice-project.js";

/**
 * SIGTERM is a clean stop: the batch being loaded commits whole (with its state) or not at all,
 * the run ends promptly with exit 1 and says it was stopped and that a rerun continues, run
 * history records it as cancelled, and the rerun reaches equality. A LOG_BASED `--follow` run
 * stops at a checkpoint with exit 0, as its normal end.
 */
const ROWS = 30_000;
const BATCH = 500;

let db: TestDatabase;
const dirs: string[] = [];

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
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

function newDir(): string {
  const dir = tempDir("sluice-sigterm-");
  dirs.push(dir);
  return dir;
}

const sourceSql = (table: string): string =>
  `SELECT id::text AS k, v::text || '|' || body AS v FROM ${table}`;
const duckdbSql = (table: string): string =>
  `SELECT CAST(id AS VARCHAR) AS k, CAST(v AS VARCHAR) || '|' || body AS v FROM public.${table}`;

/** Starts a run, waits until `ready`, sends SIGTERM a random while later, and returns how it ended. */
async function terminate(dir: string, args: readonly string[], ready: string, maxDelayMs: number) {
  const run = startSluice(dir, db, args);
  await waitFor(run, ready, () => run.output().stderr.includes(ready));
  const delay = randomBetween(0, maxDelayMs);
  await sleep(delay);
  const sentAt = Date.now();
  run.child.kill("SIGTERM");
  const ended = await run.exited;
  return { ...ended, delay, stopSeconds: (Date.now() - sentAt) / 1000 };
}

describe("SIGTERM", () => {
  test("INCREMENTAL: the batch in flight commits whole with its state, exit 1 with a clear message, the rerun completes", async () => {
    const dir = newDir();
    const file = path.join(dir, "warehouse.duckdb");
    writeProject(dir, db, {
      select: ["public-big.*"],
      metadata: { "public-big": { "replication-method": "INCREMENTAL", "replication-key": "id" } },
      tap: { batch_size_rows: BATCH },
    });
    const ended = await terminate(dir, RUN_ARGS, '"event":"state-committed"', 200);
    const where = `SIGTERM ${ended.delay} ms after the first state commit`;
    expect(ended.signal, `${where}\n${ended.stderr}`).toBeNull();
    expect(ended.code, `${where}\n${ended.stderr}`).toBe(1);
    expect(ended.stderr).toContain("SIGTERM received");
    const message = errorMessages(ended.stderr);
    expect(message, where).toMatch(/stopped/i);
    expect(message, where).toMatch(/run again|rerun|next run/i);
    expect(ended.stopSeconds, `${where}: a clean stop is prompt`).toBeLessThan(20);
    expect(readRuns(dir).map((r) => r.status)).toEqual(["cancelled"]);

    // Whole batches only, and the state names the last of them: ids 1..n, n a whole number of
    // batches, and the bookmark at n.
    const loaded = await duckdbRowTexts(file, duckdbSql("big"));
    expect(loaded.duplicates).toEqual([]);
    const ids = [...loaded.rows.keys()].map(Number).sort((a, b) => a - b);
    const n = ids.length;
    expect(n % BATCH, `${where}: ${n} rows is not whole batches`).toBe(0);
    expect(n, `${where}: the stop came after the load finished`).toBeLessThan(ROWS);
    expect(ids.at(-1) ?? 0).toBe(n);
    const bookmark = readStoredState(dir, PROJECT_STATE_ID)?.bookmarks["public-big"]?.replication_key_value;
    expect(Number(bookmark), where).toBe(n);
    const source = await sourceRowTexts(db, sourceSql("big"));
    const prefix = new Map([...source].filter(([k]) => Number(k) <= n));
    expect(describeDifference(prefix, loaded.rows), where).toBe("");

    await runSluice(dir, db, RUN_ARGS, { timeoutMs: 90_000 });
    const after = await duckdbRowTexts(file, duckdbSql("big"));
    expect(after.duplicates).toEqual([]);
    expect(describeDifference(source, after.rows)).toBe("");
  });

  test("FULL_TABLE: the copy in progress is dropped whole, the old table stays, the rerun replaces it", async () => {
    const dir = newDir();
    const file = path.join(dir, "warehouse.duckdb");
    // All of big (60 batches): on a fast machine a third of it was loaded before the SIGTERM came.
    await db.query("CREATE TABLE snap AS SELECT * FROM big");
    await db.query("ALTER TABLE snap ADD PRIMARY KEY (id)");
    writeProject(dir, db, {
      select: ["public-snap.*"],
      metadata: { "public-snap": { "replication-method": "FULL_TABLE" } },
      // Small batches keep the copy going well past the SIGTERM's random delay.
      tap: { batch_size_rows: 100 },
    });
    await runSluice(dir, db, RUN_ARGS, { timeoutMs: 90_000 });
    const first = await sourceRowTexts(db, sourceSql("snap"));
    const stateBefore = readStoredState(dir, PROJECT_STATE_ID);
    await db.query("UPDATE snap SET v = v + 100 WHERE id % 3 = 0");
    await db.query("DELETE FROM snap WHERE id % 7 = 0");

    const ended = await terminate(dir, RUN_ARGS, '"event":"batch-loaded"', 100);
    const where = `SIGTERM ${ended.delay} ms after the first batch`;
    expect(ended.code, `${where}\n${ended.stderr}`).toBe(1);
    expect(errorMessages(ended.stderr), where).toMatch(/stopped/i);
    expect(readStoredState(dir, PROJECT_STATE_ID), where).toEqual(stateBefore);
    expect(await duckdbTables(file), `${where}: the new copy was not dropped`).toEqual(["snap"]);
    const kept = await duckdbRowTexts(file, duckdbSql("snap"));
    expect(describeDifference(first, kept.rows), `${where}: the old table changed`).toBe("");

    await runSluice(dir, db, RUN_ARGS, { timeoutMs: 90_000 });
    const replaced = await duckdbRowTexts(file, duckdbSql("snap"));
    expect(replaced.duplicates).toEqual([]);
    expect(describeDifference(await sourceRowTexts(db, sourceSql("snap")), replaced.rows)).toBe("");
  });

  test("LOG_BASED --follow: stops at a checkpoint with exit 0, the slot not past the state, the rerun catches up", async () => {
    const dir = newDir();
    const file = path.join(dir, "warehouse.duckdb");
    await db.query("CREATE TABLE feed (id bigint PRIMARY KEY, v int NOT NULL)");
    await db.query("INSERT INTO feed SELECT i, 0 FROM generate_series(1, 2000) i");
    writeProject(dir, db, {
      select: ["public-feed.*"],
      metadata: { "public-feed": { "replication-method": "LOG_BASED" } },
      tap: { logical_commit_seconds: 0, tap_id: "sigterm" },
      target: { add_metadata_columns: true },
    });
    let next = 2000;
    const writer = startWriter(db, () => [
      `INSERT INTO feed VALUES (${++next}, 0)`,
      `UPDATE feed SET v = v + 1 WHERE id = ${randomBetween(1, next)}`,
      `DELETE FROM feed WHERE id = ${randomBetween(1, next)}`,
    ]);
    let ended: Awaited<ReturnType<typeof terminate>>;
    try {
      ended = await terminate(dir, [...RUN_ARGS, "--follow"], '"event":"changes-committed"', 1500);
    } finally {
      await writer.stop();
    }
    const where = `SIGTERM ${ended.delay} ms after the first checkpoint`;
    expect(ended.code, `${where}\n${ended.stderr}`).toBe(0);
    expect(ended.stderr).toContain("SIGTERM received");
    expect(ended.stopSeconds, `${where}: a clean stop is prompt`).toBeLessThan(20);
    const lsn = readStoredState(dir, PROJECT_STATE_ID)?.bookmarks["public-feed"]?.lsn;
    const [slot] = await db.query<{ lsn: string }>(
      "SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE database = current_database() AND NOT temporary",
    );
    expect(lsn, where).toBeDefined();
    expect(parseLsn(slot!.lsn) <= BigInt(lsn!), `${where}: slot ${slot!.lsn} past the state ${lsn}`).toBe(
      true,
    );
    expect(await keysHeldTwice(file, "public.feed"), where).toEqual([]);

    await runSluice(dir, db, RUN_ARGS, { timeoutMs: 90_000 });
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
