import type { Column, ColumnType } from "../connectors/column-type.js";

/** The SQL engines a stream can be verified in. The BigQuery emulator speaks `bigquery` too. */
export type VerifyDialect = "postgres" | "duckdb" | "bigquery";

/**
 * A per-row hash that comes out identical in PostgreSQL and in the warehouse the row was loaded
 * into: every column is turned into a canonical text (type-aware, below), the texts are joined
 * without ambiguity (`rowHashExpression`) and hashed with MD5. The first 15 hex digits of the hash, as a
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
      // NOTE: a composite whose fields are all NULL (`ROW(NULL, NULL)`) IS NULL in PostgreSQL
      // although it is a value, `(,)`; its text is NULL only when the value is.
      return dialect === "postgres"
        ? `CASE WHEN (${column})::text IS NULL THEN NULL ELSE format('%s', ${column}) END`
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

/**
 * PostgreSQL arrays carry their subscripts (`'[0:1]={1,2}'` is not `'{1,2}'`), and no warehouse
 * holds them: a batch carries an array as JSON, its elements only, and every warehouse's arrays
 * start at 1. So arrays are compared by their elements and nesting (`canonicalExpression`), and
 * the rows whose arrays start elsewhere are counted on the source and reported as a type-fidelity
 * fact, not as changed rows.
 */
export function notHeldExpressions(
  dialect: VerifyDialect,
  columns: readonly Column[],
  quote: (name: string) => string,
): { count: string; describe: (rows: number) => string }[] {
  if (dialect !== "postgres") return [];
  return columns
    .filter((c) => c.type.kind === "array")
    .map((c) => ({
      // array_dims is NULL for an empty array, `[1:2][1:3]` for one that starts at 1.
      count: `count(*) FILTER (WHERE array_dims(${quote(c.name)}) !~ '^(\\[1:[0-9]+\\])+$')`,
      describe: (rows) =>
        `${c.name}: ${rows} row(s) hold arrays whose subscripts do not start at 1; the warehouse holds their elements from 1 (compared by elements)`,
    }));
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

/**
 * The MD5 hex digest of a row's canonical text.
 *
 * Each column's canonical text is written as `<length>:<text>` (its length in characters), a
 * NULL as U+001F alone, and the fields are joined with U+001E. The encoding is injective: a
 * field starts with a digit or is U+001F, and its length says where it ends, so a value holding
 * U+001E, U+001F or `:` cannot shift a boundary and two different rows never give one text
 * (`('a\x1eb', 'c')` and `('a', 'b\x1ec')` differ). PostgreSQL's fields are joined from an array, not by
 * `concat_ws`: it passes at most 100 arguments to a function, and a table has up to 1,600 columns.
 */
export function rowHashExpression(
  dialect: VerifyDialect,
  columns: readonly Column[],
  quote: (name: string) => string,
  peer: VerifyDialect = dialect,
): string {
  const separator = dialect === "bigquery" ? "CODE_POINTS_TO_STRING([30])" : "chr(30)";
  const nullMarker = dialect === "bigquery" ? "CODE_POINTS_TO_STRING([31])" : "chr(31)";
  const parts = columns.map((c) => {
    const value = canonicalExpression(dialect, quote(c.name), c.type, peer);
    const field =
      dialect === "bigquery"
        ? `CONCAT(CAST(LENGTH(${value}) AS STRING), ':', ${value})`
        : `${text(dialect, `length(${value})`)} || ':' || ${value}`;
    // Concatenation with a NULL is NULL in all three engines, so a NULL value becomes the marker;
    // the value is computed twice. NOTE: DuckDB binds 1,600 such coalesces many times slower
    // than the same CASE (which computes it three times).
    return dialect === "duckdb"
      ? `CASE WHEN ${value} IS NULL THEN ${nullMarker} ELSE ${field} END`
      : `coalesce(${field}, ${nullMarker})`;
  });
  switch (dialect) {
    case "bigquery":
      return `TO_HEX(MD5(ARRAY_TO_STRING([${parts.join(", ")}], ${separator})))`;
    case "postgres":
      return `md5(array_to_string(ARRAY[${parts.join(", ")}]::text[], ${separator}))`;
    case "duckdb": {
      // NOTE: DuckDB binds one call of 1,600 arguments (or a list of 1,600) many times slower
      // than 32 calls of 50 joined with the same separator, which give the same text.
      const groups: string[] = [];
      for (let i = 0; i < parts.length; i += 50) {
        groups.push(`concat_ws(${separator}, ${parts.slice(i, i + 50).join(", ")})`);
      }
      return `md5(${groups.length === 1 ? groups[0]! : `concat_ws(${separator}, ${groups.join(", ")})`})`;
    }
  }
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
