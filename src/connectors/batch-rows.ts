import fs from "node:fs";
import { StringDecoder } from "node:string_decoder";
import { DataError } from "../errors.js";
import type { RecordBatch } from "./batch.js";
import { DELETED_AT_COLUMN, SEQUENCE_COLUMN, UNCHANGED_COLUMN } from "./batch.js";
import type { ColumnType } from "./column-type.js";

/**
 * Decodes a batch file row by row for loaders that write JSON (target-jsonl, Singer output).
 * Each row becomes the text of a JSON object with Singer's value forms: integers and decimals as
 * exact JSON numbers (written from their text, never through a double), `NaN`/`Infinity` as
 * strings, timestamps as RFC 3339, json as nested JSON, bytes as hex, intervals as ISO 8601
 * durations, arrays as JSON arrays.
 * A CDC row (the batch has `_sdc_sequence`) becomes a record with `_sdc_sequence`, with
 * `_sdc_deleted_at` only when set, and without the fields its `_sdc_unchanged` lists (values the
 * change did not carry, so a reader cannot mistake them for NULL); `_sdc_unchanged` itself is
 * not written.
 */
export async function* batchRowsAsJson(
  batch: RecordBatch,
  types: ReadonlyMap<string, ColumnType>,
  extra: (index: number) => string = () => "",
): AsyncGenerator<string> {
  // The stream's own columns come first; a CDC batch then has `_sdc_deleted_at`,
  // `_sdc_sequence` and `_sdc_unchanged`. A source column may bear one of those names too, so
  // they are told apart by position: the metadata starts where a name repeats or is no column.
  let own = 0;
  const seen = new Set<string>();
  while (own < batch.columns.length && types.has(batch.columns[own]!) && !seen.has(batch.columns[own]!)) {
    seen.add(batch.columns[own]!);
    own += 1;
  }
  const metadataAt = (name: string): number => batch.columns.indexOf(name, own);
  const cdc = metadataAt(SEQUENCE_COLUMN) >= 0;
  const unchangedIndex = metadataAt(UNCHANGED_COLUMN);
  const encoders = batch.columns.map((name, i) => {
    const metadata = i >= own;
    const type: ColumnType =
      metadata && name === DELETED_AT_COLUMN
        ? { kind: "timestamptz", sqlType: "timestamptz" }
        : metadata && name === SEQUENCE_COLUMN
          ? { kind: "integer", bits: 64, sqlType: "bigint" }
          : metadata && name === UNCHANGED_COLUMN
            ? { kind: "string", sqlType: "text" }
            : types.get(name)!;
    return {
      key: JSON.stringify(name),
      encode: encoderFor(type),
      skip: metadata && name === UNCHANGED_COLUMN,
      skipNull: cdc && metadata && name === DELETED_AT_COLUMN,
    };
  });
  let index = 0;
  for await (const fields of readBatchRows(batch.path, batch.columns.length, { quote: batch.quote })) {
    const unchanged = unchangedIndex >= 0 ? fields[unchangedIndex] : null;
    const left = unchanged ? new Set(unchanged.split(",").map(Number)) : undefined;
    let json = "{";
    let first = true;
    for (let i = 0; i < encoders.length; i++) {
      const field = fields[i] ?? null;
      const encoder = encoders[i]!;
      if (encoder.skip || left?.has(i) || (encoder.skipNull && field === null)) continue;
      json += `${first ? "" : ","}${encoder.key}:${field === null ? "null" : encoder.encode(field)}`;
      first = false;
    }
    const more = extra(index);
    json += (first && more.startsWith(",") ? more.slice(1) : more) + "}";
    index += 1;
    yield json;
  }
}

/**
 * The rows of a batch file ("sluice CSV", see batch.ts), fields as text, NULL (an unquoted empty
 * field) as null. Written for speed on huge fields: it jumps from quote to quote with indexOf,
 * where a general CSV parser looks at every character (csv-parse needed ~8 s for one 10 MB
 * field full of quotes).
 */
export async function* readBatchRows(
  file: string,
  columnCount: number,
  options: { quote?: string | undefined; chunkBytes?: number } = {},
): AsyncGenerator<(string | null)[]> {
  const quote = options.quote ?? '"';
  const chunkBytes = options.chunkBytes ?? 1024 * 1024;
  const decoder = new StringDecoder("utf8");
  const stream = fs.createReadStream(file, { highWaterMark: chunkBytes });
  let fields: (string | null)[] = [];
  /** Pieces of the field being read, when it spans chunks or holds `""`. */
  let parts: string[] = [];
  let mode: "start" | "unquoted" | "quoted" | "afterQuote" = "start";
  let rowNumber = 1;
  const endRow = (): (string | null)[] => {
    if (fields.length !== columnCount) {
      throw new DataError(
        `${file}: row ${rowNumber} has ${fields.length} fields where the batch has ${columnCount} columns`,
      );
    }
    const row = fields;
    fields = [];
    rowNumber += 1;
    return row;
  };
  const separators = /[,\n]/g;
  const parse = (text: string, rows: (string | null)[][]): void => {
    let i = 0;
    while (i < text.length) {
      if (mode === "start") {
        parts = [];
        if (text[i] === quote) {
          mode = "quoted";
          i += 1;
          continue;
        }
        mode = "unquoted";
      }
      if (mode === "unquoted") {
        separators.lastIndex = i;
        const found = separators.exec(text);
        if (found === null) {
          parts.push(text.slice(i));
          return;
        }
        const end = found.index;
        let value = parts.length === 0 ? text.slice(i, end) : parts.join("") + text.slice(i, end);
        if (text[end] === "\n" && value.endsWith("\r")) value = value.slice(0, -1);
        fields.push(value === "" ? null : value);
        if (text[end] === "\n") rows.push(endRow());
        mode = "start";
        i = end + 1;
      } else if (mode === "quoted") {
        const end = text.indexOf(quote, i);
        if (end < 0) {
          parts.push(text.slice(i));
          return;
        }
        parts.push(text.slice(i, end));
        mode = "afterQuote";
        i = end + 1;
      } else {
        const c = text[i];
        if (c === quote) {
          parts.push(quote);
          mode = "quoted";
          i += 1;
        } else if (c === "," || c === "\n") {
          fields.push(parts.join(""));
          if (c === "\n") rows.push(endRow());
          mode = "start";
          i += 1;
        } else if (c === "\r" && (text[i + 1] === "\n" || i + 1 === text.length)) {
          i += 1;
        } else {
          throw new DataError(`${file}: row ${rowNumber} has a character after a closing quote`);
        }
      }
    }
  };
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    const rows: (string | null)[][] = [];
    parse(decoder.write(chunk), rows);
    yield* rows;
  }
  const rows: (string | null)[][] = [];
  parse(decoder.end(), rows);
  yield* rows;
  // `parse` moves `mode` on; TypeScript cannot see that through the closure.
  const last = mode as typeof mode | "quoted" | "unquoted" | "afterQuote";
  if (last === "quoted") throw new DataError(`${file}: the file ends inside a quoted field`);
  if (last === "unquoted" || last === "afterQuote") {
    const value = parts.join("");
    fields.push(last === "unquoted" && value === "" ? null : value);
    yield endRow();
  } else if (fields.length > 0) {
    // The file ended right after a `,`: the last field is an unquoted empty one.
    fields.push(null);
    yield endRow();
  }
}

type Encoder = (text: string) => string;

export function encoderFor(type: ColumnType): Encoder {
  switch (type.kind) {
    case "integer":
      return (t) => t;
    case "decimal":
    case "float":
      return (t) => (/^-?(\d|\.\d)/.test(t) ? normaliseNumber(t) : JSON.stringify(t));
    case "boolean":
      return (t) => (t === "t" || t === "true" ? "true" : "false");
    case "json":
      return (t) => t;
    case "timestamp":
    case "timestamptz":
      return (t) => JSON.stringify(timestampToRfc3339(t));
    case "interval":
      return (t) => JSON.stringify(intervalToIso8601(t));
    case "array": {
      const element = encoderFor(type.element);
      const walk = (value: unknown): string =>
        value === null
          ? "null"
          : Array.isArray(value)
            ? `[${value.map(walk).join(",")}]`
            : element(String(value));
      return (t) => walk(JSON.parse(t));
    }
    default:
      return (t) => JSON.stringify(t);
  }
}

/** JSON numbers may not start with `.` or carry a leading `+`; PostgreSQL never prints those, but floats may be `1e+30`. */
function normaliseNumber(text: string): string {
  return text.replace("e+", "e");
}

/** `2024-01-31 12:00:00.5+00` → `2024-01-31T12:00:00.5+00:00`; `infinity` stays as it is. */
export function timestampToRfc3339(text: string): string {
  const m =
    /^(\d{4,}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?)(?:([+-]\d\d)(?::?(\d\d))?(?::?(\d\d))?)?( BC)?$/.exec(
      text,
    );
  if (!m) return text;
  const [, date, time, hours, minutes = "00", , bc] = m;
  const zone = hours === undefined ? "" : `${hours}:${minutes}`;
  return `${date}T${time}${zone}${bc ?? ""}`;
}

/** `14 months 3 days 14706500000 microseconds` → `P1Y2M3DT4H5M6.5S` (signs per part). */
export function intervalToIso8601(text: string): string {
  const m = /^(-?\d+) months (-?\d+) days (-?\d+) microseconds$/.exec(text);
  if (!m) return text;
  const months = Number(m[1]);
  const days = Number(m[2]);
  const micros = BigInt(m[3]!);
  const years = Math.trunc(months / 12);
  const restMonths = months % 12;
  const sign = micros < 0n ? -1n : 1n;
  const abs = micros * sign;
  const hours = abs / 3_600_000_000n;
  const minutes = (abs % 3_600_000_000n) / 60_000_000n;
  const micro = abs % 60_000_000n;
  const seconds = `${micro / 1_000_000n}${
    micro % 1_000_000n
      ? `.${String(micro % 1_000_000n)
          .padStart(6, "0")
          .replace(/0+$/, "")}`
      : ""
  }`;
  const neg = sign < 0n ? "-" : "";
  let out = "P";
  if (years) out += `${years}Y`;
  if (restMonths) out += `${restMonths}M`;
  if (days) out += `${days}D`;
  const time =
    (hours ? `${neg}${hours}H` : "") +
    (minutes ? `${neg}${minutes}M` : "") +
    (micro ? `${neg}${seconds}S` : "");
  if (time) out += `T${time}`;
  return out === "P" ? "PT0S" : out;
}
