import fs from "node:fs";
import path from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import pg from "pg";
import type { PluginConfig } from "../../../src/connectors/connector.js";
import { JsonlLoader, jsonlFileStem } from "../../../src/connectors/target-jsonl/jsonl-loader.js";
import { PostgresExtractor } from "../../../src/connectors/tap-postgres/postgres-extractor.js";
import { runPipeline } from "../../../src/runner/run-pipeline.js";
import type { RunSummary } from "../../../src/runner/run-events.js";
import { SqliteSystemDatabase } from "../../../src/state/sqlite-system-database.js";
import type { TestDatabase } from "../../support/pg.js";
import { selectStreams, tapConfig } from "../../support/pipeline.js";

/** The identifier every hostile test tries to smuggle SQL in with. */
export const INJECTION = `x"; DROP TABLE victim; --`;

/** Quotes an identifier for PostgreSQL and DuckDB (both double `"`). */
export function q(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** A string literal for PostgreSQL or DuckDB. */
export function lit(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/**
 * Creates `victim` tables that an injected `DROP TABLE victim` would remove: in PostgreSQL's
 * public schema, and in the DuckDB file's default schema and `public`.
 */
export async function createVictims(db: TestDatabase, duckdbFile: string): Promise<void> {
  await db.query("CREATE TABLE public.victim (id int PRIMARY KEY); INSERT INTO public.victim VALUES (42)");
  await withDuckdb(duckdbFile, async (c) => {
    await c.run("CREATE TABLE main.victim (id INTEGER); INSERT INTO main.victim VALUES (42)");
    await c.run(
      "CREATE SCHEMA public; CREATE TABLE public.victim (id INTEGER); INSERT INTO public.victim VALUES (42)",
    );
  });
}

/** What is left of the victims: each must still hold its one row. */
export async function victimRows(db: TestDatabase, duckdbFile: string): Promise<Record<string, string>> {
  const [source] = await db.query<{ n: string }>("SELECT count(*)::text AS n FROM public.victim");
  const warehouse = await duckdbValues(
    duckdbFile,
    "SELECT (SELECT count(*) FROM main.victim)::VARCHAR AS m, (SELECT count(*) FROM public.victim)::VARCHAR AS p",
  );
  return { postgres: source!.n, "duckdb main": warehouse[0]!.m!, "duckdb public": warehouse[0]!.p! };
}

type DuckdbConnection = Awaited<ReturnType<DuckDBInstance["connect"]>>;

export async function withDuckdb<T>(file: string, fn: (c: DuckdbConnection) => Promise<T>): Promise<T> {
  const instance = await DuckDBInstance.create(file);
  try {
    const connection = await instance.connect();
    try {
      return await fn(connection);
    } finally {
      connection.closeSync();
    }
  } finally {
    instance.closeSync();
  }
}

/**
 * Rows of a DuckDB query with every value as text, read in UTC (timestamptz prints with `+00`,
 * as PostgreSQL prints it under `TimeZone = 'UTC'`).
 */
export async function duckdbValues(file: string, sql: string): Promise<Record<string, string | null>[]> {
  return withDuckdb(file, async (c) => {
    await c.run("SET TimeZone = 'UTC'");
    const reader = await c.runAndReadAll(sql);
    return reader
      .getRowObjectsJS()
      .map((row) =>
        Object.fromEntries(Object.entries(row).map(([k, v]) => [k, v === null ? null : String(v)])),
      );
  });
}

/** Rows of a PostgreSQL query on one connection set to UTC, every value as PostgreSQL's text. */
export async function postgresValues(
  db: TestDatabase,
  sql: string,
  params: unknown[] = [],
): Promise<Record<string, string | null>[]> {
  const client = new pg.Client({
    connectionString: db.url,
    // Text as PostgreSQL prints it: no parsing into numbers, dates or arrays.
    types: { getTypeParser: () => (text: string) => text },
  });
  await client.connect();
  try {
    await client.query("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'");
    return (await client.query<Record<string, string | null>>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** Runs tap-postgres into target-jsonl in-process (files in `<workDir>/out`), as `sluice run` would. */
export async function runToJsonl(options: {
  db: TestDatabase;
  workDir: string;
  streams: Record<string, Record<string, unknown>>;
  stateId?: string;
  tap?: PluginConfig;
}): Promise<RunSummary> {
  const extractor = new PostgresExtractor(tapConfig(options.db, options.tap));
  const plans = await extractor.plan(selectStreams(await extractor.discover(), options.streams));
  const system = await SqliteSystemDatabase.open({
    path: path.join(options.workDir, ".sluice", "sluice.db"),
  });
  try {
    return await runPipeline({
      runId: `jsonl-${Date.now()}-${Math.random().toString(36).slice(2, 6)}`,
      stateId: options.stateId ?? "test:tap-postgres-to-target-jsonl",
      extractorName: "tap-postgres",
      loaderName: "target-jsonl",
      extractor,
      loader: new JsonlLoader(
        { destination_path: "out", do_timestamp_file: false, add_metadata_columns: false },
        { projectDir: options.workDir },
      ),
      plan: async () => plans,
      stateStore: system.stateStore,
      runHistory: system.runHistory,
      fullRefresh: false,
      spoolDir: path.join(options.workDir, ".sluice", "spool", String(Date.now())),
      observer: () => undefined,
    });
  } finally {
    await system.close();
  }
}

/** The records of a target-jsonl file, parsed (truncate markers included). */
export function jsonlRecords(workDir: string, streamId: string): Record<string, unknown>[] {
  const file = path.join(workDir, "out", `${jsonlFileStem(streamId)}.jsonl`);
  return fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Drops the replication slots a test database's LOG_BASED runs left behind. */
export async function dropSlots(db: TestDatabase): Promise<void> {
  await db.query(
    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database() AND NOT active",
  );
}
