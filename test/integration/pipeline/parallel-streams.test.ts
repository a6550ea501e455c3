import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { RunEvent } from "../../../src/runner/run-events.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { runToDuckdb } from "../../support/pipeline.js";
import { describeDifference, duckdbRowTexts, sourceRowTexts } from "../../support/table-diff.js";
import { TestProject, TestProjects } from "../../support/test-project.js";

/**
 * Streams of one run read and load at once (`max_parallel_streams`), and a large table is read
 * as several row ranges of one snapshot at once (`split_table_min_mb`). Either way DuckDB ends
 * equal to the source, with no key twice, and every stream's state is committed.
 */
const STATE_ID = "test:tap-postgres-to-target-duckdb";
const TABLES = ["t1", "t2", "t3", "t4", "t5"];

let db: TestDatabase;
const projects = new TestProjects();

beforeAll(async () => {
  db = await createTestDatabase("parallel");
  for (const [i, name] of TABLES.entries()) {
    await db.query(
      `CREATE TABLE ${name} (id bigint PRIMARY KEY, body text NOT NULL, payload jsonb, at timestamptz NOT NULL)`,
    );
    await db.query(
      `INSERT INTO ${name} SELECT g, repeat(md5(g::text), 4), jsonb_build_object('n', g, 't', '${name}'),
         timestamptz '2026-01-01' + g * interval '1 second' FROM generate_series(1, ${20_000 + i * 5_000}) g`,
    );
  }
  // A table of about 9 MB, in pages: big enough to split at `split_table_min_mb: 1`.
  await db.query(
    "CREATE TABLE big (id bigint PRIMARY KEY, body text NOT NULL, amount numeric(12,2), tags text[])",
  );
  await db.query(
    `INSERT INTO big SELECT g, repeat(md5(g::text), 2), (g % 100000) / 100.0, ARRAY['a' || g, 'b']
       FROM generate_series(1, 60000) g`,
  );
  // Dead tuples in some pages and new rows at the end: ranges of row locations must still cover
  // every live row exactly once.
  await db.query("DELETE FROM big WHERE id % 7 = 0");
  await db.query("UPDATE big SET body = 'updated' WHERE id % 11 = 0");
  await db.query("VACUUM big");
});

afterAll(async () => {
  await db?.drop();
  projects.removeAll();
});

function newProject(): TestProject {
  return projects.add(new TestProject({ prefix: "sluice-parallel-" }));
}

async function expectEqual(file: string, table: string): Promise<void> {
  const expected = await sourceRowTexts(db, `SELECT id::text AS k, (t.*)::text AS v FROM ${table} t`);
  const loaded = await duckdbRowTexts(
    file,
    `SELECT CAST(id AS VARCHAR) AS k, CAST(id AS VARCHAR) || ',' || body AS v FROM public.${table}`,
  );
  const expectedShort = new Map(
    [...expected.keys()].map((k) => [k, `${k},${expected.get(k)!.split(",")[1]}`]),
  );
  expect(loaded.duplicates, `${table}: keys loaded more than once`).toEqual([]);
  expect(describeDifference(expectedShort, loaded.rows), `${table} differs`).toBe("");
}

describe("parallel streams", () => {
  test("five tables with max_parallel_streams 3 load at once, each equal to the source", async () => {
    const project = newProject();
    const workDir = project.dir;
    const events: { event: RunEvent; at: number }[] = [];
    const streams = Object.fromEntries(
      TABLES.map((t) => [`public-${t}`, { "replication-method": "FULL_TABLE" }]),
    );
    const summary = await runToDuckdb({
      db,
      workDir,
      streams,
      tap: { max_parallel_streams: 3, batch_size_rows: 4000 },
      observer: (event) => events.push({ event, at: events.length }),
    });
    expect(summary.status).toBe("success");
    for (const table of TABLES) await expectEqual(path.join(workDir, "warehouse.duckdb"), table);

    // At most three streams were open at any moment, and at some moment more than one was.
    let open = 0;
    let most = 0;
    for (const { event } of events) {
      if (event.type === "stream-started") open += 1;
      if (event.type === "stream-finished") open -= 1;
      most = Math.max(most, open);
    }
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(3);

    const state = project.storedState(STATE_ID);
    expect(Object.keys(state?.bookmarks ?? {}).sort()).toEqual(TABLES.map((t) => `public-${t}`).sort());
  });

  test("a large table is read in parts of one snapshot, and lands whole and once", async () => {
    const workDir = newProject().dir;
    const started: RunEvent[] = [];
    const summary = await runToDuckdb({
      db,
      workDir,
      streams: { "public-big": { "replication-method": "FULL_TABLE" } },
      tap: { max_parallel_streams: 3, split_table_min_mb: 1, batch_size_rows: 5000 },
      observer: (event) => {
        if (event.type === "stream-started") started.push(event);
      },
    });
    expect(summary.status).toBe("success");
    expect(started).toEqual([expect.objectContaining({ streamId: "public-big", parts: 3 })]);
    await expectEqual(path.join(workDir, "warehouse.duckdb"), "big");
  });

  test("a table copied whole loads up to parallel_batches batches at once, and lands whole and once", async () => {
    const workDir = newProject().dir;
    const loads: { start: number; end: number }[] = [];
    const summary = await runToDuckdb({
      db,
      workDir,
      streams: { "public-big": { "replication-method": "FULL_TABLE" } },
      tap: { batch_size_rows: 1000 },
      target: { parallel_batches: 3 },
      observer: (event) => {
        if (event.type === "batch-loaded") {
          const end = performance.now();
          loads.push({ start: end - event.seconds * 1000, end });
        }
      },
    });
    expect(summary.status).toBe("success");
    await expectEqual(path.join(workDir, "warehouse.duckdb"), "big");
    // How many loads were running just after each load's start: more than one at some point,
    // never more than three. `seconds` counts whole milliseconds (Date.now), so each interval is
    // only known to a millisecond or so: shrink every one by 2 ms at both ends.
    const running = (load: { start: number; end: number }, at: number): boolean =>
      load.start + 2 < at && at < load.end - 2;
    const overlapping = loads.map((load) => loads.filter((other) => running(other, load.start + 3)).length);
    expect(Math.max(...overlapping)).toBeGreaterThan(1);
    expect(Math.max(...overlapping)).toBeLessThanOrEqual(3);
  });

  test("a table below split_table_min_mb is read whole", async () => {
    const workDir = newProject().dir;
    const started: RunEvent[] = [];
    await runToDuckdb({
      db,
      workDir,
      streams: { "public-t1": { "replication-method": "FULL_TABLE" } },
      tap: { max_parallel_streams: 3, split_table_min_mb: 1000 },
      observer: (event) => {
        if (event.type === "stream-started") started.push(event);
      },
    });
    expect(started).toEqual([expect.objectContaining({ streamId: "public-t1" })]);
    expect(started[0]).not.toHaveProperty("parts");
  });

  test("one stream failing fails the run naming its table; no committed state points past loaded rows", async () => {
    const project = newProject();
    const workDir = project.dir;
    // DuckDB's DECIMAL cannot hold PostgreSQL's numeric NaN, so `broken` fails to load.
    await db.query("CREATE TABLE broken (id bigint PRIMARY KEY, amount numeric(12,2))");
    await db.query("INSERT INTO broken VALUES (1, 1.5), (2, 'NaN')");
    const streams = Object.fromEntries(
      ["t1", "t2", "t3", "broken"].map((t) => [
        `public-${t}`,
        { "replication-method": "INCREMENTAL", "replication-key": "id" },
      ]),
    );
    const summary = await runToDuckdb({ db, workDir, streams, tap: { max_parallel_streams: 2 } }).catch(
      (error: unknown) => error as Error,
    );
    expect(summary).toBeInstanceOf(Error);
    expect((summary as Error).message).toMatch(/broken/);
    const state = project.storedState(STATE_ID);
    // Whatever state a stream committed points at rows DuckDB holds.
    for (const table of ["t1", "t2", "t3"]) {
      const bookmark = state?.bookmarks[`public-${table}`];
      if (bookmark?.replication_key_value === undefined) continue;
      const loaded = await duckdbRowTexts(
        path.join(workDir, "warehouse.duckdb"),
        `SELECT CAST(max(id) AS VARCHAR) AS k, '' AS v FROM public.${table}`,
      );
      expect(Number([...loaded.rows.keys()][0])).toBeGreaterThanOrEqual(
        Number(bookmark.replication_key_value),
      );
    }
    expect(state?.bookmarks["public-broken"]?.replication_key_value).toBeUndefined();
  });
});
