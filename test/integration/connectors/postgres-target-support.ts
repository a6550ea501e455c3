import pg from "pg";
import type { PluginConfig } from "../../../src/connectors/connector.js";
import { PostgresTargetLoader } from "../../../src/connectors/target-postgres/postgres-target-loader.js";
import { EXTRACT_SESSION_SETTINGS } from "../../../src/connectors/tap-postgres/postgres-connection.js";
import type { RunSummary } from "../../../src/runner/run-events.js";
import type { TestDatabase } from "../../support/pg.js";
import { runFromPostgres, type TestRunOptions } from "../../support/pipeline.js";

/** target-postgres settings for a warehouse database, with the defaults the project file would add. */
export function postgresTargetConfig(warehouse: TestDatabase, extra: PluginConfig = {}): PluginConfig {
  return {
    host: warehouse.host,
    port: warehouse.port,
    user: warehouse.user,
    password: warehouse.password,
    dbname: warehouse.name,
    table_prefix: "",
    add_metadata_columns: false,
    load_method: "upsert",
    hard_delete: false,
    ssl: false,
    connect_timeout: 10,
    ...extra,
  };
}

/** Runs tap-postgres (on `source`) into target-postgres (on `warehouse`) in-process. */
export function runToPostgres(
  options: Omit<TestRunOptions, "db"> & {
    source: TestDatabase;
    warehouse: TestDatabase;
    target?: PluginConfig;
  },
): Promise<RunSummary> {
  const loader = new PostgresTargetLoader(postgresTargetConfig(options.warehouse, options.target));
  return runFromPostgres({ ...options, db: options.source, loader, loaderName: "target-postgres" });
}

/**
 * Rows of a table as `key → text of the whole row`, read with the same SQL on either database:
 * the row's text is PostgreSQL's own (`t::text`), so any change of any value shows.
 */
export async function rowTexts(
  db: TestDatabase,
  table: string,
  key: string,
  columns = "t.*",
): Promise<Map<string, string>> {
  const rows = await utcQuery<{ k: string; v: string }>(
    db,
    `SELECT (${key})::text AS k, row(${columns})::text AS v FROM ${table} AS t ORDER BY 1`,
  );
  return new Map(rows.map((r) => [r.k, r.v]));
}

/** Runs a query in a session set as sluice's (UTC, ISO dates, shortest exact floats). */
export async function utcQuery<R extends pg.QueryResultRow>(
  db: TestDatabase,
  sql: string,
  options: { searchPath?: string } = {},
): Promise<R[]> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    await client.query(EXTRACT_SESSION_SETTINGS);
    if (options.searchPath)
      await client.query("SELECT set_config('search_path', $1, false)", [options.searchPath]);
    return (await client.query<R>(sql)).rows;
  } finally {
    await client.end();
  }
}
