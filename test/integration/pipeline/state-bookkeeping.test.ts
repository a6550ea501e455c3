import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { SqliteSystemDatabase } from "../../../src/state/sqlite-system-database.js";
import type { SingerState } from "../../../src/protocol/state.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { duckdbRows, runToDuckdb, tempDir } from "../../support/pipeline.js";

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
