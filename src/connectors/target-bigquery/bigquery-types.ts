import type { ColumnType } from "../column-type.js";
import { type ColumnFit, FIDELITY_LOST } from "../loader-core/existing-columns.js";

/**
 * sluice types onto BigQuery types, and the DuckDB SQL that turns a batch field (VARCHAR in the
 * wire form of `batch.ts`) into the NDJSON value a BigQuery load job reads for that type.
 *
 * Choices worth knowing (README "BigQuery" lists them for users):
 * - `numeric(p,s)` becomes NUMERIC(p,s) where BigQuery allows it (s ≤ 9, p − s ≤ 29), else
 *   BIGNUMERIC(p,s) (s ≤ 38, p − s ≤ 38), else, like unconstrained `numeric`, BIGNUMERIC: never
 *   FLOAT64, which would round. Decimals travel as JSON strings, so no digit is lost on the way.
 * - Arrays of one dimension become REPEATED columns of the element type. BigQuery arrays cannot
 *   hold NULL elements, and a NULL array reads back as an empty one. Arrays of several
 *   dimensions become JSON (nested JSON arrays; integer, float and boolean elements as numbers
 *   and booleans, other elements as their text).
 * - `timestamp` becomes DATETIME, `timestamptz` TIMESTAMP. `timetz` becomes STRING (BigQuery has
 *   no time with zone), holding PostgreSQL's text (`12:34:56.789+05:30`).
 * - `interval` becomes STRING in BigQuery's canonical interval text (`1-2 3 4:5:6.5`: years-months,
 *   days, hours:minutes:seconds, each part signed), which `CAST(x AS INTERVAL)` reads.
 * - json, jsonb and hstore become JSON; bytea BYTES; every other type (uuid, inet, geometry,
 *   ranges, bit) STRING in PostgreSQL's text.
 */
export type BigqueryTypeName =
  | "INT64"
  | "NUMERIC"
  | "BIGNUMERIC"
  | "FLOAT64"
  | "BOOL"
  | "STRING"
  | "BYTES"
  | "DATE"
  | "TIME"
  | "DATETIME"
  | "TIMESTAMP"
  | "JSON";

export interface BigqueryColumnType {
  type: BigqueryTypeName;
  mode: "NULLABLE" | "REPEATED" | "REQUIRED";
  precision?: number;
  scale?: number;
  /** STRING(n) or BYTES(n): only ever read from an existing table, never created by sluice. */
  maxLength?: number;
}

/**
 * What to do with a value BigQuery cannot hold: `fail` the batch (the default, naming the
 * column, the value and the row), load `null`, or `clamp` it to the nearest value BigQuery
 * holds (`infinity` dates to 9999-12-31, decimals cut to 38 fraction digits toward zero and to
 * BIGNUMERIC's range, NULL array elements dropped; NaN numeric has no nearest value: NULL).
 */
export type InvalidValuePolicy = "fail" | "null" | "clamp";

export function bigqueryType(type: ColumnType): BigqueryColumnType {
  if (type.kind === "array") {
    if (type.dimensions > 1 || type.element.kind === "array") return { type: "JSON", mode: "NULLABLE" };
    return { ...bigqueryType(type.element), mode: "REPEATED" };
  }
  return { ...scalarType(type), mode: "NULLABLE" };
}

function scalarType(type: ColumnType): Omit<BigqueryColumnType, "mode"> {
  switch (type.kind) {
    case "integer":
      return { type: "INT64" };
    case "decimal": {
      const { precision: p, scale: s } = type;
      if (p === undefined || s === undefined || p < 1 || s < 0 || s > p) return { type: "BIGNUMERIC" };
      if (s <= 9 && p - s <= 29) return { type: "NUMERIC", precision: p, scale: s };
      if (s <= 38 && p - s <= 38) return { type: "BIGNUMERIC", precision: p, scale: s };
      return { type: "BIGNUMERIC" };
    }
    case "float":
      return { type: "FLOAT64" };
    case "boolean":
      return { type: "BOOL" };
    case "json":
      return { type: "JSON" };
    case "date":
      return { type: "DATE" };
    case "time":
      return { type: "TIME" };
    case "timestamp":
      return { type: "DATETIME" };
    case "timestamptz":
      return { type: "TIMESTAMP" };
    case "bytes":
      return { type: "BYTES" };
    case "string":
    case "uuid":
    case "timetz":
    case "interval":
    case "array":
      return { type: "STRING" };
  }
}

/**
 * The type (as DDL spells it) when a MERGE cannot key on a column of `type`, with why: it reduces
 * a batch to one row per key with `PARTITION BY <key>`, which refuses FLOAT64, and matches on
 * `T.key = S.key`, and JSON and ARRAY can be neither grouped nor compared
 * (https://cloud.google.com/bigquery/docs/reference/standard-sql/data-types, "Data type
 * properties"). Undefined for a type a MERGE keys on.
 */
export function unmergeableKey(type: BigqueryColumnType): { type: string; cannot: string } | undefined {
  if (type.mode === "REPEATED") return { type: ddlType(type), cannot: "group or compare" };
  if (type.type === "JSON") return { type: "JSON", cannot: "group or compare" };
  if (type.type === "FLOAT64") return { type: "FLOAT64", cannot: "partition (PARTITION BY)" };
  return undefined;
}

/** The type as GoogleSQL DDL spells it: `NUMERIC(12, 2)`, `ARRAY<INT64>`. */
export function ddlType(type: BigqueryColumnType): string {
  let scalar: string = type.type;
  if (type.precision !== undefined)
    scalar += type.scale !== undefined ? `(${type.precision}, ${type.scale})` : `(${type.precision})`;
  else if (type.maxLength !== undefined) scalar += `(${type.maxLength})`;
  return type.mode === "REPEATED" ? `ARRAY<${scalar}>` : scalar;
}

/** The type as the REST API's TableFieldSchema spells it. */
export function apiField(name: string, type: BigqueryColumnType): TableField {
  return {
    name,
    type: type.type,
    mode: type.mode,
    ...(type.precision !== undefined ? { precision: String(type.precision) } : {}),
    ...(type.scale !== undefined ? { scale: String(type.scale) } : {}),
  };
}

/** The part of the REST API's TableFieldSchema sluice reads and writes. */
export interface TableField {
  name: string;
  type: string;
  mode?: string;
  precision?: string;
  scale?: string;
  maxLength?: string;
}

const API_TYPE_NAMES: Record<string, BigqueryTypeName> = {
  INTEGER: "INT64",
  INT64: "INT64",
  FLOAT: "FLOAT64",
  FLOAT64: "FLOAT64",
  BOOLEAN: "BOOL",
  BOOL: "BOOL",
  NUMERIC: "NUMERIC",
  BIGNUMERIC: "BIGNUMERIC",
  STRING: "STRING",
  BYTES: "BYTES",
  DATE: "DATE",
  TIME: "TIME",
  DATETIME: "DATETIME",
  TIMESTAMP: "TIMESTAMP",
  JSON: "JSON",
};

/** A field read from a table's metadata; undefined for types sluice never writes (RECORD, GEOGRAPHY). */
export function parseApiField(field: TableField): BigqueryColumnType | undefined {
  const type = API_TYPE_NAMES[field.type.toUpperCase()];
  if (!type) return undefined;
  const mode = (field.mode ?? "NULLABLE").toUpperCase() as BigqueryColumnType["mode"];
  const result: BigqueryColumnType = { type, mode };
  if (field.precision !== undefined) result.precision = Number(field.precision);
  if (field.scale !== undefined) result.scale = Number(field.scale);
  if (field.maxLength !== undefined) result.maxLength = Number(field.maxLength);
  return result;
}

/** Integer and fraction digits a decimal type holds (BigQuery's defaults when unparameterised). */
function decimalDigits(type: BigqueryColumnType): { integer: number; fraction: number } {
  if (type.type === "INT64") return { integer: 19, fraction: 0 };
  const scale = type.scale ?? (type.precision !== undefined ? 0 : type.type === "NUMERIC" ? 9 : 38);
  const precision = type.precision ?? (type.type === "NUMERIC" ? 38 : 76);
  return { integer: precision - scale, fraction: scale };
}

/**
 * What to do with an existing column when the source asks for `wanted`:
 * - `keep`: the column already holds every value of the new type (the same type, a NUMERIC(20,2)
 *   for a source narrowed to numeric(10,2), BIGNUMERIC for an integer);
 * - `widen` to `to`: BigQuery widens it in place (`ALTER COLUMN SET DATA TYPE`) to a type holding
 *   both the old values and the new type's (INT64 to NUMERIC(21,2) for numeric(12,2), NUMERIC to
 *   BIGNUMERIC, STRING(n) to STRING): no value changes;
 * - `incompatible`: anything else (a SchemaError: the table must be rebuilt).
 * A REQUIRED column of an existing table stays REQUIRED: NULLs then fail the load job.
 */
export function evolveType(
  existing: BigqueryColumnType,
  wanted: BigqueryColumnType,
): { action: "keep" } | { action: "widen"; to: BigqueryColumnType } | { action: "incompatible" } {
  const existingMode = existing.mode === "REQUIRED" ? "NULLABLE" : existing.mode;
  if (existingMode !== wanted.mode) return { action: "incompatible" };
  if (ddlType({ ...existing, mode: wanted.mode }) === ddlType(wanted)) return { action: "keep" };
  const numeric = new Set<BigqueryTypeName>(["INT64", "NUMERIC", "BIGNUMERIC"]);
  if (numeric.has(existing.type) && numeric.has(wanted.type)) {
    const have = decimalDigits(existing);
    const want = decimalDigits(wanted);
    if (have.integer >= want.integer && have.fraction >= want.fraction) return { action: "keep" };
    // NOTE: BigQuery widens INT64 → NUMERIC → BIGNUMERIC in place, never back; ARRAY elements not at all.
    if (wanted.mode === "REPEATED") return { action: "incompatible" };
    const integer = Math.max(have.integer, want.integer);
    const fraction = Math.max(have.fraction, want.fraction);
    const mode = existing.mode;
    if (integer === want.integer && fraction === want.fraction && wanted.type !== "INT64")
      return { action: "widen", to: { ...wanted, mode } };
    if (fraction <= 9 && integer <= 29)
      return {
        action: "widen",
        to: { type: "NUMERIC", mode, precision: integer + fraction, scale: fraction },
      };
    if (fraction <= 38 && integer <= 38)
      return {
        action: "widen",
        to: { type: "BIGNUMERIC", mode, precision: integer + fraction, scale: fraction },
      };
    return { action: "widen", to: { type: "BIGNUMERIC", mode } };
  }
  if (existing.type === wanted.type && (existing.type === "STRING" || existing.type === "BYTES")) {
    if (existing.maxLength === undefined) return { action: "keep" };
    if (wanted.maxLength !== undefined && existing.maxLength >= wanted.maxLength) return { action: "keep" };
    if (wanted.mode === "REPEATED") return { action: "incompatible" };
    return { action: "widen", to: { ...wanted, mode: existing.mode } };
  }
  return { action: "incompatible" };
}

/** Largest BIGNUMERIC (2^255 − 1) / 10^38, as 39 integer and 38 fraction digits; the smallest is −(that + 10^-38). */
export const BIGNUMERIC_MAX =
  "578960446186580977117854925043439539266.34992332820282019728792003956564819967";
const BIGNUMERIC_MAX_DIGITS = BIGNUMERIC_MAX.replace(".", "");
const BIGNUMERIC_MIN_DIGITS = BIGNUMERIC_MAX_DIGITS.slice(0, -1) + "8";

/**
 * DuckDB macros the conversions call, created once per DuckDB connection. Each `*_ok` macro says
 * whether BigQuery holds a value in the batch's text form.
 */
export const DUCKDB_MACROS: readonly string[] = [
  // Decimal text `-12.50`: digits padded to 39 + 38 and compared as strings with BIGNUMERIC's bounds.
  `CREATE OR REPLACE MACRO sluice_bignumeric_ok(x) AS (
    regexp_full_match(x, '-?[0-9]+(\\.[0-9]*)?')
    AND length(regexp_replace(regexp_extract(x, '\\.([0-9]*)', 1), '0+$', '')) <= 38
    AND length(ltrim(regexp_extract(x, '^-?([0-9]+)', 1), '0')) <= 39
    AND lpad(ltrim(regexp_extract(x, '^-?([0-9]+)', 1), '0'), 39, '0')
        || rpad(left(regexp_extract(x, '\\.([0-9]*)', 1), 38), 38, '0')
        <= CASE WHEN x LIKE '-%' THEN '${BIGNUMERIC_MIN_DIGITS}' ELSE '${BIGNUMERIC_MAX_DIGITS}' END)`,
  // The nearest BIGNUMERIC toward zero: ±max beyond the range, else the first 38 fraction digits.
  `CREATE OR REPLACE MACRO sluice_bignumeric_clamp(x) AS (
    CASE
      WHEN x = 'NaN' THEN NULL
      WHEN x = 'Infinity' THEN '${BIGNUMERIC_MAX}'
      WHEN x = '-Infinity' THEN '-${BIGNUMERIC_MAX}'
      WHEN length(ltrim(regexp_extract(x, '^-?([0-9]+)', 1), '0')) > 39
        OR lpad(ltrim(regexp_extract(x, '^-?([0-9]+)', 1), '0'), 39, '0')
           || rpad(left(regexp_extract(x, '\\.([0-9]*)', 1), 38), 38, '0')
           > CASE WHEN x LIKE '-%' THEN '${BIGNUMERIC_MIN_DIGITS}' ELSE '${BIGNUMERIC_MAX_DIGITS}' END
        THEN CASE WHEN x LIKE '-%' THEN '-' ELSE '' END || '${BIGNUMERIC_MAX}'
      ELSE regexp_extract(x, '^-?[0-9]+', 0)
        || CASE WHEN x LIKE '%.%' THEN '.' || left(regexp_extract(x, '\\.([0-9]*)', 1), 38) ELSE '' END
    END)`,
  `CREATE OR REPLACE MACRO sluice_date_ok(x) AS regexp_full_match(x, '[0-9]{4}-[0-9]{2}-[0-9]{2}')`,
  `CREATE OR REPLACE MACRO sluice_datetime_ok(x) AS
    regexp_full_match(x, '[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?')`,
  `CREATE OR REPLACE MACRO sluice_timestamp_ok(x) AS
    regexp_full_match(x, '[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?[+-][0-9]{2}(:[0-9]{2})?')`,
  // Below the range: `-infinity` and BC; above: `infinity` and years past 9999.
  `CREATE OR REPLACE MACRO sluice_is_low(x) AS (x = '-infinity' OR x LIKE '% BC')`,
  `CREATE OR REPLACE MACRO sluice_time_ok(x) AS
    regexp_full_match(x, '[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?') AND x < '24'`,
  // `<months> months <days> days <microseconds> microseconds` → BigQuery's `Y-M D H:M:S[.F]`.
  `CREATE OR REPLACE MACRO sluice_interval_months(x) AS CAST(regexp_extract(x, '^(-?[0-9]+) months', 1) AS BIGINT)`,
  `CREATE OR REPLACE MACRO sluice_interval_micros(x) AS CAST(regexp_extract(x, '(-?[0-9]+) microseconds$', 1) AS BIGINT)`,
  `CREATE OR REPLACE MACRO sluice_interval_text(x) AS
    CASE WHEN sluice_interval_months(x) < 0 THEN '-' ELSE '' END
    || (abs(sluice_interval_months(x)) // 12) || '-' || (abs(sluice_interval_months(x)) % 12)
    || ' ' || regexp_extract(x, ' (-?[0-9]+) days', 1) || ' '
    || CASE WHEN sluice_interval_micros(x) < 0 THEN '-' ELSE '' END
    || (abs(sluice_interval_micros(x)) // 3600000000) || ':'
    || ((abs(sluice_interval_micros(x)) // 60000000) % 60) || ':'
    || ((abs(sluice_interval_micros(x)) // 1000000) % 60)
    || CASE WHEN abs(sluice_interval_micros(x)) % 1000000 = 0 THEN ''
       ELSE '.' || rtrim(lpad(CAST(abs(sluice_interval_micros(x)) % 1000000 AS VARCHAR), 6, '0'), '0') END`,
];

/** What a conversion needs to report a value it cannot convert. */
export interface ConversionContext {
  policy: InvalidValuePolicy;
  /** The BigQuery column, for the message. */
  column: string;
  /** SQL for a text describing the row (`'row ' || _sluice_row`), for the message. */
  rowDescription: string;
}

/**
 * DuckDB SQL turning the VARCHAR expression `x` (a batch field) into the value DuckDB's JSON
 * writer must emit for the column's BigQuery type. A value BigQuery cannot hold goes through
 * `policy`: with `fail`, DuckDB's `error()` stops the conversion with a message naming the
 * column, the value and the row.
 */
export function ndjsonConversion(x: string, type: ColumnType, context: ConversionContext): string {
  if (type.kind === "array") return arrayConversion(x, type, context);
  return scalarConversion(x, type, context);
}

function guard(
  x: string,
  ok: string,
  converted: string,
  clamped: string,
  context: ConversionContext,
): string {
  const fallback =
    context.policy === "null"
      ? "NULL"
      : context.policy === "clamp"
        ? clamped
        : `error('sluice: column "${context.column}" (' || ${context.rowDescription} || '): BigQuery cannot hold the value "' || left(${x}, 100) || '" (setting invalid_values: fail; null or clamp load it otherwise)')`;
  return `CASE WHEN ${x} IS NULL THEN NULL WHEN ${ok} THEN ${converted} ELSE ${fallback} END`;
}

function scalarConversion(x: string, type: ColumnType, context: ConversionContext): string {
  const bq = scalarType(type);
  switch (type.kind) {
    case "integer":
      return `CAST(${x} AS BIGINT)`;
    case "decimal": {
      if (bq.precision === undefined)
        // Valid values go through the clamp too: it drops fraction zeros past the 38th digit.
        return guard(
          x,
          `sluice_bignumeric_ok(${x})`,
          `sluice_bignumeric_clamp(${x})`,
          `sluice_bignumeric_clamp(${x})`,
          context,
        );
      // A bounded column holds every value PostgreSQL's numeric(p,s) holds, except NaN and infinity.
      const scale = bq.scale ?? 0;
      const max = "9".repeat(bq.precision - scale) + (scale > 0 ? "." + "9".repeat(scale) : "");
      const clamped = `CASE WHEN ${x} = 'Infinity' THEN '${max}' WHEN ${x} = '-Infinity' THEN '-${max}' END`;
      return guard(x, `${x} NOT IN ('NaN', 'Infinity', '-Infinity')`, x, clamped, context);
    }
    case "float":
      // JSON has no NaN or infinity; BigQuery reads them from the strings "NaN", "Infinity", "-Infinity".
      return `CASE WHEN ${x} IN ('NaN', 'Infinity', '-Infinity') THEN to_json(${x}) ELSE CAST(${x} AS JSON) END`;
    case "boolean":
      return `(${x} = 't')`;
    case "json":
      return `CAST(${x} AS JSON)`;
    case "bytes":
      return `to_base64(unhex(${x}))`;
    case "date":
      return guard(
        x,
        `sluice_date_ok(${x})`,
        x,
        `CASE WHEN sluice_is_low(${x}) THEN '0001-01-01' ELSE '9999-12-31' END`,
        context,
      );
    case "timestamp":
      return guard(
        x,
        `sluice_datetime_ok(${x})`,
        x,
        `CASE WHEN sluice_is_low(${x}) THEN '0001-01-01 00:00:00' ELSE '9999-12-31 23:59:59.999999' END`,
        context,
      );
    case "timestamptz":
      return guard(
        x,
        `sluice_timestamp_ok(${x})`,
        `regexp_replace(${x}, '([+-][0-9]{2})$', '\\1:00')`,
        `CASE WHEN sluice_is_low(${x}) THEN '0001-01-01 00:00:00+00:00' ELSE '9999-12-31 23:59:59.999999+00:00' END`,
        context,
      );
    case "time":
      return guard(x, `sluice_time_ok(${x})`, x, `'23:59:59.999999'`, context);
    case "interval":
      return `sluice_interval_text(${x})`;
    case "string":
    case "uuid":
    case "timetz":
    case "array":
      return x;
  }
}

function arrayConversion(
  x: string,
  type: Extract<ColumnType, { kind: "array" }>,
  context: ConversionContext,
): string {
  const texts = `CAST(CAST(${x} AS JSON) AS VARCHAR${"[]".repeat(type.dimensions)})`;
  if (bigqueryType(type).type === "JSON") return arrayJson(x, type);
  const element = scalarConversion("v", type.element, context);
  const list = element === "v" ? texts : `list_transform(${texts}, v -> ${element})`;
  // BigQuery arrays hold no NULL element: a NULL in the source array goes through the policy.
  const hasNull = `list_bool_or(list_transform(l, e -> e IS NULL))`;
  const onNull =
    context.policy === "null"
      ? "NULL"
      : context.policy === "clamp"
        ? "list_filter(l, e -> e IS NOT NULL)"
        : `error('sluice: column "${context.column}" (' || ${context.rowDescription} || '): BigQuery arrays cannot hold a NULL element: "' || left(${x}, 100) || '" (setting invalid_values: fail; null loads NULL, clamp drops NULL elements)')`;
  // A one-element list binds the converted list to `l` (DuckDB has no LET).
  return `list_transform([${list}], l -> CASE WHEN coalesce(${hasNull}, false) THEN ${onNull} ELSE l END)[1]`;
}

/** An array as JSON (nested arrays; integer and boolean elements typed, the rest as their text). */
function arrayJson(x: string, type: Extract<ColumnType, { kind: "array" }>): string {
  const element = type.element.kind;
  const depth = "[]".repeat(type.dimensions);
  if (element === "integer") return `CAST(CAST(CAST(${x} AS JSON) AS BIGINT${depth}) AS JSON)`;
  if (element === "boolean") return `CAST(replace(replace(${x}, '"t"', 'true'), '"f"', 'false') AS JSON)`;
  return `CAST(${x} AS JSON)`;
}

/**
 * A column of an existing table as `WarehouseTables.columns` gives it: its DDL type
 * (`NUMERIC(12, 2)`, `ARRAY<STRING>`), or the API's name for types sluice never writes (`RECORD`).
 */
export function columnText(field: TableField): string {
  const type = parseApiField(field);
  if (type === undefined)
    return field.mode?.toUpperCase() === "REPEATED" ? `ARRAY<${field.type}>` : field.type;
  return ddlType({ ...type, mode: type.mode === "REQUIRED" ? "NULLABLE" : type.mode });
}

/** `columnText` read back; undefined for types sluice never writes. */
export function parseColumnText(text: string): BigqueryColumnType | undefined {
  const array = /^ARRAY<(.*)>$/i.exec(text.trim());
  const scalar = /^([A-Z0-9]+)(?:\((\d+)(?:,\s*(\d+))?\))?$/i.exec(array ? array[1]! : text.trim());
  if (!scalar) return undefined;
  const name = API_TYPE_NAMES[scalar[1]!.toUpperCase()];
  if (!name) return undefined;
  const type: BigqueryColumnType = { type: name, mode: array ? "REPEATED" : "NULLABLE" };
  if (scalar[2] !== undefined) {
    if (name === "STRING" || name === "BYTES") type.maxLength = Number(scalar[2]);
    else type.precision = Number(scalar[2]);
  }
  if (scalar[3] !== undefined) type.scale = Number(scalar[3]);
  return type;
}

/**
 * Whether a column of another target's table, of type `current` (`columnText`), holds values of
 * `type` (existing-columns.ts), and what it loses. The shapes that matter are adswerve
 * target-bigquery's: STRING for anything without a JSON Schema type of its own (uuids, and
 * arrays or objects it could not type), FLOAT or NUMERIC for numbers, INTEGER, BOOLEAN,
 * TIMESTAMP for every date-time, DATE, and REPEATED fields for arrays. z3z1ma's target-bigquery
 * with `denormalized: true` makes the same kinds of columns; by default it loads one JSON `data`
 * column, which shares no column with the stream: the stream's columns are added beside it.
 */
export function bigqueryColumnFit(type: ColumnType, current: string): ColumnFit {
  const wanted = bigqueryType(type);
  const have = parseColumnText(current);
  const refused = (why = `it cannot hold every ${ddlType(wanted)} value`): ColumnFit => ({
    fits: "refused",
    reason: why,
  });
  if (have === undefined) return refused(`sluice does not load into ${current} columns`);
  if (evolveType(have, wanted).action === "keep") return { fits: "same" };
  if (have.maxLength !== undefined) return refused(`values may be longer than ${have.maxLength}`);
  if (have.mode === "REPEATED") {
    if (type.kind === "array" && wanted.mode === "REPEATED" && have.type === "STRING")
      return { fits: "holds", loss: "elements kept as their text" };
    return refused();
  }
  if (wanted.mode === "REPEATED" || type.kind === "array") {
    if (have.type === "STRING") return { fits: "holds", loss: "kept as JSON text" };
    if (have.type === "JSON") return { fits: "holds", loss: FIDELITY_LOST.jsonArray };
    return refused();
  }
  switch (have.type) {
    case "STRING":
      if (type.kind === "json") return { fits: "holds", loss: "kept as JSON text" };
      if (type.kind === "bytes") return { fits: "holds", loss: "kept as hex text" };
      return { fits: "holds", loss: FIDELITY_LOST.text };
    case "FLOAT64":
      if (type.kind === "integer")
        return type.bits <= 32
          ? { fits: "holds" }
          : { fits: "holds", loss: FIDELITY_LOST.integersBeyond2To53 };
      if (type.kind === "decimal")
        return {
          fits: "holds",
          loss: `${FIDELITY_LOST.float64}; a value beyond FLOAT64's range fails the batch`,
        };
      return refused();
    case "NUMERIC":
    case "BIGNUMERIC": {
      if (type.kind !== "decimal" && type.kind !== "float") return refused();
      const digits = decimalDigits(have);
      // Rounded by DuckDB, whose DECIMAL has at most 38 digits.
      if (digits.integer + digits.fraction > 38) return refused();
      return {
        fits: "holds",
        loss: `rounded to ${digits.fraction} fraction digits; a value of more than ${digits.integer} integer digits${type.kind === "float" ? ", NaN or infinity" : ""} fails the batch`,
      };
    }
    case "TIMESTAMP":
      if (type.kind === "timestamp") return { fits: "holds", loss: FIDELITY_LOST.readAsUtc };
      return refused();
    default:
      return refused();
  }
}

/**
 * DuckDB SQL turning the batch field `x` (a value of `type`) into the NDJSON value of a kept
 * column of type `current` (see `bigqueryColumnFit`): text for STRING, JSON arrays for JSON,
 * numbers rounded to the column's digits. A value the column cannot hold fails the batch naming
 * the column.
 */
export function bigqueryKeptValue(
  x: string,
  type: ColumnType,
  current: string,
  context: ConversionContext,
): string {
  const have = parseColumnText(current);
  if (have === undefined) throw new Error(`sluice: no conversion to ${current}`);
  const cannot = (why: string): string =>
    `error('sluice: column "${context.column}" (${current}, ' || ${context.rowDescription} || '): cannot hold the value "' || left(${x}, 100) || '" (${why}: another target made the column, kept with existing_tables: continue; existing_tables: rebuild with --full-refresh gives the table sluice''s types)')`;
  if (type.kind === "array") {
    if (have.mode === "REPEATED")
      return arrayConversion(x, { ...type, element: { kind: "string", sqlType: "text" } }, context);
    const json = arrayJson(x, type);
    return have.type === "JSON" ? json : `CAST(${json} AS VARCHAR)`;
  }
  switch (have.type) {
    case "STRING":
      if (type.kind === "boolean")
        return `CASE ${x} WHEN 't' THEN 'true' WHEN 'f' THEN 'false' ELSE ${x} END`;
      return x;
    case "FLOAT64": {
      if (type.kind === "integer") return `CAST(${x} AS DOUBLE)`;
      // NOTE: DuckDB casts a decimal text beyond DOUBLE's range to infinity without a word.
      const cast = `CAST(${x} AS DOUBLE)`;
      return `CASE WHEN ${x} IS NULL THEN NULL WHEN ${x} IN ('NaN', 'Infinity', '-Infinity') THEN to_json(${x}) WHEN isinf(${cast}) THEN ${cannot("out of range")} ELSE CAST(${cast} AS JSON) END`;
    }
    case "NUMERIC":
    case "BIGNUMERIC": {
      const digits = decimalDigits(have);
      const decimal = `DECIMAL(${digits.integer + digits.fraction}, ${digits.fraction})`;
      return `CASE WHEN ${x} IS NULL THEN NULL WHEN TRY_CAST(${x} AS ${decimal}) IS NULL THEN ${cannot(`beyond ${ddlType(have)}`)} ELSE CAST(CAST(${x} AS ${decimal}) AS VARCHAR) END`;
    }
    case "TIMESTAMP":
      return `(${scalarConversion(x, type, context)}) || '+00:00'`;
    default:
      return scalarConversion(x, type, context);
  }
}
