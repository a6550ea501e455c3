/**
 * A batch: many rows of one stream, written by an extractor to a spool file and handed to a
 * loader, which bulk-loads the file (DuckDB `read_csv`, PostgreSQL `COPY FROM`, a BigQuery load
 * job) or decodes it row by row (JSON lines, Singer). Batches, not rows, cross every boundary.
 *
 * File format ("sluice CSV"): RFC 4180 CSV, UTF-8, no header, `"` quote and escape, `\n` row
 * end. An unquoted empty field is NULL; `""` is the empty string. Each field holds the text form
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
 * CDC batches (see `ChangeEvent` in connector.ts) add two trailing columns: `_sdc_deleted_at`
 * (timestamptz text of the delete's commit time, empty when the row was not deleted) and
 * `_sdc_sequence` (an integer, increasing in source commit order; a key that appears several
 * times in a batch keeps the row with the highest sequence; file order must not be relied on,
 * as DuckDB reads files in parallel). A CDC batch may hold a subset of the stream's columns
 * (always the key columns): the columns it leaves out keep their stored values.
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
}

export const DELETED_AT_COLUMN = "_sdc_deleted_at";
export const SEQUENCE_COLUMN = "_sdc_sequence";
