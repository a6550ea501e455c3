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
 *   `_FILE_`, `_PARTITION`, `_ROW_TIMESTAMP`, `__ROOT__`, `_COLON_`) gets a leading `_`; cut
 *   to 300 characters. BigQuery compares column names without case, so names that end up
 *   equal that way get `_2`, `_3`, ...: names that were already legal keep theirs first (in
 *   column order), then rewritten names take the next free suffix. A column thus keeps its
 *   name when another column is added or removed, unless both map to the same name.
 */

const RESERVED_COLUMN_PREFIXES = ["_table_", "_file_", "_partition", "_row_timestamp", "__root__", "_colon_"];
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
 * and distinct from `reserved` (metadata columns). Returns source name → BigQuery name.
 */
export function bigqueryColumnNames(
  names: readonly string[],
  reserved: readonly string[] = [],
): Map<string, string> {
  const taken = new Set(reserved.map((n) => n.toLowerCase()));
  const result = new Map<string, string>();
  const claim = (source: string, wanted: string): void => {
    let candidate = wanted;
    for (let n = 2; taken.has(candidate.toLowerCase()); n++) {
      const suffix = `_${n}`;
      candidate = `${wanted.slice(0, MAX_COLUMN_LENGTH - suffix.length)}${suffix}`;
    }
    taken.add(candidate.toLowerCase());
    result.set(source, candidate);
  };
  // Names that are legal as they are claim first, so rewriting another name never moves them.
  for (const name of names) if (isLegalColumnName(name) && !reserved.includes(name)) claim(name, name);
  for (const name of names) if (!result.has(name)) claim(name, legalColumnName(name));
  return new Map(names.map((n) => [n, result.get(n)!]));
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
