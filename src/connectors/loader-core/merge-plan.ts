import { DELETED_AT_COLUMN, SEQUENCE_COLUMN } from "../batch.js";

/**
 * The change-data rules, written once. A batch merged on the stream's key ends, per key, with:
 * 1. the batch's newest row by `_sdc_sequence` (file order must not be relied on);
 * 2. each field that row did not carry (`_sdc_unchanged`: a TOASTed value left out of the WAL, or
 *    a delete, which carries only the key) taken from the key's newest earlier row in the batch
 *    that carried it, else the value already stored;
 * 3. columns of the table the batch says nothing about (a column the source dropped) as stored;
 * 4. when that row is a delete: removed with `hard_delete`, else kept with `_sdc_deleted_at` set;
 *    a row that is not a delete is live (`_sdc_deleted_at` NULL), as re-inserting a key makes it;
 * 5. `_sdc_sequence` stored only as a metadata column, `_sdc_unchanged` never.
 *
 * `planMerge` decides, from the batch and the table, what a warehouse has to render for these
 * rules; each loader renders the plan in its own SQL (DuckDB: DELETE + INSERT of the reduced
 * rows; PostgreSQL: INSERT ... ON CONFLICT; BigQuery: one MERGE). The plan has no SQL in it, so it
 * is unit-tested without an engine, and a new warehouse renders it rather than deriving the rules
 * again.
 */
export interface MergePlan {
  /** Key columns, as the warehouse names them. */
  keys: string[];
  /** The other columns the batch writes, in order: the stream's, then metadata values. */
  values: MergeColumn[];
  /** Columns of the table the batch says nothing about: they keep their stored values (rule 3). */
  kept: string[];
  /** The batch carries deletes (`_sdc_deleted_at`). */
  deletes: boolean;
  /** Keys whose newest row is a delete are removed and never inserted (rule 4, `hard_delete`). */
  hardDelete: boolean;
  /** `_sdc_deleted_at` is written (the table has it): the row's, or NULL for a batch without deletes. */
  writesDeletedAt: boolean;
  /** `_sdc_sequence` is written (metadata columns). */
  writesSequence: boolean;
  /** A key may come more than once, so the batch is reduced to one row per key first (rule 1). */
  reduces: boolean;
}

export interface MergeColumn {
  name: string;
  /**
   * A column a change may leave out: its position in the batch, as `_sdc_unchanged` lists it.
   * Absent when every row carries it (metadata values, or a batch without `_sdc_unchanged`).
   */
  tracked?: number;
}

export interface MergeInput {
  /** Key columns, warehouse names. */
  keys: readonly string[];
  /** The batch's stream columns (warehouse names) with their positions in the batch. */
  columns: readonly { name: string; index: number }[];
  /** Metadata value columns the batch writes (`_sdc_extracted_at`, ...), when it writes them. */
  metadata: readonly string[];
  /** Columns the destination table has now. */
  tableColumns: Iterable<string>;
  /** Positions of the batch's CDC columns, as `batchLayout` finds them. */
  layout: { deletedAt?: number; sequence?: number; unchanged?: number };
  hardDelete: boolean;
  addMetadataColumns: boolean;
  /** The stream's keys are distinct in this run (one snapshot read, not CDC). */
  distinctKeys: boolean;
  /** Column names compare case-insensitively (DuckDB, BigQuery). */
  caseInsensitive?: boolean;
}

export function planMerge(input: MergeInput): MergePlan {
  const fold = (name: string): string => (input.caseInsensitive ? name.toLowerCase() : name);
  const keys = new Set(input.keys.map(fold));
  const deletes = input.layout.deletedAt !== undefined;
  const unchanged = input.layout.unchanged !== undefined;
  const values: MergeColumn[] = [
    ...input.columns
      .filter((c) => !keys.has(fold(c.name)))
      .map((c) => (unchanged ? { name: c.name, tracked: c.index } : { name: c.name })),
    ...input.metadata.map((name) => ({ name })),
  ];
  const tableColumns = [...input.tableColumns];
  const has = new Set(tableColumns.map(fold));
  const said = new Set([...keys, ...values.map((c) => fold(c.name)), fold(DELETED_AT_COLUMN)]);
  if (input.addMetadataColumns) said.add(fold(SEQUENCE_COLUMN));
  return {
    keys: [...input.keys],
    values,
    kept: tableColumns.filter((name) => !said.has(fold(name))),
    deletes,
    hardDelete: input.hardDelete && deletes,
    writesDeletedAt: has.has(fold(DELETED_AT_COLUMN)),
    writesSequence: input.addMetadataColumns,
    reduces: !input.distinctKeys || deletes || unchanged,
  };
}

/** The plan's tracked columns: those a change may leave out. */
export function trackedColumns(plan: MergePlan): (MergeColumn & { tracked: number })[] {
  return plan.values.filter((c): c is MergeColumn & { tracked: number } => c.tracked !== undefined);
}
