import { COPY_TEXT_ESCAPES } from "../batch.js";
import type { ColumnType } from "../column-type.js";
import { type ColumnFit, FIDELITY_LOST } from "../loader-core/existing-columns.js";

/**
 * sluice types onto DuckDB types, and the SQL that turns a batch field (VARCHAR in the wire form
 * of `batch.ts`) into that type. Kept apart from the loader so the mapping can be read and
 * tested on its own.
 *
 * Choices worth knowing:
 * - `numeric(p,s)` with p ≤ 38 becomes DECIMAL(p,s). Unconstrained `numeric` and p > 38 become
 *   VARCHAR holding the exact decimal text: DuckDB's DECIMAL needs a fixed scale and at most 38
 *   digits, and a DOUBLE would round. `NaN` fits only there (a DECIMAL column refuses it, naming
 *   the column).
 * - Arrays become lists of the element type, nested once per declared dimension.
 * - json, jsonb and hstore become JSON; bytea BLOB; interval INTERVAL (months, days and
 *   microseconds kept apart); timetz TIMETZ; uuid UUID; other types VARCHAR in PostgreSQL's text.
 */
export function duckdbType(type: ColumnType): string {
  switch (type.kind) {
    case "integer":
      return type.bits === 16 ? "SMALLINT" : type.bits === 32 ? "INTEGER" : "BIGINT";
    case "decimal":
      return isBoundedDecimal(type) ? `DECIMAL(${type.precision},${type.scale})` : "VARCHAR";
    case "float":
      return type.bits === 32 ? "REAL" : "DOUBLE";
    case "boolean":
      return "BOOLEAN";
    case "uuid":
      return "UUID";
    case "json":
      return "JSON";
    case "date":
      return "DATE";
    case "time":
      return "TIME";
    case "timetz":
      return "TIMETZ";
    case "timestamp":
      return "TIMESTAMP";
    case "timestamptz":
      return "TIMESTAMPTZ";
    case "interval":
      return "INTERVAL";
    case "bytes":
      return "BLOB";
    case "array":
      return duckdbType(type.element) + "[]".repeat(type.dimensions);
    case "string":
      return "VARCHAR";
  }
}

function isBoundedDecimal(type: Extract<ColumnType, { kind: "decimal" }>): boolean {
  return (
    type.precision !== undefined &&
    type.scale !== undefined &&
    type.precision >= 1 &&
    type.precision <= 38 &&
    type.scale >= 0 &&
    type.scale <= type.precision
  );
}

/** SQL converting the VARCHAR expression `x` (a batch field) to the column's DuckDB type. */
export function duckdbConversion(x: string, type: ColumnType): string {
  switch (type.kind) {
    case "string":
      return x;
    case "decimal":
      return isBoundedDecimal(type) ? `CAST(${x} AS ${duckdbType(type)})` : x;
    case "bytes":
      return `unhex(${x})`;
    case "date":
      // NOTE: DuckDB reads `0044-03-15 BC` as year 44 AD without complaint; it wants `(BC)`.
      return `CAST(CASE WHEN ${x} LIKE '% BC' THEN replace(${x}, ' BC', ' (BC)') ELSE ${x} END AS DATE)`;
    case "timestamp":
    case "timestamptz":
      // PostgreSQL prints `0044-03-15 12:00:00+00 BC`; DuckDB reads `0044-03-15 (BC) 12:00:00+00`.
      return `CAST(CASE WHEN ${x} LIKE '% BC' THEN regexp_replace(${x}, '^(\\S+) (.*) BC$', '\\1 (BC) \\2') ELSE ${x} END AS ${duckdbType(type)})`;
    case "array": {
      const asText = `CAST(CAST(${x} AS JSON) AS VARCHAR${"[]".repeat(type.dimensions)})`;
      const element = duckdbConversion("v", type.element);
      if (element === "v") return asText;
      // The innermost lambda converts elements; each outer one maps over one dimension.
      let body = `v -> ${element}`;
      for (let d = type.dimensions - 1; d >= 1; d--) body = `l${d} -> list_transform(l${d}, ${body})`;
      return `list_transform(${asText}, ${body})`;
    }
    default:
      return `CAST(${x} AS ${duckdbType(type)})`;
  }
}

/**
 * SQL undoing COPY text escaping (see `RecordBatch.format`) in the VARCHAR expression `x`. Cut at
 * each `\\` (taken leftmost, as the escapes were written), each piece's escapes are replaced, and
 * the pieces joined with `\`. A field without a backslash, nearly all of them, costs one search.
 */
export function copyTextUnescape(x: string): string {
  let piece = "p";
  for (const [letter, char] of Object.entries(COPY_TEXT_ESCAPES))
    piece = `replace(${piece}, '\\${letter}', chr(${char.charCodeAt(0)}))`;
  return `CASE WHEN contains(${x}, '\\') THEN array_to_string(list_transform(string_split(${x}, '\\\\'), p -> ${piece}), '\\') ELSE ${x} END`;
}

/** Whether a kind's text form can hold a backslash or control character (which COPY text escapes). */
export function mayHoldCopyTextEscapes(type: ColumnType): boolean {
  return type.kind === "string" || type.kind === "json" || type.kind === "array";
}

/**
 * The type DuckDB's CSV reader may parse a field as directly, which is much cheaper than reading
 * VARCHAR and casting; undefined where the text must go through `duckdbConversion`.
 * NOTE: the reader turns an unparseable TIMESTAMPTZ or TIMETZ into NULL without an error
 * (DuckDB 1.5), and reads a BC date as AD, so those always take the VARCHAR path, which fails
 * loudly. Other kinds fail the batch on a bad value, and the loader retries it on the VARCHAR path.
 */
export function csvParseType(type: ColumnType): string | undefined {
  switch (type.kind) {
    case "integer":
    case "float":
    case "boolean":
    case "uuid":
    case "time":
    case "interval":
    case "string":
    case "timestamp":
      return duckdbType(type);
    case "decimal":
      return isBoundedDecimal(type) ? duckdbType(type) : "VARCHAR";
    default:
      return undefined;
  }
}

/** Quotes an identifier for DuckDB. */
export function quoteDuckdb(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export function duckdbLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/**
 * A type as DuckDB's catalog spells it and as `duckdbType` writes it, compared in one spelling.
 * NOTE: `duckdb_columns()` says `TIMESTAMP WITH TIME ZONE` for TIMESTAMPTZ: compared as written,
 * every metadata column of an existing table was altered to its own type on each run.
 */
export function normaliseDuckdbType(type: string): string {
  return type
    .toUpperCase()
    .replace(/\s+/g, "")
    .replace("TIMESTAMPWITHTIMEZONE", "TIMESTAMPTZ")
    .replace("TIMEWITHTIMEZONE", "TIMETZ")
    .replace("FLOAT", "REAL");
}

const DUCKDB_INTEGER_BITS: Record<string, number> = { SMALLINT: 16, INTEGER: 32, BIGINT: 64, HUGEINT: 128 };
const INTEGER_DIGITS = { 16: 5, 32: 10, 64: 19 } as const;

/**
 * Whether a column of another target's table, of type `current` (as `duckdb_columns()` spells
 * it), holds values of `type` (existing-columns.ts), and what it loses. The shapes that matter
 * are jwills target-duckdb's: VARCHAR for anything without a JSON Schema type of its own, JSON for
 * arrays and objects, DOUBLE for numbers, HUGEINT for integers without a range, TIMESTAMP for
 * date-times.
 */
export function duckdbColumnFit(type: ColumnType, current: string): ColumnFit {
  const wanted = duckdbType(type);
  const c = normaliseDuckdbType(current);
  if (c === normaliseDuckdbType(wanted)) return { fits: "same" };
  const refused = (): ColumnFit => ({ fits: "refused", reason: `it cannot hold every ${wanted} value` });
  if (c === "VARCHAR") return { fits: "holds", loss: FIDELITY_LOST.text };
  if (c === "JSON") {
    if (type.kind === "array") return { fits: "holds", loss: FIDELITY_LOST.jsonArray };
    if (type.kind === "json") return { fits: "holds" };
    return refused();
  }
  const bounded = /^DECIMAL\((\d+),(\d+)\)$/.exec(c);
  switch (type.kind) {
    case "integer": {
      const bits = DUCKDB_INTEGER_BITS[c];
      if (bits !== undefined) return type.bits <= bits ? { fits: "holds" } : refused();
      if (c === "DOUBLE")
        return type.bits <= 32
          ? { fits: "holds" }
          : { fits: "holds", loss: FIDELITY_LOST.integersBeyond2To53 };
      if (bounded && Number(bounded[1]) - Number(bounded[2]) >= INTEGER_DIGITS[type.bits])
        return { fits: "holds" };
      return refused();
    }
    case "decimal":
      if (c === "DOUBLE") return { fits: "holds", loss: FIDELITY_LOST.float64 };
      if (c === "REAL") return { fits: "holds", loss: FIDELITY_LOST.float32 };
      if (bounded && type.precision !== undefined && type.scale !== undefined) {
        const [p, s] = [Number(bounded[1]), Number(bounded[2])];
        if (s >= type.scale && p - s >= type.precision - type.scale) return { fits: "holds" };
      }
      return refused();
    case "float":
      if (c === "DOUBLE") return { fits: "holds" };
      if (c === "REAL") return { fits: "holds", loss: FIDELITY_LOST.float32 };
      return refused();
    case "timestamptz":
      if (c === "TIMESTAMP") return { fits: "holds", loss: FIDELITY_LOST.offsetInUtc };
      return refused();
    case "timestamp":
      if (c === "TIMESTAMPTZ") return { fits: "holds", loss: FIDELITY_LOST.readAsUtc };
      return refused();
    case "timetz":
      if (c === "TIME") return { fits: "holds", loss: FIDELITY_LOST.timeOffset };
      return refused();
    default:
      return refused();
  }
}

/**
 * SQL turning `x` (a value of `type`, as the loader computes it) into a kept column of type
 * `current` (see `duckdbColumnFit`). Arrays become JSON arrays of their elements, instants UTC.
 */
export function duckdbKeptValue(x: string, type: ColumnType, current: string, column = "?"): string {
  const c = normaliseDuckdbType(current);
  if (type.kind === "array") return c === "JSON" ? `to_json(${x})` : `CAST(to_json(${x}) AS ${current})`;
  if (type.kind === "decimal" && duckdbType(type) === "VARCHAR" && (c === "DOUBLE" || c === "REAL")) {
    // NOTE: DuckDB casts a decimal text beyond DOUBLE's range to infinity without a word.
    const cast = `CAST(${x} AS ${c})`;
    const what = duckdbLiteral(`column ${JSON.stringify(column)} (${current}) cannot hold the value `);
    return `CASE WHEN isinf(${cast}) AND lower(${x}) NOT LIKE '%inf%' THEN error(${what} || left(${x}, 40) || ' (out of range)') ELSE ${cast} END`;
  }
  if (
    (type.kind === "timestamptz" && c === "TIMESTAMP") ||
    (type.kind === "timestamp" && c === "TIMESTAMPTZ")
  )
    return `timezone('UTC', ${x})`;
  return `CAST(${x} AS ${current})`;
}
