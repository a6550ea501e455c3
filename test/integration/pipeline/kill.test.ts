import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { duckdbRows, tempDir } from "../../support/pipeline.js";
import {
  PROJECT_STATE_ID,
  readStoredState,
  runSluice,
  sleep,
  spoolDirOf,
  startSluice,
  writeProject,
  type SluiceProcess,
} from "../../support/sluice-project.js";
import { describeDifference, duckdbRowTexts, sourceRowTexts } from "../../support/table-diff.js";

/**
 * The kill test: `sluice run` killed with SIGKILL at random moments of a large load.
 * After every kill the stored bookmark must not point past what DuckDB holds (every source row
 * with a key up to the bookmark is in DuckDB, unchanged, once); the next run takes over the dead
 * run's lock and ends with DuckDB equal to the source. A killed FULL_TABLE run leaves the
 * previous table complete.
 */
const ROWS = 400_000;
const RUN_ARGS = ["--log-format", "json", "run", "tap-postgres", "target-duckdb"];

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase("kill");
  await db.query(
    "CREATE TABLE big (id bigint PRIMARY KEY, updated_at timestamptz NOT NULL, payload jsonb NOT NULL, body text NOT NULL)",
  );
  await db.query(
    `INSERT INTO big SELECT i, timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second',
       jsonb_build_object('n', i, 'tags', jsonb_build_array('a', 'ü', i % 7), 'note', md5(i::text)),
       repeat(md5(i::text), 2)
     FROM generate_series(1, ${ROWS}) i`,
  );
  await db.query("ANALYZE big");
});

afterAll(async () => {
  await db?.drop();
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

const dirs: string[] = [];
/** A project folder of this test's own, removed when the file's tests are done. */
function newDir(prefix?: string): string {
  const dir = tempDir(prefix);
  dirs.push(dir);
  return dir;
}

/** Each row as the md5 of its text, identical from PostgreSQL and DuckDB. */
const sourceDigest = (table: string): string =>
  `SELECT id::text AS k, md5(concat_ws('|', id, (extract(epoch FROM updated_at) * 1000000)::bigint, payload::text, body)) AS v FROM ${table}`;
const duckdbDigest = (table: string): string =>
  `SELECT CAST(id AS VARCHAR) AS k, md5(concat_ws('|', id, epoch_us(updated_at), CAST(payload AS VARCHAR), body)) AS v FROM public.${table}`;

const randomBetween = (min: number, max: number): number => Math.round(min + Math.random() * (max - min));

/** Polls `ready` every 20 ms until it holds; fails if the process ends first or after `timeoutMs`. */
async function waitUntil(
  run: SluiceProcess,
  what: string,
  ready: () => boolean,
  timeoutMs = 60_000,
): Promise<void> {
  const start = Date.now();
  let ended = false;
  void run.exited.then(() => (ended = true));
  while (!ready()) {
    if (ended) {
      const { stderr } = run.output();
      throw new Error(`sluice ended before ${what}:\n${stderr.slice(-3000)}`);
    }
    if (Date.now() - start > timeoutMs) {
      run.child.kill("SIGKILL");
      throw new Error(`timed out waiting for ${what}`);
    }
    await sleep(20);
  }
}

function bookmarkValue(dir: string, streamId: string): number | undefined {
  const value = readStoredState(dir, PROJECT_STATE_ID)?.bookmarks[streamId]?.replication_key_value;
  return value === undefined || value === null ? undefined : Number(value);
}

async function duckdbTables(file: string): Promise<string[]> {
  if (!fs.existsSync(file)) return [];
  return (await duckdbRows(file, "SELECT table_name FROM duckdb_tables() ORDER BY table_name")).map(
    (r) => r.table_name ?? "",
  );
}

/** Batch files waiting in the spool folder (a killed run leaves its own behind). */
function spoolFiles(dir: string): string[] {
  return fs
    .readdirSync(spoolDirOf(dir), { recursive: true, encoding: "utf8" })
    .filter((name) => name.endsWith(".csv"));
}

describe("sluice run killed with SIGKILL", () => {
  test("INCREMENTAL: the bookmark never points past DuckDB, and the rerun ends equal to the source", async () => {
    const dir = newDir("sluice-kill-");
    const file = path.join(dir, "warehouse.duckdb");
    writeProject(dir, db, {
      select: ["public-big.*"],
      metadata: { "public-big": { "replication-method": "INCREMENTAL", "replication-key": "id" } },
      tap: { batch_size_mb: 4 },
    });
    const source = await sourceRowTexts(db, sourceDigest("big"));
    const kills: string[] = [];
    const loadedAtKill: number[] = [];

    // Where to kill: early (as the first batch is spooled), then once the bookmark has passed a
    // random row in the middle and in the last third; each after a random few ms, so that the
    // kill lands anywhere in a batch's load, its commit in DuckDB or the state commit.
    const targets = [0, randomBetween(0.3 * ROWS, 0.5 * ROWS), randomBetween(0.65 * ROWS, 0.8 * ROWS)];
    for (const [index, target] of targets.entries()) {
      const attempt = index + 1;
      const before = bookmarkValue(dir, "public-big") ?? 0;
      const run = startSluice(dir, db, RUN_ARGS);
      if (target === 0) {
        await waitUntil(run, "the first batch spooled", () => spoolFiles(dir).length > 0);
      } else {
        await waitUntil(
          run,
          `the bookmark at ${target}`,
          () => (bookmarkValue(dir, "public-big") ?? 0) >= target,
        );
      }
      const delay = randomBetween(0, target === 0 ? 300 : 100);
      await sleep(delay);
      run.child.kill("SIGKILL");
      const ended = await run.exited;
      const bookmark = bookmarkValue(dir, "public-big");
      const where = `kill ${attempt} (${delay} ms after the bookmark reached ${target}; bookmark ${bookmark ?? "none"}, previous ${before})`;
      kills.push(where);
      expect(
        ended.signal,
        `${where}: the run ended by itself before the kill\n${ended.stderr.slice(-2000)}`,
      ).toBe("SIGKILL");
      if (bookmark !== undefined) expect(bookmark, where).toBeGreaterThanOrEqual(before);

      // What a reader of the warehouse finds now (DuckDB replays its WAL on opening): every
      // source row up to the bookmark, once and unchanged; rows past it may be there too (loaded,
      // state not committed yet), but only as they are in the source.
      const tables = await duckdbTables(file);
      if (bookmark !== undefined) expect(tables, where).toContain("big");
      if (!tables.includes("big")) continue;
      const loaded = await duckdbRowTexts(file, duckdbDigest("big"));
      expect(loaded.duplicates, `${where}: keys loaded more than once`).toEqual([]);
      const expected = new Map(
        [...source].filter(([k]) => Number(k) <= (bookmark ?? 0) || loaded.rows.has(k)),
      );
      expect(describeDifference(expected, loaded.rows), `${where}: DuckDB differs from the source`).toBe("");
      loadedAtKill.push(loaded.count);
    }

    // The kills must have interrupted the load, or this test proves nothing.
    expect(loadedAtKill.filter((n) => n < ROWS).length, kills.join("; ")).toBeGreaterThanOrEqual(2);

    await runSluice(dir, db, RUN_ARGS, { timeoutMs: 90_000 });
    const loaded = await duckdbRowTexts(file, duckdbDigest("big"));
    expect(loaded.duplicates, "keys loaded more than once").toEqual([]);
    expect(
      describeDifference(source, loaded.rows),
      `DuckDB differs from the source after ${kills.join("; ")}`,
    ).toBe("");
    expect(loaded.count).toBe(ROWS);
    const { stdout } = await runSluice(dir, db, ["state", "get", PROJECT_STATE_ID]);
    const state = JSON.parse(stdout) as {
      bookmarks: Record<string, { replication_key?: string; replication_key_value?: unknown }>;
    };
    expect(state.bookmarks["public-big"]?.replication_key).toBe("id");
    expect(String(state.bookmarks["public-big"]?.replication_key_value)).toBe(String(ROWS));
    expect(await duckdbTables(file)).toEqual(["big"]);
  });

  test("FULL_TABLE: the previous table stays complete, and the rerun replaces it with the source", async () => {
    await db.query("CREATE TABLE snapshot AS SELECT * FROM big WHERE id <= 150000");
    await db.query("ALTER TABLE snapshot ADD PRIMARY KEY (id)");
    const dir = newDir("sluice-kill-full-");
    const file = path.join(dir, "warehouse.duckdb");
    writeProject(dir, db, {
      select: ["public-snapshot.*"],
      metadata: { "public-snapshot": { "replication-method": "FULL_TABLE" } },
      tap: { batch_size_mb: 4 },
    });
    await runSluice(dir, db, RUN_ARGS, { timeoutMs: 90_000 });
    const first = await sourceRowTexts(db, sourceDigest("snapshot"));
    const stateBefore = readStoredState(dir, PROJECT_STATE_ID);

    await db.query("DELETE FROM snapshot WHERE id % 50 = 0");
    await db.query("UPDATE snapshot SET body = 'changed' WHERE id % 77 = 0");
    const run = startSluice(dir, db, RUN_ARGS);
    await waitUntil(run, "a batch loaded into the new copy", () =>
      run.output().stderr.includes('"event":"batch-loaded"'),
    );
    const delay = randomBetween(0, 250);
    await sleep(delay);
    run.child.kill("SIGKILL");
    const ended = await run.exited;
    expect(ended.signal, `the run ended by itself before the kill\n${ended.stderr.slice(-2000)}`).toBe(
      "SIGKILL",
    );

    // The killed run was filling the new copy beside the table (else this proves nothing).
    expect(await duckdbTables(file)).toEqual(["snapshot", "snapshot__sluice_new"]);
    const kept = await duckdbRowTexts(file, duckdbDigest("snapshot"));
    expect(kept.duplicates).toEqual([]);
    expect(
      describeDifference(first, kept.rows),
      `killed ${delay} ms after a batch: the old table changed`,
    ).toBe("");
    expect(readStoredState(dir, PROJECT_STATE_ID)).toEqual(stateBefore);

    await runSluice(dir, db, RUN_ARGS, { timeoutMs: 90_000 });
    const replaced = await duckdbRowTexts(file, duckdbDigest("snapshot"));
    expect(replaced.duplicates).toEqual([]);
    expect(describeDifference(await sourceRowTexts(db, sourceDigest("snapshot")), replaced.rows)).toBe("");
    expect(await duckdbTables(file)).toEqual(["snapshot"]);
  });
});
