import type { ColumnType } from "../column-type.js";
import { postgresTypeName } from "../postgres-type-name.js";

/**
 * The `x-sql-datatype` annotation of a Singer schema property (Meltano SDK's convention: the
 * property's SQL type, read by a target before the JSON Schema types and formats). sluice's tap
 * writes the PostgreSQL type of each column, domains resolved to their base type, spelled as
 * `format_type()` spells it (`numeric(12,2)`, `time with time zone`, `bytea`, `integer[]`); its
 * target reads it back into the same `ColumnType`, so `sluice tap | sluice target` builds the
 * table `sluice run` builds.
 */
export function sqlDatatypeOf(type: ColumnType): string {
  switch (type.kind) {
    case "json":
      return JSON_TYPES.has(type.sqlType) ? type.sqlType : "jsonb";
    case "array":
      return sqlDatatypeOf(type.element) + "[]".repeat(Math.max(1, type.dimensions));
    case "string": {
      if (type.maxLength !== undefined) {
        return /^(character|char|bpchar)\b(?! varying)/i.test(type.sqlType)
          ? `character(${type.maxLength})`
          : `character varying(${type.maxLength})`;
      }
      // The source's own name (inet, bit(4), an enum's), unless it would read back as another kind.
      const read = columnTypeOfSqlDatatype(type.sqlType);
      return read === undefined || read.kind === "string" ? type.sqlType : "text";
    }
    default:
      return postgresTypeName(type);
  }
}

/**
 * The column type an `x-sql-datatype` names, or undefined for a name sluice does not know (an
 * enum's, `citext`, another tap's `vector`): the JSON Schema then decides, as without one. An
 * array of an unknown element is an array of strings of that name, as tap-postgres reads it.
 */
export function columnTypeOfSqlDatatype(text: string): ColumnType | undefined {
  const trimmed = text.trim();
  const array = /^(.*?)((?:\s*\[\d*\])+)$/.exec(trimmed);
  if (array) {
    const base = array[1]!.trim();
    const dimensions = (array[2]!.match(/\[/g) ?? []).length;
    const element = scalarOf(base) ?? { kind: "string", sqlType: base };
    return { kind: "array", element, dimensions, sqlType: trimmed };
  }
  return scalarOf(trimmed);
}

const JSON_TYPES = new Set(["json", "jsonb", "hstore"]);

function scalarOf(text: string): ColumnType | undefined {
  const sqlType = text;
  const name = text.toLowerCase().replace(/\s+/g, " ");
  // `time(3) with time zone` and `timestamp(6)` are their kinds; the precision does not change the type.
  const bare = name.replace(/\s*\(\s*\d+\s*\)/, "");
  switch (bare) {
    case "smallint":
    case "int2":
      return { kind: "integer", bits: 16, sqlType };
    case "integer":
    case "int":
    case "int4":
      return { kind: "integer", bits: 32, sqlType };
    case "bigint":
    case "int8":
      return { kind: "integer", bits: 64, sqlType };
    case "real":
    case "float4":
      return { kind: "float", bits: 32, sqlType };
    case "double precision":
    case "float8":
      return { kind: "float", bits: 64, sqlType };
    case "boolean":
    case "bool":
      return { kind: "boolean", sqlType };
    case "uuid":
      return { kind: "uuid", sqlType };
    case "json":
    case "jsonb":
    case "hstore":
      return { kind: "json", sqlType: name };
    case "date":
      return { kind: "date", sqlType };
    case "time":
    case "time without time zone":
      return { kind: "time", sqlType };
    case "timetz":
    case "time with time zone":
      return { kind: "timetz", sqlType };
    case "timestamp":
    case "timestamp without time zone":
      return { kind: "timestamp", sqlType };
    case "timestamptz":
    case "timestamp with time zone":
      return { kind: "timestamptz", sqlType };
    case "bytea":
      return { kind: "bytes", sqlType };
    case "text":
      return { kind: "string", sqlType };
  }
  if (/^interval\b/.test(name)) return { kind: "interval", sqlType };
  const decimal = /^(?:numeric|decimal)(?:\s*\(\s*(\d+)\s*(?:,\s*(-?\d+)\s*)?\))?$/.exec(name);
  if (decimal) {
    if (decimal[1] === undefined) return { kind: "decimal", sqlType };
    return { kind: "decimal", precision: Number(decimal[1]), scale: Number(decimal[2] ?? 0), sqlType };
  }
  const characters = /^(?:character varying|varchar|character|char|bpchar)\s*\(\s*(\d+)\s*\)$/.exec(name);
  if (characters) return { kind: "string", sqlType, maxLength: Number(characters[1]) };
  if (/^(?:character varying|varchar)$/.test(name)) return { kind: "string", sqlType };
  return undefined;
}
