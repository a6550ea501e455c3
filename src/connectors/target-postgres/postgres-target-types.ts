import type { ColumnType } from "../column-type.js";
import { postgresTypeName } from "../postgres-type-name.js";
import { type ColumnFit, FIDELITY_LOST } from "../loader-core/existing-columns.js";

/**
 * sluice types onto PostgreSQL warehouse types, and how a batch field (in the wire form of
 * `batch.ts`) becomes one. Kept apart from the loader so the mapping can be read and tested on
 * its own. Types are spelled as `format_type()` prints them, so a table's columns can be compared
 * with what a stream wants.
 *
 * Choices worth knowing:
 * - Nothing is rounded or re-encoded: `numeric(p,s)` stays `numeric(p,s)` (unconstrained numeric,
 *   NaN and 1000 digits included), json stays json (its text, key order and white space kept),
 *   jsonb stays jsonb, arrays keep their element type and dimensions, timestamptz, interval
 *   (months, days and microseconds apart) and bytea are PostgreSQL's own.
 * - Types the warehouse may not have become their base or text form: an enum, citext or a
 *   composite is `text`, a domain its base type, hstore `jsonb` (as the extractor sends it),
 *   money `numeric(19,2)`. Built-in types with no loss through their text (inet, cidr, macaddr,
 *   bit strings, ranges, geometric types, pg_lsn) keep their type.
 */
export function postgresTargetType(type: ColumnType): string {
  switch (type.kind) {
    case "json":
      return type.sqlType === "json" ? "json" : "jsonb";
    case "array":
      // PostgreSQL does not enforce declared dimensions: `integer[]` holds a matrix too.
      return `${elementType(type.element)}[]`;
    case "string":
      return nativeStringType(type.sqlType) ?? "text";
    default:
      return postgresTypeName(type);
  }
}

/** An array's element: its `sqlType` is the element's typname (`bit`, not `bit(4)`). */
function elementType(type: ColumnType): string {
  if (type.kind === "string" && (type.sqlType === "bit" || type.sqlType === "varbit")) return "bit varying";
  if (type.kind === "array") return elementType(type.element);
  return postgresTargetType(type);
}

/** Built-in types whose text output reads back as the same value, in any session of ours. */
const NATIVE_STRING_TYPES = new Set([
  "inet",
  "cidr",
  "macaddr",
  "macaddr8",
  "pg_lsn",
  "int4range",
  "int8range",
  "numrange",
  "daterange",
  "tsrange",
  "tstzrange",
  "int4multirange",
  "int8multirange",
  "nummultirange",
  "datemultirange",
  "tsmultirange",
  "tstzmultirange",
  "point",
  "line",
  "lseg",
  "box",
  "path",
  "polygon",
  "circle",
  "bit varying",
]);

function nativeStringType(sqlType: string): string | undefined {
  if (NATIVE_STRING_TYPES.has(sqlType)) return sqlType;
  // `bit(4)`, `bit varying(8)`: as declared.
  if (/^bit(?: varying)?\(\d+\)$/.test(sqlType)) return sqlType;
  return undefined;
}

/**
 * The type a batch field is read into by `COPY ... (FORMAT csv)`: the column's own type where
 * PostgreSQL's input function reads the wire form (numbers with NaN and infinities, `t`/`f`, ISO
 * dates and times with ` BC`, `infinity`, intervals as months/days/microseconds), text where the
 * wire form needs converting first (`stagingConversion`).
 */
export function stagingType(type: ColumnType): string {
  return type.kind === "bytes" || type.kind === "array" ? "text" : postgresTargetType(type);
}

/** SQL turning the staged field `x` (of `stagingType`) into the column's type. */
export function stagingConversion(x: string, type: ColumnType): string {
  if (type.kind === "bytes") return `decode(${x}, 'hex')`;
  if (type.kind !== "array") return x;
  // The wire form is a JSON array (nested per dimension) of element texts; jsonb_to_record
  // builds a PostgreSQL array of any depth from it, as text[], and the cast reads each element
  // with the element type's input function.
  const target = postgresTargetType(type);
  let json = `${x}::jsonb`;
  if (innermost(type).kind === "bytes") {
    // bytea elements travel as hex without `\x`: add it (JSON `\\` is one backslash).
    json = `regexp_replace(${x}, '"([0-9a-fA-F]*)"', '"\\\\\\\\x\\1"', 'g')::jsonb`;
  }
  const general = `(SELECT sluice_a FROM jsonb_to_record(jsonb_build_object('sluice_a', ${json})) AS sluice_r(sluice_a text[]))::${target}`;
  if (innermost(type).kind === "bytes") return general;
  // Twice as fast, for arrays whose strings hold no quote, backslash or bracket (most): such a
  // JSON array is PostgreSQL's array literal once its brackets are braces (a JSON `null` is an
  // unquoted NULL there too, a string a quoted element).
  return `CASE WHEN ${x} ~ '${SIMPLE_JSON_ARRAY}' THEN translate(${x}, '[]', '{}')::${target} ELSE ${general} END`;
}

/** JSON arrays of strings without `"`, `\\`, `[` or `]` inside, and nulls, at any depth. */
const SIMPLE_JSON_ARRAY = '^(\\s|\\[|\\]|,|null|"[^"\\\\\\[\\]]*")*$';

function innermost(type: ColumnType): ColumnType {
  return type.kind === "array" ? innermost(type.element) : type;
}

/** `integer[][]` and `integer[]` are one type to PostgreSQL; `format_type` prints the latter. */
export function sameColumnType(a: string, b: string): boolean {
  const normal = (t: string): string =>
    t
      .toLowerCase()
      .replace(/\s+/g, " ")
      .replace(/(\[\])+$/, "[]");
  return normal(a) === normal(b);
}

/** Digits an integer of `bits` may have. */
const INTEGER_DIGITS = { 16: 5, 32: 10, 64: 19 } as const;

/**
 * Whether a column of another target's table, of type `current` (as `format_type` prints it),
 * holds values of `type` (existing-columns.ts), and what it loses. The shapes that matter are
 * pipelinewise target-postgres's: `character varying` for anything without a JSON Schema type of
 * its own (uuids, dates, enums), `jsonb` for arrays and objects, `double precision` for numbers,
 * `numeric` for integers without a range, `timestamp without time zone` for date-times.
 */
export function postgresColumnFit(type: ColumnType, current: string): ColumnFit {
  const wanted = postgresTargetType(type);
  if (sameColumnType(current, wanted)) return { fits: "same" };
  const c = current.toLowerCase().trim();
  const refused = (why?: string): ColumnFit => ({
    fits: "refused",
    reason: why ?? `it cannot hold every ${wanted} value`,
  });
  if (c === "text" || c === "character varying") {
    return type.kind === "string" ? { fits: "holds" } : { fits: "holds", loss: FIDELITY_LOST.text };
  }
  if (/^(character varying|character)\(\d+\)$/.test(c) || c === "character") {
    return refused(`a value longer than ${c} allows would not fit`);
  }
  if (c === "json" || c === "jsonb") {
    if (type.kind === "array") return { fits: "holds", loss: FIDELITY_LOST.jsonArray };
    if (type.kind === "json")
      return c === "jsonb"
        ? { fits: "holds", loss: "jsonb keeps neither key order nor white space nor duplicate keys" }
        : { fits: "holds" };
    return refused();
  }
  switch (type.kind) {
    case "integer": {
      if (c === "bigint" || c === "numeric") return { fits: "holds" };
      if (c === "integer") return type.bits <= 32 ? { fits: "holds" } : refused();
      if (c === "smallint") return type.bits <= 16 ? { fits: "holds" } : refused();
      if (c === "double precision")
        return type.bits <= 32
          ? { fits: "holds" }
          : { fits: "holds", loss: FIDELITY_LOST.integersBeyond2To53 };
      if (c === "real")
        return type.bits <= 16
          ? { fits: "holds" }
          : { fits: "holds", loss: "integers beyond 2^24 are rounded" };
      const bounded = /^numeric\((\d+),(-?\d+)\)$/.exec(c);
      if (bounded && Number(bounded[1]) - Number(bounded[2]) >= INTEGER_DIGITS[type.bits])
        return { fits: "holds" };
      return refused();
    }
    case "decimal": {
      if (c === "numeric") return { fits: "holds" };
      if (c === "double precision") return { fits: "holds", loss: FIDELITY_LOST.float64 };
      if (c === "real") return { fits: "holds", loss: FIDELITY_LOST.float32 };
      const bounded = /^numeric\((\d+),(-?\d+)\)$/.exec(c);
      if (bounded && type.precision !== undefined && type.scale !== undefined) {
        const [p, s] = [Number(bounded[1]), Number(bounded[2])];
        if (s >= type.scale && p - s >= type.precision - type.scale) return { fits: "holds" };
      }
      return refused();
    }
    case "float":
      if (c === "double precision" || c === "numeric") return { fits: "holds" };
      if (c === "real") return { fits: "holds", loss: FIDELITY_LOST.float32 };
      return refused();
    case "timestamptz":
      if (c === "timestamp without time zone") return { fits: "holds", loss: FIDELITY_LOST.offsetInUtc };
      return refused();
    case "timestamp":
      if (c === "timestamp with time zone") return { fits: "holds", loss: FIDELITY_LOST.readAsUtc };
      return refused();
    case "timetz":
      if (c === "time without time zone") return { fits: "holds", loss: FIDELITY_LOST.timeOffset };
      return refused();
    default:
      return refused();
  }
}

/**
 * SQL turning `x` (a value of `type`, as the loader computes it) into a kept column of type
 * `current` (see `postgresColumnFit`). Arrays become JSON arrays of their elements (as the Singer
 * targets wrote them), instants UTC.
 */
export function postgresKeptValue(x: string, type: ColumnType, current: string): string {
  const c = current.toLowerCase().trim();
  if (type.kind === "array") return `CAST(to_jsonb(${x}) AS ${current})`;
  if (type.kind === "timestamptz" && c === "timestamp without time zone") return `(${x} AT TIME ZONE 'UTC')`;
  if (type.kind === "timestamp" && c === "timestamp with time zone") return `(${x} AT TIME ZONE 'UTC')`;
  return `CAST(${x} AS ${current})`;
}
