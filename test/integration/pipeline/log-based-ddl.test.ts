import fs from "node:fs";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import type { RunEvent, RunSummary } from "../../../src/runner/run-events.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { runToDuckdb, tempDir, type TestRunOptions } from "../../support/pipeline.js";
import { describeDifference, duckdbRowTexts, sourceRowTexts } from "../../support/table-diff.js";
import { runToPostgres, utcQuery } from "../connectors/postgres-target-support.js";

/**
 * LOG_BASED under DDL the WAL hides or tells late (sluice issue 16, items 3–5): a table created
 * again, partitions truncated, attached or detached, columns added with defaults, generated
 * columns, column types changed, keys changed with TOASTed values left out. Each scenario streams
 * one source table into DuckDB and into target-postgres (a slot each) and, after every run,
 * compares the live warehouse rows with the source value by value.
 */
let source: TestDatabase;
let warehouse: TestDatabase;
let root: string;

/** ~6 kB of random hex: compresses to well over 2 kB, so PostgreSQL stores it out of line (TOAST). */
const TOASTED = "(SELECT string_agg(md5(random()::text || g::text), '') FROM generate_series(1, 200) g)";

beforeAll(async () => {
  source = await createTestDatabase("cdc_ddl");
  warehouse = await createTestDatabase("cdc_ddl_wh");
  root = tempDir("sluice-cdc-ddl-");
});

/** Each scenario's two slots go with it: the server has ten for every test running. */
async function dropSlots(): Promise<void> {
  await source?.query(
    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database() AND NOT active",
  );
}

afterEach(dropSlots);

afterAll(async () => {
  await dropSlots();
  await source?.drop();
  await warehouse?.drop();
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

/** How a table's rows are compared: `k` and `v` as text, by SQL on each side. */
interface Comparison {
  table: string;
  /** The key as text, in SQL both PostgreSQL and DuckDB read. */
  key: string;
  /** The row's values as text, PostgreSQL (source and target-postgres, in a UTC session). */
  pg: string;
  /** The same in DuckDB. */
  duckdb: string;
}

/** One table streamed into both warehouses, each with its own slot (`tap_id`) and state. */
function scenario(name: string, initial: Comparison) {
  /** What `expectEqual` compares; a test may widen it once the table has more columns. */
  let comparison = initial;
  const dir = path.join(root, name);
  for (const loader of ["duckdb", "pg"]) fs.mkdirSync(path.join(dir, loader), { recursive: true });
  const streams = { [`public-${comparison.table}`]: { "replication-method": "LOG_BASED" } };
  const options = (loader: string, extra: Partial<TestRunOptions>): TestRunOptions => ({
    db: source,
    workDir: path.join(dir, loader),
    streams,
    stateId: `test:${name}:${loader}`,
    tap: { tap_id: `${name}_${loader}`, logical_poll_total_seconds: 1 },
    ...extra,
  });
  const runs = {
    duckdb: (extra: Partial<TestRunOptions> = {}): Promise<RunSummary> =>
      runToDuckdb({ ...options("duckdb", extra), target: { add_metadata_columns: true } }),
    postgres: (extra: Partial<TestRunOptions> = {}): Promise<RunSummary> =>
      runToPostgres({
        ...options("pg", extra),
        source,
        warehouse,
        target: { default_target_schema: name, add_metadata_columns: true },
      }),
  };
  const sourceRows = (): Promise<Map<string, string>> =>
    sourceRowTexts(
      source,
      `SELECT (${comparison.key})::text AS k, ${comparison.pg} AS v FROM ${comparison.table}`,
    );
  async function expectEqual(which: "duckdb" | "postgres" | "both" = "both"): Promise<void> {
    const expected = await sourceRows();
    if (which !== "postgres") {
      const duck = await duckdbRowTexts(
        path.join(dir, "duckdb", "warehouse.duckdb"),
        `SELECT (${comparison.key})::VARCHAR AS k, ${comparison.duckdb} AS v FROM public.${comparison.table} WHERE _sdc_deleted_at IS NULL`,
      );
      expect(duck.duplicates, `${name} duckdb: keys twice`).toEqual([]);
      expect(describeDifference(expected, duck.rows), `${name} duckdb`).toBe("");
    }
    if (which !== "duckdb") {
      const rows = await utcQuery<{ k: string; v: string }>(
        warehouse,
        `SELECT (${comparison.key})::text AS k, ${comparison.pg} AS v FROM ${name}.${comparison.table} WHERE _sdc_deleted_at IS NULL`,
      );
      expect(describeDifference(expected, new Map(rows.map((r) => [r.k, r.v]))), `${name} postgres`).toBe("");
    }
  }
  /** Both runs, each expected to succeed; their warnings, then both warehouses compared. */
  async function sync(): Promise<string[]> {
    const warnings: string[] = [];
    const observer = (e: RunEvent): void => {
      if (e.type === "warning") warnings.push(e.message);
    };
    // At once: each has its own slot, state and warehouse.
    const summaries = await Promise.all([runs.duckdb({ observer }), runs.postgres({ observer })]);
    for (const summary of summaries) {
      expect(summary.status, `${name}: ${summary.error ?? ""}`).toBe("success");
    }
    await expectEqual();
    return warnings;
  }
  const compare = (next: Partial<Comparison>): void => {
    comparison = { ...comparison, ...next };
  };
  return { runs, sync, expectEqual, compare };
}

describe("LOG_BASED under DDL", () => {
  test("an update that changes the key and leaves a TOASTed value out keeps that value", async () => {
    await source.query(`CREATE TABLE kc (id int PRIMARY KEY, big text, note text)`);
    await source.query(`INSERT INTO kc SELECT i, ${TOASTED}, 'n' || i FROM generate_series(1, 6) i`);
    const s = scenario("kc", {
      table: "kc",
      key: "id",
      pg: "concat_ws('|', md5(big), note)",
      duckdb: "concat_ws('|', md5(big), note)",
    });
    await s.sync();
    // REPLICA IDENTITY DEFAULT: the old tuple is the key alone, `big` is 'u' in the new one.
    await source.query("UPDATE kc SET id = id + 100, note = 'moved' WHERE id <= 3");
    // The same row changes again later in the WAL: key again, then the TOASTed value itself.
    await source.query("UPDATE kc SET id = 200 WHERE id = 101");
    await source.query("UPDATE kc SET big = 'small now' WHERE id = 102");
    // Moved, then deleted: nothing left to read back.
    await source.query("UPDATE kc SET id = 300 WHERE id = 4; DELETE FROM kc WHERE id = 300");
    await s.sync();
  });

  test("a table dropped and created again between runs is copied again", async () => {
    await source.query("CREATE TABLE dr (id int PRIMARY KEY, v text)");
    await source.query("INSERT INTO dr SELECT i, 'old ' || i FROM generate_series(1, 20) i");
    const s = scenario("dr", { table: "dr", key: "id", pg: "v", duckdb: "v" });
    await s.sync();
    await source.query("UPDATE dr SET v = 'changed' WHERE id = 1");
    await source.query("DROP TABLE dr");
    await source.query("CREATE TABLE dr (id int PRIMARY KEY, v text)");
    await source.query("INSERT INTO dr SELECT i, 'new ' || i FROM generate_series(10, 15) i");
    const warnings = await s.sync();
    expect(warnings.join("\n")).toMatch(/public-dr: the table was dropped and created again/);
    // And it streams on from the new table.
    await source.query("INSERT INTO dr VALUES (99, 'after')");
    await source.query("DELETE FROM dr WHERE id = 10");
    await s.sync();
  });

  test("a column type changed at the source is read again with the source's values", async () => {
    await source.query(
      "CREATE TABLE tc (id int PRIMARY KEY, seen_at timestamp, on_day timestamptz, amount numeric(10,2), code varchar(10))",
    );
    await source.query(
      `INSERT INTO tc SELECT i, timestamp '2024-03-10 01:30' + i * interval '7 hours',
              timestamptz '2024-03-10 03:30+00' + i * interval '5 hours', i * 1.5, 'c' || i
       FROM generate_series(1, 30) i`,
    );
    const s = scenario("tc", {
      table: "tc",
      key: "id",
      pg: "concat_ws('|', extract(epoch FROM seen_at)::bigint, on_day::text, amount::text, code)",
      duckdb: "concat_ws('|', epoch(seen_at)::BIGINT, on_day::VARCHAR, amount::VARCHAR, code)",
    });
    await s.sync();
    // PostgreSQL converts in the ALTER's session time zone, not in UTC.
    await source.query(
      "SET TimeZone = 'America/New_York'; ALTER TABLE tc ALTER COLUMN seen_at TYPE timestamptz, ALTER COLUMN on_day TYPE date; RESET TimeZone",
    );
    await source.query("ALTER TABLE tc ALTER COLUMN amount TYPE numeric(12,4)");
    await source.query("UPDATE tc SET amount = amount + 1 WHERE id = 1");
    const warnings = await s.sync();
    expect(warnings.join("\n")).toMatch(/column "seen_at" changed type from timestamp without time zone/);
    // A longer varchar changes no value: the stream goes on without a copy.
    await source.query("ALTER TABLE tc ALTER COLUMN code TYPE varchar(20)");
    await source.query("UPDATE tc SET code = 'a longer code' WHERE id = 2");
    expect(await s.sync()).toEqual([]);
  });

  test("a column added with a default, constant or volatile, has the source's values", async () => {
    await source.query("CREATE TABLE ad (id int PRIMARY KEY, v text)");
    await source.query("INSERT INTO ad SELECT i, 'v' || i FROM generate_series(1, 25) i");
    const s = scenario("ad", { table: "ad", key: "id", pg: "v", duckdb: "v" });
    await s.sync();
    await source.query("ALTER TABLE ad ADD COLUMN status text NOT NULL DEFAULT 'active'");
    s.compare({ pg: "concat_ws('|', v, status)", duckdb: "concat_ws('|', v, status)" });
    await source.query("INSERT INTO ad VALUES (100, 'new', 'fresh')");
    expect((await s.sync()).join("\n")).toMatch(/column "status" was added with a default/);
    await source.query("ALTER TABLE ad ADD COLUMN token uuid DEFAULT gen_random_uuid()");
    s.compare({
      pg: "concat_ws('|', v, status, coalesce(token::text, '-'))",
      duckdb: "concat_ws('|', v, status, coalesce(token::VARCHAR, '-'))",
    });
    expect((await s.sync()).join("\n")).toMatch(/column "token" was added with a default/);
    // Dropped and added again: the rows that existed are NULL now, which the WAL never says.
    await source.query("ALTER TABLE ad DROP COLUMN status");
    await source.query("ALTER TABLE ad ADD COLUMN status text");
    await source.query("UPDATE ad SET status = 'set again' WHERE id = 1");
    s.compare({
      pg: "concat_ws('|', v, coalesce(status, '-'), coalesce(token::text, '-'))",
      duckdb: "concat_ws('|', v, coalesce(status, '-'), coalesce(token::VARCHAR, '-'))",
    });
    expect((await s.sync()).join("\n")).toMatch(/column "status" was dropped and added again/);
  });

  test("stored generated columns are published; virtual ones are refused", async () => {
    await source.query(
      "CREATE TABLE gc (id int PRIMARY KEY, qty int, price numeric(8,2), total numeric GENERATED ALWAYS AS (qty * price) STORED)",
    );
    await source.query("INSERT INTO gc SELECT i, i, 2.5 FROM generate_series(1, 10) i");
    const s = scenario("gc", {
      table: "gc",
      key: "id",
      pg: "concat_ws('|', qty, price::text, total::text)",
      duckdb: "concat_ws('|', qty, price::VARCHAR, total::VARCHAR)",
    });
    await s.sync();
    await source.query("UPDATE gc SET qty = qty * 10 WHERE id <= 5");
    await source.query("INSERT INTO gc (id, qty, price) VALUES (50, 3, 1.25)");
    await s.sync();

    await source.query(
      "CREATE TABLE gv (id int PRIMARY KEY, qty int, twice int GENERATED ALWAYS AS (qty * 2) VIRTUAL)",
    );
    const v = scenario("gv", { table: "gv", key: "id", pg: "qty", duckdb: "qty" });
    await expect(v.runs.duckdb()).rejects.toThrow(/public-gv: column "twice" is a virtual generated column/);

    // A publication of the user's own that leaves stored generated columns out: refused, saying how.
    await source.query(
      "CREATE TABLE gu (id int PRIMARY KEY, qty int, twice int GENERATED ALWAYS AS (qty * 2) STORED)",
    );
    await source.query("CREATE PUBLICATION gu_pub FOR TABLE gu");
    const u = scenario("gu", { table: "gu", key: "id", pg: "qty", duckdb: "qty" });
    await expect(
      u.runs.duckdb({ tap: { tap_id: "gu_duckdb", logical_publication: "gu_pub" } }),
    ).rejects.toThrow(
      /public-gu: column "twice" is a stored generated column, which publication "gu_pub" does not publish; run ALTER PUBLICATION "gu_pub" SET \(publish_generated_columns = stored\)/,
    );
  });

  test("partitions truncated, attached or detached reach the warehouse", async () => {
    await source.query(
      "CREATE TABLE pt (id int, region text, v text, PRIMARY KEY (id, region)) PARTITION BY LIST (region)",
    );
    await source.query("CREATE TABLE pt_eu PARTITION OF pt FOR VALUES IN ('eu')");
    await source.query("CREATE TABLE pt_us PARTITION OF pt FOR VALUES IN ('us')");
    await source.query(
      "INSERT INTO pt SELECT i, CASE WHEN i % 2 = 0 THEN 'eu' ELSE 'us' END, 'v' || i FROM generate_series(1, 40) i",
    );
    const s = scenario("pt", {
      table: "pt",
      key: "id::text || '/' || region",
      pg: "v",
      duckdb: "v",
    });
    await s.sync();
    // pgoutput does not send a partition's TRUNCATE through its root.
    await source.query("TRUNCATE pt_eu");
    expect((await s.sync()).join("\n")).toMatch(/public-pt: a partition was truncated/);
    await source.query("CREATE TABLE pt_asia (id int, region text, v text, PRIMARY KEY (id, region))");
    await source.query("INSERT INTO pt_asia SELECT i, 'asia', 'a' || i FROM generate_series(1, 5) i");
    await source.query("ALTER TABLE pt ATTACH PARTITION pt_asia FOR VALUES IN ('asia')");
    expect((await s.sync()).join("\n")).toMatch(/public-pt: partitions were attached or detached/);
    await source.query("ALTER TABLE pt DETACH PARTITION pt_us");
    await source.query("UPDATE pt SET v = 'still here' WHERE region = 'asia' AND id = 1");
    expect((await s.sync()).join("\n")).toMatch(/public-pt: partitions were attached or detached/);
  });

  test("mid-stream: a column's type changed or the table created again is copied again in the same run", async () => {
    await source.query("CREATE TABLE ms (id int PRIMARY KEY, seen_at timestamp, v text)");
    await source.query(
      "INSERT INTO ms SELECT i, timestamp '2024-01-01' + i * interval '1 hour', 'v' || i FROM generate_series(1, 20) i",
    );
    const s = scenario("ms", {
      table: "ms",
      key: "id",
      pg: "concat_ws('|', extract(epoch FROM seen_at)::bigint, v)",
      duckdb: "concat_ws('|', epoch(seen_at)::BIGINT, v)",
    });
    await s.sync();
    // Both warehouses follow the table at once, each on its own slot.
    const controller = new AbortController();
    const followers = [s.runs.duckdb, s.runs.postgres].map((run) => {
      const events: RunEvent[] = [];
      const done = run({
        follow: true,
        signal: controller.signal,
        observer: (e) => {
          if (process.env.DEBUG_DDL) console.log(JSON.stringify(e));
          events.push(e);
        },
      });
      return { events, done };
    });
    const waitFor = async (what: string, found: (events: RunEvent[]) => boolean): Promise<void> => {
      const deadline = Date.now() + 30_000;
      while (!followers.every((f) => found(f.events))) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const walPosition = async (): Promise<bigint> => {
      const rows = await source.query<{ lsn: string }>("SELECT pg_current_wal_lsn()::text AS lsn");
      const [hi, lo] = rows[0]!.lsn.split("/").map((x) => BigInt(`0x${x}`));
      return (hi! << 32n) + lo!;
    };
    /** The warning, then a copy after it, then changes committed past `position`. */
    const copiedAndCaughtUp =
      (warning: RegExp, position: bigint) =>
      (events: RunEvent[]): boolean => {
        const warned = events.findIndex((e) => e.type === "warning" && warning.test(e.message));
        const copied = events.findIndex(
          (e, i) => i > warned && e.type === "stream-started" && e.mode === "replace",
        );
        return (
          warned >= 0 &&
          copied >= 0 &&
          events.some(
            (e, i) => i > copied && e.type === "changes-committed" && BigInt(e.position) >= position,
          )
        );
      };
    try {
      await waitFor("streaming", (events) => events.some((e) => e.type === "changes-committed"));
      await source.query("UPDATE ms SET v = 'before' WHERE id = 1");
      // PostgreSQL converts in the ALTER's session time zone: every value moves by 9 hours.
      await source.query(
        "SET TimeZone = 'Asia/Tokyo'; ALTER TABLE ms ALTER COLUMN seen_at TYPE timestamptz; RESET TimeZone",
      );
      await source.query("UPDATE ms SET v = 'after' WHERE id = 2");
      await waitFor(
        "the type change",
        copiedAndCaughtUp(/public-ms: column "seen_at" changed type/, await walPosition()),
      );
      // One transaction: the table is never missing when a checkpoint looks.
      await source.query(
        "BEGIN; DROP TABLE ms; CREATE TABLE ms (id int PRIMARY KEY, seen_at timestamptz, v text); INSERT INTO ms VALUES (7, '2024-05-05 05:05+00', 'recreated'); COMMIT",
      );
      await source.query("INSERT INTO ms VALUES (8, '2024-05-05 06:05+00', 'streamed')");
      await waitFor(
        "the new table",
        copiedAndCaughtUp(/public-ms: the table was dropped and created again/, await walPosition()),
      );
      await source.query("UPDATE ms SET v = 'streamed on' WHERE id = 7");
      const last = await walPosition();
      await waitFor("the update", (events) =>
        events.some((e) => e.type === "changes-committed" && BigInt(e.position) >= last),
      );
    } finally {
      controller.abort();
    }
    for (const follower of followers) {
      const summary = await follower.done;
      expect(summary.status, summary.error).toBe("success");
    }
    await s.expectEqual();
  });

  test("a table renamed while it is streamed stops the run, naming it", async () => {
    await source.query("CREATE TABLE rn (id int PRIMARY KEY, v text)");
    await source.query("INSERT INTO rn SELECT i, 'v' || i FROM generate_series(1, 5) i");
    const s = scenario("rn", { table: "rn", key: "id", pg: "v", duckdb: "v" });
    await s.sync();
    const controller = new AbortController();
    let streaming = false;
    const warnings: string[] = [];
    const following = s.runs.duckdb({
      follow: true,
      signal: controller.signal,
      observer: (e) => {
        if (e.type === "changes-committed") streaming = true;
        if (e.type === "warning") warnings.push(e.message);
      },
    });
    try {
      const deadline = Date.now() + 30_000;
      while (!streaming && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      await source.query("ALTER TABLE rn RENAME TO rn_renamed");
      await source.query("INSERT INTO rn_renamed VALUES (6, 'lost?')");
      // Either the Relation message under the new name or the next checkpoint's catalog check.
      const error = await following.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(String(error)).toMatch(
        /public.rn was renamed to public.rn_renamed|public-rn: the source table no longer exists under its name/,
      );
      // Where the table went is said, whichever noticed first.
      expect([String(error), ...warnings].join("\n")).toMatch(/public.rn_renamed/);
    } finally {
      controller.abort();
      await following.catch(() => undefined);
    }
  });
});
