import type { RecordBatch } from "../batch.js";
import type { ColumnType } from "../column-type.js";
import { copyTextUnescape, duckdbLiteral, mayHoldCopyTextEscapes } from "./duckdb-types.js";
import { csvBufferBytes } from "./shared-memory-limit.js";

export function readCsvCall(batch: RecordBatch, types: string[]): string {
  const columns = types.map((type, i) => `'c${i}': '${type}'`).join(", ");
  const buffer = csvBufferBytes(batch);
  const quote = duckdbLiteral(batch.quote ?? '"');
  // COPY text: no quoting at all (an empty field is the empty string); see `batchField`.
  const dialect =
    batch.format === "copy-text"
      ? `delim = '\t', quote = '', escape = '', nullstr = '\\N'`
      : `delim = ',', quote = ${quote}, escape = ${quote}, allow_quoted_nulls = false`;
  return (
    `read_csv(${duckdbLiteral(batch.path)}, columns = {${columns}}, header = false, auto_detect = false, ` +
    `${dialect}, new_line = '\\n', max_line_size = ${buffer}, buffer_size = ${buffer})`
  );
}

/** Field `c<i>` of a batch as the text of its kind: COPY text's escapes undone where they can occur. */
export function batchField(batch: RecordBatch, i: number, type: ColumnType): string {
  const field = `c${i}`;
  return batch.format === "copy-text" && mayHoldCopyTextEscapes(type) ? copyTextUnescape(field) : field;
}

export function isConversionError(error: unknown): boolean {
  return /Conversion Error|Could not convert|CSV Error/i.test((error as Error).message ?? "");
}
