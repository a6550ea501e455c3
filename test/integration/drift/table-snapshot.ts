import { DuckDBInstance } from "@duckdb/node-api";
import pg from "pg";
import { EXTRACT_SESSION_SETTINGS } from "../../../src/connectors/tap-postgres/postgres-connection.js";
import { plainRows, type BigqueryTarget } from "../connectors/bigquery-harness.js";

/** A source column: its name and PostgreSQL type (`information_schema.columns.data_type`). */
export interface SourceColumn {
  name: string;
  type: string;
}

/** A source table as a run must reproduce it: its columns, key and rows. */
export interface SourceTable {
  table: string;
  columns: SourceColumn[];
  key: string[];
  /** key text → column → canonical value text (see `canonical`). */
  rows: Map<string, Record<string, string | null>>;
}

/** What a warehouse holds for one table, read in the source's terms. */
export interface WarehouseTable {
  /** False when the warehouse has no such table. */
  exists: boolean;
  /** Its columns, lower case. */
  columns: Set<string>;
  /** Rows not marked deleted: key text → column → canonical value text. */
  rows: Map<string, Record<string, string | null>>;
  /** Keys held by more than one row that is not marked deleted. */
  duplicates: string[];
}

/** Reads a table of the warehouse, given the source table whose columns and key to read. */
export type WarehouseReader = (source: SourceTable) => Promise<WarehouseTable>;

/**
 * A value's text made comparable across engines, by the source column's type: each engine prints
 * timestamps, numerics, booleans and JSON its own way (`2024-01-01T10:00:00.000Z` in BigQuery,
 * `1.5` for a NUMERIC(10,2) 1.50, JSON's key order and spacing).
 */
export function canonical(type: string, text: string | null): string | null {
  if (text === null) return null;
  if (type === "timestamp with time zone" || type === "timestamp without time zone") {
    return canonicalTimestamp(text, type === "timestamp with time zone");
  }
  if (type === "numeric") return canonicalNumeric(text);
  if (type === "json" || type === "jsonb") return canonicalJson(text);
  if (type === "boolean") return text === "t" || text === "true" ? "true" : text === "f" ? "false" : text;
  return text;
}

const TIMESTAMP = /^(\d{4,}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)(?:\.(\d+))?\s*(Z|[+-]\d\d(?::?\d\d)?)?$/;

/**
 * `YYYY-MM-DD HH:MM:SS.ffffff` in UTC. A value stored with an offset is moved to UTC; one stored
 * without (a warehouse column that lost the time zone) is taken as written, so a timestamptz that
 * arrived as local wall-clock time shows as different.
 */
function canonicalTimestamp(text: string, zoned: boolean): string {
  const match = TIMESTAMP.exec(text.trim());
  if (!match) return text;
  const [, date, time, fraction = "", offset] = match;
  const micros = fraction.padEnd(6, "0").slice(0, 6);
  if (!zoned || offset === undefined || offset === "Z" || /^[+-]00(:?00)?$/.test(offset)) {
    return `${date} ${time}.${micros}`;
  }
  const sign = offset.startsWith("-") ? -1 : 1;
  const digits = offset.slice(1).replace(":", "");
  const minutes = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || "0"));
  const at = new Date(`${date}T${time}Z`);
  at.setUTCMinutes(at.getUTCMinutes() - minutes);
  return `${at.toISOString().slice(0, 19).replace("T", " ")}.${micros}`;
}

function canonicalNumeric(text: string): string {
  if (!/^-?\d+\.\d+$/.test(text)) return text;
  return text.replace(/\.?0+$/, "");
}

function canonicalJson(text: string): string {
  try {
    return JSON.stringify(sortKeys(JSON.parse(text)));
  } catch {
    return text;
  }
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

const ident = (name: string): string => `"${name.replace(/"/g, '""')}"`;

function keyText(row: Record<string, string | null>, key: string[]): string {
  return key.map((k) => row[k] ?? "∅").join("|");
}

/** Rows of a query on `url` in a session set as sluice's (UTC, ISO dates). */
async function postgresRows(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(EXTRACT_SESSION_SETTINGS);
    return (await client.query(sql, params)).rows as Record<string, unknown>[];
  } finally {
    await client.end();
  }
}

/** The tables of `public` on a source database (partitions left out: their parent is the stream). */
export async function sourceTables(url: string): Promise<string[]> {
  const rows = await postgresRows(
    url,
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1`,
  );
  return rows.map((r) => String(r.name));
}

/** A source table's columns, key (its primary key, else every column) and rows. */
export async function readSourceTable(url: string, table: string): Promise<SourceTable> {
  const columns = (
    await postgresRows(
      url,
      `SELECT column_name AS name, data_type AS type FROM information_schema.columns
        WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position`,
      [table],
    )
  ).map((r) => ({ name: String(r.name), type: String(r.type) }));
  const key = (
    await postgresRows(
      url,
      `SELECT a.attname AS name FROM pg_index i
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
        WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)`,
      [`public.${ident(table)}`],
    )
  ).map((r) => String(r.name));
  const source: SourceTable = {
    table,
    columns,
    key: key.length > 0 ? key : columns.map((c) => c.name),
    rows: new Map(),
  };
  const result = await readPostgresTable(url, "public", source);
  source.rows = result.rows;
  return source;
}

/** A table of a PostgreSQL database (source or target-postgres's warehouse) in `schema`. */
async function readPostgresTable(url: string, schema: string, source: SourceTable): Promise<WarehouseTable> {
  const present = new Set(
    (
      await postgresRows(
        url,
        "SELECT column_name AS name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2",
        [schema, source.table],
      )
    ).map((r) => String(r.name).toLowerCase()),
  );
  if (present.size === 0) return { exists: false, columns: present, rows: new Map(), duplicates: [] };
  const wanted = source.columns.filter((c) => present.has(c.name.toLowerCase()));
  const select = wanted.map((c) => `${ident(c.name)}::text AS ${ident(c.name)}`).join(", ");
  const where = present.has("_sdc_deleted_at") ? "WHERE _sdc_deleted_at IS NULL" : "";
  const rows = await postgresRows(
    url,
    `SELECT ${select === "" ? "1" : select} FROM ${ident(schema)}.${ident(source.table)} ${where}`,
  );
  return collect(source, present, rows);
}

function collect(source: SourceTable, present: Set<string>, rows: Record<string, unknown>[]): WarehouseTable {
  const map = new Map<string, Record<string, string | null>>();
  const duplicates: string[] = [];
  for (const raw of rows) {
    const row: Record<string, string | null> = {};
    for (const column of source.columns) {
      if (!(column.name in raw)) continue;
      const value = raw[column.name];
      row[column.name] = canonical(column.type, value === null || value === undefined ? null : String(value));
    }
    const key = keyText(row, source.key);
    if (map.has(key)) duplicates.push(key);
    map.set(key, row);
  }
  return { exists: true, columns: present, rows: map, duplicates };
}

/** target-postgres's warehouse: the same tables under the source's schema name. */
export function postgresReader(url: string): WarehouseReader {
  return (source) => readPostgresTable(url, "public", source);
}

/** target-duckdb's file: `public.<table>`. */
export function duckdbReader(file: string): WarehouseReader {
  return async (source) => {
    const instance = await DuckDBInstance.create(file);
    try {
      const connection = await instance.connect();
      try {
        await connection.run("SET TimeZone = 'UTC'");
        const columns = await connection.runAndReadAll(
          `SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = '${source.table.replace(/'/g, "''")}'`,
        );
        const present = new Set(columns.getRowObjectsJS().map((r) => String(r.column_name).toLowerCase()));
        if (present.size === 0) return { exists: false, columns: present, rows: new Map(), duplicates: [] };
        const wanted = source.columns.filter((c) => present.has(c.name.toLowerCase()));
        const select = wanted.map((c) => `CAST(${ident(c.name)} AS VARCHAR) AS ${ident(c.name)}`).join(", ");
        const where = present.has("_sdc_deleted_at") ? "WHERE _sdc_deleted_at IS NULL" : "";
        const reader = await connection.runAndReadAll(
          `SELECT ${select === "" ? "1" : select} FROM public.${ident(source.table)} ${where}`,
        );
        return collect(source, present, reader.getRowObjectsJS() as Record<string, unknown>[]);
      } finally {
        connection.closeSync();
      }
    } finally {
      instance.closeSync();
    }
  };
}

/** target-bigquery's dataset, through the official client (the emulator in the suite). */
export function bigqueryReader(target: BigqueryTarget, dataset: string): WarehouseReader {
  return async (source) => {
    const [tables] = await target.client.dataset(dataset).getTables();
    const table = tables.find((t) => t.id === source.table);
    if (!table) return { exists: false, columns: new Set(), rows: new Map(), duplicates: [] };
    const [metadata] = (await table.getMetadata()) as unknown as [
      { schema?: { fields?: { name: string }[] } },
    ];
    const present = new Set((metadata.schema?.fields ?? []).map((f) => f.name.toLowerCase()));
    const where = present.has("_sdc_deleted_at") ? "WHERE _sdc_deleted_at IS NULL" : "";
    const rows = await plainRows(target, `SELECT * FROM \`${dataset}.${source.table}\` ${where}`);
    const texts = rows.map((row) =>
      Object.fromEntries(
        Object.entries(row).map(([k, v]) => [
          k,
          v === null ? null : typeof v === "object" ? JSON.stringify(v) : String(v),
        ]),
      ),
    );
    return collect(source, present, texts);
  };
}

/** A value for a message: long ones (TOASTed texts) cut, with their length. */
function shown(value: string | null | undefined): string {
  if (value === undefined || value === null) return String(value ?? null);
  return value.length > 40
    ? `${JSON.stringify(value.slice(0, 12))}...(${value.length} characters)`
    : JSON.stringify(value);
}

/**
 * What differs between a source table and the warehouse's, as lines a person can act on (empty
 * when equal): missing columns, missing, extra and different rows (the first few of each), keys
 * held twice.
 */
export function describeDrift(source: SourceTable, warehouse: WarehouseTable, limit = 4): string[] {
  if (!warehouse.exists) {
    return source.rows.size === 0
      ? []
      : [`${source.table}: no such table in the warehouse (${source.rows.size} source rows)`];
  }
  const problems: string[] = [];
  const missingColumns = source.columns.filter((c) => !warehouse.columns.has(c.name.toLowerCase()));
  if (missingColumns.length > 0) {
    problems.push(
      `${source.table}: columns missing in the warehouse: ${missingColumns.map((c) => c.name).join(", ")}`,
    );
  }
  if (warehouse.duplicates.length > 0) {
    problems.push(`${source.table}: keys held twice: ${warehouse.duplicates.slice(0, limit).join(", ")}`);
  }
  const missing: string[] = [];
  const changed: string[] = [];
  for (const [key, row] of source.rows) {
    const got = warehouse.rows.get(key);
    if (!got) {
      missing.push(key);
      continue;
    }
    const diffs = source.columns
      .filter((c) => c.name in got && got[c.name] !== row[c.name])
      .map((c) => `${c.name}: ${shown(row[c.name])} ≠ ${shown(got[c.name])}`);
    if (diffs.length > 0) changed.push(`${key} (${diffs.join(", ")})`);
  }
  const extra = [...warehouse.rows.keys()].filter((key) => !source.rows.has(key));
  const show = (list: string[]): string =>
    list.slice(0, limit).join("; ") + (list.length > limit ? "; ..." : "");
  if (missing.length > 0) problems.push(`${source.table}: ${missing.length} rows missing: ${show(missing)}`);
  if (extra.length > 0)
    problems.push(`${source.table}: ${extra.length} rows not in the source: ${show(extra)}`);
  if (changed.length > 0)
    problems.push(`${source.table}: ${changed.length} rows differ (source ≠ warehouse): ${show(changed)}`);
  return problems;
}
