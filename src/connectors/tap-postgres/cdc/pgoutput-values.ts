import { DataError } from "../../../errors.js";
import type { PgTypeInfo } from "../postgres-types.js";

/**
 * Turns the text a walsender prints for a column (its type's output function, under the
 * session settings of the replication connection) into the wire form of `batch.ts`, exactly as
 * the FULL_TABLE path produces it with `wireExpression` (postgres-types.ts) under
 * `EXTRACT_SESSION_SETTINGS` plus `lc_monetary = 'C'`.
 *
 * Most types print their wire form already and pass through untouched (`wireConverterOf`
 * returns undefined for them, so the change reader does no work per value). The others mirror
 * the SQL of `wireExpression` in TypeScript:
 * - bytea `\x0102` -> `0102` (`encode(c, 'hex')`);
 * - interval `1 year 2 mons 3 days 04:05:06.5` -> `14 months 3 days 14706500000 microseconds`;
 * - money `-$1,234.56` -> `-1234.56` (`c::numeric`);
 * - hstore `"a"=>"1", "b"=>NULL` -> `{"a": "1", "b": null}` (`c::json`);
 * - arrays -> `array_to_json(c::text[])`: nested JSON arrays of JSON strings, each element as
 *   its cast to text prints it (which for bool, bpchar and inet differs from the output
 *   function: `true`, trailing blanks trimmed, `/32` masks); arrays of the four types above are
 *   flattened to one dimension and each element converted, as `json_agg` prints them.
 */

export type WireConverter = (text: string) => string;

/** The converter for a column's type, or undefined when its text already is the wire form. */
export function wireConverterOf(pg: PgTypeInfo): WireConverter | undefined {
  if (pg.typcategory === "A" && pg.elementTypname !== undefined) {
    const delimiter = pg.elementTypname === "box" ? ";" : ",";
    const scalar = scalarConverterOf(pg.elementTypname);
    if (scalar !== undefined) return (text) => flatArrayToJson(text, delimiter, scalar, pg.formatted);
    const cast = textCastOf(pg.elementTypname);
    return (text) => arrayToJson(text, delimiter, cast, pg.formatted);
  }
  return scalarConverterOf(pg.typname);
}

/** One value in its wire form (see `wireConverterOf`; prefer that for many values of a column). */
export function wireValueOf(text: string, pg: PgTypeInfo): string {
  const convert = wireConverterOf(pg);
  return convert === undefined ? text : convert(text);
}

function scalarConverterOf(typname: string): WireConverter | undefined {
  switch (typname) {
    case "bytea":
      return byteaToHex;
    case "interval":
      return intervalToWire;
    case "money":
      return moneyToNumeric;
    case "hstore":
      return hstoreToJson;
    default:
      return undefined;
  }
}

/** What `element::text` prints where the cast to text is not the output function (pg_cast). */
function textCastOf(typname: string): ((text: string) => string) | undefined {
  switch (typname) {
    case "bool":
      return (text) => (text === "t" ? "true" : text === "f" ? "false" : text);
    case "bpchar":
      // bpchar::text is rtrim: the padding blanks go.
      return (text) => text.replace(/ +$/, "");
    case "inet":
      // inet::text always shows the mask, which the output function leaves out for a host.
      return (text) => (text.includes("/") ? text : `${text}/${text.includes(":") ? 128 : 32}`);
    default:
      return undefined;
  }
}

function byteaToHex(text: string): string {
  if (!text.startsWith("\\x")) {
    throw new DataError(
      `a bytea value arrived in escape format; the replication connection must set bytea_output = 'hex'`,
    );
  }
  return text.slice(2);
}

/** money under lc_monetary C: `$1,234.56`, `-$0.99`; as numeric: `1234.56`, `-0.99`. */
function moneyToNumeric(text: string): string {
  const negative = text.includes("-") || text.includes("(");
  const digits = text.replace(/[^0-9.]/g, "");
  if (digits === "" || !/^\d+(\.\d+)?$/.test(digits)) {
    throw new DataError(
      `the money value "${text}" could not be read; the replication connection must set lc_monetary = 'C'`,
    );
  }
  return negative ? `-${digits}` : digits;
}

// IntervalStyle postgres, as interval_out prints it: `[N year[s]] [N mon[s]] [N day[s]] [[+-]H:MM:SS[.f]]`.
const INTERVAL =
  /^(?:([+-]?\d+) years? ?)?(?:([+-]?\d+) mons? ?)?(?:([+-]?\d+) days? ?)?(?:([+-])?(\d+):(\d\d):(\d\d)(?:\.(\d{1,6}))?)?$/;

/**
 * Months, days and microseconds apart, as PostgreSQL stores an interval and as the FULL_TABLE
 * expression computes them (`extract(year) * 12 + extract(month)` is the stored months).
 */
function intervalToWire(text: string): string {
  const match = INTERVAL.exec(text);
  if (match === null || text === "") {
    if (text === "infinity" || text === "-infinity") {
      throw new DataError(
        `an infinite interval ("${text}") has no months/days/microseconds form; FULL_TABLE cannot read it either`,
      );
    }
    throw new DataError(
      `the interval "${text}" could not be read; the replication connection must set IntervalStyle = 'postgres'`,
    );
  }
  const [, years, months, days, sign, hours, minutes, seconds, fraction] = match;
  const totalMonths = BigInt(years ?? 0) * 12n + BigInt(months ?? 0);
  let micros = 0n;
  if (hours !== undefined) {
    micros =
      BigInt(hours) * 3_600_000_000n +
      BigInt(minutes!) * 60_000_000n +
      BigInt(seconds!) * 1_000_000n +
      BigInt((fraction ?? "").padEnd(6, "0"));
    if (sign === "-") micros = -micros;
  }
  return `${totalMonths} months ${BigInt(days ?? 0)} days ${micros} microseconds`;
}

/** hstore_out's `"k"=>"v", "k2"=>NULL` as hstore_to_json prints it, pairs in the same order. */
function hstoreToJson(text: string): string {
  const parts: string[] = [];
  let i = 0;
  const fail = (): never => {
    throw new DataError(`the hstore value "${text.slice(0, 200)}" could not be read (at character ${i})`);
  };
  const quoted = (): string => {
    if (text[i] !== '"') fail();
    i += 1;
    let value = "";
    let start = i;
    for (;;) {
      const ch = text[i];
      if (ch === undefined) fail();
      if (ch === "\\") {
        value += text.slice(start, i) + (text[i + 1] ?? "");
        i += 2;
        start = i;
      } else if (ch === '"') {
        value += text.slice(start, i);
        i += 1;
        return value;
      } else {
        i += 1;
      }
    }
  };
  while (i < text.length) {
    if (parts.length > 0) {
      if (text.startsWith(", ", i)) i += 2;
      else fail();
    }
    const key = quoted();
    if (!text.startsWith("=>", i)) fail();
    i += 2;
    if (text.startsWith("NULL", i)) {
      i += 4;
      parts.push(`${JSON.stringify(key)}: null`);
    } else {
      parts.push(`${JSON.stringify(key)}: ${JSON.stringify(quoted())}`);
    }
  }
  return `{${parts.join(", ")}}`;
}

/** A parsed array: nested lists of element texts, null for NULL. */
type ArrayItem = string | null | ArrayItem[];

/** `array_to_json(c::text[])`: `[["1","2"],["3",null]]`, no blanks, bounds dropped. */
function arrayToJson(
  text: string,
  delimiter: string,
  cast: ((text: string) => string) | undefined,
  sqlType: string,
): string {
  const write = (items: ArrayItem[]): string => {
    let out = "[";
    for (let k = 0; k < items.length; k++) {
      if (k > 0) out += ",";
      const item = items[k]!;
      if (item === null) out += "null";
      else if (typeof item === "string") out += JSON.stringify(cast === undefined ? item : cast(item));
      else out += write(item);
    }
    return `${out}]`;
  };
  return write(parseArray(text, delimiter, sqlType));
}

/** The `json_agg` over `unnest` of `wireExpression`: one dimension, `[a, b]` with blanks, `[]` when empty. */
function flatArrayToJson(text: string, delimiter: string, convert: WireConverter, sqlType: string): string {
  const out: string[] = [];
  const walk = (items: ArrayItem[]): void => {
    for (const item of items) {
      if (item === null) out.push("null");
      else if (typeof item === "string") out.push(JSON.stringify(convert(item)));
      else walk(item);
    }
  };
  walk(parseArray(text, delimiter, sqlType));
  return `[${out.join(", ")}]`;
}

/**
 * Parses array_out's text: optional bounds (`[0:1]=`), braces per dimension, elements quoted
 * with `"` and backslash escapes when they hold special characters, unquoted `NULL` for null.
 */
function parseArray(text: string, delimiter: string, sqlType: string): ArrayItem[] {
  let i = 0;
  const fail = (): never => {
    throw new DataError(`the ${sqlType} value "${text.slice(0, 200)}" could not be read (at character ${i})`);
  };
  if (text[0] === "[") {
    i = text.indexOf("=");
    if (i < 0) fail();
    i += 1;
  }
  const list = (): ArrayItem[] => {
    if (text[i] !== "{") fail();
    i += 1;
    const items: ArrayItem[] = [];
    if (text[i] === "}") {
      i += 1;
      return items;
    }
    for (;;) {
      const ch = text[i];
      if (ch === "{") {
        items.push(list());
      } else if (ch === '"') {
        i += 1;
        let value = "";
        let start = i;
        for (;;) {
          const c = text[i];
          if (c === undefined) fail();
          if (c === "\\") {
            value += text.slice(start, i) + (text[i + 1] ?? "");
            i += 2;
            start = i;
          } else if (c === '"') {
            value += text.slice(start, i);
            i += 1;
            break;
          } else {
            i += 1;
          }
        }
        items.push(value);
      } else {
        const start = i;
        while (i < text.length && text[i] !== delimiter && text[i] !== "}") i += 1;
        const raw = text.slice(start, i);
        items.push(raw.toUpperCase() === "NULL" ? null : raw);
      }
      const next = text[i];
      if (next === delimiter) {
        i += 1;
      } else if (next === "}") {
        i += 1;
        return items;
      } else {
        fail();
      }
    }
  };
  const result = list();
  if (i !== text.length) fail();
  return result;
}
