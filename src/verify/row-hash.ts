import type { Column, ColumnType } from "../connectors/column-type.js";

/** The SQL engines a stream can be verified in. The BigQuery emulator speaks `bigquery` too. */
export type VerifyDialect = "postgres" | "duckdb" | "bigquery";

/**
 * A per-row hash that comes out identical in PostgreSQL and in the warehouse the row was loaded
 * into: every column is turned into a canonical text (type-aware, below), the texts are joined
 * with U+001E (a NULL is U+001F) and hashed with MD5. The first 15 hex digits of the hash, as a
 * 60-bit integer, are what range checksums XOR together (`bit_xor` exists in every engine and,
 * unlike a sum, cannot overflow).
 *
 * Canonical texts by kind (the same text in every engine):
 * - integer, boolean (`true`/`false`), uuid (lower-case), string (the source's text output):
 *   the value's text.
 * - decimal: its text without trailing fractional zeros (`1.50` and `1.5` are one value; DuckDB
 *   and BigQuery keep the declared scale, unconstrained numeric keeps what was written).
 * - float: the shortest round-trip text in lower case, with DuckDB's `1.0` written as PostgreSQL's
 *   `1` and `Infinity` as `inf`.
 * - date: days since 1970-01-01; timestamp and timestamptz: microseconds since the epoch (UTC),
 *   so BC dates and time zones need no formatting rules.
 * - bytes: lower-case hex.
 * - json: the text with all white space removed (WEAKER: a change of white space inside a JSON
 *   string is not seen). PostgreSQL's jsonb text is what was loaded, so key order agrees.
 * - array: the JSON text of the array without white space (WEAKER, as json).
 * - time: microseconds since midnight; timetz: its text; interval: months, days and microseconds.
 * - With BigQuery on one side, json, arrays, time, timetz and interval: NOT canonical there yet,
 *   only NULL versus not NULL counts (WEAKER).
 */
export function canonicalExpression(
  dialect: VerifyDialect,
  column: string,
  type: ColumnType,
  peer: VerifyDialect = dialect,
): string {
  if (presenceOnly(type, dialect, peer)) {
    return `CASE WHEN ${column} IS NULL OR ${emptyInBigquery(dialect, column, type)} THEN NULL ELSE 'x' END`;
  }
  switch (type.kind) {
    case "integer":
    case "boolean":
    case "uuid":
      return text(dialect, column);
    case "string":
      // format('%s') uses the type's output function: char(n) keeps its padding, as COPY does.
      return dialect === "postgres"
        ? `CASE WHEN ${column} IS NULL THEN NULL ELSE format('%s', ${column}) END`
        : text(dialect, column);
    case "decimal": {
      const t = text(
        dialect,
        dialect === "postgres" && type.sqlType === "money" ? `${column}::numeric` : column,
      );
      return `CASE WHEN ${t} LIKE '%.%' THEN rtrim(rtrim(${t}, '0'), '.') ELSE ${t} END`;
    }
    case "float": {
      // NOTE: DuckDB prints NaN and infinities as `nan` and `inf`, PostgreSQL as `NaN` and `Infinity`.
      const t = `replace(lower(${text(dialect, column)}), 'infinity', 'inf')`;
      return `CASE WHEN ${t} LIKE '%.0' THEN substr(${t}, 1, length(${t}) - 2) ELSE ${t} END`;
    }
    case "date":
      switch (dialect) {
        case "postgres":
          return `CASE WHEN isfinite(${column}) THEN (${column} - date '1970-01-01')::text ELSE ${column}::text END`;
        case "duckdb":
          return `CASE WHEN isfinite(${column}) THEN CAST(${column} - DATE '1970-01-01' AS VARCHAR) ELSE CAST(${column} AS VARCHAR) END`;
        case "bigquery":
          return `CAST(UNIX_DATE(${column}) AS STRING)`;
      }
      break;
    case "timestamp":
    case "timestamptz":
      switch (dialect) {
        case "postgres":
          return `CASE WHEN isfinite(${column}) THEN (extract(epoch from ${column}) * 1000000)::bigint::text ELSE ${column}::text END`;
        case "duckdb":
          // NOTE: epoch_us of an infinite timestamp is NULL; both engines print `infinity`.
          return `CASE WHEN isfinite(${column}) THEN CAST(epoch_us(${column}) AS VARCHAR) ELSE CAST(${column} AS VARCHAR) END`;
        case "bigquery":
          return type.kind === "timestamp"
            ? `CAST(UNIX_MICROS(TIMESTAMP(${column})) AS STRING)`
            : `CAST(UNIX_MICROS(${column}) AS STRING)`;
      }
      break;
    case "bytes":
      switch (dialect) {
        case "postgres":
          return `encode(${column}, 'hex')`;
        case "duckdb":
          return `lower(hex(${column}))`;
        case "bigquery":
          return `TO_HEX(${column})`;
      }
      break;
    case "json": {
      const source =
        dialect === "postgres"
          ? type.sqlType === "hstore"
            ? `${column}::json::text`
            : `${column}::text`
          : text(dialect, column);
      return withoutWhiteSpace(dialect, source);
    }
    case "array": {
      const json =
        dialect === "postgres"
          ? `array_to_json(${column})::text`
          : dialect === "duckdb"
            ? `CAST(to_json(${column}) AS VARCHAR)`
            : `TO_JSON_STRING(${column})`;
      return withoutWhiteSpace(dialect, json);
    }
    case "time":
      // Microseconds since midnight (PostgreSQL's 24:00:00 included).
      return dialect === "postgres"
        ? `(extract(epoch from ${column}) * 1000000)::bigint::text`
        : `CAST(epoch_us(DATE '1970-01-01' + ${column}) AS VARCHAR)`;
    case "timetz":
      return text(dialect, column);
    case "interval": {
      // Months, days and microseconds, kept apart as both engines store them.
      const part = (p: string): string =>
        dialect === "postgres" ? `extract(${p} from ${column})` : `datepart('${p}', ${column})`;
      const months = `${part("year")} * 12 + ${part("month")}`;
      const micros = `${part("hour")} * 3600000000 + ${part("minute")} * 60000000 + ${part("microseconds")}`;
      return dialect === "postgres"
        ? `((${months})::bigint || ' ' || ${part("day")}::bigint || ' ' || (${micros})::bigint)`
        : `(CAST(${months} AS BIGINT) || ' ' || CAST(${part("day")} AS BIGINT) || ' ' || CAST(${micros} AS BIGINT))`;
    }
  }
  return text(dialect, column);
}

/**
 * Kinds compared by NULL versus not NULL only, for a pair of engines: time, timetz and interval
 * everywhere; json and arrays with BigQuery too (its JSON type reorders keys, and arrays lose
 * NULL elements and change element texts).
 */
function presenceOnly(type: ColumnType, dialect: VerifyDialect, peer: VerifyDialect): boolean {
  const weakInBigquery = ["json", "array", "time", "timetz", "interval"];
  return weakInBigquery.includes(type.kind) && (dialect === "bigquery" || peer === "bigquery");
}

/**
 * NOTE: BigQuery holds no NULL array (a REPEATED column is empty instead) and loads a JSON
 * `null` as SQL NULL: with BigQuery on either side, those count as NULL.
 */
function emptyInBigquery(dialect: VerifyDialect, column: string, type: ColumnType): string {
  if (type.kind === "json") {
    return dialect === "bigquery"
      ? `TO_JSON_STRING(${column}) = 'null'`
      : `${text(dialect, column)} = 'null'`;
  }
  if (type.kind === "array") {
    // An array of several dimensions is a JSON column in BigQuery.
    const nested = type.dimensions > 1 || type.element.kind === "array";
    return dialect === "bigquery"
      ? nested
        ? `TO_JSON_STRING(${column}) IN ('null', '[]')`
        : `ARRAY_LENGTH(${column}) = 0`
      : dialect === "postgres"
        ? `cardinality(${column}) = 0`
        : `len(${column}) = 0`;
  }
  return "false";
}

/** Columns whose comparison is weaker than their value (see `canonicalExpression`). */
export function inexactKinds(columns: readonly Column[], dialects: readonly VerifyDialect[]): string[] {
  const weak = new Set(
    dialects.includes("bigquery") ? ["json", "array", "time", "timetz", "interval"] : ["json", "array"],
  );
  return columns.filter((c) => weak.has(c.type.kind)).map((c) => `${c.name} (${c.type.kind})`);
}

function text(dialect: VerifyDialect, expression: string): string {
  switch (dialect) {
    case "postgres":
      return `(${expression})::text`;
    case "duckdb":
      return `CAST(${expression} AS VARCHAR)`;
    case "bigquery":
      return `CAST(${expression} AS STRING)`;
  }
}

function withoutWhiteSpace(dialect: VerifyDialect, expression: string): string {
  return dialect === "bigquery"
    ? `REGEXP_REPLACE(${expression}, r'\\s', '')`
    : `regexp_replace(${expression}, '\\s', '', 'g')`;
}

/** The MD5 hex digest of a row's canonical text. */
export function rowHashExpression(
  dialect: VerifyDialect,
  columns: readonly Column[],
  quote: (name: string) => string,
  peer: VerifyDialect = dialect,
): string {
  const separator = dialect === "bigquery" ? "CODE_POINTS_TO_STRING([30])" : "chr(30)";
  const nullMarker = dialect === "bigquery" ? "CODE_POINTS_TO_STRING([31])" : "chr(31)";
  const parts = columns.map(
    (c) => `coalesce(${canonicalExpression(dialect, quote(c.name), c.type, peer)}, ${nullMarker})`,
  );
  if (dialect === "bigquery") return `TO_HEX(MD5(ARRAY_TO_STRING([${parts.join(", ")}], ${separator})))`;
  return `md5(concat_ws(${separator}, ${parts.join(", ")}))`;
}

/** The first 15 hex digits of a hash as a signed 64-bit integer (always positive: 60 bits). */
export function hashBitsExpression(dialect: VerifyDialect, hash: string): string {
  switch (dialect) {
    case "postgres":
      return `('x' || substr(${hash}, 1, 15))::bit(60)::bigint`;
    case "duckdb":
      return `CAST('0x' || substr(${hash}, 1, 15) AS BIGINT)`;
    case "bigquery":
      return `CAST(CONCAT('0x', SUBSTR(${hash}, 1, 15)) AS INT64)`;
  }
}

/** An expression as text, for reading results without engine-specific value types. */
export function asText(dialect: VerifyDialect, expression: string): string {
  return text(dialect, expression);
}
