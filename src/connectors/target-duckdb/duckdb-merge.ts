import { DELETED_AT_COLUMN, SEQUENCE_COLUMN } from "../batch.js";
import type { BatchLayout } from "../loader-core/batch-layout.js";
import { trackedColumns, type MergePlan } from "../loader-core/merge-plan.js";
import { quoteDuckdb } from "./duckdb-types.js";

/** How a batch's fields land: the SQL of each stored column, and the CDC fields apart. */
export interface BatchSelect {
  /** Where the batch's parts are. */
  layout: BatchLayout;
  /**
   * Stream columns (with their index in the batch, which `_sdc_unchanged` refers to) and
   * metadata columns (without `_sdc_deleted_at` and `_sdc_sequence`).
   */
  columns: { name: string; sql: string; index?: number }[];
  /** The batch's `_sdc_deleted_at` as TIMESTAMPTZ, when it has that column. */
  deletedAt: string | undefined;
  /** Each row's `_sdc_sequence`: the batch's column, else `sequenceBase` + file position. */
  sequence: string;
  /** True when `sequence` is computed from file order (needs `InsertionOrder`). */
  sequenceFromFileOrder: boolean;
  /** `,<indexes>,` of the fields a change did not carry (NULL if it carried all), if the batch says. */
  unchanged: string | undefined;
}

/** The statements of one merge, run in order in one transaction by the loader. */
export interface DuckdbMerge {
  change: string;
  needsStored: string;
  stored: string | undefined;
  delete: string;
  insert: string;
  insertWithStored: string;
}

/**
 * A merge in one transaction:
 * 1. `change`: the batch reduced to one row per key, the latest by sequence, with
 *    `_sdc_deleted_at` as that row has it (`arg_max_null`: NULL means "not deleted"). In a batch
 *    with `_sdc_unchanged`, a field's value is the latest among the rows that carried it
 *    (`arg_max_null` skips rows whose ordering value is NULL), and `sluice_carried_<i>` says
 *    whether any row did; `sluice_needs_stored` marks keys that need a stored value.
 * 2. `stored`: only if some key needs them (`needsStored` finds out), the stored values of those
 *    keys, read before 3. deletes the stored rows of every key in the batch and 4. inserts
 *    the merged rows, but for keys removed by `hard_delete`.
 * NOTE: DELETE + INSERT, not MERGE INTO ... UPDATE: on a checkpointed table DuckDB 1.5 commits
 * 100,000 updated rows several times slower than it deletes and appends them. Columns of the
 * table that the batch does not have (a column the source dropped) keep their stored values.
 */
export function duckdbMergeStatements(options: {
  plan: MergePlan;
  select: BatchSelect;
  /** The batch as a table expression (`read_csv(...)`). */
  source: string;
  /** The quoted target table. */
  target: string;
}): DuckdbMerge {
  const { plan, select, source, target } = options;
  const seq = quoteDuckdb(SEQUENCE_COLUMN);
  const deleted = quoteDuckdb(DELETED_AT_COLUMN);
  const unchanged = "sluice_unchanged";
  const rows = [
    ...select.columns.map((c) => `${c.sql} AS ${quoteDuckdb(c.name)}`),
    `${select.deletedAt ?? "CAST(NULL AS TIMESTAMPTZ)"} AS ${deleted}`,
    `${select.sequence} AS ${seq}`,
    ...(select.unchanged === undefined ? [] : [`${select.unchanged} AS ${unchanged}`]),
  ];
  const keyList = plan.keys.map(quoteDuckdb);
  const tracked = trackedColumns(plan);
  const carriedFlag = (index: number): string => `sluice_carried_${index}`;
  const aggregates = plan.values.flatMap((c) => {
    const name = quoteDuckdb(c.name);
    if (c.tracked === undefined) return [`arg_max_null(${name}, ${seq}) AS ${name}`];
    const carried = `(${unchanged} IS NULL OR NOT contains(${unchanged}, ',${c.tracked},'))`;
    return [
      `arg_max_null(${name}, CASE WHEN ${carried} THEN ${seq} END) AS ${name}`,
      `bool_or(${carried}) AS ${carriedFlag(c.tracked)}`,
    ];
  });
  const needsStored =
    plan.kept.length > 0
      ? "true"
      : tracked.length > 0
        ? `(${tracked.map((c) => `NOT ${carriedFlag(c.tracked)}`).join(" OR ")})${plan.hardDelete ? ` AND ${deleted} IS NULL` : ""}`
        : "false";
  const change =
    `CREATE OR REPLACE TEMP TABLE sluice_change AS SELECT *, ${needsStored} AS sluice_needs_stored FROM (` +
    `SELECT ${keyList.join(", ")}, max(${seq}) AS ${seq}, arg_max_null(${deleted}, ${seq}) AS ${deleted}` +
    `${aggregates.map((a) => `, ${a}`).join("")} FROM (SELECT ${rows.join(", ")} FROM ${source}) ` +
    `GROUP BY ${keyList.join(", ")})`;

  const on = keyList.map((k) => `t.${k} = s.${k}`).join(" AND ");
  const storedColumns = [...keyList, ...[...tracked.map((c) => c.name), ...plan.kept].map(quoteDuckdb)];
  const stored =
    tracked.length > 0 || plan.kept.length > 0
      ? `CREATE OR REPLACE TEMP TABLE sluice_stored AS SELECT ${storedColumns.map((c) => `t.${c}`).join(", ")} ` +
        `FROM ${target} AS t SEMI JOIN (SELECT ${keyList.join(", ")} FROM sluice_change WHERE sluice_needs_stored) AS s ON ${on}`
      : undefined;
  // The row each key ends with: what the change says, the stored value where it says nothing.
  const merged = (withStored: boolean) => [
    ...keyList.map((k) => ({ name: k, sql: `s.${k}` })),
    ...plan.values.map((c) => {
      const name = quoteDuckdb(c.name);
      return {
        name,
        sql:
          c.tracked === undefined
            ? `s.${name}`
            : `CASE WHEN s.${carriedFlag(c.tracked)} THEN s.${name} ELSE ${withStored ? `t.${name}` : "NULL"} END`,
      };
    }),
    ...(withStored
      ? plan.kept.map((name) => ({ name: quoteDuckdb(name), sql: `t.${quoteDuckdb(name)}` }))
      : []),
    ...(plan.writesDeletedAt ? [{ name: deleted, sql: `s.${deleted}` }] : []),
    ...(plan.writesSequence ? [{ name: seq, sql: `s.${seq}` }] : []),
  ];
  const live = plan.hardDelete ? ` WHERE s.${deleted} IS NULL` : "";
  const insert = (withStored: boolean): string => {
    const list = merged(withStored);
    const from = withStored
      ? `sluice_change AS s LEFT JOIN sluice_stored AS t ON ${on}`
      : "sluice_change AS s";
    return `INSERT INTO ${target} (${list.map((c) => c.name).join(", ")}) SELECT ${list.map((c) => c.sql).join(", ")} FROM ${from}${live}`;
  };
  return {
    change,
    needsStored: "SELECT 1 FROM sluice_change WHERE sluice_needs_stored LIMIT 1",
    stored,
    delete: `DELETE FROM ${target} AS t USING sluice_change AS s WHERE ${on}`,
    insert: insert(false),
    insertWithStored: insert(true),
  };
}
