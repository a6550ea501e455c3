/**
 * A batch: many rows of one stream, written by an extractor to a spool file and handed to a
 * loader, which bulk-loads the file (DuckDB `read_csv`, PostgreSQL `COPY FROM`, a BigQuery load
 * job) or decodes it row by row (JSON lines, Singer). Batches, not rows, cross every boundary.
 *
 * File format ("sluice CSV"): RFC 4180 CSV, UTF-8, no header, `"` quote and escape (or the
 * batch's `quote`), `\n` row end. An unquoted empty field is NULL; `""` is the empty string. Each field holds the text form
 * of its column's `ColumnType` kind:
 * - integer, decimal, float: decimal text as PostgreSQL prints it (exact); decimal and float may
 *   be `NaN`, `Infinity`, `-Infinity`.
 * - boolean: `t` or `f`.
 * - string, uuid: the text itself. json: the JSON document text.
 * - date, time, timetz, timestamp, timestamptz: ISO text in UTC (`2024-01-31 12:00:00.5+00`),
 *   `infinity`/`-infinity`, and a ` BC` suffix for years before 1.
 * - interval: `<months> months <days> days <microseconds> microseconds` (each part signed).
 * - bytes: lowercase hex without prefix.
 * - array: a JSON array (nested for several dimensions) whose elements are JSON strings in the
 *   element kind's text form, or null; `[]` for an empty array.
 * CDC batches (see `ChangeEvent` in connector.ts) hold every column of the stream and three
 * trailing ones:
 * - `_sdc_deleted_at`: timestamptz text of the delete's commit time, empty unless deleted.
 * - `_sdc_sequence`: an integer, increasing in source commit order. Rows of one key are applied
 *   in this order; file order must not be relied on (DuckDB reads a file in parallel).
 * - `_sdc_unchanged`: comma-separated 0-based indexes (into `columns`) of fields whose value the
 *   change did not carry, empty when it carried all: an update leaving a TOASTed value out of
 *   the WAL, or a delete (which carries only the key). Such a field is written empty and must
 *   not overwrite anything: the column keeps the value of the key's latest earlier row in the
 *   batch that carried it, else the value already stored.
 * A loader that merges on the key therefore ends with, per key: the latest row by
 * `_sdc_sequence`, its unchanged fields filled as above; removed when that row is a delete and
 * `hard_delete` is set, else kept with `_sdc_deleted_at` set.
 */
export interface RecordBatch {
  streamId: string;
  /** Absolute path of the spool file; the runner deletes it once the loader has it. */
  path: string;
  /** Column names in file order. */
  columns: string[];
  rowCount: number;
  byteCount: number;
  /** Bytes of the longest row, so a loader can size its read buffers. */
  maxRowBytes: number;
  /** When the extractor read the rows from the source. */
  extractedAt: Date;
  /** `_sdc_sequence` of the first row; the rows follow in order (base + index). */
  sequenceBase: number;
  /**
   * The quote (and escape) character, when not `"`: a loader that asked for one with
   * `Loader.preferredCsvQuote` may get batches written with it. JSON is full of `"`, which CSV
   * doubles; with a character that text hardly holds (\x01), DuckDB reads a batch about four
   * times faster, and PostgreSQL writes it faster too.
   */
  quote?: string;
  /**
   * `copy-text`: the file is in PostgreSQL's COPY text format instead of CSV, for a loader that
   * asked for it (`Loader.readsCopyText`): fields separated by tabs, `\N` for NULL, and `\\`,
   * `\n`, `\r`, `\t`, `\b`, `\f`, `\v` for those characters; no quoting, so every `\n` ends a row.
   * Fields hold the same text forms as in CSV. PostgreSQL writes this format with less work than
   * CSV, and a reader finds rows without tracking quotes.
   */
  format?: "copy-text";
}

/**
 * COPY text's escapes besides `\\`: the letter after the backslash and the character it stands
 * for. (`COPY TO` writes only these and `\\`; other control characters go out as they are.)
 */
export const COPY_TEXT_ESCAPES: Readonly<Record<string, string>> = {
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
  v: "\v",
};

export const DELETED_AT_COLUMN = "_sdc_deleted_at";
export const SEQUENCE_COLUMN = "_sdc_sequence";
export const UNCHANGED_COLUMN = "_sdc_unchanged";
