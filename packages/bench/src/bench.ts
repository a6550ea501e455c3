import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import pg from "pg";
import { to as copyTo } from "pg-copy-streams";
import { insertAccounts, insertEvents, DEMO_SCHEMA_SQL } from "@sluice/demo/demo-schema";
import { startEmbeddedPostgres, type EmbeddedServer } from "@sluice/postgres-server";
import { formatBytes, formatCount } from "sluice/dist/cli/output.js";
import { benchBigquery } from "./bigquery-bench.js";
import { benchBigqueryCdc } from "./bigquery-cdc-bench.js";
import { benchChangeCapture } from "./cdc-bench.js";
import { benchStartup } from "./startup-bench.js";
import { writeBenchProject } from "./bench-project.js";
import { rowsOf, runSluiceCli, type RunFinished } from "./run-sluice-cli.js";

/**
 * `npm run bench [-- --rows N] [--lines help,duckdb,mappers,tables,bigquery,cdc]`: `sluice --help` beside
 * `node -e 0` (start-up), then the demo's `events` table
 * with N rows, moved into DuckDB by a full load (`sluice run`, a separate process so its peak RSS
 * is its own), beside the ceiling: a bare `COPY (SELECT * FROM events) TO STDOUT` read and thrown
 * away, in the same run. Then, per line asked for: the same load plain and through a built-in
 * mapping (md5 of one column, one dropped, a filter), 50 tables of 20,000 rows in one run, the same
 * N rows into BigQuery's emulator, a CDC burst, and CDC into BigQuery's emulator in follow mode
 * by each cdc_method. PostgreSQL is embedded unless
 * SLUICE_BENCH_DATABASE_URL names a server (its database is reused).
 */
const LINES = ["help", "duckdb", "mappers", "tables", "bigquery", "cdc", "bigquery-cdc"] as const;
const { values } = parseArgs({
  options: {
    rows: { type: "string", default: "1000000" },
    lines: { type: "string", default: LINES.join(",") },
    "keep-dir": { type: "boolean", default: false },
  },
});
const rows = Number(values.rows);
const lines = new Set(values.lines.split(",").map((l) => l.trim()));
for (const line of lines) {
  if (!(LINES as readonly string[]).includes(line))
    throw new Error(`--lines: "${line}" is not one of ${LINES.join(", ")}`);
}
const TABLES = 50;
const TABLE_ROWS = 20_000;
/** The product's CLI, the file its package's bin links to (`sluice` in this workspace's node_modules). */
const cli = fileURLToPath(import.meta.resolve("sluice/dist/cli/main.js"));

/**
 * CPU time the whole machine spent busy so far, in core-seconds: a load that keeps every core
 * busy cannot go faster by running more at once, only by doing less work.
 */
function busyCoreSeconds(): number {
  let ms = 0;
  for (const { times } of os.cpus()) ms += times.user + times.nice + times.sys + times.irq;
  return ms / 1000;
}

async function main(): Promise<void> {
  if (lines.has("help")) {
    const startup = benchStartup(cli);
    console.log(
      `  start-up sluice --help ${(startup.help * 1000).toFixed(0)} ms, node -e 0 ${(startup.node * 1000).toFixed(0)} ms: ${startup.ratio.toFixed(2)}x (goal: at most 1.7x)`,
    );
    if (lines.size === 1) return;
  }
  let server: EmbeddedServer | undefined;
  let url = process.env.SLUICE_BENCH_DATABASE_URL;
  if (!url) {
    server = await startEmbeddedPostgres({ settings: { shared_buffers: "512MB" } });
    url = server.url("postgres");
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-bench-"));
  try {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const existing = await client.query(
      "SELECT count(*)::bigint AS n FROM pg_tables WHERE schemaname = 'public' AND tablename = 'events'",
    );
    let have = 0;
    if (Number(existing.rows[0].n) > 0)
      have = Number((await client.query("SELECT count(*) AS n FROM events")).rows[0].n);
    if (have !== rows) {
      const t = Date.now();
      await client.query("DROP TABLE IF EXISTS events; DROP TABLE IF EXISTS accounts;");
      await client.query(DEMO_SCHEMA_SQL);
      await insertAccounts(client, 1000);
      for (let done = 0; done < rows; done += 1_000_000)
        await insertEvents(client, Math.min(1_000_000, rows - done));
      await client.query("VACUUM ANALYZE events");
      console.log(
        `created events with ${formatCount(rows)} rows in ${((Date.now() - t) / 1000).toFixed(1)} s`,
      );
    }
    const size = (await client.query("SELECT pg_total_relation_size('events') AS s")).rows[0].s;

    // Ceiling: PostgreSQL encoding the rows as text, read by Node and discarded.
    const t = Date.now();
    let bytes = 0;
    await pipeline(
      client.query(copyTo("COPY (SELECT * FROM events) TO STDOUT")),
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          bytes += chunk.length;
          callback();
        },
      }),
    );
    const copySeconds = (Date.now() - t) / 1000;
    await client.end();

    const copyRate = rows / copySeconds;
    console.log(
      [
        "",
        `sluice bench: ${formatCount(rows)} rows of events (${formatBytes(Number(size))} in PostgreSQL, ${formatBytes(bytes)} as COPY text), ${os.cpus().length} cores`,
        `  ceiling  COPY (SELECT * FROM events) TO STDOUT → discard   ${copySeconds.toFixed(1).padStart(6)} s  ${formatCount(Math.round(copyRate)).padStart(9)} rows/s`,
      ].join("\n"),
    );

    const target = new URL(url);
    /** A full load into a fresh DuckDB file: its seconds and what the run reported. */
    const loadIntoDuckdb = async (
      dir: string,
      select: string[],
      mapping?: { name: string; mappers: string[] },
    ): Promise<[number, RunFinished]> => {
      const env = writeBenchProject(dir, target, {
        select,
        loader: "target-duckdb",
        loaderConfig: ["path: bench.duckdb"],
        ...(mapping ? { mappers: mapping.mappers } : {}),
      });
      const started = Date.now();
      const busyBefore = busyCoreSeconds();
      const finished = await runSluiceCli({
        cli,
        dir,
        extractor: "tap-postgres",
        ...(mapping ? { mappings: [mapping.name] } : {}),
        loader: "target-duckdb",
        env,
      });
      busyDuringLoad = busyCoreSeconds() - busyBefore;
      return [(Date.now() - started) / 1000, finished];
    };
    let busyDuringLoad = 0;
    if (lines.has("duckdb")) {
      // sluice: a full load of events into a fresh DuckDB file.
      const dir = path.join(work, "duckdb");
      const [loadSeconds, finished] = await loadIntoDuckdb(dir, ["public-events.*"]);
      const loadRate = rows / loadSeconds;
      const duckdbSize = fs.statSync(path.join(dir, "bench.duckdb")).size;
      console.log(
        [
          `  sluice   run tap-postgres target-duckdb (FULL_TABLE)       ${loadSeconds.toFixed(1).padStart(6)} s  ${formatCount(Math.round(loadRate)).padStart(9)} rows/s  = ${((100 * loadRate) / copyRate).toFixed(0)}% of the ceiling`,
          `           peak RSS of the sluice process: ${formatBytes(finished.peakRssBytes)}; DuckDB file ${formatBytes(duckdbSize)}; rows loaded ${formatCount(rowsOf(finished))}`,
          `           the machine's CPU busy meanwhile (PostgreSQL included): ${busyDuringLoad.toFixed(0)} core-seconds of ${(loadSeconds * os.cpus().length).toFixed(0)}`,
        ].join("\n"),
      );
      if (rowsOf(finished) !== rows) throw new Error(`loaded ${rowsOf(finished)} rows, expected ${rows}`);
    }

    if (lines.has("mappers")) {
      // The same load with and without a built-in mapping like the README's hash-pii: what a
      // mapping costs. The filter keeps every row, so both load N rows.
      const [plainSeconds, plain] = await loadIntoDuckdb(path.join(work, "mappers-plain"), [
        "public-events.*",
      ]);
      const [mappedSeconds, mapped] = await loadIntoDuckdb(
        path.join(work, "mappers-mapped"),
        ["public-events.*"],
        {
          name: "hash-pii",
          mappers: [
            "- name: meltano-map-transformer",
            "  mappings:",
            "    - name: hash-pii",
            "      config:",
            "        stream_maps:",
            "          public-events:",
            "            kind: md5(kind)",
            "            labels: __NULL__",
            "            __filter__: id > 0",
          ],
        },
      );
      for (const [finished, what] of [
        [plain, "plain"],
        [mapped, "mapped"],
      ] as const) {
        if (rowsOf(finished) !== rows)
          throw new Error(`mappers (${what}): loaded ${rowsOf(finished)} rows, expected ${rows}`);
      }
      console.log(
        [
          `  mappers  run tap-postgres target-duckdb, no mapping        ${plainSeconds.toFixed(1).padStart(6)} s  ${formatCount(Math.round(rows / plainSeconds)).padStart(9)} rows/s`,
          `           run tap-postgres hash-pii target-duckdb (built in) ${mappedSeconds.toFixed(1).padStart(5)} s  ${formatCount(Math.round(rows / mappedSeconds)).padStart(9)} rows/s  = ${(mappedSeconds / plainSeconds).toFixed(1)}x the time`,
        ].join("\n"),
      );
    }

    if (lines.has("tables")) {
      // Many small tables in one run: streams load in parallel within one memory budget.
      await withClient(url, async (c) => {
        for (let i = 1; i <= TABLES; i++) {
          await c.query(`DROP TABLE IF EXISTS bench_t${i}`);
          await c.query(`CREATE TABLE bench_t${i} AS SELECT * FROM events ORDER BY id LIMIT ${TABLE_ROWS}`);
          await c.query(`ALTER TABLE bench_t${i} ADD PRIMARY KEY (id)`);
        }
      });
      const dir = path.join(work, "tables");
      const [seconds, finished] = await loadIntoDuckdb(dir, ["public-bench_t*.*"]);
      const loaded = rowsOf(finished);
      console.log(
        `  tables   ${TABLES} tables of ${formatCount(TABLE_ROWS)} rows in one run → DuckDB          ${seconds.toFixed(1).padStart(6)} s  ${formatCount(Math.round(loaded / seconds)).padStart(9)} rows/s  peak RSS ${formatBytes(finished.peakRssBytes)}`,
      );
      if (loaded !== Math.min(rows, TABLE_ROWS) * TABLES)
        throw new Error(
          `loaded ${loaded} rows of the ${TABLES} tables, expected ${Math.min(rows, TABLE_ROWS) * TABLES}`,
        );
    }

    if (lines.has("bigquery-cdc")) {
      // The same changes by each cdc_method: what BigQuery's quotas and bill would see.
      for (const method of ["storage_write", "merge"] as const) {
        const f = await benchBigqueryCdc({
          url,
          cli,
          workDir: work,
          method,
          transactions: 60,
          perTransaction: 100,
        });
        console.log(
          `  bq-cdc   --follow, ${formatCount(f.changes)} updates in ${f.changes / 100} transactions, cdc_method ${method.padEnd(13)} ${f.seconds.toFixed(1).padStart(6)} s  ${formatCount(Math.round(f.changes / f.seconds)).padStart(9)} changes/s  ${f.tableModifications} table modifications (${formatCount(Math.round(f.modificationsPerDay))}/day at this pace; quota 1,500), ${f.dmlStatements} DML statements  ${(f.bytesSent / f.changes).toFixed(0)} bytes sent and ${(f.bytesBilled / f.changes).toFixed(0)} bytes billed per change${method === "storage_write" ? " (one background apply; BigQuery runs one per max_staleness)" : f.bytesBilled === 0 ? " (the emulator bills no query bytes)" : ""}`,
        );
      }
    }
    if (!lines.has("bigquery") && !lines.has("cdc")) return;
    // target-bigquery through the local emulator: load jobs of NDJSON, bytes counted on the wire.
    const bq = lines.has("bigquery") ? await benchBigquery({ url, cli, workDir: work }) : undefined;
    if (bq) {
      console.log(
        `  bigquery run tap-postgres target-bigquery (emulator)       ${bq.seconds.toFixed(1).padStart(6)} s  ${formatCount(Math.round(bq.rows / bq.seconds)).padStart(9)} rows/s  ${(bq.bytesSent / Math.max(1, bq.rows)).toFixed(0)} bytes sent per row (${formatBytes(bq.bytesSent)}), peak RSS ${formatBytes(bq.peakRssBytes)}`,
      );
      if (bq.rows !== rows) throw new Error(`loaded ${bq.rows} rows into BigQuery, expected ${rows}`);
    }
    if (!lines.has("cdc")) return;

    const cdc = await benchChangeCapture({ url, cli, workDir: work, updates: 100_000 });
    const sorted = [...cdc.latencyMs].sort((a, b) => a - b);
    console.log(
      [
        `  cdc      LOG_BASED burst of ${formatCount(cdc.updates)} updates → DuckDB        ${cdc.streamSeconds.toFixed(1).padStart(6)} s  ${formatCount(Math.round(cdc.changesPerSecond)).padStart(9)} changes/s (whole command ${cdc.commandSeconds.toFixed(1)} s, peak RSS ${formatBytes(cdc.peakRssBytes)})`,
        `           --follow latency, commit → durable in DuckDB and state: median ${sorted[Math.floor(sorted.length / 2)]} ms, max ${sorted[sorted.length - 1]} ms (${sorted.length} samples)`,
      ].join("\n"),
    );
  } finally {
    if (!values["keep-dir"]) fs.rmSync(work, { recursive: true, force: true });
    else console.log(`kept ${work}`);
    await server?.stop();
  }
}

async function withClient(url: string, work: (client: pg.Client) => Promise<void>): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await work(client);
  } finally {
    await client.end();
  }
}

await main();
