import type { JsonSchema } from "../../protocol/catalog.js";
import type { ColumnType } from "../column-type.js";
import { sqlDatatypeOf } from "./sql-datatype.js";

/**
 * JSON Schema of a column for the Singer catalog: what the tap's `discover` and the SCHEMA
 * messages of `sluice tap` say (`singer-column-types.ts` reads it back). Written for two readers:
 *
 * - Any Singer target: JSON types and formats as pipelinewise-tap-postgres and Meltano's SDK
 *   write them (`date-time`, `date`, `time`, `uuid`), integers with their range
 *   (`minimum`/`maximum`: pipelinewise-target-postgres makes `smallint`/`integer`/`bigint` from
 *   it, and `numeric` without it), `numeric(p,s)` as pipelinewise's bounds, bytea as hex with
 *   `contentEncoding: base16`.
 * - sluice's own target: `x-sql-datatype`, the PostgreSQL type (`sql-datatype.ts`), read first.
 *
 * The values (`batchRowsAsJson`) are exact: numbers as JSON numbers of their own digits (NaN and
 * infinities as strings), times and timestamps with their offsets, arrays as JSON arrays.
 */
export function jsonSchemaOf(type: ColumnType, nullable: boolean): JsonSchema {
  const base: JsonSchema = { ...baseJsonSchema(type), "x-sql-datatype": sqlDatatypeOf(type) };
  if (!nullable) return base;
  const t = base.type;
  if (Array.isArray(t)) return { ...base, type: t.includes("null") ? t : ["null", ...t] };
  if (typeof t === "string") return { ...base, type: ["null", t] };
  return base;
}

/**
 * bigint's bounds, as near as a double gets (-2^63 exactly, 2^63 for 2^63-1): catalogs stay plain
 * data; `formatSchemaJson` writes them as the exact bounds.
 */
const BIGINT_MIN = -(2 ** 63);
const BIGINT_MAX = 2 ** 63;

function baseJsonSchema(type: ColumnType): JsonSchema {
  switch (type.kind) {
    case "integer":
      return type.bits === 16
        ? { type: "integer", minimum: -32768, maximum: 32767 }
        : type.bits === 32
          ? { type: "integer", minimum: -2147483648, maximum: 2147483647 }
          : { type: "integer", minimum: BIGINT_MIN, maximum: BIGINT_MAX };
    case "decimal": {
      if (type.precision === undefined || type.scale === undefined) return { type: "number" };
      // As pipelinewise writes it, so a Singer target can rebuild numeric(p,s) exactly.
      const bound = Number(`1e${type.precision - type.scale}`);
      return {
        type: "number",
        ...(type.scale > 0 ? { multipleOf: Number(`1e-${type.scale}`) } : {}),
        maximum: bound,
        exclusiveMaximum: true,
        minimum: -bound,
        exclusiveMinimum: true,
      };
    }
    case "float":
      return { type: "number" };
    case "boolean":
      return { type: "boolean" };
    case "json":
      return { type: ["object", "array", "string", "number", "boolean"] };
    case "date":
      return { type: "string", format: "date" };
    case "time":
    case "timetz":
      return { type: "string", format: "time" };
    case "timestamp":
    case "timestamptz":
      return { type: "string", format: "date-time" };
    case "uuid":
      return { type: "string", format: "uuid" };
    case "interval":
      // ISO 8601 with a sign per part (`P-1DT2H`, as `batchRowsAsJson` writes it), which the
      // `duration` format does not allow: no format, as pipelinewise writes it.
      return { type: "string" };
    case "bytes":
      return { type: "string", contentEncoding: "base16" };
    case "array":
      return { type: "array", items: jsonSchemaOf(type.element, true) };
    case "string":
      return type.maxLength !== undefined
        ? { type: "string", maxLength: type.maxLength }
        : { type: "string" };
  }
}
