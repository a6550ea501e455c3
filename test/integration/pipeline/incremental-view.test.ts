import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ConfigError } from "../../../src/errors.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { duckdbRows, runToDuckdb, tempDir } from "../../support/pipeline.js";

/**
 * INCREMENTAL over a view: `view-key-properties` (pipelinewise-tap-postgres's metadata) gives the
 * view a key, so the rows read again at the bookmark (`key >= bookmark`) replace themselves
 * instead of being appended again on every run. Without it, INCREMENTAL over a view is refused
 * (naming the setting), unless `view-key-properties: []` says the appends are wanted.
 */

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase("incr_view");
  await db.query(`
    CREATE TABLE events (id integer PRIMARY KEY, updated_at timestamptz NOT NULL, name text);
    INSERT INTO events SELECT i, timestamptz '2024-03-01 10:00:00+00' + ((i - 1) / 10) * interval '1 second', 'row ' || i
      FROM generate_series(1, 100) i;
    CREATE VIEW events_v AS SELECT id, updated_at, name FROM events;`);
});

afterAll(async () => {
  await db?.drop();
});

const incremental = { "replication-method": "INCREMENTAL", "replication-key": "updated_at" };

async function warehouse(workDir: string): Promise<{ rows: number; ids: number; changed: number }> {
  const [row] = await duckdbRows(
    path.join(workDir, "warehouse.duckdb"),
    `SELECT count(*) AS rows, count(DISTINCT id) AS ids, count(*) FILTER (WHERE name LIKE 'changed%') AS changed FROM public.events_v`,
  );
  return { rows: Number(row!.rows), ids: Number(row!.ids), changed: Number(row!.changed) };
}

describe("INCREMENTAL over a view", () => {
  test("with view-key-properties, rows read again at the bookmark replace themselves: no duplicates", async () => {
    const workDir = tempDir();
    const streams = { "public-events_v": { ...incremental, "view-key-properties": ["id"] } };
    expect((await runToDuckdb({ db, workDir, streams })).status).toBe("success");
    expect(await warehouse(workDir)).toEqual({ rows: 100, ids: 100, changed: 0 });

    // A row changed at the bookmark's value without moving it, and a new row at that value.
    await db.query(`UPDATE events SET name = 'changed at the bookmark' WHERE id = 95;
      INSERT INTO events VALUES (101, (SELECT max(updated_at) FROM events), 'new at the bookmark')`);
    expect((await runToDuckdb({ db, workDir, streams })).status).toBe("success");
    expect((await runToDuckdb({ db, workDir, streams })).status).toBe("success");
    expect(await warehouse(workDir)).toEqual({ rows: 101, ids: 101, changed: 1 });
    await db.query("DELETE FROM events WHERE id = 101; UPDATE events SET name = 'row 95' WHERE id = 95");
  });

  test("without a key, INCREMENTAL over a view is refused, naming the setting and what to do", async () => {
    const run = runToDuckdb({ db, workDir: tempDir(), streams: { "public-events_v": incremental } });
    await expect(run).rejects.toThrow(ConfigError);
    await expect(run).rejects.toThrow(
      /metadata\.public-events_v\.view-key-properties: INCREMENTAL reads public\.events_v from its bookmark on .*Set view-key-properties to the view's unique column\(s\) \(e\.g\. \[id\]\), or to \[\] to append them knowingly, or use FULL_TABLE/,
    );
  });

  test("view-key-properties: [] appends the rows at the bookmark again, as asked", async () => {
    const workDir = tempDir();
    const streams = { "public-events_v": { ...incremental, "view-key-properties": [] } };
    expect((await runToDuckdb({ db, workDir, streams })).status).toBe("success");
    expect((await runToDuckdb({ db, workDir, streams })).status).toBe("success");
    // The ten rows sharing the largest updated_at are read again by the second run.
    expect(await warehouse(workDir)).toEqual({ rows: 110, ids: 100, changed: 0 });
  });

  test("a view-key-properties column the view does not have is refused, with the view's columns", async () => {
    const streams = { "public-events_v": { ...incremental, "view-key-properties": ["ident"] } };
    await expect(runToDuckdb({ db, workDir: tempDir(), streams })).rejects.toThrow(
      'metadata.public-events_v.view-key-properties: "ident" not a column of public.events_v (columns: id, updated_at, name)',
    );
  });
});
