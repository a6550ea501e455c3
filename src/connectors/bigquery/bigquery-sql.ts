import { quoteColumn } from "./bigquery-names.js";
import { ddlType, type BigqueryColumnType } from "./bigquery-types.js";

/**
 * The GoogleSQL statements target-bigquery sends, as text (unit-tested without BigQuery). Table
 * names arrive quoted (`project.dataset.table` in backticks) and column names legal.
 */

export function addColumnSql(table: string, column: string, type: BigqueryColumnType): string {
  return `ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS ${quoteColumn(column)} ${ddlType(type)}`;
}

export function widenColumnSql(table: string, column: string, type: BigqueryColumnType): string {
  return `ALTER TABLE ${table} ALTER COLUMN ${quoteColumn(column)} SET DATA TYPE ${ddlType(type)}`;
}

/** CDC truncate: every row goes (hard delete), or every live row is marked deleted at `at`. */
export function truncateSql(
  table: string,
  options: { hardDelete: boolean; deletedAtColumn: string; at: Date },
): string {
  if (options.hardDelete) return `DELETE FROM ${table} WHERE TRUE`;
  const column = quoteColumn(options.deletedAtColumn);
  // GoogleSQL's canonical timestamp literal: `2024-05-02 00:00:00.000+00:00`.
  const at = options.at.toISOString().replace("T", " ").replace("Z", "+00:00");
  return `UPDATE ${table} SET ${column} = TIMESTAMP '${at}' WHERE ${column} IS NULL`;
}

export interface MergeOptions {
  target: string;
  staging: string;
  /** Key columns (BigQuery names). */
  keys: readonly string[];
  /** Columns written to the target, keys included, in order. */
  columns: readonly string[];
  /** Staging column ordering versions of one key (newest wins). */
  sequenceColumn: string;
  /**
   * CDC: the staging column listing, comma-separated, the 0-based indexes of fields a change did
   * not carry, and the index each column has there. Columns without an index are always carried.
   */
  unchanged?: { column: string; indexOf: ReadonlyMap<string, number> };
  /** Staging column set on deletes; with `hardDelete` such rows are removed, not merged. */
  deletedAtColumn?: string;
  hardDelete: boolean;
}

/**
 * One MERGE applying a staged batch to the target. The batch is first reduced to one row per key
 * (the newest by `sequenceColumn`; BigQuery refuses a MERGE where one target row matches several
 * source rows), with every field a change did not carry taken from the key's newest earlier row
 * that carried it, else left as the target has it. A delete with `hardDelete` removes the row
 * and is never inserted; otherwise it is merged like any change, `_sdc_deleted_at` included.
 */
export function mergeSql(options: MergeOptions): string {
  const q = quoteColumn;
  const keys = options.keys.map(q);
  const partition = `PARTITION BY ${keys.join(", ")}`;
  const sequence = q(options.sequenceColumn);
  const tracked = options.columns.filter(
    (c) => !options.keys.includes(c) && options.unchanged?.indexOf.get(c) !== undefined,
  );
  const hasFlag = (column: string): string => `_sluice_has_${options.unchanged!.indexOf.get(column)}`;

  // Innermost: the staged rows, with a flag per tracked column saying whether the row carried it.
  const flags = tracked.map((c) => {
    const list = `CONCAT(',', IFNULL(${q(options.unchanged!.column)}, ''), ',')`;
    return `STRPOS(${list}, ',${options.unchanged!.indexOf.get(c)},') = 0 AS ${hasFlag(c)}`;
  });
  const extra =
    options.deletedAtColumn && !options.columns.includes(options.deletedAtColumn)
      ? [options.deletedAtColumn]
      : [];
  const staged = `SELECT ${[...options.columns, ...extra, options.sequenceColumn].map(q).join(", ")}${flags.map((f) => `, ${f}`).join("")} FROM ${options.staging}`;

  // Middle: per key, the newest row; each tracked column from the newest row that carried it.
  const picked = [...options.columns, ...extra].map((c) => {
    if (!tracked.includes(c)) return q(c);
    return `FIRST_VALUE(${q(c)}) OVER (${partition} ORDER BY ${hasFlag(c)} DESC, ${sequence} DESC) AS ${q(c)}, LOGICAL_OR(${hasFlag(c)}) OVER (${partition}) AS ${hasFlag(c)}`;
  });
  const ranked = `SELECT ${picked.join(", ")}, ROW_NUMBER() OVER (${partition} ORDER BY ${sequence} DESC) AS _sluice_rank FROM (${staged})`;
  const outputs = [...options.columns, ...extra].flatMap((c) =>
    tracked.includes(c) ? [q(c), hasFlag(c)] : [q(c)],
  );
  const source = `SELECT ${outputs.join(", ")} FROM (${ranked}) WHERE _sluice_rank = 1`;

  const on = keys.map((k) => `T.${k} = S.${k}`).join(" AND ");
  const deleted = options.deletedAtColumn ? `S.${q(options.deletedAtColumn)}` : undefined;
  const updates = options.columns
    .filter((c) => !options.keys.includes(c))
    .map(
      (c) => `${q(c)} = ${tracked.includes(c) ? `IF(S.${hasFlag(c)}, S.${q(c)}, T.${q(c)})` : `S.${q(c)}`}`,
    );
  const columns = options.columns.map(q);
  const clauses = [
    ...(options.hardDelete && deleted ? [`WHEN MATCHED AND ${deleted} IS NOT NULL THEN DELETE`] : []),
    ...(updates.length > 0 ? [`WHEN MATCHED THEN UPDATE SET ${updates.join(", ")}`] : []),
    `WHEN NOT MATCHED${options.hardDelete && deleted ? ` AND ${deleted} IS NULL` : ""} THEN INSERT (${columns.join(", ")}) VALUES (${columns.map((c) => `S.${c}`).join(", ")})`,
  ];
  return `MERGE ${options.target} AS T USING (${source}) AS S ON ${on} ${clauses.join(" ")}`;
}

/** Whether a table holds any row (an empty table takes appends instead of merges). */
export function anyRowSql(table: string): string {
  return `SELECT 1 AS found FROM ${table} LIMIT 1`;
}
