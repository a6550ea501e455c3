import { invalid } from "./bigquery-api-error.js";

/**
 * BigQuery's naming rules, so a name the emulator accepts is one BigQuery accepts.
 * https://cloud.google.com/bigquery/docs/datasets#dataset-naming,
 * https://cloud.google.com/bigquery/docs/tables#table_naming, .../schemas#column_names
 */

const DATASET_ID = /^[A-Za-z0-9_]{1,1024}$/;
// Letters (L), marks (M), numbers (N), connectors (Pc, includes `_`), dashes (Pd), spaces (Zs).
const TABLE_ID = /^[\p{L}\p{M}\p{N}\p{Pc}\p{Pd}\p{Zs}]+$/u;
const COLUMN_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,299}$/;
const RESERVED_COLUMN_PREFIXES = [
  "_TABLE_",
  "_FILE_",
  "_PARTITION",
  "_ROW_TIMESTAMP",
  "__ROOT__",
  "_COLIDENTIFIER",
];

export function validateDatasetId(datasetId: string): void {
  if (!DATASET_ID.test(datasetId)) {
    throw invalid(
      `Invalid dataset ID "${datasetId}". Dataset IDs must be alphanumeric (plus underscores) and must be at most 1024 characters long.`,
    );
  }
}

export function validateTableId(tableId: string): void {
  if (!TABLE_ID.test(tableId) || Buffer.byteLength(tableId, "utf8") > 1024) {
    throw invalid(
      `Invalid table ID "${tableId}". Table IDs must be alphanumeric (plus underscores) and must be at most 1024 characters long. Also, Table decorators cannot be used.`,
    );
  }
}

export function validateColumnName(name: string): void {
  if (!COLUMN_NAME.test(name)) {
    throw invalid(
      `Invalid field name "${name}". Fields must contain the allowed characters, and be at most 300 characters long. For allowed characters, please refer to https://cloud.google.com/bigquery/docs/schemas#column_names`,
    );
  }
  const upper = name.toUpperCase();
  const prefix = RESERVED_COLUMN_PREFIXES.find((p) => upper.startsWith(p));
  if (prefix !== undefined) {
    throw invalid(
      `Invalid field name "${name}". Field names are not allowed to start with the (case-insensitive) prefixes _PARTITION, _TABLE_, _FILE_, _ROW_TIMESTAMP, __ROOT__ and _COLIDENTIFIER`,
    );
  }
}

/** Column names are case-insensitive in BigQuery: `Amount` and `amount` are the same column. */
export function validateColumnNames(names: readonly string[], where: string): void {
  const seen = new Set<string>();
  for (const name of names) {
    validateColumnName(name);
    const key = name.toLowerCase();
    if (seen.has(key)) throw invalid(`Field ${name} already exists in schema${where ? ` of ${where}` : ""}`);
    seen.add(key);
  }
}
