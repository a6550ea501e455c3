import { PipelineError } from "../errors.js";
import type { StreamSchema } from "../connectors/column-type.js";
import { canonicalExpression, type VerifyDialect } from "./row-hash.js";

/**
 * A half-open range of keys, `from <= key < to`; a missing bound is open. Bounds are in the key
 * order of `keyOrderExpression`: the integer itself for a single integer key, else the keys'
 * canonical text, compared byte by byte (PostgreSQL under COLLATE "C", which is how DuckDB and
 * BigQuery compare strings), so both sides cut the key space at the same places.
 */
export interface KeyRange {
  from?: string;
  to?: string;
}

export type KeyOrder = "integer" | "text";

export function keyOrderOf(schema: StreamSchema): KeyOrder {
  const keys = schema.keyProperties.map((k) => schema.columns.find((c) => c.name === k));
  return keys.length === 1 && keys[0]?.type.kind === "integer" ? "integer" : "text";
}

/** The expression rows are ordered and cut by. */
export function keyOrderExpression(
  dialect: VerifyDialect,
  schema: StreamSchema,
  quote: (name: string) => string,
): string {
  if (keyOrderOf(schema) === "integer") return quote(schema.keyProperties[0]!);
  const parts = schema.keyProperties.map((name) => {
    const column = schema.columns.find((c) => c.name === name);
    return column ? canonicalExpression(dialect, quote(name), column.type) : quote(name);
  });
  if (dialect === "bigquery") return `ARRAY_TO_STRING([${parts.join(", ")}], CODE_POINTS_TO_STRING([30]))`;
  const joined = `concat_ws(chr(30), ${parts.join(", ")})`;
  return dialect === "postgres" ? `(${joined} COLLATE "C")` : joined;
}

/** A bound as a SQL literal: an integer is checked to be one, a text is quoted. */
export function boundLiteral(order: KeyOrder, value: string): string {
  if (order === "integer") {
    if (!/^-?\d+$/.test(value))
      throw new PipelineError(`verify: an integer key bound is not an integer: ${value}`);
    return value;
  }
  return `'${value.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
}

/** `key` within `range`, or undefined when the range is open on both sides. */
export function rangeCondition(
  key: string,
  order: KeyOrder,
  range: KeyRange,
  dialect: VerifyDialect,
): string[] {
  const literal = (v: string): string => literalFor(order, v, dialect);
  const conditions: string[] = [];
  if (range.from !== undefined) conditions.push(`${key} >= ${literal(range.from)}`);
  if (range.to !== undefined) conditions.push(`${key} < ${literal(range.to)}`);
  return conditions;
}

/** The bucket a row falls in among the sorted `boundaries`: 0 below the first, n at or above the last. */
export function bucketExpression(
  key: string,
  order: KeyOrder,
  boundaries: readonly string[],
  dialect: VerifyDialect,
): string {
  if (boundaries.length === 0) return "0";
  const whens = boundaries.map((b, i) => `WHEN ${key} < ${literalFor(order, b, dialect)} THEN ${i}`);
  return `CASE ${whens.join(" ")} ELSE ${boundaries.length} END`;
}

/** Splits `range` at `boundaries` into boundaries.length + 1 ranges. */
export function splitRange(range: KeyRange, boundaries: readonly string[]): KeyRange[] {
  const ranges: KeyRange[] = [];
  for (let i = 0; i <= boundaries.length; i++) {
    const from = i === 0 ? range.from : boundaries[i - 1];
    const to = i === boundaries.length ? range.to : boundaries[i];
    ranges.push({ ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) });
  }
  return ranges;
}

function literalFor(order: KeyOrder, value: string, dialect: VerifyDialect): string {
  if (order === "integer") return boundLiteral(order, value);
  // PostgreSQL and DuckDB take standard strings (a quote doubled); BigQuery escapes with `\`.
  if (dialect === "bigquery") return boundLiteral(order, value);
  const quoted = `'${value.replaceAll("'", "''")}'`;
  return dialect === "postgres" ? `(${quoted} COLLATE "C")` : quoted;
}
