import type { ColumnType } from "./column-type.js";

/**
 * PostgreSQL's name for a type whose name follows from its kind alone, as `format_type()` spells
 * it (`smallint`, `numeric(12,2)`, `time with time zone`, `bytea`). json, string and array are
 * left to each caller (target-postgres writes hstore as jsonb and an enum
 * as text; a Singer schema's `x-sql-datatype` keeps them). One rule for the table target-postgres
 * creates and the `x-sql-datatype` sluice's tap sends, so `sluice tap | sluice target` and
 * `sluice run` agree.
 */
export function postgresTypeName(type: Exclude<ColumnType, { kind: "json" | "string" | "array" }>): string {
  switch (type.kind) {
    case "integer":
      return type.bits === 16 ? "smallint" : type.bits === 32 ? "integer" : "bigint";
    case "decimal":
      return isPostgresDecimal(type) ? `numeric(${type.precision},${type.scale})` : "numeric";
    case "float":
      return type.bits === 32 ? "real" : "double precision";
    case "boolean":
      return "boolean";
    case "uuid":
      return "uuid";
    case "date":
      return "date";
    case "time":
      return "time without time zone";
    case "timetz":
      return "time with time zone";
    case "timestamp":
      return "timestamp without time zone";
    case "timestamptz":
      return "timestamp with time zone";
    case "interval":
      return "interval";
    case "bytes":
      return "bytea";
  }
}

/** A precision and scale PostgreSQL accepts in `numeric(p,s)` (1..1000, -1000..1000). */
function isPostgresDecimal(type: Extract<ColumnType, { kind: "decimal" }>): boolean {
  return (
    type.precision !== undefined &&
    type.scale !== undefined &&
    type.precision >= 1 &&
    type.precision <= 1000 &&
    type.scale >= -1000 &&
    type.scale <= 1000
  );
}
