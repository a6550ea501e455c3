import fs from "node:fs";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { PostgresExtractor } from "../../../src/connectors/tap-postgres/postgres-extractor.js";
import { parseLsn } from "../../../src/connectors/tap-postgres/cdc/replication-message.js";
import type { RunEvent } from "../../../src/runner/run-events.js";
import { SqliteSystemDatabase } from "../../../src/state/sqlite-system-database.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { duckdbRows, runToDuckdb, selectStreams, tapConfig, tempDir } from "../../support/pipeline.js";
import { describeDifference, duckdbRowTexts, sourceRowTexts } from "../../support/table-diff.js";

/**
 * LOG_BASED end to end: PostgreSQL's WAL through pgoutput into DuckDB. After every step the
 * warehouse's live rows (`_sdc_deleted_at IS NULL`) equal the source, with no key twice.
 */
let db: TestDatabase;
let workDir: string;
const streams = {
  "public-items": { "replication-method": "LOG_BASED" },
  "public-notes": { "replication-method": "LOG_BASED" },
};
const STATE_ID = "test:log-based";

/** ~6 kB of random hex: compresses to well over 2 kB, so PostgreSQL stores it out of line (TOAST). */
const TOASTED = "(SELECT string_agg(md5(random()::text || g::text), '') FROM generate_series(1, 200) g)";

beforeAll(async () => {
  db = await createTestDatabase("cdc");
  workDir = tempDir("sluice-cdc-");
  await db.query(
    `CREATE TABLE items (id int PRIMARY KEY, name text, amount numeric(12,2), doc jsonb, big text, tags text[])`,
  );
  await db.query(
    `INSERT INTO items SELECT i, 'item ' || i, i * 1.25, jsonb_build_object('n', i), CASE WHEN i <= 20 THEN ${TOASTED} END, ARRAY['a', i::text]
     FROM generate_series(1, 2000) i`,
  );
  await db.query("CREATE TABLE notes (id int PRIMARY KEY, body text)");
  await db.query("INSERT INTO notes SELECT i, 'note ' || i FROM generate_series(1, 50) i");
});

afterAll(async () => {
  await db.query(
    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database() AND NOT active",
  );
  await db.drop();
  fs.rmSync(workDir, { recursive: true, force: true });
});

const run = (extra: Partial<Parameters<typeof runToDuckdb>[0]> = {}) =>
  runToDuckdb({
    db,
    workDir,
    streams,
    stateId: STATE_ID,
    target: { add_metadata_columns: true },
    ...extra,
  });

async function expectEqual(): Promise<void> {
  const file = path.join(workDir, "warehouse.duckdb");
  for (const table of ["items", "notes"]) {
    const columns =
      table === "items" ? "name, amount::text, (doc->>'n'), md5(big), array_to_string(tags, ',')" : "body";
    const duckColumns =
      table === "items" ? "name, amount::VARCHAR, (doc->>'n'), md5(big), array_to_string(tags, ',')" : "body";
    const source = await sourceRowTexts(
      db,
      `SELECT id::text AS k, concat_ws('|', ${columns}) AS v FROM ${table}`,
    );
    const target = await duckdbRowTexts(
      file,
      `SELECT id::VARCHAR AS k, concat_ws('|', ${duckColumns}) AS v FROM public.${table} WHERE _sdc_deleted_at IS NULL`,
    );
    expect(target.duplicates, `${table}: keys twice`).toEqual([]);
    expect(describeDifference(source, target.rows), table).toBe("");
  }
}

async function storedLsn(): Promise<bigint> {
  const system = await SqliteSystemDatabase.open({ path: path.join(workDir, ".sluice", "sluice.db") });
  try {
    const state = await system.stateStore.get(STATE_ID);
    return BigInt(state!.bookmarks["public-items"]!.lsn as number);
  } finally {
    await system.close();
  }
}

async function confirmedLsn(): Promise<bigint> {
  const rows = await db.query<{ lsn: string }>(
    "SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE database = current_database() AND NOT temporary",
  );
  return parseLsn(rows[0]!.lsn);
}

describe("LOG_BASED into DuckDB", () => {
  test("an initial copy taken while the source is written meets the slot's changes exactly", async () => {
    // Writes keep landing while the first run copies and streams.
    let writing = true;
    let n = 0;
    const writer = (async () => {
      while (writing) {
        n += 1;
        await db.query(
          `BEGIN; INSERT INTO items VALUES (${10000 + n}, 'new ${n}', ${n}, '{"n": ${n}}', NULL, ARRAY['x']);
           UPDATE items SET amount = amount + 1 WHERE id = ${(n % 2000) + 1};
           DELETE FROM items WHERE id = ${10000 + n - 3}; COMMIT;`,
        );
      }
    })();
    const first = await run();
    writing = false;
    await writer;
    expect(first.status).toBe("success");
    expect(n).toBeGreaterThan(0);
    // The second run catches up on what came after the first stopped.
    await run();
    await expectEqual();
    // The slot was told only what the state holds.
    expect(await confirmedLsn()).toBe(await storedLsn());
  });

  test("inserts, updates leaving TOASTed values out of the WAL, deletes, rollbacks and big transactions", async () => {
    const before = await duckdbRows(
      path.join(workDir, "warehouse.duckdb"),
      "SELECT md5(big) AS m FROM public.items WHERE id = 5",
    );
    expect(before[0]?.m).toBeTruthy();
    await db.query("UPDATE items SET name = 'renamed ' || id WHERE id <= 10"); // big stays in TOAST
    await db.query("UPDATE items SET doc = jsonb_build_object('n', -id) WHERE id BETWEEN 11 AND 15");
    await db.query("DELETE FROM items WHERE id BETWEEN 100 AND 120");
    await db.query("INSERT INTO items VALUES (100, 'back again', 1, '{}', NULL, '{}')");
    await db.query("BEGIN; INSERT INTO items VALUES (99999, 'never', 0, '{}', NULL, NULL); ROLLBACK;");
    await db.query("UPDATE items SET amount = amount * 2 WHERE id BETWEEN 200 AND 1999"); // one large transaction
    await db.query("UPDATE notes SET body = body || ' (edited)' WHERE id % 2 = 0");
    const events: RunEvent[] = [];
    const summary = await run({ observer: (e) => events.push(e) });
    expect(summary.status).toBe("success");
    await expectEqual();
    const after = await duckdbRows(
      path.join(workDir, "warehouse.duckdb"),
      "SELECT md5(big) AS m, name FROM public.items WHERE id = 5",
    );
    expect(after[0]).toEqual({ m: before[0]!.m, name: "renamed 5" });
    const deleted = await duckdbRows(
      path.join(workDir, "warehouse.duckdb"),
      "SELECT count(*) AS n FROM public.items WHERE _sdc_deleted_at IS NOT NULL AND id BETWEEN 101 AND 120",
    );
    expect(deleted[0]?.n).toBe("20");
    expect(events.some((e) => e.type === "changes-committed")).toBe(true);
    expect(summary.streams["public-items"]?.slotLagBytes).toBeGreaterThanOrEqual(0);
    // Run history keeps the slot lag per stream.
    const system = await SqliteSystemDatabase.open({ path: path.join(workDir, ".sluice", "sluice.db") });
    try {
      const [last] = await system.runHistory.list({ stateId: STATE_ID, limit: 1 });
      expect(last?.streams["public-items"]?.slotLagBytes).toBe(summary.streams["public-items"]?.slotLagBytes);
    } finally {
      await system.close();
    }
    expect(await confirmedLsn()).toBe(await storedLsn());
  });

  test("a column added at the source reaches the warehouse; a truncate empties the table", async () => {
    await db.query("ALTER TABLE notes ADD COLUMN rating int");
    await db.query("UPDATE notes SET rating = id * 10 WHERE id <= 5");
    await db.query("INSERT INTO notes VALUES (1000, 'with rating', 7)");
    await run();
    const rated = await duckdbRows(
      path.join(workDir, "warehouse.duckdb"),
      "SELECT id, rating FROM public.notes WHERE rating IS NOT NULL ORDER BY id",
    );
    expect(rated.map((r) => [r.id, r.rating])).toEqual([
      ["1", "10"],
      ["2", "20"],
      ["3", "30"],
      ["4", "40"],
      ["5", "50"],
      ["1000", "7"],
    ]);
    await db.query("TRUNCATE notes");
    await db.query("INSERT INTO notes VALUES (1, 'after truncate', 1)");
    await run();
    await expectEqual();
  });

  test("an idle source ends a batch run at once, and the slot still advances", async () => {
    const lsnBefore = await storedLsn();
    await db.query("CREATE TABLE unrelated (x int)"); // WAL that is not ours
    await db.query("INSERT INTO unrelated SELECT generate_series(1, 1000)");
    const started = Date.now();
    const summary = await run();
    expect(summary.status).toBe("success");
    // Well under logical_poll_total_seconds: the run stops at the WAL end it saw at start.
    expect(Date.now() - started).toBeLessThan(8000);
    expect(await storedLsn()).toBeGreaterThan(lsnBefore);
    expect(await confirmedLsn()).toBe(await storedLsn());
  });

  test("follow mode streams until stopped, then stops cleanly with everything committed", async () => {
    const controller = new AbortController();
    const committed: string[] = [];
    const following = run({
      follow: true,
      signal: controller.signal,
      observer: (e) => {
        if (e.type === "changes-committed") committed.push(e.position);
      },
    });
    await new Promise((r) => setTimeout(r, 1500));
    await db.query(
      "INSERT INTO items SELECT i, 'followed', 1, '{}', NULL, NULL FROM generate_series(50001, 50100) i",
    );
    // Wait until a checkpoint past the insert is committed, then stop as SIGTERM would.
    const target = (await db.query<{ lsn: string }>("SELECT pg_current_wal_lsn()::text AS lsn"))[0]!.lsn;
    const deadline = Date.now() + 20_000;
    while (!committed.some((p) => BigInt(p) >= parseLsn(target)) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
    }
    controller.abort();
    const summary = await following;
    expect(summary.status).toBe("success");
    await expectEqual();
    expect(await confirmedLsn()).toBe(await storedLsn());
  });

  test("sluice test's checks name what LOG_BASED lacks; teardown removes the slot and publication", async () => {
    await db.query("DROP ROLE IF EXISTS cdc_reader; CREATE ROLE cdc_reader LOGIN PASSWORD 'pw'");
    await db.query("GRANT SELECT ON ALL TABLES IN SCHEMA public TO cdc_reader");
    await db.query("CREATE TABLE keyless (v text)");
    await db.query("GRANT SELECT ON keyless TO cdc_reader");
    const extractor = new PostgresExtractor(
      tapConfig(db, { user: "cdc_reader", password: "pw", tap_id: "other" }),
    );
    try {
      const catalog = selectStreams(await extractor.discover(), streams);
      const plans = await extractor.plan(catalog);
      await expect(extractor.test(plans)).rejects.toThrow(/REPLICATION privilege/);
      await expect(
        extractor.plan(
          selectStreams(await extractor.discover(), {
            "public-keyless": { "replication-method": "LOG_BASED" },
          }),
        ),
      ).rejects.toThrow(/needs a primary key/);
    } finally {
      await extractor.close();
    }
    const owner = new PostgresExtractor(tapConfig(db));
    // The state recorded the pipeline's own slot, named after its state id.
    const system = await SqliteSystemDatabase.open({ path: path.join(workDir, ".sluice", "sluice.db") });
    const state = await system.stateStore.get(STATE_ID).finally(() => system.close());
    expect(state?.replication_slot).toMatch(new RegExp(`^sluice_${db.name}_test_log_based_[0-9a-f]{8}$`));
    const pipeline = {
      stateId: STATE_ID,
      recordedSlot: state!.replication_slot!,
      bookmarks: state!.bookmarks,
    };
    const [status] = (await owner.changeCaptureStatus([pipeline])).slots;
    expect(status).toMatchObject({ slot: state!.replication_slot, exists: true, stateIds: [STATE_ID] });
    expect(await owner.teardownChangeCapture(pipeline)).toEqual([
      `replication slot "${status!.slot}"`,
      `publication "${status!.publication}"`,
    ]);
    expect((await owner.changeCaptureStatus([pipeline])).slots).toEqual([]);
  });

  test("on a server without logical decoding, sluice test names wal_level and the missing slot", async () => {
    const url = new URL(inject("plainPostgresUrl"));
    const admin = new pg.Client({ connectionString: url.toString() });
    await admin.connect();
    try {
      await admin.query("CREATE TABLE IF NOT EXISTS plain (id int PRIMARY KEY)");
      await admin.query(
        "SELECT pg_create_physical_replication_slot('only_slot') WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots)",
      );
    } finally {
      await admin.end();
    }
    const extractor = new PostgresExtractor({
      host: url.hostname,
      port: Number(url.port),
      user: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
      dbname: "postgres",
    });
    try {
      const plans = await extractor.plan(
        selectStreams(await extractor.discover(), { "public-plain": { "replication-method": "LOG_BASED" } }),
      );
      const failure = await extractor.test(plans).then(
        () => undefined,
        (error: unknown) => error as { problems: string[]; exitCode: number },
      );
      expect(failure?.exitCode).toBe(2);
      expect(failure?.problems).toEqual([
        expect.stringMatching(/wal_level is "replica", LOG_BASED needs "logical"/),
        expect.stringMatching(/no free replication slot: 1 of max_replication_slots = 1/),
      ]);
    } finally {
      await extractor.close();
    }
  });

  test("a lost slot: the next run copies its tables again and then streams from a new slot", async () => {
    // The slot is gone (dropped above), and changes were made meanwhile: only a new copy has them.
    await db.query("UPDATE items SET name = 'while the slot was gone' WHERE id <= 3");
    await db.query("DELETE FROM items WHERE id = 4");
    const modes: string[] = [];
    const summary = await run({
      observer: (e) => {
        if (e.type === "stream-started") modes.push(`${e.streamId}:${e.mode}`);
      },
    });
    expect(summary.status).toBe("success");
    expect(modes).toContain("public-items:replace");
    await db.query("UPDATE items SET name = 'after the new slot' WHERE id = 5");
    await run();
    await expectEqual();
    expect(await confirmedLsn()).toBe(await storedLsn());
  });
});
