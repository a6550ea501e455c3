import { invalid } from "./bigquery-api-error.js";
import { validateColumnNames } from "./bigquery-names.js";

/** A column of a table schema, as the REST API sends and returns it (`TableFieldSchema`). */
export interface TableFieldSchema {
  name: string;
  type: string;
  mode?: string;
  fields?: TableFieldSchema[];
  description?: string;
  precision?: string;
  scale?: string;
  maxLength?: string;
}

/**
 * BigQuery answers with the legacy type names (INTEGER, FLOAT, BOOLEAN, RECORD) whatever name the
 * schema was created with; the client maps both.
 */
const TYPE_ALIASES: Record<string, string> = {
  STRING: "STRING",
  BYTES: "BYTES",
  INTEGER: "INTEGER",
  INT64: "INTEGER",
  FLOAT: "FLOAT",
  FLOAT64: "FLOAT",
  NUMERIC: "NUMERIC",
  DECIMAL: "NUMERIC",
  BIGNUMERIC: "BIGNUMERIC",
  BIGDECIMAL: "BIGNUMERIC",
  BOOLEAN: "BOOLEAN",
  BOOL: "BOOLEAN",
  TIMESTAMP: "TIMESTAMP",
  DATE: "DATE",
  TIME: "TIME",
  DATETIME: "DATETIME",
  GEOGRAPHY: "GEOGRAPHY",
  RECORD: "RECORD",
  STRUCT: "RECORD",
  JSON: "JSON",
  INTERVAL: "INTERVAL",
};

const MODES = new Set(["NULLABLE", "REQUIRED", "REPEATED"]);

/** Checks and normalizes a schema as tables.insert / a load job's `schema` would; throws 400 invalid. */
export function normalizeSchema(fields: unknown, where: string): TableFieldSchema[] {
  if (!Array.isArray(fields)) throw invalid(`Schema of ${where} must be a list of fields`);
  const out: TableFieldSchema[] = [];
  for (const raw of fields as unknown[]) {
    if (typeof raw !== "object" || raw === null) throw invalid(`A field of ${where} is not an object`);
    const field = raw as Record<string, unknown>;
    const name = typeof field.name === "string" ? field.name : "";
    const typeName = typeof field.type === "string" ? field.type.toUpperCase() : "";
    const type = TYPE_ALIASES[typeName];
    if (type === undefined) {
      throw invalid(`Invalid value for type: ${String(field.type)} is not a valid value`);
    }
    const mode = typeof field.mode === "string" ? field.mode.toUpperCase() : "NULLABLE";
    if (!MODES.has(mode)) throw invalid(`Invalid value for mode: ${String(field.mode)} is not a valid value`);
    const normalized: TableFieldSchema = { name, type, mode };
    if (typeof field.description === "string") normalized.description = field.description;
    if (type === "RECORD") {
      if (!Array.isArray(field.fields) || field.fields.length === 0) {
        throw invalid(`Field ${name} is type RECORD but has no schema`);
      }
      normalized.fields = normalizeSchema(field.fields, `${where}.${name}`);
    } else if (field.fields !== undefined && Array.isArray(field.fields) && field.fields.length > 0) {
      throw invalid(`Field ${name} is type ${type} but has a schema`);
    }
    if (type === "NUMERIC" || type === "BIGNUMERIC") {
      if (field.precision !== undefined || field.scale !== undefined) {
        const precision = Number(field.precision ?? (type === "NUMERIC" ? 38 : 76));
        const scale = Number(field.scale ?? 0);
        const [maxInteger, maxScale] = type === "NUMERIC" ? [29, 9] : [38, 38];
        if (
          !Number.isInteger(precision) ||
          !Number.isInteger(scale) ||
          scale < 0 ||
          scale > maxScale ||
          precision - scale < 1 ||
          precision - scale > maxInteger
        ) {
          throw invalid(
            `Invalid ${type} precision and scale for field ${name}: precision ${String(field.precision)}, scale ${String(field.scale)}`,
          );
        }
        normalized.precision = String(precision);
        normalized.scale = String(scale);
      }
    }
    if ((type === "STRING" || type === "BYTES") && field.maxLength !== undefined) {
      normalized.maxLength = String(field.maxLength);
    }
    out.push(normalized);
  }
  validateColumnNames(
    out.map((f) => f.name),
    where,
  );
  return out;
}

/** `[maximum integer digits, maximum scale]` of a NUMERIC or BIGNUMERIC field. */
export function decimalBounds(field: TableFieldSchema): [number, number] {
  const bignumeric = field.type === "BIGNUMERIC";
  if (field.precision === undefined) return bignumeric ? [38, 38] : [29, 9];
  const precision = Number(field.precision);
  const scale = Number(field.scale ?? 0);
  return [precision - scale, scale];
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** A DuckDB string literal. */
export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/**
 * The DuckDB column type a BigQuery field is stored as.
 * NOTE: DuckDB's DECIMAL stops at 38 digits, so BIGNUMERIC (76 digits, scale 38) is stored as
 * VARCHAR holding the canonical decimal text; the emulator's catalog remembers it is BIGNUMERIC.
 * GEOGRAPHY is stored as its WKT/GeoJSON text.
 */
export function duckdbType(field: TableFieldSchema): string {
  const base = duckdbBaseType(field);
  return field.mode === "REPEATED" ? `${base}[]` : base;
}

function duckdbBaseType(field: TableFieldSchema): string {
  switch (field.type) {
    case "STRING":
    case "BIGNUMERIC":
    case "GEOGRAPHY":
      return "VARCHAR";
    case "BYTES":
      return "BLOB";
    case "INTEGER":
      return "BIGINT";
    case "FLOAT":
      return "DOUBLE";
    case "NUMERIC": {
      const [integer, scale] = decimalBounds(field);
      return `DECIMAL(${integer + scale},${scale})`;
    }
    case "BOOLEAN":
      return "BOOLEAN";
    case "TIMESTAMP":
      return "TIMESTAMPTZ";
    case "DATE":
      return "DATE";
    case "TIME":
      return "TIME";
    case "DATETIME":
      return "TIMESTAMP";
    case "JSON":
      return "JSON";
    case "INTERVAL":
      return "INTERVAL";
    case "RECORD":
      return `STRUCT(${(field.fields ?? []).map((f) => `${quoteIdent(f.name)} ${duckdbType(f)}`).join(", ")})`;
    default:
      throw invalid(`Unsupported type ${field.type} for field ${field.name}`);
  }
}

/** The column definitions of a CREATE TABLE for a BigQuery schema. */
export function duckdbColumns(schema: readonly TableFieldSchema[]): string {
  return schema
    .map((f) => `${quoteIdent(f.name)} ${duckdbType(f)}${f.mode === "REQUIRED" ? " NOT NULL" : ""}`)
    .join(", ");
}

/** Finds a field by name, case-insensitively as BigQuery does. */
export function findField(schema: readonly TableFieldSchema[], name: string): TableFieldSchema | undefined {
  const lower = name.toLowerCase();
  return schema.find((f) => f.name.toLowerCase() === lower);
}

/** Whether two fields hold the same type (ignoring mode), recursively for records. */
export function sameType(a: TableFieldSchema, b: TableFieldSchema): boolean {
  if (a.type !== b.type) return false;
  if ((a.precision ?? "") !== (b.precision ?? "") || (a.scale ?? "") !== (b.scale ?? "")) {
    return a.type !== "NUMERIC" && a.type !== "BIGNUMERIC";
  }
  if (a.type !== "RECORD") return true;
  const af = a.fields ?? [];
  const bf = b.fields ?? [];
  return af.length === bf.length && af.every((f, i) => f.name === bf[i]!.name && sameType(f, bf[i]!));
}

// ---------------------------------------------------------------------------------------------
// Dates and times, in microseconds since the epoch, without going through Date (years 1-99).

export const MICROS_PER_DAY = 86_400_000_000n;

/** Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

export function civilFromDays(days: number): { year: number; month: number; day: number } {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return { year: yoe + era * 400 + (month <= 2 ? 1 : 0), month, day };
}

export const MIN_TIMESTAMP_MICROS = BigInt(daysFromCivil(1, 1, 1)) * MICROS_PER_DAY;
export const MAX_TIMESTAMP_MICROS = BigInt(daysFromCivil(10000, 1, 1)) * MICROS_PER_DAY - 1n;

function pad(value: number | bigint, width: number): string {
  return String(value).padStart(width, "0");
}

export function formatDate(days: number): string {
  const { year, month, day } = civilFromDays(days);
  return `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}`;
}

/** `HH:MM:SS[.ffffff]`, trailing zeros of the fraction dropped as BigQuery prints them. */
export function formatTimeOfDay(micros: bigint): string {
  const seconds = micros / 1_000_000n;
  const fraction = micros % 1_000_000n;
  const text = `${pad(seconds / 3600n, 2)}:${pad((seconds / 60n) % 60n, 2)}:${pad(seconds % 60n, 2)}`;
  return fraction === 0n ? text : `${text}.${pad(fraction, 6).replace(/0+$/, "")}`;
}

function splitMicros(micros: bigint): { days: number; timeOfDay: bigint } {
  let days = micros / MICROS_PER_DAY;
  let timeOfDay = micros % MICROS_PER_DAY;
  if (timeOfDay < 0n) {
    timeOfDay += MICROS_PER_DAY;
    days -= 1n;
  }
  return { days: Number(days), timeOfDay };
}

/** DATETIME as BigQuery returns it: `2024-01-02T03:04:05.123456`. */
export function formatDatetime(micros: bigint): string {
  const { days, timeOfDay } = splitMicros(micros);
  return `${formatDate(days)}T${formatTimeOfDay(timeOfDay)}`;
}

/** A TIMESTAMP in a form DuckDB casts exactly: `2024-01-02 03:04:05.123456+00`. */
export function timestampLiteral(micros: bigint): string {
  const { days, timeOfDay } = splitMicros(micros);
  const seconds = timeOfDay / 1_000_000n;
  const fraction = timeOfDay % 1_000_000n;
  return `${formatDate(days)} ${pad(seconds / 3600n, 2)}:${pad((seconds / 60n) % 60n, 2)}:${pad(seconds % 60n, 2)}.${pad(fraction, 6)}+00`;
}

/** ISO 8601 in UTC with microseconds, for `timestampOutputFormat: ISO8601_STRING`. */
export function formatTimestampIso(micros: bigint): string {
  const { days, timeOfDay } = splitMicros(micros);
  const seconds = timeOfDay / 1_000_000n;
  const fraction = timeOfDay % 1_000_000n;
  return `${formatDate(days)}T${pad(seconds / 3600n, 2)}:${pad((seconds / 60n) % 60n, 2)}:${pad(seconds % 60n, 2)}.${pad(fraction, 6)}Z`;
}

/** Seconds as a double in scientific notation, as the REST API returns TIMESTAMP without format options. */
export function formatTimestampFloat(micros: bigint): string {
  const seconds = Number(micros) / 1e6;
  const text = seconds.toExponential();
  const [mantissa, exponent] = text.split("e");
  const m = mantissa!.includes(".") ? mantissa! : `${mantissa!}.0`;
  return `${m}E${Number(exponent)}`;
}

const DATE_RE = /^(\d{4})-(\d{1,2})-(\d{1,2})$/;
const TIME_RE = /^(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,6}))?)?$/;
const DATETIME_RE =
  /^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ Tt](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,6}))?)?)?$/;
const TIMESTAMP_RE =
  /^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[ Tt](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,6}))?)?)?\s*(Z|z|UTC|[+-]\d{1,2}(?::?\d{2})?)?$/;

function validDate(year: number, month: number, day: number): boolean {
  if (year < 1 || year > 9999 || month < 1 || month > 12 || day < 1) return false;
  const next = month === 12 ? daysFromCivil(year + 1, 1, 1) : daysFromCivil(year, month + 1, 1);
  return day <= next - daysFromCivil(year, month, 1);
}

function fractionMicros(text: string | undefined): bigint {
  return text === undefined ? 0n : BigInt(text.padEnd(6, "0"));
}

/** Days since the epoch, or undefined when not a valid BigQuery DATE. */
export function parseDate(text: string): number | undefined {
  const m = DATE_RE.exec(text);
  if (!m) return undefined;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return validDate(year, month, day) ? daysFromCivil(year, month, day) : undefined;
}

/** Microseconds since midnight, or undefined. */
export function parseTime(text: string): bigint | undefined {
  const m = TIME_RE.exec(text);
  if (!m) return undefined;
  const [h, mi, s] = [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
  if (h > 23 || mi > 59 || s > 59) return undefined;
  return BigInt((h * 60 + mi) * 60 + s) * 1_000_000n + fractionMicros(m[4]);
}

/** Microseconds since 1970-01-01T00:00 of a civil date-time, or undefined. */
export function parseDatetime(text: string): bigint | undefined {
  const m = DATETIME_RE.exec(text);
  if (!m) return undefined;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const [h, mi, s] = [Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0)];
  if (!validDate(year, month, day) || h > 23 || mi > 59 || s > 59) return undefined;
  return (
    BigInt(daysFromCivil(year, month, day)) * MICROS_PER_DAY +
    BigInt((h * 60 + mi) * 60 + s) * 1_000_000n +
    fractionMicros(m[7])
  );
}

/** Microseconds since the epoch (UTC), or undefined when not a TIMESTAMP BigQuery can hold. */
export function parseTimestamp(text: string): bigint | undefined {
  const m = TIMESTAMP_RE.exec(text.trim());
  if (!m) return undefined;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const [h, mi, s] = [Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0)];
  if (!validDate(year, month, day) || h > 23 || mi > 59 || s > 59) return undefined;
  let micros =
    BigInt(daysFromCivil(year, month, day)) * MICROS_PER_DAY +
    BigInt((h * 60 + mi) * 60 + s) * 1_000_000n +
    fractionMicros(m[7]);
  const zone = m[8];
  if (zone !== undefined && !/^(Z|z|UTC)$/.test(zone)) {
    const z = /^([+-])(\d{1,2}):?(\d{2})?$/.exec(zone)!;
    const offset = BigInt(Number(z[2]) * 60 + Number(z[3] ?? 0)) * 60_000_000n;
    micros = z[1] === "+" ? micros - offset : micros + offset;
  }
  return micros < MIN_TIMESTAMP_MICROS || micros > MAX_TIMESTAMP_MICROS ? undefined : micros;
}

/**
 * A decimal literal (`-12.50`, `1e3`) as plain canonical text, or undefined when it is not a number.
 * Canonical: no exponent, no leading zeros, no trailing fraction zeros (`12.5`, `1000`, `0`).
 */
export function canonicalDecimal(
  text: string,
): { text: string; integerDigits: number; scale: number } | undefined {
  const m = /^([+-])?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text.trim());
  if (!m || (m[2] === "" && (m[3] ?? "") === "")) return undefined;
  const negative = m[1] === "-";
  let digits = (m[2] ?? "") + (m[3] ?? "");
  let point = (m[2] ?? "").length + Number(m[4] ?? 0);
  if (point < 0) {
    digits = "0".repeat(-point) + digits;
    point = 0;
  }
  if (point > digits.length) digits = digits + "0".repeat(point - digits.length);
  const integer = digits.slice(0, point).replace(/^0+/, "");
  const fraction = digits.slice(point).replace(/0+$/, "");
  const body = `${integer || "0"}${fraction ? `.${fraction}` : ""}`;
  const zero = integer === "" && fraction === "";
  return {
    text: negative && !zero ? `-${body}` : body,
    integerDigits: integer.length,
    scale: fraction.length,
  };
}

export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;

/** DuckDB's own schemas, which a dataset of the same name must not land in. */
const DUCKDB_SCHEMAS = new Set(["main", "temp", "information_schema", "pg_catalog"]);

/**
 * The DuckDB schema holding a dataset: its own name, except for names DuckDB has taken
 * (a dataset called `main` is `main__dataset`).
 */
export function duckdbSchema(datasetId: string): string {
  return DUCKDB_SCHEMAS.has(datasetId.toLowerCase()) ? `${datasetId}__dataset` : datasetId;
}
