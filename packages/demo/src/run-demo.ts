import fs from "node:fs";
import path from "node:path";
import pg from "pg";
import { DuckDBInstance } from "@duckdb/node-api";
import { startEmbeddedPostgres } from "@sluice/postgres-server";
import type { Output } from "sluice/dist/cli/output.js";
import { formatCount, rate } from "sluice/dist/cli/output.js";
import { openProject } from "sluice/dist/runner/project-context.js";
import { runProjectPipeline } from "sluice/dist/runner/project-pipeline.js";
import type { RunSummary } from "sluice/dist/runner/run-events.js";
import { applyDemoChanges, createDemoData } from "./demo-schema.js";

export interface DemoOptions {
  /** Folder for the demo project, its state and the DuckDB file. */
  dir: string;
  events: number;
  accounts: number;
  output: Output;
}

/** The demo project: the reference architecture's shape, with DuckDB in place of BigQuery. */
function demoProjectFile(): string {
  return `# Written by \`npm run demo\`: the reference architecture's meltano.yml, into DuckDB.
version: 1
default_environment: demo
environments:
  - name: demo
plugins:
  extractors:
    - name: tap-postgres
      variant: transferwise
      pip_url: pipelinewise-tap-postgres
      config:
        host: 127.0.0.1
        port: \${DEMO_POSTGRES_PORT}
        user: postgres
        dbname: shop
        filter_schemas: public
        default_replication_method: FULL_TABLE
      # The password comes from the environment, as TAP_POSTGRES_PASSWORD (see .env).
      select:
        - public-accounts.*
        - public-events.*
      metadata:
        public-events:
          replication-method: INCREMENTAL
          replication-key: updated_at
        public-accounts:
          replication-method: INCREMENTAL
          replication-key: updated_at
  loaders:
    - name: target-duckdb
      config:
        path: warehouse.duckdb
        add_metadata_columns: true
        load_method: upsert
`;
}

/**
 * `npm run demo`: a PostgreSQL of our own with a small shop database, a full load into DuckDB,
 * a day of changes, and an incremental run that moves only those changes.
 */
export async function runDemo(options: DemoOptions): Promise<void> {
  const { output } = options;
  const dir = path.resolve(options.dir);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  output.info(`starting an embedded PostgreSQL (no system install needed)...`);
  const server = await startEmbeddedPostgres();
  try {
    const admin = new pg.Client({ connectionString: server.url("postgres") });
    await admin.connect();
    await admin.query("CREATE DATABASE shop");
    await admin.end();
    const shop = new pg.Client({ connectionString: server.url("shop") });
    await shop.connect();
    let t = Date.now();
    await createDemoData(shop, { accounts: options.accounts, events: options.events });
    output.info(
      `created database "shop": ${formatCount(options.accounts)} accounts, ${formatCount(options.events)} events (${((Date.now() - t) / 1000).toFixed(1)} s)`,
    );

    fs.writeFileSync(path.join(dir, "sluice.yml"), demoProjectFile());
    fs.writeFileSync(
      path.join(dir, ".env"),
      `DEMO_POSTGRES_PORT=${server.port}\nTAP_POSTGRES_PASSWORD=${server.password}\n`,
    );
    const project = openProject(dir);
    const run = async (label: string): Promise<RunSummary> => {
      output.info(`\n== ${label}: sluice run tap-postgres target-duckdb`);
      const result = await runProjectPipeline(project, {
        extractor: "tap-postgres",
        loader: "target-duckdb",
        observer: (event) => output.runEvent(event),
        warn: (message) => output.warn(message),
      });
      return result.summary!;
    };

    const first = await run("full load");
    t = Date.now();
    const changes = await applyDemoChanges(shop);
    await shop.end();
    output.info(
      `\nchanged the source: ${formatCount(changes.inserted)} events inserted, ${formatCount(changes.updated)} rows updated (${((Date.now() - t) / 1000).toFixed(1)} s)`,
    );
    const second = await run("incremental run");

    const warehouse = path.join(dir, "warehouse.duckdb");
    const query =
      "SELECT kind, count(*) AS events, sum(amount) AS amount FROM public.events GROUP BY kind ORDER BY events DESC";
    output.result(
      [
        "",
        "What moved:",
        summaryLine("full load", first),
        summaryLine("incremental", second),
        "",
        `DuckDB file: ${warehouse}`,
        // The table below is that query's result: no DuckDB CLI needed to see it.
        `The same query with the DuckDB CLI, if you have it (any DuckDB client reads the file):`,
        `  duckdb ${path.relative(process.cwd(), warehouse)} "${query}"`,
        "",
        await queryTable(warehouse, query),
        "",
        `Project file: ${path.join(dir, "sluice.yml")} (run history: npx sluice -C ${path.relative(process.cwd(), dir) || "."} runs, from this checkout)`,
      ].join("\n"),
    );
  } finally {
    await server.stop();
  }
}

function summaryLine(label: string, summary: RunSummary): string {
  const streams = Object.entries(summary.streams)
    .map(([id, s]) => `${id} ${formatCount(s.rows)} rows`)
    .join(", ");
  const rows = Object.values(summary.streams).reduce((n, s) => n + s.rows, 0);
  return `  ${label.padEnd(12)} ${streams}; ${summary.seconds.toFixed(1)} s, ${formatCount(rate(rows, summary.seconds))} rows/s`;
}

async function queryTable(file: string, sql: string): Promise<string> {
  const instance = await DuckDBInstance.create(file);
  try {
    const connection = await instance.connect();
    const reader = await connection.runAndReadAll(sql);
    const names = reader.columnNames();
    const rows = reader.getRowsJS().map((r) => r.map((v) => (v === null ? "NULL" : String(v))));
    const widths = names.map((n, i) => Math.max(n.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: string[]): string => "  " + cells.map((c, i) => c.padStart(widths[i]!)).join("  ");
    connection.closeSync();
    return [line(names), ...rows.map(line)].join("\n");
  } finally {
    instance.closeSync();
  }
}
