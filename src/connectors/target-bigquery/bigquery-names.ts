import { SchemaError } from "../../errors.js";

/**
 * How source names become BigQuery names. BigQuery refuses what it cannot name instead of
 * quoting it, so every name is rewritten by a fixed, documented rule (README "BigQuery"):
 *
 * - Tables: `table_prefix + source table + table_suffix`; every character other than a letter,
 *   a mark, a digit, `_` or `-` becomes `_` (BigQuery allows dashes and Unicode letters in
 *   table names; spaces, quotes, dots and the rest become `_`), cut to 1,024 bytes.
 *   `public-events` stays `public-events`; `Order "Items"` becomes `Order__Items_`.
 * - Columns: every character other than an ASCII letter, digit or `_` becomes `_`; a name
 *   starting with a digit, empty, or starting with a prefix BigQuery reserves (`_TABLE_`,
 *   `_FILE_`, `_PARTITION`, `_ROW_TIMESTAMP`, `__ROOT__`, `_COLON_`; and `_CHANGE_`, the change
 *   data capture pseudocolumns') gets a leading `_`; cut to 300 characters; a name of a column sluice adds (`_sdc_...`) gets `_2`. A column's
 *   name thus depends on its own source name only, so it never changes once the table exists,
 *   whatever columns are added or dropped later. BigQuery compares column names without case:
 *   two source columns whose names end up equal that way (`a-b` and `a_b`, `Name` and `name`,
 *   two long names cut to the same 300 characters) are refused before anything is written, with
 *   both named. (Suffixes by column order would be unstable: `a-b` alone is `a_b`, and becomes
 *   another name, its data left behind, once a column `a_b` is added.)
 */

// The prefixes BigQuery reserves (https://cloud.google.com/bigquery/docs/schemas#column_names), and
// `_CHANGE_`: the Storage Write API's rows carry the change data capture pseudocolumns
// (`_CHANGE_TYPE`, `_CHANGE_SEQUENCE_NUMBER`) beside the table's columns.
const RESERVED_COLUMN_PREFIXES = [
  "_table_",
  "_file_",
  "_partition",
  "_row_timestamp",
  "__root__",
  "_colon_",
  "_change_",
];
const MAX_COLUMN_LENGTH = 300;
const MAX_TABLE_BYTES = 1024;

export function bigqueryTableName(sourceTable: string, prefix = "", suffix = ""): string {
  const name = `${prefix}${sourceTable}${suffix}`.replace(/[^\p{L}\p{M}\p{N}_-]/gu, "_");
  return truncateBytes(name === "" ? "_" : name, MAX_TABLE_BYTES);
}

/** The legal spelling of one column name, before collisions are resolved. */
export function legalColumnName(name: string): string {
  let legal = name.replace(/[^A-Za-z0-9_]/g, "_");
  if (legal === "" || /^[0-9]/.test(legal)) legal = `_${legal}`;
  const lower = legal.toLowerCase();
  if (RESERVED_COLUMN_PREFIXES.some((p) => lower.startsWith(p))) legal = `_${legal}`;
  return legal.slice(0, MAX_COLUMN_LENGTH);
}

export function isLegalColumnName(name: string): boolean {
  return legalColumnName(name) === name;
}

/**
 * BigQuery names for `names` (source column names, in column order), each unique without case
 * and distinct from `reserved` (metadata columns). Returns source name → BigQuery name; throws a
 * SchemaError naming both source columns when two would have one BigQuery name.
 */
export function bigqueryColumnNames(
  names: readonly string[],
  reserved: readonly string[] = [],
  streamId?: string,
): Map<string, string> {
  const metadata = new Set(reserved.map((n) => n.toLowerCase()));
  const owners = new Map<string, string>();
  const result = new Map<string, string>();
  for (const name of names) {
    let column = legalColumnName(name);
    if (metadata.has(column.toLowerCase())) column = `${column.slice(0, MAX_COLUMN_LENGTH - 2)}_2`;
    const other = owners.get(column.toLowerCase());
    if (other !== undefined) {
      const stream = streamId ?? "<stream>";
      throw new SchemaError(
        `target-bigquery: ${streamId ? `stream ${streamId}: ` : ""}source columns "${other}" and "${name}" would both be BigQuery column "${column}" (a BigQuery column name keeps only ASCII letters, digits and _, at most 300 of them, and BigQuery compares names without case). Rename one of them at the source, or leave one out of the stream (metadata ${stream}.${name}: selected: false).`,
      );
    }
    owners.set(column.toLowerCase(), name);
    result.set(name, column);
  }
  return result;
}

/** Dataset ids are not rewritten (the user chose them): an illegal one is a configuration error. */
export function isLegalDatasetId(id: string): boolean {
  return /^[A-Za-z0-9_]{1,1024}$/.test(id);
}

/** `project.dataset.table` in backticks, as GoogleSQL wants it. Names are already legal. */
export function quoteTable(project: string, dataset: string, table: string): string {
  return `\`${project}.${dataset}.${table}\``;
}

/** A column name in backticks (legal names need none, but a reserved word like `order` does). */
export function quoteColumn(name: string): string {
  return `\`${name}\``;
}

function truncateBytes(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  let out = "";
  for (const ch of text) {
    if (Buffer.byteLength(out + ch) > maxBytes) break;
    out += ch;
  }
  return out;
}
