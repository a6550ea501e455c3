import { DELETED_AT_COLUMN, SEQUENCE_COLUMN } from "../batch.js";
import type { ColumnType } from "../column-type.js";

/**
 * The `_sdc_*` columns a loader adds with `add_metadata_columns`, as the Singer targets name them,
 * in table order. Each warehouse maps the types as it maps any column.
 */
export const METADATA_COLUMNS: readonly { name: string; type: ColumnType }[] = [
  { name: "_sdc_extracted_at", type: { kind: "timestamptz", sqlType: "timestamptz" } },
  { name: "_sdc_received_at", type: { kind: "timestamptz", sqlType: "timestamptz" } },
  { name: "_sdc_batched_at", type: { kind: "timestamptz", sqlType: "timestamptz" } },
  { name: DELETED_AT_COLUMN, type: { kind: "timestamptz", sqlType: "timestamptz" } },
  { name: SEQUENCE_COLUMN, type: { kind: "integer", bits: 64, sqlType: "bigint" } },
  { name: "_sdc_table_version", type: { kind: "integer", bits: 64, sqlType: "bigint" } },
];

/**
 * The Singer table version that wrote each row. Kept without `add_metadata_columns` too when the
 * tap sends versions (`OpenStreamOptions.tableVersion`): ACTIVATE_VERSION removes the rows of
 * other versions, which only this column can tell apart across runs.
 */
export const TABLE_VERSION_COLUMN = "_sdc_table_version";
export const TABLE_VERSION_TYPE: ColumnType = { kind: "integer", bits: 64, sqlType: "bigint" };

export const METADATA_NAMES: readonly string[] = METADATA_COLUMNS.map((c) => c.name);

/** The type of `_sdc_deleted_at`, added on its own when a batch carries deletes. */
export const DELETED_AT_TYPE: ColumnType = { kind: "timestamptz", sqlType: "timestamptz" };

/**
 * The metadata values a batch writes, besides `_sdc_deleted_at` and `_sdc_sequence` (which come
 * from the batch itself): what each holds, for the warehouse to render as a literal or function.
 */
export type MetadataValue =
  | { name: "_sdc_extracted_at"; value: { instant: Date } }
  | { name: "_sdc_received_at"; value: { instant: Date } }
  | { name: "_sdc_batched_at"; value: "now" }
  | { name: "_sdc_table_version"; value: { integer: number } };

export function metadataValues(options: {
  extractedAt: Date;
  receivedAt: Date;
  version: number;
}): MetadataValue[] {
  return [
    { name: "_sdc_extracted_at", value: { instant: options.extractedAt } },
    { name: "_sdc_received_at", value: { instant: options.receivedAt } },
    { name: "_sdc_batched_at", value: "now" },
    { name: "_sdc_table_version", value: { integer: options.version } },
  ];
}
