import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { duckdbRows, runToDuckdb } from "../../support/pipeline.js";
import {
  describeDifference,
  duckdbRowTexts,
  runToDuckdbObserved,
  sourceRowTexts,
  type RowTexts,
} from "../../support/table-diff.js";
import { TestProject, TestProjects } from "../../support/test-project.js";

/**
 * FULL_TABLE into DuckDB replaces the table as a whole: deleted source rows disappear, and a run
 * that fails half-way leaves the previous table complete, no staging table in its place, and the
 * state where it was. Also: a column added to the source appears in DuckDB (INCREMENTAL upsert).
 */
const STATE_ID = "test:tap-postgres-to-target-duckdb";

let db: TestDatabase;
const projects = new TestProjects();

beforeAll(async () => {
  db = await createTestDatabase("full");
});

afterAll(async () => {
  await db?.drop();
  projects.removeAll();
});

async function expectRows(file: string, expected: RowTexts, duckdbSql: string): Promise<void> {
  const loaded = await duckdbRowTexts(file, duckdbSql);
  expect(loaded.duplicates, "keys loaded more than once").toEqual([]);
  expect(describeDifference(expected, loaded.rows), "DuckDB differs from what was expected").toBe("");
  expect(loaded.count).toBe(expected.size);
}

async function tablesOf(file: string): Promise<string[]> {
  const rows = await duckdbRows(file, "SELECT table_name FROM duckdb_tables() ORDER BY table_name");
  return rows.map((r) => r.table_name ?? "");
}

describe("FULL_TABLE", () => {
  test("a second run after deletes, updates and inserts leaves DuckDB equal to the source", async () => {
    const workDir = projects.add(new TestProject()).dir;
    const file = path.join(workDir, "warehouse.duckdb");
    const streams = { "public-accounts": { "replication-method": "FULL_TABLE" } };
    await db.query(
      "CREATE TABLE accounts (id integer PRIMARY KEY, email text NOT NULL, balance numeric(12,2), created_at timestamptz NOT NULL)",
    );
    await db.query(
      "INSERT INTO accounts SELECT i, 'user' || i || '@example.com', i * 10.5, timestamptz '2023-01-01 00:00:00+00' + i * interval '1 hour' FROM generate_series(1, 500) i",
    );
    const sourceSql =
      "SELECT id::text AS k, concat_ws('|', id, email, coalesce(balance::text, '∅'), (extract(epoch FROM created_at) * 1000000)::bigint) AS v FROM accounts";
    const duckdbSql =
      "SELECT CAST(id AS VARCHAR) AS k, concat_ws('|', id, email, coalesce(CAST(balance AS VARCHAR), '∅'), epoch_us(created_at)) AS v FROM public.accounts";

    const first = await runToDuckdb({ db, workDir, streams });
    expect(first.streams["public-accounts"]?.rows).toBe(500);
    await expectRows(file, await sourceRowTexts(db, sourceSql), duckdbSql);

    await db.query("DELETE FROM accounts WHERE id % 10 = 0");
    await db.query("UPDATE accounts SET balance = NULL, email = 'changed' WHERE id BETWEEN 1 AND 9");
    await db.query(
      "INSERT INTO accounts SELECT i, 'late' || i, 0, timestamptz '2020-01-01 00:00:00+00' FROM generate_series(1001, 1005) i",
    );
    const second = await runToDuckdb({ db, workDir, streams });
    expect(second.streams["public-accounts"]?.rows).toBe(455);
    await expectRows(file, await sourceRowTexts(db, sourceSql), duckdbSql);
    expect(await tablesOf(file)).toEqual(["accounts"]);
  });

  test("a run that fails half-way leaves the previous table complete, no staging table, and the state unmoved", async () => {
    const project = projects.add(new TestProject());
    const workDir = project.dir;
    const file = path.join(workDir, "warehouse.duckdb");
    const streams = { "public-items": { "replication-method": "FULL_TABLE" } };
    const tap = { batch_size_mb: 1 };
    await db.query("CREATE TABLE items (id integer PRIMARY KEY, amount numeric(12,2), note text NOT NULL)");
    await db.query(
      "INSERT INTO items SELECT i, i / 100.0, repeat(md5(i::text), 2) FROM generate_series(1, 30000) i",
    );
    const sourceSql =
      "SELECT id::text AS k, concat_ws('|', id, coalesce(amount::text, '∅'), note) AS v FROM items";
    const duckdbSql =
      "SELECT CAST(id AS VARCHAR) AS k, concat_ws('|', id, coalesce(CAST(amount AS VARCHAR), '∅'), note) AS v FROM public.items";
    await runToDuckdb({ db, workDir, streams, tap });
    const before = await sourceRowTexts(db, sourceSql);
    await expectRows(file, before, duckdbSql);
    const stateBefore = project.storedState(STATE_ID);
    expect(stateBefore?.bookmarks["public-items"]?.last_replication_method).toBe("FULL_TABLE");

    // Changed rows (so the new copy differs from the old table), then a value DECIMAL(12,2)
    // cannot hold, written last so that earlier batches are loaded before the run fails.
    await db.query("UPDATE items SET note = 'changed' WHERE id <= 1000");
    await db.query("DELETE FROM items WHERE id > 29000");
    await db.query("INSERT INTO items VALUES (99999, 'NaN', 'not a number')");
    let batchesLoaded = 0;
    const failing = runToDuckdbObserved({
      db,
      workDir,
      streams,
      tap,
      observer: (event) => {
        if (event.type === "batch-loaded") batchesLoaded += 1;
      },
    });
    await expect(failing).rejects.toThrow(/column "amount" of public\.items .*NaN/);
    expect(batchesLoaded, "batches loaded before the failing one").toBeGreaterThanOrEqual(1);

    await expectRows(file, before, duckdbSql);
    expect(await tablesOf(file)).toEqual(["items"]);
    expect(project.storedState(STATE_ID)).toEqual(stateBefore);
    const runs = project.storedRuns();
    expect(runs.at(-1)?.status).toBe("failed");
    expect(runs.at(-1)?.error).toMatch(/amount/);

    // Once the bad value is gone, the next run replaces the table with the source as it is.
    await db.query("DELETE FROM items WHERE id = 99999");
    await runToDuckdb({ db, workDir, streams, tap });
    await expectRows(file, await sourceRowTexts(db, sourceSql), duckdbSql);
    expect(await tablesOf(file)).toEqual(["items"]);
  });
});

describe("schema evolution", () => {
  test("a column added to the source is added to the DuckDB table; rows loaded before hold NULL there", async () => {
    const workDir = projects.add(new TestProject()).dir;
    const file = path.join(workDir, "warehouse.duckdb");
    const streams = {
      "public-profiles": { "replication-method": "INCREMENTAL", "replication-key": "updated_at" },
    };
    await db.query(
      "CREATE TABLE profiles (id integer PRIMARY KEY, updated_at timestamptz NOT NULL, name text)",
    );
    await db.query(
      "INSERT INTO profiles SELECT i, timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second', 'p' || i FROM generate_series(1, 100) i",
    );
    await runToDuckdb({ db, workDir, streams });

    await db.query("ALTER TABLE profiles ADD COLUMN nickname text, ADD COLUMN score numeric(6,1)");
    await db.query(
      "UPDATE profiles SET nickname = 'nick' || id, score = id / 2.0, updated_at = updated_at + interval '1 day' WHERE id <= 5",
    );
    await db.query(
      "INSERT INTO profiles SELECT i, timestamptz '2024-02-01 00:00:00+00', 'p' || i, NULL, 7.5 FROM generate_series(101, 110) i",
    );
    await runToDuckdb({ db, workDir, streams });

    const columns = await duckdbRows(
      file,
      "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'profiles' ORDER BY column_index",
    );
    expect(columns.map((c) => `${c.column_name} ${c.data_type}`)).toEqual([
      "id INTEGER",
      "updated_at TIMESTAMP WITH TIME ZONE",
      "name VARCHAR",
      "nickname VARCHAR",
      "score DECIMAL(6,1)",
    ]);
    const source = await sourceRowTexts(
      db,
      "SELECT id::text AS k, concat_ws('|', id, (extract(epoch FROM updated_at) * 1000000)::bigint, name, coalesce(nickname, '∅'), coalesce(score::text, '∅')) AS v FROM profiles",
    );
    await expectRows(
      file,
      source,
      "SELECT CAST(id AS VARCHAR) AS k, concat_ws('|', id, epoch_us(updated_at), name, coalesce(nickname, '∅'), coalesce(CAST(score AS VARCHAR), '∅')) AS v FROM public.profiles",
    );
    const [nulls] = await duckdbRows(
      file,
      "SELECT count(*) AS n FROM public.profiles WHERE id BETWEEN 6 AND 100 AND nickname IS NULL AND score IS NULL",
    );
    expect(nulls?.n).toBe("95");
  });
});
