import type { ColumnType } from "../column-type.js";

/**
 * What the catalog query tells about one column's type: the base type after resolving domains,
 * and for arrays the element's base type.
 */
export interface PgTypeInfo {
  /** `format_type(atttypid, atttypmod)`, e.g. `numeric(12,2)`, `text[]`, `timestamp with time zone`. */
  formatted: string;
  /** typname of the base type (domains resolved), e.g. `int4`, `_text`, `my_enum`. */
  typname: string;
  /** pg_type.typtype of the base type: b base, e enum, r range, m multirange, c composite, d domain. */
  typtype: string;
  /** pg_type.typcategory of the base type: A for arrays. */
  typcategory: string;
  /** Element type of an array (base type resolved), absent otherwise. */
  elementTypname?: string;
  elementTyptype?: string;
  typmod: number;
  /** Declared array dimensions (attndims); PostgreSQL stores 0 when declared without brackets count. */
  dimensions: number;
}

/** Maps a PostgreSQL type onto sluice's type model. Unknown types travel as their text form. */
export function columnTypeOf(info: PgTypeInfo): ColumnType {
  const sqlType = info.formatted;
  if (info.typcategory === "A" && info.elementTypname !== undefined) {
    // An array column's typmod is its element's (numeric(10,2)[] keeps precision and scale).
    const element = scalarType(
      info.elementTypname,
      info.elementTyptype ?? "b",
      info.typmod,
      info.elementTypname,
    );
    return { kind: "array", element, dimensions: Math.max(1, info.dimensions), sqlType };
  }
  return scalarType(info.typname, info.typtype, info.typmod, sqlType);
}

function scalarType(typname: string, typtype: string, typmod: number, sqlType: string): ColumnType {
  if (typtype !== "b") return { kind: "string", sqlType }; // enum, range, multirange, composite
  switch (typname) {
    case "int2":
      return { kind: "integer", bits: 16, sqlType };
    case "int4":
      return { kind: "integer", bits: 32, sqlType };
    case "int8":
    case "oid":
    case "xid":
    case "xid8":
    case "cid":
      return { kind: "integer", bits: 64, sqlType };
    case "numeric": {
      if (typmod < 4) return { kind: "decimal", sqlType };
      const precision = ((typmod - 4) >> 16) & 0xffff;
      // NOTE: PostgreSQL 15 allows negative scales, stored as an 11-bit two's complement.
      let scale = (typmod - 4) & 0x7ff;
      if (scale > 1023) scale -= 2048;
      return { kind: "decimal", precision, scale, sqlType };
    }
    case "money":
      // The text form depends on lc_monetary; we read money as numeric, which has 2 decimals.
      return { kind: "decimal", precision: 19, scale: 2, sqlType };
    case "float4":
      return { kind: "float", bits: 32, sqlType };
    case "float8":
      return { kind: "float", bits: 64, sqlType };
    case "bool":
      return { kind: "boolean", sqlType };
    case "uuid":
      return { kind: "uuid", sqlType };
    case "json":
    case "jsonb":
    case "hstore":
      return { kind: "json", sqlType };
    case "date":
      return { kind: "date", sqlType };
    case "time":
      return { kind: "time", sqlType };
    case "timetz":
      return { kind: "timetz", sqlType };
    case "timestamp":
      return { kind: "timestamp", sqlType };
    case "timestamptz":
      return { kind: "timestamptz", sqlType };
    case "interval":
      return { kind: "interval", sqlType };
    case "bytea":
      return { kind: "bytes", sqlType };
    case "varchar":
    case "bpchar":
      return typmod > 4 ? { kind: "string", sqlType, maxLength: typmod - 4 } : { kind: "string", sqlType };
    default:
      // text, citext, name, inet, cidr, macaddr, bit, varbit, xml, tsvector, point, geometry, ...
      return { kind: "string", sqlType };
  }
}

/** Base types whose text output is not the wire form (see batch.ts) and need an expression. */
function needsScalarExpression(typname: string): boolean {
  return typname === "money" || typname === "bytea" || typname === "interval" || typname === "hstore";
}

/**
 * The SELECT expression that puts a column in its wire form. Most types print as we want them
 * under the session settings of `postgres-connection.ts` (ISO dates in UTC, hex bytea).
 */
export function wireExpression(quotedColumn: string, info: PgTypeInfo): string {
  if (info.typcategory === "A" && info.elementTypname !== undefined) {
    if (!needsScalarExpression(info.elementTypname)) return `array_to_json(${quotedColumn}::text[])`;
    // Elements need converting one by one; unnest flattens, so these arrays travel as one dimension.
    const element = scalarExpression("e", info.elementTypname);
    return `CASE WHEN ${quotedColumn} IS NULL THEN NULL ELSE coalesce((SELECT json_agg((${element})::text ORDER BY o) FROM unnest(${quotedColumn}) WITH ORDINALITY AS u(e, o)), '[]'::json) END`;
  }
  return scalarExpression(quotedColumn, info.typname);
}

function scalarExpression(c: string, typname: string): string {
  switch (typname) {
    case "money":
      return `${c}::numeric`;
    case "bytea":
      return `encode(${c}, 'hex')`;
    case "hstore":
      return `${c}::json`;
    case "interval":
      // Months, days and microseconds are kept apart, as PostgreSQL stores them.
      return (
        `((extract(year from ${c}) * 12 + extract(month from ${c}))::bigint || ' months ' || ` +
        `extract(day from ${c})::bigint || ' days ' || ` +
        `(extract(hour from ${c}) * 3600000000 + extract(minute from ${c}) * 60000000 + extract(microseconds from ${c}))::bigint || ' microseconds')`
      );
    default:
      return c;
  }
}

/** Kinds that can order rows for INCREMENTAL replication. */
export function canBeReplicationKey(type: ColumnType): boolean {
  return ["integer", "decimal", "float", "date", "timestamp", "timestamptz", "string", "uuid"].includes(
    type.kind,
  );
}
