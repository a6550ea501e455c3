import { BigQuery, type Table } from "@google-cloud/bigquery";
import { OAuth2Client } from "google-auth-library";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import {
  BIGQUERY_LIMIT_SOURCES,
  BIGQUERY_LIMITS,
  startBigQueryEmulator,
  type BigQueryEmulator,
  type BigQueryEmulatorOptions,
} from "@sluice/emulators/bigquery";

/**
 * BigQuery's quotas and limits, through the official client: each one refuses what production
 * refuses, in Google's error shape, and the test clock lets a test live through the window.
 * Limits are lowered where a test would otherwise need thousands of jobs; one test proves the
 * defaults are the documented numbers.
 */

const PROJECT = "limits-project";
const DAY_MS = 24 * 60 * 60 * 1000;
let dir: string;
const started: BigQueryEmulator[] = [];

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "bq-limits-test-"));
});

afterEach(async () => {
  for (const emulator of started.splice(0)) await emulator.close();
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

async function start(
  options: BigQueryEmulatorOptions = {},
): Promise<{ emulator: BigQueryEmulator; bq: BigQuery }> {
  const emulator = await startBigQueryEmulator({ projectId: PROJECT, ...options });
  started.push(emulator);
  // autoRetry off: the client would retry a rateLimitExceeded itself, and the test wants to see it.
  const bq = new BigQuery({
    projectId: PROJECT,
    apiEndpoint: emulator.url,
    authClient: new OAuth2Client({ credentials: { access_token: "emulator" } }),
    autoRetry: false,
  });
  await bq.createDataset("main", { location: "US" });
  return { emulator, bq };
}

function ndjson(name: string, rows: readonly Record<string, unknown>[]): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
  return file;
}

interface ApiFailure {
  code?: number;
  message: string;
  errors?: { reason: string; message: string }[];
}

async function failure(work: Promise<unknown>): Promise<ApiFailure> {
  try {
    await work;
  } catch (error) {
    return error as ApiFailure;
  }
  throw new Error("it succeeded");
}

const load = (table: Table, file: string) => table.load(file, { sourceFormat: "NEWLINE_DELIMITED_JSON" });

async function jobStatistics(bq: BigQuery, sql: string, dryRun = false) {
  const [job] = await bq.createQueryJob({ query: sql, dryRun });
  const [metadata] = await job.getMetadata();
  return metadata.statistics as {
    totalBytesProcessed: string;
    query: { totalBytesProcessed: string; totalBytesBilled: string };
  };
}

describe("quotas", () => {
  test("the defaults are production's documented numbers, each with its source", async () => {
    expect(BIGQUERY_LIMITS).toEqual({
      tableModificationsPerDay: 1_500,
      tableMetadataUpdatesPer10s: 5,
      loadJobsPerDay: 100_000,
      partitionsPerTable: 10_000,
      partitionsModifiedPerJob: 4_000,
      insertDmlUnthrottledPerDay: 1_500,
      insertDmlConcurrentPerTable: 10,
      insertDmlQueuedPerTable: 100,
      concurrentMutatingDmlPerTable: 2,
      queuedMutatingDmlPerTable: 20,
      minimumBytesBilledPerTable: 10 * 1024 * 1024,
      gzipFileBytes: 4 * 1024 ** 3,
    });
    for (const source of Object.values(BIGQUERY_LIMIT_SOURCES)) {
      expect(source).toMatch(/^https:\/\/cloud\.google\.com\/bigquery\//);
    }
    const { emulator } = await start();
    expect(emulator.quotas.limits).toEqual(BIGQUERY_LIMITS);
  });

  test("a gzip-compressed NDJSON upload loads as its rows; one over the compressed-file cap fails as BigQuery's does", async () => {
    const { bq } = await start({ limits: { gzipFileBytes: 2_000 } });
    const [table] = await bq.dataset("main").createTable("events", {
      schema: {
        fields: [
          { name: "id", type: "INT64" },
          { name: "v", type: "STRING" },
        ],
      },
    });
    const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ id: i, v: `value ${i}` }));
    const gzipped = (name: string, n: number) => {
      const file = path.join(dir, name);
      fs.writeFileSync(
        file,
        gzipSync(
          rows(n)
            .map((r) => JSON.stringify(r))
            .join("\n") + "\n",
        ),
      );
      return file;
    };
    await load(table, gzipped("small.json.gz", 50));
    const [loaded] = await bq.query("SELECT count(*) AS n, max(v) AS top FROM main.events");
    expect(loaded).toEqual([{ n: 50, top: "value 9" }]);
    const big = gzipped("big.json.gz", 2_000);
    const refused = await failure(load(table, big));
    expect(refused.message).toBe(
      `Input JSON files are not splittable and at least one of the files is larger than the maximum allowed size. Size is: ${fs.statSync(big).size}. Max allowed size is: 2000.`,
    );
    const [after] = await bq.query("SELECT count(*) AS n FROM main.events");
    expect(after).toEqual([{ n: 50 }]);
  });

  test("table modifications per day: load and copy jobs count and the next fails with quotaExceeded; DML counts but is never refused; a day later it passes", async () => {
    const { emulator, bq } = await start({
      limits: { tableModificationsPerDay: 3 },
      jobDurationMs: 2_000,
    });
    const schema = { fields: [{ name: "n", type: "INT64" }] };
    const [table] = await bq.dataset("main").createTable("t", { schema });
    const [source] = await bq.dataset("main").createTable("src", { schema });
    await load(table, ndjson("one.json", [{ n: 1 }]));
    await load(table, ndjson("two.json", [{ n: 2 }]));
    await load(source, ndjson("three.json", [{ n: 3 }]));
    await source.copy(table, { writeDisposition: "WRITE_APPEND" });
    expect(emulator.quotas.modificationsToday("main.t")).toBe(3);

    const refused = await failure(load(table, ndjson("four.json", [{ n: 4 }])));
    expect(refused.errors?.[0]?.reason).toBe("quotaExceeded");
    expect(refused.message).toMatch(
      /^Quota exceeded: Your table exceeded quota for imports or query appends per table/,
    );

    // DML is counted toward the day's figure, and runs anyway.
    await bq.query("INSERT INTO main.t (n) VALUES (5)");
    await bq.query("UPDATE main.t SET n = n + 10 WHERE n = 5");
    expect(emulator.quotas.modificationsToday("main.t")).toBe(5);
    expect(
      (await failure(source.copy(table, { writeDisposition: "WRITE_APPEND" }))).errors?.[0]?.reason,
    ).toBe("quotaExceeded");

    emulator.clock.advance(DAY_MS);
    await load(table, ndjson("five.json", [{ n: 6 }]));
    const [rows] = await bq.query("SELECT n FROM main.t ORDER BY n");
    expect(rows.map((r: { n: number }) => r.n)).toEqual([1, 2, 3, 6, 15]);
  });

  test("table metadata updates: the sixth within 10 seconds is rateLimitExceeded (production's 5), and passes once the window moves", async () => {
    const { emulator, bq } = await start({ clockStart: new Date("2026-03-01T00:00:00Z") });
    const [table] = await bq
      .dataset("main")
      .createTable("meta", { schema: { fields: [{ name: "n", type: "INT64" }] } });
    for (let i = 0; i < 3; i++) await table.setMetadata({ description: `update ${i}` });
    await bq.query("ALTER TABLE main.meta ADD COLUMN a STRING");
    // 1 create + 3 patches + 1 ALTER = 5 in this 10-second window.
    const refused = await failure(table.setMetadata({ description: "one too many" }));
    expect(refused.code).toBe(403);
    expect(refused.errors?.[0]?.reason).toBe("rateLimitExceeded");
    expect(refused.message).toMatch(/^Exceeded rate limits: too many table update operations for this table/);
    const alter = await failure(bq.query("ALTER TABLE main.meta ADD COLUMN b STRING"));
    expect(alter.errors?.[0]?.reason).toBe("rateLimitExceeded");

    emulator.clock.advance(10_001);
    await table.setMetadata({ description: "later" });
    // One statement adding several columns is one update.
    await bq.query("ALTER TABLE main.meta ADD COLUMN b STRING, ADD COLUMN c INT64, ADD COLUMN d BOOL");
    expect((await table.getMetadata())[0].schema.fields.map((f: { name: string }) => f.name)).toEqual([
      "n",
      "a",
      "b",
      "c",
      "d",
    ]);
  });

  test("load jobs per project per day: past the quota every table's load fails with quotaExceeded, failed loads counted; 24 hours later they run", async () => {
    const { emulator, bq } = await start({ limits: { loadJobsPerDay: 3 }, jobDurationMs: 2_000 });
    const schema = { fields: [{ name: "n", type: "INT64", mode: "REQUIRED" }] };
    const [a] = await bq.dataset("main").createTable("a", { schema });
    const [b] = await bq.dataset("main").createTable("b", { schema });
    await load(a, ndjson("a.json", [{ n: 1 }]));
    // A load that fails on its data still uses a load job.
    expect((await failure(load(b, ndjson("bad.json", [{ n: null }])))).errors?.[0]?.reason).toBe("invalid");
    await load(b, ndjson("b.json", [{ n: 2 }]));
    const refused = await failure(load(a, ndjson("a2.json", [{ n: 3 }])));
    expect(refused.errors?.[0]?.reason).toBe("quotaExceeded");
    expect(refused.message).toMatch(/^Quota exceeded: Your project exceeded quota for imports per project/);

    emulator.clock.advance(DAY_MS / 2);
    expect((await failure(load(b, ndjson("b2.json", [{ n: 4 }])))).errors?.[0]?.reason).toBe("quotaExceeded");
    // A rolling 24 hours from the first load.
    emulator.clock.advance(DAY_MS / 2);
    await load(a, ndjson("a3.json", [{ n: 5 }]));
  });

  test("mutating DML per table: past the running and queued statements BigQuery allows, the next is refused", async () => {
    const { bq } = await start({
      limits: { concurrentMutatingDmlPerTable: 1, queuedMutatingDmlPerTable: 1 },
    });
    await bq.query(
      "CREATE TABLE main.big AS SELECT x AS id, CAST(x AS STRING) AS s FROM UNNEST(GENERATE_ARRAY(1, 200000)) AS x",
    );
    const results = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) => bq.query(`UPDATE main.big SET s = '${i}' WHERE MOD(id, 7) = ${i}`)),
    );
    const refused = results.flatMap((r) => (r.status === "rejected" ? [r.reason as ApiFailure] : []));
    expect(refused.length).toBeGreaterThan(0);
    expect(refused[0]!.message).toMatch(
      /Too many DML statements outstanding against table main\.big, limit is 1/,
    );
    expect(results.filter((r) => r.status === "fulfilled").length).toBeGreaterThanOrEqual(2);
  });

  test("INSERT DML: the day's first statements all run however many at once; past them, a table takes only so many running and queued", async () => {
    const { emulator, bq } = await start({
      limits: { insertDmlUnthrottledPerDay: 12, insertDmlConcurrentPerTable: 1, insertDmlQueuedPerTable: 1 },
    });
    await bq.query("CREATE TABLE main.log (n INT64)");
    const burst = (from: number) =>
      Promise.allSettled(
        Array.from({ length: 12 }, (_, i) => bq.query(`INSERT INTO main.log (n) VALUES (${from + i})`)),
      );
    expect((await burst(0)).every((r) => r.status === "fulfilled")).toBe(true);
    const throttled = await burst(100);
    const refused = throttled.flatMap((r) => (r.status === "rejected" ? [r.reason as ApiFailure] : []));
    expect(refused.length).toBeGreaterThan(0);
    expect(refused[0]!.errors?.[0]?.reason).toBe("quotaExceeded");
    expect(refused[0]!.message).toMatch(
      /Too many DML statements outstanding against table main\.log, limit is 1/,
    );
    emulator.clock.advance(DAY_MS);
    expect((await burst(200)).every((r) => r.status === "fulfilled")).toBe(true);
  });

  test("partitions: a job modifying more than allowed, or leaving the table with too many, fails and changes nothing", async () => {
    const { bq } = await start({ limits: { partitionsModifiedPerJob: 3, partitionsPerTable: 5 } });
    await bq.query("CREATE TABLE main.daily (d DATE, v INT64) PARTITION BY d");
    const table = bq.dataset("main").table("daily");
    const days = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => ({
        d: `2026-02-${String(from + i).padStart(2, "0")}`,
        v: from + i,
      }));
    const tooMany = await failure(load(table, ndjson("four-days.json", days(1, 4))));
    expect(tooMany.message).toMatch(
      /^Too many partitions produced by query, allowed 3, query produces at least 4 partitions/,
    );
    await load(table, ndjson("three-days.json", days(1, 3)));
    // An UPDATE touching four partitions is refused too.
    await load(table, ndjson("two-more.json", days(4, 2)));
    expect((await failure(bq.query("UPDATE main.daily SET v = v + 1 WHERE v <= 4"))).message).toMatch(
      /allowed 3, query produces at least 4 partitions/,
    );
    const full = await failure(load(table, ndjson("sixth.json", days(6, 1))));
    expect(full.message).toMatch(/^Too many partitions in table .*allowed 5, the job would leave 6/);
    const [rows] = await bq.query("SELECT v FROM main.daily ORDER BY v");
    expect(rows.map((r: { v: number }) => r.v)).toEqual([1, 2, 3, 4, 5]);
  });

  test("the clock is also moved over HTTP, for an emulator started on its own", async () => {
    const { emulator } = await start({ clockStart: Date.parse("2026-05-01T00:00:00Z") });
    const moved = await fetch(`${emulator.url}/emulator/clock`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ advanceMs: DAY_MS }),
    });
    const { now } = (await moved.json()) as { now: string };
    expect(now.slice(0, 10)).toBe("2026-05-02");
    expect(emulator.clock.now()).toBeGreaterThanOrEqual(Date.parse("2026-05-02T00:00:00Z"));
  });
});

describe("bytes billed (on-demand)", () => {
  test("a query bills the columns it reads, at least 10 MB per table; a dry run reports the bytes and bills none", async () => {
    const { bq } = await start();
    await bq.query(
      "CREATE TABLE main.people AS SELECT x AS id, CONCAT('name-', CAST(x AS STRING)) AS name FROM UNNEST(GENERATE_ARRAY(1, 1000)) AS x",
    );
    const ids = await jobStatistics(bq, "SELECT id FROM main.people");
    expect(ids.query.totalBytesProcessed).toBe("8000");
    expect(ids.totalBytesProcessed).toBe("8000");
    expect(ids.query.totalBytesBilled).toBe(String(10 * 1024 * 1024));
    // STRING: 2 bytes + the UTF-8 length; 'name-1' .. 'name-1000'.
    const nameBytes = Array.from({ length: 1000 }, (_, i) => 2 + `name-${i + 1}`.length).reduce(
      (a, b) => a + b,
    );
    const all = await jobStatistics(bq, "SELECT * FROM main.people");
    expect(all.query.totalBytesProcessed).toBe(String(8000 + nameBytes));
    const dry = await jobStatistics(bq, "SELECT name FROM main.people", true);
    expect(dry.query.totalBytesProcessed).toBe(String(nameBytes));
    expect(dry.query.totalBytesBilled).toBe("0");
    const none = await jobStatistics(bq, "SELECT 1 AS one");
    expect(none.query.totalBytesBilled).toBe("0");
  });

  test("a filter on the partitioning column prunes partitions; UPDATE and MERGE bill every column of the target's scanned partitions", async () => {
    const { bq } = await start();
    await bq.query("CREATE TABLE main.events (d DATE, v INT64, note STRING) PARTITION BY d");
    await load(
      bq.dataset("main").table("events"),
      ndjson(
        "events.json",
        Array.from({ length: 1000 }, (_, i) => ({
          d: `2026-01-${String((i % 10) + 1).padStart(2, "0")}`,
          v: i,
        })),
      ),
    );
    // 100 rows a day; DATE and INT64 are 8 bytes each; NULL is 0 bytes. Only v is read here:
    expect((await jobStatistics(bq, "SELECT v FROM main.events")).query.totalBytesProcessed).toBe("8000");
    // v and d, in one partition of ten:
    expect(
      (await jobStatistics(bq, "SELECT v FROM main.events WHERE d = '2026-01-03'")).query.totalBytesProcessed,
    ).toBe("1600");
    expect(
      (
        await jobStatistics(
          bq,
          "SELECT v FROM main.events WHERE d BETWEEN DATE '2026-01-03' AND DATE '2026-01-04'",
        )
      ).query.totalBytesProcessed,
    ).toBe("3200");
    // UPDATE reads all three columns of the partitions it scans (note is NULL: 0 bytes).
    expect(
      (await jobStatistics(bq, "UPDATE main.events SET v = v + 1 WHERE d = '2026-01-05'")).query
        .totalBytesProcessed,
    ).toBe("1600");
    await bq.query("CREATE TABLE main.changes (d DATE, v INT64)");
    await bq.query("INSERT INTO main.changes (d, v) VALUES (DATE '2026-01-02', 1)");
    const merge = await jobStatistics(
      bq,
      "MERGE main.events T USING main.changes S ON T.d = S.d AND T.v = S.v WHEN MATCHED THEN UPDATE SET note = 'x'",
    );
    // The whole target (no constant filter on d: nothing pruned) plus the source's 16 bytes.
    expect(merge.query.totalBytesProcessed).toBe(String(16000 + 16));
    expect(merge.query.totalBytesBilled).toBe(String(2 * 10 * 1024 * 1024));
    // Constant ranges joined by OR in the ON condition prune to their partitions (two days of
    // ten: every column read, 1600 bytes a day, plus the one note the MERGE above set: "x", 3 bytes).
    const pruned = await jobStatistics(
      bq,
      "MERGE main.events T USING main.changes S ON T.d = S.d AND T.v = S.v AND (T.d >= DATE '2026-01-02' AND T.d < DATE '2026-01-03' OR T.d >= DATE '2026-01-07' AND T.d < DATE '2026-01-08' OR T.d IS NULL) WHEN MATCHED THEN UPDATE SET note = 'y'",
    );
    expect(pruned.query.totalBytesProcessed).toBe(String(2 * 1600 + 3 + 16));
  });
});

describe("types GoogleSQL refuses to group, partition or compare", () => {
  test("FLOAT64 in a window's PARTITION BY; JSON, ARRAY and a STRUCT holding JSON in GROUP BY; JSON in an equality", async () => {
    const { bq } = await start();
    await bq.query(
      "CREATE TABLE main.kinds (f FLOAT64, j JSON, a ARRAY<INT64>, s STRUCT<x INT64, y JSON>, ok STRUCT<x INT64>, n INT64)",
    );
    const message = async (sql: string) => (await failure(bq.query(sql))).message;
    expect(await message("SELECT ROW_NUMBER() OVER (PARTITION BY f) AS r FROM main.kinds")).toMatch(
      /^Partitioning by expressions of type FLOAT64 is not allowed at \[1:/,
    );
    expect(await message("SELECT COUNT(*) AS c FROM main.kinds GROUP BY j")).toMatch(
      /^Grouping by expressions of type JSON is not allowed/,
    );
    expect(await message("SELECT COUNT(*) AS c FROM main.kinds GROUP BY a")).toMatch(
      /^Grouping by expressions of type ARRAY<INT64> is not allowed/,
    );
    expect(await message("SELECT COUNT(*) AS c FROM main.kinds GROUP BY s")).toMatch(
      /^Grouping by expressions of type STRUCT is not allowed/,
    );
    expect(
      await message("MERGE main.kinds T USING main.kinds S ON T.j = S.j WHEN MATCHED THEN UPDATE SET n = 1"),
    ).toMatch(/^No matching signature for operator = for argument types: JSON, JSON/);
    // What BigQuery does allow: grouping FLOAT64 and a STRUCT of groupable fields, partitioning INT64.
    await bq.query("SELECT f, COUNT(*) AS c FROM main.kinds GROUP BY f");
    await bq.query("SELECT COUNT(*) AS c FROM main.kinds GROUP BY ok");
    await bq.query("SELECT ROW_NUMBER() OVER (PARTITION BY n ORDER BY f) AS r FROM main.kinds");
  });
});

describe("schema changes and copies", () => {
  test("in-place type changes: INT64 to NUMERIC/BIGNUMERIC/FLOAT64, NUMERIC(P,S) only wider, REQUIRED only relaxed", async () => {
    const { bq } = await start({ jobDurationMs: 2_000 });
    await bq.query("CREATE TABLE main.widen (i INT64, n NUMERIC(10, 2), s STRING, r INT64 NOT NULL)");
    await bq.query("ALTER TABLE main.widen ALTER COLUMN i SET DATA TYPE NUMERIC");
    await bq.query("ALTER TABLE main.widen ALTER COLUMN n SET DATA TYPE NUMERIC(12, 2)");
    await bq.query("ALTER TABLE main.widen ALTER COLUMN r DROP NOT NULL");
    const refused = async (sql: string) => (await failure(bq.query(sql))).message;
    expect(await refused("ALTER TABLE main.widen ALTER COLUMN n SET DATA TYPE NUMERIC(11, 3)")).toMatch(
      /existing column type \(NUMERIC\(12,2\)\) is assignable to the new type \(NUMERIC\(11,3\)\)/,
    );
    expect(await refused("ALTER TABLE main.widen ALTER COLUMN s SET DATA TYPE INT64")).toMatch(
      /existing column type \(STRING\) is assignable to the new type \(INTEGER\)/,
    );
    expect(await refused("ALTER TABLE main.widen ALTER COLUMN i SET DATA TYPE INT64")).toMatch(/assignable/);
  });

  test("a copy job cannot write into a table partitioned differently from its source", async () => {
    const { bq } = await start();
    await bq.query("CREATE TABLE main.flat (d DATE, v INT64)");
    await bq.query("CREATE TABLE main.by_day (d DATE, v INT64) PARTITION BY d");
    const refused = await failure(
      bq
        .dataset("main")
        .table("flat")
        .copy(bq.dataset("main").table("by_day"), { writeDisposition: "WRITE_APPEND" }),
    );
    expect(refused.message).toMatch(/^Incompatible table partitioning specification/);
  });
});
