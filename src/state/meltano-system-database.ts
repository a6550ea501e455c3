import Database from "better-sqlite3";
import fs from "node:fs";
import pg from "pg";
import { ConfigError, StateError } from "../errors.js";
import { fromMeltanoExport } from "../protocol/meltano-state-export.js";
import type { SingerState } from "../protocol/state.js";
import { redactUri } from "../project/system-database-uri.js";

/** A Meltano system database: its `meltano.db` file, or the PostgreSQL database of `database_uri`. */
export type MeltanoDatabaseLocation = { kind: "sqlite"; path: string } | { kind: "postgres"; url: string };

interface MeltanoStateRow {
  state_id: string;
  completed_state: unknown;
  partial_state: unknown;
}

/**
 * The states a Meltano project stored in its system database, by state id: Meltano's table
 * `state` (one row per state id: `completed_state`, the last completed run's
 * `{"singer_state": ...}`, and `partial_state`, what runs that failed since then emitted), read
 * as `meltano state get` merges them. Read only; Meltano's tables are never changed.
 */
export async function readMeltanoStates(
  location: MeltanoDatabaseLocation,
): Promise<Map<string, SingerState>> {
  const rows = location.kind === "sqlite" ? readSqlite(location.path) : await readPostgres(location.url);
  const where = location.kind === "sqlite" ? location.path : redactUri(location.url);
  const exported: Record<string, { completed: unknown; partial: unknown }> = {};
  for (const row of rows) {
    try {
      exported[row.state_id] = {
        completed: parseJson(row.completed_state),
        partial: parseJson(row.partial_state),
      };
    } catch (error) {
      throw new ConfigError(`Meltano state "${row.state_id}" in ${where}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }
  try {
    return fromMeltanoExport(exported);
  } catch (error) {
    throw new ConfigError(`${where}: ${(error as Error).message}`, { cause: error });
  }
}

function readSqlite(path: string): MeltanoStateRow[] {
  if (!fs.existsSync(path)) {
    throw new ConfigError(
      `no Meltano system database at ${path}: give the path of the project's meltano.db (by default .meltano/meltano.db in the Meltano project)`,
    );
  }
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const table = db
      .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'state'")
      .get();
    if (!table) throw notMeltano(path);
    return db
      .prepare<[], MeltanoStateRow>(
        "SELECT state_id, completed_state, partial_state FROM state ORDER BY state_id",
      )
      .all();
  } finally {
    db.close();
  }
}

async function readPostgres(url: string): Promise<MeltanoStateRow[]> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: 10_000,
    application_name: "sluice state import",
  });
  try {
    await client.connect();
    // NOTE: Meltano's table is in the connection's search_path (its URI may set one).
    const { rows } = await client.query<{ found: string | null }>(
      "SELECT to_regclass('state')::text AS found",
    );
    if (!rows[0]?.found) throw notMeltano(redactUri(url));
    const result = await client.query<MeltanoStateRow>(
      "SELECT state_id, completed_state::text AS completed_state, partial_state::text AS partial_state FROM state ORDER BY state_id",
    );
    return result.rows;
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new StateError(
      `could not read Meltano's states from ${redactUri(url)}: ${(error as Error).message}`,
      { cause: error },
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

function notMeltano(where: string): ConfigError {
  return new ConfigError(
    `${where} has no table "state": it is not a Meltano system database (Meltano keeps states there only with the default state backend, systemdb; states in another backend come over with \`meltano state get <id>\` and \`sluice state set <id> --input <file> --force\`)`,
  );
}

/** Meltano stores the JSON as text (SQLite) or json: either way, a value or NULL. */
function parseJson(value: unknown): unknown {
  if (value === null || value === undefined) return {};
  if (typeof value !== "string") return value;
  return value.trim() === "" ? {} : JSON.parse(value);
}
