import { DuckDBInstance } from "@duckdb/node-api";
import type { RunEvent, RunSummary } from "../../src/runner/run-events.js";
import type { TestDatabase } from "./pg.js";
import { runToDuckdb } from "./pipeline.js";

/** One row as `key → text of the whole row` (the text built by SQL on each side). */
export type RowTexts = Map<string, string>;

/**
 * Rows of a PostgreSQL query returning columns `k` (the key, as text) and `v` (the row as
 * text). Throws if a key occurs twice.
 */
export async function sourceRowTexts(db: TestDatabase, sql: string): Promise<RowTexts> {
  const rows = await db.query<{ k: string; v: string }>(sql);
  return toMap(rows, "source");
}

/**
 * The same from a DuckDB file, plus the keys found more than once (a warehouse may hold
 * duplicates; the source cannot).
 */
export async function duckdbRowTexts(
  file: string,
  sql: string,
): Promise<{ rows: RowTexts; duplicates: string[]; count: number }> {
  const instance = await DuckDBInstance.create(file);
  try {
    const connection = await instance.connect();
    let rows: { k: string; v: string }[];
    try {
      const reader = await connection.runAndReadAll(sql);
      rows = reader.getRowObjectsJS().map((r) => ({ k: String(r.k), v: String(r.v) }));
    } finally {
      // Also when the query fails: an open connection keeps DuckDB's lock on the file.
      connection.closeSync();
    }
    const map = new Map<string, string>();
    const duplicates: string[] = [];
    for (const row of rows) {
      if (map.has(row.k)) duplicates.push(row.k);
      map.set(row.k, row.v);
    }
    return { rows: map, duplicates, count: rows.length };
  } finally {
    instance.closeSync();
  }
}

function toMap(rows: { k: string; v: string }[], where: string): RowTexts {
  const map = new Map<string, string>();
  for (const row of rows) {
    if (map.has(row.k)) throw new Error(`${where}: key ${row.k} occurs twice`);
    map.set(row.k, row.v);
  }
  return map;
}

/**
 * What differs between the expected rows and the actual ones, as short text (empty when equal),
 * so that a failure on 400,000 rows names the first few keys instead of printing them all.
 */
export function describeDifference(expected: RowTexts, actual: RowTexts, limit = 5): string {
  const missing: string[] = [];
  const changed: string[] = [];
  const extra: string[] = [];
  for (const [k, v] of expected) {
    const got = actual.get(k);
    if (got === undefined) missing.push(k);
    else if (got !== v) changed.push(k);
  }
  for (const k of actual.keys()) if (!expected.has(k)) extra.push(k);
  const parts: string[] = [];
  const show = (keys: string[]): string =>
    keys
      .slice(0, limit)
      .map((k) => `${k} (expected ${JSON.stringify(expected.get(k))}, got ${JSON.stringify(actual.get(k))})`)
      .join("; ");
  if (missing.length > 0) parts.push(`${missing.length} missing: ${show(missing)}`);
  if (changed.length > 0) parts.push(`${changed.length} different: ${show(changed)}`);
  if (extra.length > 0) parts.push(`${extra.length} not in the source: ${show(extra)}`);
  return parts.join("\n");
}

/** `runToDuckdb` with the runner's events passed to `observer`. */
export function runToDuckdbObserved(
  options: Parameters<typeof runToDuckdb>[0] & { observer: (event: RunEvent) => void },
): Promise<RunSummary> {
  return runToDuckdb(options);
}
