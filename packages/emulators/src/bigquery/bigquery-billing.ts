import type { DuckDBConnection } from "@duckdb/node-api";
import type { BigQueryCatalog, TableEntry } from "./bigquery-catalog.js";
import { BILLING_UNIT_BYTES } from "./bigquery-limits.js";
import type { TableRef, TranslatedStatement } from "./bigquery-translated-statement.js";
import { duckdbSchema, quoteIdent, type TableFieldSchema } from "./bigquery-types.js";

/**
 * What an on-demand query job is billed (https://cloud.google.com/bigquery/pricing#on_demand_pricing
 * and "Data size calculation", https://cloud.google.com/bigquery/docs/storage_overview#data_size_calculation):
 * the bytes of the columns a statement reads, in the partitions it cannot prune, with a minimum
 * of 10 MB per table referenced, rounded up to the MB. UPDATE, DELETE and MERGE also read every
 * column of their target's scanned partitions ("DML pricing for partitioned tables",
 * https://cloud.google.com/bigquery/docs/reference/standard-sql/dml-syntax#on-demand_query_size_calculation).
 *
 * Columns read are those the script names (any identifier equal to a column's name), or all of
 * them after `SELECT *`; a partition is pruned when the script compares the partitioning column
 * with a constant (`=`, `<`, `<=`, `>`, `>=`, `BETWEEN`), as BigQuery prunes on constant filters.
 */
export interface BytesBilled {
  processed: number;
  billed: number;
}

const FIXED_SIZE: Record<string, number> = {
  INTEGER: 8,
  FLOAT: 8,
  DATE: 8,
  DATETIME: 8,
  TIME: 8,
  TIMESTAMP: 8,
  BOOLEAN: 1,
  NUMERIC: 16,
  BIGNUMERIC: 32,
  INTERVAL: 16,
};

/** A DuckDB expression giving the bytes of one value of `field` at `sql` (NULL: 0 bytes). */
function valueSize(field: TableFieldSchema, sql: string): string {
  const fixed = FIXED_SIZE[field.type];
  if (fixed !== undefined) return `CASE WHEN ${sql} IS NULL THEN 0 ELSE ${fixed} END`;
  switch (field.type) {
    case "STRING":
    case "JSON":
      return `coalesce(2 + strlen(CAST(${sql} AS VARCHAR)), 0)`;
    case "BYTES":
      return `coalesce(2 + octet_length(${sql}), 0)`;
    case "GEOGRAPHY":
      // 16 bytes plus 24 per vertex; a vertex is a coordinate pair of the WKT text.
      return `coalesce(16 + 24 * (length(${sql}) - length(replace(${sql}, ',', '')) + 1), 0)`;
    case "RECORD": {
      const parts = (field.fields ?? []).map((f) =>
        valueSize(
          { ...f, mode: f.mode === "REPEATED" ? "REPEATED" : "NULLABLE" },
          `${sql}.${quoteIdent(f.name)}`,
        ),
      );
      return parts.length ? `CASE WHEN ${sql} IS NULL THEN 0 ELSE ${parts.join(" + ")} END` : "0";
    }
    default:
      return `coalesce(strlen(CAST(${sql} AS VARCHAR)), 0)`;
  }
}

function columnSize(field: TableFieldSchema, sql: string): string {
  if (field.mode === "REPEATED") {
    return `coalesce(list_sum(list_transform(${sql}, _v -> ${valueSize({ ...field, mode: "NULLABLE" }, "_v")})), 0)`;
  }
  return valueSize(field, sql);
}

const UNIT: Record<string, string> = { HOUR: "hour", DAY: "day", MONTH: "month", YEAR: "year" };

/**
 * The partitions a script's constant filters keep of `table`, as a DuckDB condition, or "TRUE".
 * A filter is a run of comparisons of the partitioning column with constants (`=`, `<`, `<=`,
 * `>`, `>=`, `BETWEEN`, `IS NULL`) joined by AND and OR, as in
 * `T.day >= DATE '2024-01-01' AND T.day < DATE '2024-01-03' OR T.day IS NULL`; each keeps the
 * partitions that can hold a row it matches (its connectives kept: AND binds first, in GoogleSQL
 * as in DuckDB), and separate runs are all applied. A comparison with another column or a
 * subquery prunes nothing, as in BigQuery ("Query partitioned tables",
 * https://cloud.google.com/bigquery/docs/querying-partitioned-tables: only constant expressions
 * prune).
 */
function pruning(table: TableEntry, script: string): string {
  const field = table.timePartitioning?.field;
  const unit = UNIT[(table.timePartitioning?.type ?? "DAY").toUpperCase()];
  if (!field || !unit) return "TRUE";
  const raw = quoteIdent(field);
  const column = `date_trunc('${unit}', ${raw})`;
  const cast = (text: string): string => `CAST('${text.replace(/'/g, "''")}' AS TIMESTAMP)`;
  const truncated = (text: string): string => `date_trunc('${unit}', ${cast(text)})`;
  const name = `(?:\\b\\w+\\.)?\`?${field.replace(/[^A-Za-z0-9_]/g, "")}\`?`;
  const value = `(?:(?:TIMESTAMP|DATE|DATETIME)\\s*)?'([^']*)'`;
  const atom = `${name}\\s*(?:(?:>=|<=|=|>|<)\\s*${value}|\\s+BETWEEN\\s+${value}\\s+AND\\s+${value}|\\s+IS\\s+NULL\\b)`;
  const atomPattern = new RegExp(
    `${name}\\s*(?:(>=|<=|=|>|<)\\s*${value}|\\s+BETWEEN\\s+${value}\\s+AND\\s+${value}|\\s+IS\\s+NULL\\b)`,
    "i",
  );
  // A partition (its rows share date_trunc(column)) is kept when it can hold a matching value.
  const translate = (text: string): string => {
    const m = atomPattern.exec(text)!;
    const [, op, v, low, high] = m;
    if (op === undefined && low === undefined) return `${raw} IS NULL`;
    if (low !== undefined) return `${column} BETWEEN ${truncated(low)} AND ${truncated(high!)}`;
    if (op === "<") return `${column} < ${cast(v!)}`;
    if (op === ">") return `${column} >= ${truncated(v!)}`;
    return `${column} ${op} ${truncated(v!)}`;
  };
  const conditions: string[] = [];
  const runPattern = new RegExp(`${atom}(?:\\s+(?:AND|OR)\\s+${atom})*`, "gi");
  for (const m of script.matchAll(runPattern)) {
    const parts = m[0].split(
      new RegExp(`\\s+(AND|OR)\\s+(?=${name}\\s*(?:>=|<=|=|>|<|BETWEEN\\b|IS\\b))`, "i"),
    );
    let text = "";
    for (let i = 0; i < parts.length; i += 2) {
      text += `${i > 0 ? ` ${parts[i - 1]!.toUpperCase()} ` : ""}${translate(parts[i]!)}`;
    }
    conditions.push(`(${text})`);
  }
  return conditions.length ? conditions.join(" AND ") : "TRUE";
}

/** The bytes `statement` reads, per table it references, billed the on-demand way. */
export async function bytesBilled(
  catalog: BigQueryCatalog,
  connection: DuckDBConnection,
  statement: TranslatedStatement,
  script: string,
  minimumPerTable: number,
): Promise<BytesBilled> {
  const refs: TableRef[] = [...statement.tables];
  const target = statement.target;
  const rewrites = ["UPDATE", "DELETE", "MERGE"].includes(statement.kind);
  if (target?.datasetId && rewrites) refs.push(target);
  const seen = new Set<string>();
  const names = new Set([...script.matchAll(/[A-Za-z_][A-Za-z0-9_]*/g)].map((m) => m[0].toLowerCase()));
  const star = /SELECT\s+(?:DISTINCT\s+)?(?:\w+\.)?\*/i.test(script);
  let processed = 0;
  let billed = 0;
  for (const ref of refs) {
    const key = `${ref.datasetId}.${ref.tableId}`.toLowerCase();
    if (seen.has(key) || !ref.datasetId) continue;
    seen.add(key);
    const table = catalog.findTable(ref.datasetId, ref.tableId);
    if (!table) continue;
    const whole =
      star ||
      (rewrites && target !== undefined && key === `${target.datasetId}.${target.tableId}`.toLowerCase());
    const columns = table.schema.filter((f) => whole || names.has(f.name.toLowerCase()));
    let bytes = 0;
    if (columns.length > 0) {
      // A sum per column, added here: one expression over a thousand columns is too deep for DuckDB.
      const sums = columns.map((f) => `coalesce(sum(${columnSize(f, quoteIdent(f.name))}), 0)`).join(", ");
      const reader = await connection.runAndReadAll(
        `SELECT ${sums} FROM ${quoteIdent(duckdbSchema(ref.datasetId))}.${quoteIdent(ref.tableId)} WHERE ${pruning(table, script)}`,
      );
      bytes = (reader.getRows()[0] ?? []).reduce<number>((total, value) => total + Number(value ?? 0), 0);
    }
    processed += bytes;
    billed += Math.max(minimumPerTable, Math.ceil(bytes / BILLING_UNIT_BYTES) * BILLING_UNIT_BYTES);
  }
  return { processed, billed };
}
