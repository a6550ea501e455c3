import { DELETED_AT_COLUMN, SEQUENCE_COLUMN, UNCHANGED_COLUMN } from "../batch.js";
import { trackedColumns, type MergePlan } from "../loader-core/merge-plan.js";
import { quoteColumn } from "./bigquery-names.js";
import { ddlType, type BigqueryColumnType } from "./bigquery-types.js";

/**
 * The GoogleSQL statements target-bigquery sends, as text (unit-tested without BigQuery). Table
 * names arrive quoted (`project.dataset.table` in backticks) and column names legal.
 */

export function addColumnSql(table: string, column: string, type: BigqueryColumnType): string {
  return addColumnsSql(table, [{ name: column, type }]);
}

/** One statement for several columns: one table metadata update, not one per column. */
export function addColumnsSql(
  table: string,
  columns: readonly { name: string; type: BigqueryColumnType }[],
): string {
  const clauses = columns.map((c) => `ADD COLUMN IF NOT EXISTS ${quoteColumn(c.name)} ${ddlType(c.type)}`);
  return `ALTER TABLE ${table} ${clauses.join(", ")}`;
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

/** Whether `table` holds a row of Singer table `version`. */
export function holdsVersionSql(table: string, versionColumn: string, version: number): string {
  return `SELECT 1 FROM ${table} WHERE ${quoteColumn(versionColumn)} = ${version} LIMIT 1`;
}

/** ACTIVATE_VERSION: rows of another version, or of none, go. */
export function deleteOtherVersionsSql(table: string, versionColumn: string, version: number): string {
  const column = quoteColumn(versionColumn);
  return `DELETE FROM ${table} WHERE ${column} IS NULL OR ${column} != ${version}`;
}

export interface MergeOptions {
  target: string;
  staging: string;
  /**
   * What to merge (see merge-plan.ts), in BigQuery's column names. The staging table holds the
   * plan's keys and values, `_sdc_sequence`, and `_sdc_deleted_at` and `_sdc_unchanged` when the
   * batch has them (or the table has `_sdc_deleted_at`).
   */
  plan: MergePlan;
  /**
   * A condition on the target's rows (`T.<column>`) added to the ON condition: the partitions the
   * changes touch, as constants, so BigQuery scans (and bills) only those (bigquery-partitions.ts).
   */
  targetFilter?: string;
  /** A condition on the staged rows: only those merged (one group of partitions of a larger batch). */
  sourceFilter?: string;
}

/**
 * The merge plan as one MERGE. The batch is first reduced to one row per key, the newest by
 * `_sdc_sequence` (BigQuery refuses a MERGE where one target row matches several source rows),
 * each tracked field taken from the key's newest row that carried it, with a flag saying whether
 * any did (else the target keeps its value). With `hardDelete` a delete removes the row and is
 * never inserted; otherwise it is merged like any change, `_sdc_deleted_at` included. Columns the
 * plan keeps are not listed, so the MERGE leaves them as they are.
 */
export function mergeSql(options: MergeOptions): string {
  const { plan } = options;
  const q = quoteColumn;
  const keys = plan.keys.map(q);
  const partition = `PARTITION BY ${keys.join(", ")}`;
  const sequence = q(SEQUENCE_COLUMN);
  const written = [
    ...plan.keys,
    ...plan.values.map((c) => c.name),
    ...(plan.writesDeletedAt ? [DELETED_AT_COLUMN] : []),
    ...(plan.writesSequence ? [SEQUENCE_COLUMN] : []),
  ];
  const trackedIndex = new Map(trackedColumns(plan).map((c) => [c.name, c.tracked]));
  const hasFlag = (column: string): string => `_sluice_has_${trackedIndex.get(column)!}`;

  // Innermost: the staged rows, with a flag per tracked column saying whether the row carried it.
  const flags = [...trackedIndex].map(([, index]) => {
    const list = `CONCAT(',', IFNULL(${q(UNCHANGED_COLUMN)}, ''), ',')`;
    return `STRPOS(${list}, ',${index},') = 0 AS _sluice_has_${index}`;
  });
  const extra = plan.deletes && !written.includes(DELETED_AT_COLUMN) ? [DELETED_AT_COLUMN] : [];
  const staged = `SELECT ${[...written, ...extra, ...(plan.writesSequence ? [] : [SEQUENCE_COLUMN])].map(q).join(", ")}${flags.map((f) => `, ${f}`).join("")} FROM ${options.staging}${options.sourceFilter ? ` WHERE ${options.sourceFilter}` : ""}`;

  // Middle: per key, the newest row; each tracked column from the newest row that carried it.
  const picked = [...written, ...extra].map((c) => {
    if (!trackedIndex.has(c)) return q(c);
    return `FIRST_VALUE(${q(c)}) OVER (${partition} ORDER BY ${hasFlag(c)} DESC, ${sequence} DESC) AS ${q(c)}, LOGICAL_OR(${hasFlag(c)}) OVER (${partition}) AS ${hasFlag(c)}`;
  });
  const ranked = `SELECT ${picked.join(", ")}, ROW_NUMBER() OVER (${partition} ORDER BY ${sequence} DESC) AS _sluice_rank FROM (${staged})`;
  const outputs = [...written, ...extra].flatMap((c) => (trackedIndex.has(c) ? [q(c), hasFlag(c)] : [q(c)]));
  const source = `SELECT ${outputs.join(", ")} FROM (${ranked}) WHERE _sluice_rank = 1`;

  const on = [
    ...keys.map((k) => `T.${k} = S.${k}`),
    ...(options.targetFilter ? [options.targetFilter] : []),
  ].join(" AND ");
  const deleted = `S.${q(DELETED_AT_COLUMN)}`;
  const updates = written
    .filter((c) => !plan.keys.includes(c))
    .map(
      (c) => `${q(c)} = ${trackedIndex.has(c) ? `IF(S.${hasFlag(c)}, S.${q(c)}, T.${q(c)})` : `S.${q(c)}`}`,
    );
  const columns = written.map(q);
  const clauses = [
    ...(plan.hardDelete ? [`WHEN MATCHED AND ${deleted} IS NOT NULL THEN DELETE`] : []),
    ...(updates.length > 0 ? [`WHEN MATCHED THEN UPDATE SET ${updates.join(", ")}`] : []),
    `WHEN NOT MATCHED${plan.hardDelete ? ` AND ${deleted} IS NULL` : ""} THEN INSERT (${columns.join(", ")}) VALUES (${columns.map((c) => `S.${c}`).join(", ")})`,
  ];
  return `MERGE ${options.target} AS T USING (${source}) AS S ON ${on} ${clauses.join(" ")}`;
}

/** Whether a table holds any row (an empty table takes appends instead of merges). */
export function anyRowSql(table: string): string {
  return `SELECT 1 AS found FROM ${table} LIMIT 1`;
}
