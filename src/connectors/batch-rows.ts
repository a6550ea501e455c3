import { parse } from "csv-parse";
import fs from "node:fs";
import type { RecordBatch } from "./batch.js";
import { DELETED_AT_COLUMN } from "./batch.js";
import type { ColumnType } from "./column-type.js";

/**
 * Decodes a batch file row by row for loaders that write JSON (target-jsonl, Singer output).
 * Each row becomes the text of a JSON object with Singer's value forms: integers and decimals as
 * exact JSON numbers (written from their text, never through a double), `NaN`/`Infinity` as
 * strings, timestamps as RFC 3339, json as nested JSON, bytes as hex, intervals as ISO 8601
 * durations, arrays as JSON arrays.
 */
export async function* batchRowsAsJson(
  batch: RecordBatch,
  types: ReadonlyMap<string, ColumnType>,
  extra: (index: number) => string = () => "",
): AsyncGenerator<string> {
  const encoders = batch.columns.map((name) => {
    const type: ColumnType =
      name === DELETED_AT_COLUMN ? { kind: "timestamptz", sqlType: "timestamptz" } : types.get(name)!;
    return { key: JSON.stringify(name), encode: encoderFor(type) };
  });
  const parser = fs.createReadStream(batch.path).pipe(
    parse({
      // An unquoted empty field is NULL; a quoted one is the empty string.
      cast: (value, context) => (value === "" && !context.quoting ? null : value),
      relax_column_count: false,
    }),
  );
  let index = 0;
  for await (const fields of parser as AsyncIterable<(string | null)[]>) {
    let json = "{";
    for (let i = 0; i < encoders.length; i++) {
      const field = fields[i] ?? null;
      const encoder = encoders[i]!;
      json += `${i === 0 ? "" : ","}${encoder.key}:${field === null ? "null" : encoder.encode(field)}`;
    }
    json += extra(index) + "}";
    index += 1;
    yield json;
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
