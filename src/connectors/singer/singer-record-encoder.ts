import { JsonArray, JsonNumber, JsonObject, sourceOf, type JsonValue } from "../../protocol/exact-json.js";
import type { Column } from "../column-type.js";

/** A value that does not fit its column; the target adds the stream and line. */
export class FieldError extends Error {}

export type FieldEncoder = (value: JsonValue) => string;

export interface FieldEncoderOptions {
  /**
   * How a bytes column's strings are encoded: the property's `contentEncoding` (`base16`, as
   * sluice's tap writes bytea, or `base64`). Default base16.
   */
  contentEncoding?: string;
}

/**
 * Turns RECORD values into the wire form of `batch.ts` (the text of each column kind), so a
 * record read from Singer lands in a spool file exactly as an extractor's row would:
 * integers and decimals from their literal text (exponents expanded for decimals), booleans as
 * `t`/`f`, RFC 3339 timestamps with `T` turned back into a space, json as the value's own text,
 * bytes from hex or base64 to hex, intervals from ISO 8601 durations, arrays as JSON arrays of
 * their elements' wire text.
 */
export function fieldEncoderFor(column: Column, options: FieldEncoderOptions = {}): FieldEncoder {
  const type = column.type;
  const fail = (value: JsonValue, expected: string): never => {
    const shown = sourceOf(value);
    throw new FieldError(
      `column "${column.name}" (${type.sqlType}) expects ${expected}, got ${shown.length > 60 ? `${shown.slice(0, 60)}…` : shown}`,
    );
  };
  switch (type.kind) {
    case "integer":
      return (v) => {
        const text = v instanceof JsonNumber ? v.text : typeof v === "string" ? v.trim() : undefined;
        if (text !== undefined) {
          if (/^-?\d+$/.test(text)) return text;
          const plain = /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(text) ? plainDecimal(text) : undefined;
          if (plain !== undefined && /^-?\d+(\.0*)?$/.test(plain)) return plain.replace(/\.0*$/, "");
        }
        return fail(v, "an integer");
      };
    case "decimal":
    case "float":
      return (v) => {
        if (v instanceof JsonNumber) return type.kind === "decimal" ? plainDecimal(v.text) : v.text;
        if (typeof v === "string") {
          const t = v.trim();
          if (/^(NaN|-?Infinity)$/i.test(t)) return t;
          if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) {
            return type.kind === "decimal" ? plainDecimal(t.replace(/^\+/, "")) : t;
          }
        }
        return fail(v, "a number");
      };
    case "boolean":
      return (v) => {
        if (typeof v === "boolean") return v ? "t" : "f";
        if (typeof v === "string" && /^(true|false|t|f)$/i.test(v)) return v[0]!.toLowerCase();
        if (v instanceof JsonNumber && (v.text === "0" || v.text === "1")) return v.text === "1" ? "t" : "f";
        return fail(v, "a boolean");
      };
    case "json":
      return (v) => sourceOf(v);
    case "timestamp":
    case "timestamptz":
      return (v) => (typeof v === "string" ? rfc3339ToWire(v) : fail(v, "a date-time string"));
    case "date":
      return (v) => (typeof v === "string" ? dateToWire(v) : fail(v, "a date string"));
    case "bytes": {
      const encoding = (options.contentEncoding ?? "base16").toLowerCase();
      if (encoding !== "base16" && encoding !== "base64") {
        throw new FieldError(
          `column "${column.name}" (${type.sqlType}) declares contentEncoding "${options.contentEncoding}"; sluice reads base16 (hex) or base64`,
        );
      }
      return (v) => {
        const hex = typeof v === "string" ? bytesToWire(v, encoding) : undefined;
        return hex ?? fail(v, `${encoding === "base16" ? "hex" : "base64"} text`);
      };
    }
    case "interval":
      return (v) => {
        const wire = typeof v === "string" ? intervalToWire(v) : undefined;
        return wire ?? fail(v, "an ISO 8601 duration (P1Y2M3DT4H5M6.5S)");
      };
    case "array": {
      const element = fieldEncoderFor({ name: column.name, type: type.element, nullable: true }, options);
      // A json element may itself be a JSON array: such arrays nest exactly their dimensions.
      // Others nest as deep as the value does (PostgreSQL lets `integer[]` hold a matrix).
      const exactDepth = type.element.kind === "json";
      const walk = (value: JsonValue, depth: number): unknown =>
        value === null
          ? null
          : value instanceof JsonArray && (!exactDepth || depth < type.dimensions)
            ? value.items.map((item) => walk(item, depth + 1))
            : element(value);
      return (v) => (v instanceof JsonArray ? JSON.stringify(walk(v, 0)) : fail(v, "a JSON array"));
    }
    default:
      return (v) => (typeof v === "string" ? v : scalarText(v));
  }
}

/** A string column given a non-string: its JSON text (`12.50`, `true`, `{"a":1}`). */
function scalarText(value: JsonValue): string {
  if (value instanceof JsonObject || value instanceof JsonArray) return value.source;
  return sourceOf(value);
}

/** Hex (`00ff`, or `\\x00ff`) or base64 text → lowercase hex; undefined when it is not that. */
export function bytesToWire(text: string, encoding: "base16" | "base64"): string | undefined {
  if (encoding === "base16") {
    const hex = text.startsWith("\\x") ? text.slice(2) : text;
    return /^(?:[0-9a-fA-F]{2})*$/.test(hex) ? hex.toLowerCase() : undefined;
  }
  const compact = text.replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(compact) || compact.replace(/=+$/, "").length % 4 === 1)
    return undefined;
  return Buffer.from(compact, "base64").toString("hex");
}

/**
 * An ISO 8601 duration, each part with its own sign as `batchRowsAsJson` writes PostgreSQL's
 * intervals (`P1Y2M3DT4H5M6.5S`, `P-1DT2H`), → the wire form `<months> months <days> days
 * <microseconds> microseconds`, exactly (months, days and time kept apart). The wire form itself
 * passes through. Undefined for anything else, or a fraction finer than a microsecond.
 */
export function intervalToWire(text: string): string | undefined {
  if (/^-?\d+ months -?\d+ days -?\d+ microseconds$/.test(text)) return text;
  const m =
    /^(-)?P(?:([+-]?\d+)Y)?(?:([+-]?\d+)M)?(?:([+-]?\d+)W)?(?:([+-]?\d+)D)?(?:T(?:([+-]?\d+)H)?(?:([+-]?\d+)M)?(?:([+-]?)(\d+)(?:[.,](\d+))?S)?)?$/.exec(
      text,
    );
  if (!m || /^-?PT?$/.test(text)) return undefined;
  const [, negate, y, mo, w, d, h, mi, secondSign, seconds, fraction = ""] = m;
  if (fraction.length > 6 && /[1-9]/.test(fraction.slice(6))) return undefined;
  const int = (part: string | undefined): bigint => BigInt(part ?? "0");
  const sign = negate ? -1n : 1n;
  const months = (int(y) * 12n + int(mo)) * sign;
  const days = (int(w) * 7n + int(d)) * sign;
  const secondMicros =
    (BigInt(seconds ?? "0") * 1_000_000n + BigInt(fraction.slice(0, 6).padEnd(6, "0"))) *
    (secondSign === "-" ? -1n : 1n);
  const micros = (int(h) * 3_600_000_000n + int(mi) * 60_000_000n + secondMicros) * sign;
  return `${months} months ${days} days ${micros} microseconds`;
}

/** `2024-01-31T12:00:00.5+00:00` → `2024-01-31 12:00:00.5+00:00`; `Z` → `+00`. Other text unchanged. */
export function rfc3339ToWire(text: string): string {
  const m =
    /^(\d{4,}-\d\d-\d\d)[Tt ](\d\d:\d\d(?::\d\d(?:\.\d+)?)?)\s*([Zz]|[+-]\d\d(?::?\d\d)?)?( BC)?$/.exec(text);
  if (!m) return text;
  const [, date, time, zone, bc] = m;
  const offset = zone === undefined ? "" : zone === "Z" || zone === "z" ? "+00" : zone;
  return `${date} ${time}${offset}${bc ?? ""}`;
}

/** A date, or a date-time at midnight UTC as pipelinewise writes dates, → `2024-01-31`. */
export function dateToWire(text: string): string {
  const m = /^(\d{4,}-\d\d-\d\d)(?:[Tt ]00:00(?::00(?:\.0+)?)?(?:[Zz]|[+-]00(?::?00)?)?)?( BC)?$/.exec(text);
  return m ? `${m[1]}${m[2] ?? ""}` : text;
}

/**
 * A JSON number literal as plain decimal text, exactly: `1.5E+3` → `1500`, `12e-3` → `0.012`.
 * Exponents beyond ±4000 are left as they are (a loader then refuses them, naming the column).
 */
export function plainDecimal(text: string): string {
  const m = /^(-?)(\d+)(?:\.(\d+))?[eE]([+-]?\d+)$/.exec(text);
  if (!m) return text;
  const [, sign, whole, fraction = "", exponentText] = m;
  const exponent = Number(exponentText);
  if (Math.abs(exponent) > 4000) return text;
  const digits = whole! + fraction;
  let point = whole!.length + exponent;
  let padded = digits;
  if (point <= 0) {
    padded = "0".repeat(1 - point) + digits;
    point = 1;
  } else if (point > digits.length) {
    padded = digits + "0".repeat(point - digits.length);
  }
  let intPart = padded.slice(0, point).replace(/^0+(?=\d)/, "");
  const fracPart = padded.slice(point);
  if (intPart === "") intPart = "0";
  return `${sign}${intPart}${fracPart ? `.${fracPart}` : ""}`;
}

/** A field of sluice CSV: NULL unquoted and empty; quoted when it must be (or is the empty string). */
export function csvField(text: string | null): string {
  if (text === null) return "";
  if (text === "" || /[",\n\r]/.test(text)) return `"${text.replace(/"/g, '""')}"`;
  return text;
}
