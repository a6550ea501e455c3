import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { SqliteSystemDatabase } from "../../../src/state/sqlite-system-database.js";
import type { SingerState } from "../../../src/protocol/state.js";
import type { RunEvent } from "../../../src/runner/run-events.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { duckdbRows, runToDuckdb, tempDir } from "../../support/pipeline.js";
import { recordSql } from "../../support/sql-recorder.js";

// What a run does to the state of streams it does not run (issue 16, item 9).

let db: TestDatabase;
let workDir: string;
const STATE_ID = "test:bookkeeping";
const INCREMENTAL = { "replication-method": "INCREMENTAL", "replication-key": "id" };

beforeAll(async () => {
  db = await createTestDatabase("bookkeeping");
  workDir = tempDir("sluice-bookkeeping-");
  await db.query(`
    CREATE TABLE accounts (id bigint PRIMARY KEY, name text);
    CREATE TABLE events (id bigint PRIMARY KEY, kind text);
    INSERT INTO accounts SELECT g, 'a' || g FROM generate_series(1, 5) g;
    INSERT INTO events SELECT g, 'e' || g FROM generate_series(1, 8) g;`);
});

afterAll(async () => {
  await db?.drop();
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

async function storedState(): Promise<SingerState | undefined> {
  const system = await SqliteSystemDatabase.open({ path: path.join(workDir, ".sluice", "sluice.db") });
  try {
    return await system.stateStore.get(STATE_ID);
  } finally {
    await system.close();
  }
}

test("--full-refresh of some streams starts those again and keeps the other streams' bookmarks", async () => {
  const streams = { "public-accounts": INCREMENTAL, "public-events": INCREMENTAL };
  await runToDuckdb({ db, workDir, streams, stateId: STATE_ID });
  expect((await storedState())?.bookmarks["public-events"]?.replication_key_value).toBe("8");

  await db.query(`INSERT INTO events VALUES (9, 'e9'); UPDATE accounts SET name = 'renamed' WHERE id = 1;`);
  // `run --full-refresh --select public-accounts`: only accounts runs, read whole again.
  const refresh = await runToDuckdb({
    db,
    workDir,
    streams: { "public-accounts": INCREMENTAL },
    stateId: STATE_ID,
    fullRefresh: true,
  });
  expect(refresh.streams["public-accounts"]?.rows).toBe(5);
  const state = await storedState();
  expect(state?.bookmarks["public-accounts"]?.replication_key_value).toBe("5");
  // Not run, not refreshed: its bookmark is where its last run left it.
  expect(state?.bookmarks["public-events"]?.replication_key_value).toBe("8");

  // The next run of everything reads events from its bookmark, not from the start.
  const next = await runToDuckdb({ db, workDir, streams, stateId: STATE_ID });
  // The row at the bookmark (8) and the new one (9): INCREMENTAL reads `key >= bookmark`.
  expect(next.streams["public-events"]?.rows).toBe(2);
  expect(
    await duckdbRows(
      path.join(workDir, "warehouse.duckdb"),
      "SELECT (SELECT count(*) FROM public.events) AS events, (SELECT name FROM public.accounts WHERE id = 1) AS name",
    ),
  ).toEqual([{ events: "9", name: "renamed" }]);
});

test("INCREMENTAL: infinity, NaN and NULL keys never become the bookmark; those rows are read each run", async () => {
  await db.query(`
    CREATE TABLE readings (id int PRIMARY KEY, at timestamptz, level numeric);
    INSERT INTO readings VALUES
      (1, '2024-01-01 00:00+00', 1), (2, 'infinity', 'NaN'), (3, NULL, NULL), (4, '-infinity', 'Infinity'),
      (5, '2024-01-02 00:00+00', 2);`);
  const stateId = "test:non-finite";
  for (const key of ["at", "level"]) {
    const streams = { "public-readings": { "replication-method": "INCREMENTAL", "replication-key": key } };
    const dir = tempDir("sluice-non-finite-");
    try {
      const warnings: string[] = [];
      const observer = (event: RunEvent): void => {
        if (event.type === "warning") warnings.push(event.message);
      };
      const total = async (): Promise<number> =>
        Number((await db.query<{ n: string }>("SELECT count(*) AS n FROM readings"))[0]!.n);
      const first = await runToDuckdb({ db, workDir: dir, streams, stateId, observer });
      expect(first.streams["public-readings"]?.rows, key).toBe(await total());
      expect(warnings, key).toEqual([
        expect.stringMatching(/3 row\(s\) have a replication key .* read on every run/),
      ]);
      const system = await SqliteSystemDatabase.open({ path: path.join(dir, ".sluice", "sluice.db") });
      const bookmark = (await system.stateStore.get(stateId))?.bookmarks["public-readings"]
        ?.replication_key_value;
      await system.close();
      // The largest finite value, which `>=` can continue from.
      // (The `level` round also sees the row the `at` round added, with level 3.)
      expect(String(bookmark), key).toMatch(key === "at" ? /^2024-01-02T00:00:00/ : /^3$/);

      // A later row with a finite key is found; the unplaceable ones come again (upserted: no duplicates).
      await db.query(`INSERT INTO readings VALUES (${key === "at" ? 6 : 7}, '2024-01-03 00:00+00', 3)`);
      const second = await runToDuckdb({ db, workDir: dir, streams, stateId });
      expect(second.streams["public-readings"]?.rows, key).toBe(5);
      const rows = await duckdbRows(
        path.join(dir, "warehouse.duckdb"),
        "SELECT count(*) AS n FROM public.readings",
      );
      expect(rows, key).toEqual([{ n: key === "at" ? "6" : "7" }]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
});

test("INCREMENTAL: a bookmark an earlier version stored as infinity is read from the start again", async () => {
  await db.query(`
    CREATE TABLE stuck (id int PRIMARY KEY, at timestamp);
    INSERT INTO stuck VALUES (1, '2024-01-01'), (2, 'infinity'), (3, '2024-01-05');`);
  const dir = tempDir("sluice-stuck-");
  const stateId = "test:stuck";
  try {
    const system = await SqliteSystemDatabase.open({ path: path.join(dir, ".sluice", "sluice.db") });
    await system.stateStore.set(stateId, {
      bookmarks: { "public-stuck": { replication_key: "at", replication_key_value: "infinity" } },
    });
    await system.close();
    const warnings: string[] = [];
    const run = await runToDuckdb({
      db,
      workDir: dir,
      stateId,
      streams: { "public-stuck": { "replication-method": "INCREMENTAL", "replication-key": "at" } },
      observer: (event) => {
        if (event.type === "warning") warnings.push(event.message);
      },
    });
    expect(run.streams["public-stuck"]?.rows).toBe(3);
    expect(warnings[0]).toMatch(
      /stored bookmark at = infinity cannot order any later row; reading the table from the start/,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("INCREMENTAL on a NOT NULL integer key reads the table once: no query for unplaceable rows", async () => {
  const dir = tempDir("sluice-not-null-");
  const recorder = recordSql();
  try {
    await runToDuckdb({
      db,
      workDir: dir,
      stateId: "test:not-null-key",
      streams: { "public-events": INCREMENTAL },
    });
  } finally {
    recorder.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const copies = recorder
    .take()
    .filter((sql) => sql.startsWith("COPY (SELECT") && sql.includes('FROM "public"."events"'));
  expect(copies).toHaveLength(1);
  expect(copies[0]).toMatch(/WHERE "id" IS NOT NULL ORDER BY "id"/);
});
