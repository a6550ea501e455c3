import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { RunEvent } from "../../../src/runner/run-events.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { duckdbRows, runToDuckdb } from "../../support/pipeline.js";
import {
  describeDifference,
  duckdbRowTexts,
  runToDuckdbObserved,
  sourceRowTexts,
} from "../../support/table-diff.js";
import { TestProject, TestProjects } from "../../support/test-project.js";

/**
 * INCREMENTAL replication into DuckDB: a second run after inserts and updates (some of them on
 * the very replication-key value the bookmark holds) leaves DuckDB equal to the source, with no
 * row lost, no duplicate under `upsert`, and a bookmark equal to the largest key loaded.
 */
const STATE_ID = "test:tap-postgres-to-target-duckdb";

let db: TestDatabase;
const projects = new TestProjects();

beforeAll(async () => {
  db = await createTestDatabase("incr");
});

afterAll(async () => {
  await db?.drop();
  projects.removeAll();
});

/** `id|updated_at in µs|name|amount`, the same text from PostgreSQL and from DuckDB. */
const sourceEvents = (table: string): string =>
  `SELECT id::text AS k, concat_ws('|', id, (extract(epoch FROM updated_at) * 1000000)::bigint, coalesce(name, '∅'), coalesce(amount::text, '∅')) AS v FROM ${table}`;
const duckdbEvents = (table: string): string =>
  `SELECT CAST(id AS VARCHAR) AS k, concat_ws('|', id, epoch_us(updated_at), coalesce(name, '∅'), coalesce(CAST(amount AS VARCHAR), '∅')) AS v FROM public.${table}`;

/** 1,000 rows; ten rows share each updated_at, so the largest value is held by ids 991..1000. */
async function createEvents(table: string): Promise<void> {
  await db.query(
    `CREATE TABLE ${table} (id integer PRIMARY KEY, updated_at timestamptz NOT NULL, name text, amount numeric(12,2))`,
  );
  await db.query(
    `INSERT INTO ${table} SELECT i, timestamptz '2024-03-01 10:00:00.123456+00' + ((i - 1) / 10) * interval '1 second', 'row ' || i, i * 1.25 FROM generate_series(1, 1000) i`,
  );
}

/**
 * Inserts, updates, rows inserted with exactly the bookmark's value, and a row at the bookmark's
 * value changed without moving its key (what `>` instead of `>=` would lose).
 */
async function changeEvents(table: string, bookmark: string): Promise<void> {
  await db.query(
    `INSERT INTO ${table} SELECT i, $1::timestamptz, 'same key as the bookmark ' || i, i FROM generate_series(2001, 2005) i`,
    [bookmark],
  );
  await db.query(`UPDATE ${table} SET name = 'changed at the bookmark' WHERE id = 995`);
  await db.query(
    `UPDATE ${table} SET name = 'updated ' || id, amount = amount + 1, updated_at = $1::timestamptz + interval '1 hour' WHERE id <= 20`,
    [bookmark],
  );
  await db.query(
    `INSERT INTO ${table} SELECT i, $1::timestamptz + interval '2 hours' + i * interval '1 millisecond', NULL, NULL FROM generate_series(3001, 3100) i`,
    [bookmark],
  );
}

function bookmarkOf(project: TestProject, streamId: string): { replication_key?: string; value: string } {
  const state = project.storedState(STATE_ID);
  const bookmark = state?.bookmarks[streamId];
  if (!bookmark) throw new Error(`no bookmark stored for ${streamId}: ${JSON.stringify(state)}`);
  return { replication_key: bookmark.replication_key, value: String(bookmark.replication_key_value) };
}

/** True when the bookmark's value is the source's largest key value (compared by PostgreSQL). */
async function isMaxOf(table: string, column: string, type: string, value: string): Promise<boolean> {
  const [row] = await db.query<{ same: boolean }>(
    `SELECT $1::${type} = (SELECT max(${column}) FROM ${table}) AS same`,
    [value],
  );
  return row?.same === true;
}

async function expectDuckdbEqualsSource(file: string, sourceSql: string, duckdbSql: string): Promise<void> {
  const source = await sourceRowTexts(db, sourceSql);
  const loaded = await duckdbRowTexts(file, duckdbSql);
  expect(loaded.duplicates, "keys loaded more than once").toEqual([]);
  expect(describeDifference(source, loaded.rows), "DuckDB differs from the source").toBe("");
  expect(loaded.count).toBe(source.size);
}

describe("INCREMENTAL by a timestamptz key", () => {
  test("upsert: after inserts, updates and rows at the bookmark's value, DuckDB equals the source", async () => {
    const project = projects.add(new TestProject());
    const workDir = project.dir;
    const file = path.join(workDir, "warehouse.duckdb");
    const streams = {
      "public-events": { "replication-method": "INCREMENTAL", "replication-key": "updated_at" },
    };
    await createEvents("events");

    const first = await runToDuckdb({ db, workDir, streams });
    expect(first.streams["public-events"]?.rows).toBe(1000);
    await expectDuckdbEqualsSource(file, sourceEvents("events"), duckdbEvents("events"));
    const bookmark = bookmarkOf(project, "public-events");
    expect(bookmark.replication_key).toBe("updated_at");
    expect(bookmark.value).toMatch(/^2024-03-01T10:01:39\.123456\+00:00$/);
    expect(await isMaxOf("events", "updated_at", "timestamptz", bookmark.value)).toBe(true);

    await changeEvents("events", bookmark.value);
    const [reread] = await db.query<{ n: string }>(
      "SELECT count(*) AS n FROM events WHERE updated_at >= $1::timestamptz",
      [bookmark.value],
    );
    const second = await runToDuckdb({ db, workDir, streams });
    // Only rows from the bookmark on are read: the ten boundary rows again, plus what changed.
    expect(second.streams["public-events"]?.rows).toBe(Number(reread?.n));
    expect(Number(reread?.n)).toBe(10 + 5 + 20 + 100);
    await expectDuckdbEqualsSource(file, sourceEvents("events"), duckdbEvents("events"));
    const [boundary] = await duckdbRows(file, "SELECT name FROM public.events WHERE id = 995");
    expect(boundary?.name).toBe("changed at the bookmark");
    const after = bookmarkOf(project, "public-events");
    expect(await isMaxOf("events", "updated_at", "timestamptz", after.value)).toBe(true);

    // Nothing changed: the boundary rows are read again and DuckDB stays equal, state stays put.
    const third = await runToDuckdb({ db, workDir, streams });
    expect(third.streams["public-events"]?.rows).toBe(1);
    await expectDuckdbEqualsSource(file, sourceEvents("events"), duckdbEvents("events"));
    expect(bookmarkOf(project, "public-events").value).toBe(after.value);
  });

  test("append-only: the rows at the bookmark's value are appended again, and nothing is lost", async () => {
    const project = projects.add(new TestProject());
    const workDir = project.dir;
    const file = path.join(workDir, "warehouse.duckdb");
    const streams = {
      "public-events_append": { "replication-method": "INCREMENTAL", "replication-key": "updated_at" },
    };
    const target = { load_method: "append-only" };
    await createEvents("events_append");
    await runToDuckdb({ db, workDir, streams, target });
    const firstRun = await sourceRowTexts(db, sourceEvents("events_append"));
    const bookmark = bookmarkOf(project, "public-events_append");

    await changeEvents("events_append", bookmark.value);
    await runToDuckdb({ db, workDir, streams, target });
    const reread = await sourceRowTexts(
      db,
      `${sourceEvents("events_append")} WHERE updated_at >= '${bookmark.value}'::timestamptz`,
    );
    // Documented: `key >= bookmark` reads the rows sharing the last value again; append-only
    // keeps both copies. Every version read lands once per run that read it.
    const expected = [...firstRun.values(), ...reread.values()].sort();
    const loaded = await duckdbRows(file, `SELECT v FROM (${duckdbEvents("events_append")})`);
    expect(loaded.map((r) => r.v ?? "").sort()).toEqual(expected);
    const [counts] = await duckdbRows(
      file,
      "SELECT count(*) FILTER (WHERE id BETWEEN 991 AND 1000) AS boundary, count(DISTINCT id) AS ids FROM public.events_append",
    );
    expect(counts?.boundary).toBe("20");
    // Nothing lost: every current source row is there as it is now.
    const current = await sourceRowTexts(db, sourceEvents("events_append"));
    const present = new Set(loaded.map((r) => r.v));
    expect([...current.values()].filter((v) => !present.has(v))).toEqual([]);
    expect(counts?.ids).toBe(String(current.size));
  });
});

describe("INCREMENTAL by an integer key", () => {
  const sourceLedger = `SELECT id::text AS k, concat_ws('|', id, seq, note) AS v FROM ledger`;
  const duckdbLedger = `SELECT CAST(id AS VARCHAR) AS k, concat_ws('|', id, seq, note) AS v FROM public.ledger`;

  test("rows sharing the bookmark's value are not lost and updates replace their rows", async () => {
    const project = projects.add(new TestProject());
    const workDir = project.dir;
    const file = path.join(workDir, "warehouse.duckdb");
    const streams = { "public-ledger": { "replication-method": "INCREMENTAL", "replication-key": "seq" } };
    await db.query("CREATE TABLE ledger (id integer PRIMARY KEY, seq bigint NOT NULL, note text NOT NULL)");
    await db.query("INSERT INTO ledger SELECT i, i / 5, 'n' || i FROM generate_series(1, 500) i");

    await runToDuckdb({ db, workDir, streams });
    const bookmark = bookmarkOf(project, "public-ledger");
    expect(bookmark).toEqual({ replication_key: "seq", value: "100" });
    await expectDuckdbEqualsSource(file, sourceLedger, duckdbLedger);

    await db.query("INSERT INTO ledger SELECT i, 100, 'same seq ' || i FROM generate_series(1001, 1003) i");
    await db.query("UPDATE ledger SET note = 'bumped', seq = 101 WHERE id IN (1, 2, 3)");
    await db.query("UPDATE ledger SET note = 'same seq, new note' WHERE id = 500");
    await db.query("INSERT INTO ledger SELECT i, 100 + i, 'new' FROM generate_series(2001, 2010) i");
    const second = await runToDuckdb({ db, workDir, streams });
    // seq = 100 held ids 500 (i / 5 = 100) plus the three new ones; then 3 bumped and 10 new.
    expect(second.streams["public-ledger"]?.rows).toBe(1 + 3 + 3 + 10);
    await expectDuckdbEqualsSource(file, sourceLedger, duckdbLedger);
    expect(bookmarkOf(project, "public-ledger").value).toBe("2110");
  });
});

describe("a bookmark of another replication key", () => {
  test("is not used: the stream is read from the start and the bookmark takes the new key", async () => {
    const project = projects.add(new TestProject());
    const workDir = project.dir;
    const file = path.join(workDir, "warehouse.duckdb");
    await db.query(
      "CREATE TABLE switched (id integer PRIMARY KEY, updated_at timestamptz NOT NULL, seq bigint NOT NULL, name text NOT NULL)",
    );
    await db.query(
      "INSERT INTO switched SELECT i, timestamptz '2024-01-01 00:00:00+00' + i * interval '1 minute', i, 'v1' FROM generate_series(1, 300) i",
    );
    await runToDuckdb({
      db,
      workDir,
      streams: {
        "public-switched": { "replication-method": "INCREMENTAL", "replication-key": "updated_at" },
      },
    });
    expect(bookmarkOf(project, "public-switched").replication_key).toBe("updated_at");

    // Changes invisible to updated_at: only a read from scratch by seq brings them.
    await db.query("UPDATE switched SET name = 'v2', seq = seq + 1000 WHERE id % 3 = 0");
    const second = await runToDuckdb({
      db,
      workDir,
      streams: { "public-switched": { "replication-method": "INCREMENTAL", "replication-key": "seq" } },
    });
    expect(second.streams["public-switched"]?.rows).toBe(300);
    expect(bookmarkOf(project, "public-switched")).toEqual({ replication_key: "seq", value: "1300" });
    await expectDuckdbEqualsSource(
      file,
      "SELECT id::text AS k, concat_ws('|', id, seq, name) AS v FROM switched",
      "SELECT CAST(id AS VARCHAR) AS k, concat_ws('|', id, seq, name) AS v FROM public.switched",
    );
  });
});

describe("several batches in one run", () => {
  test("the bookmark is committed after each batch and equals the last key loaded", async () => {
    const project = projects.add(new TestProject());
    const workDir = project.dir;
    const file = path.join(workDir, "warehouse.duckdb");
    const streams = {
      "public-wide": { "replication-method": "INCREMENTAL", "replication-key": "updated_at" },
    };
    const tap = { batch_size_mb: 1 };
    await db.query(
      "CREATE TABLE wide (id integer PRIMARY KEY, updated_at timestamptz NOT NULL, body text NOT NULL)",
    );
    const insert = (from: number, to: number): Promise<unknown> =>
      db.query(
        `INSERT INTO wide SELECT i, timestamptz '2024-05-01 00:00:00+00' + (i / 3) * interval '1 millisecond', repeat(md5(i::text), 3) FROM generate_series(${from}, ${to}) i`,
      );
    await insert(1, 50_000);
    const sourceWide =
      "SELECT id::text AS k, concat_ws('|', id, (extract(epoch FROM updated_at) * 1000000)::bigint, body) AS v FROM wide";
    const duckdbWide =
      "SELECT CAST(id AS VARCHAR) AS k, concat_ws('|', id, epoch_us(updated_at), body) AS v FROM public.wide";

    /**
     * Runs once, and checks at every state commit that the stored state is the one committed,
     * then (after the run) that each bookmark is the key of the last row of the rows loaded so
     * far, in key order from `from` on.
     */
    const runAndCheckBookmarks = async (from: string | undefined): Promise<number> => {
      const commits: { totalRows: number; value: string; stored: string }[] = [];
      let totalRows = 0;
      const observer = (event: RunEvent): void => {
        if (event.type === "batch-loaded") totalRows = event.totalRows;
        if (event.type === "state-committed") {
          const value = String((event.bookmark as { replication_key_value?: unknown }).replication_key_value);
          commits.push({ totalRows, value, stored: bookmarkOf(project, "public-wide").value });
        }
      };
      const summary = await runToDuckdbObserved({ db, workDir, streams, tap, observer });
      const rows = summary.streams["public-wide"]?.rows ?? 0;
      // One commit per batch, plus the one at the end of the stream.
      expect(commits.length).toBeGreaterThanOrEqual(4);
      for (const commit of commits) {
        expect(commit.stored).toBe(commit.value);
        const [row] = await db.query<{ same: boolean }>(
          `SELECT $1::timestamptz = (SELECT updated_at FROM wide WHERE updated_at >= coalesce($2::timestamptz, '-infinity') ORDER BY updated_at OFFSET $3 - 1 LIMIT 1) AS same`,
          [commit.value, from ?? null, commit.totalRows],
        );
        expect(row?.same, `bookmark ${commit.value} after ${commit.totalRows} rows`).toBe(true);
      }
      const final = bookmarkOf(project, "public-wide").value;
      expect(await isMaxOf("wide", "updated_at", "timestamptz", final)).toBe(true);
      return rows;
    };

    expect(await runAndCheckBookmarks(undefined)).toBe(50_000);
    await expectDuckdbEqualsSource(file, sourceWide, duckdbWide);

    const before = bookmarkOf(project, "public-wide").value;
    await insert(50_001, 80_000);
    await db.query("UPDATE wide SET body = 'changed', updated_at = now() WHERE id % 1000 = 0");
    const [expected] = await db.query<{ n: string }>(
      "SELECT count(*) AS n FROM wide WHERE updated_at >= $1::timestamptz",
      [before],
    );
    expect(await runAndCheckBookmarks(before)).toBe(Number(expected?.n));
    await expectDuckdbEqualsSource(file, sourceWide, duckdbWide);
  });
});
