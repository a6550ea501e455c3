import type { JsonSchema } from "../../protocol/catalog.js";
import type { ColumnType } from "../column-type.js";

/**
 * JSON Schema of a column for the Singer catalog, as pipelinewise-tap-postgres writes it: what the
 * tap's `discover` and the SCHEMA messages of `sluice tap` say (`singer-column-types.ts` reads it
 * back).
 */
export function jsonSchemaOf(type: ColumnType, nullable: boolean): JsonSchema {
  const base = baseJsonSchema(type);
  if (!nullable) return base;
  const t = base.type;
  if (Array.isArray(t)) return { ...base, type: t.includes("null") ? t : ["null", ...t] };
  if (typeof t === "string") return { ...base, type: ["null", t] };
  return base;
}

function baseJsonSchema(type: ColumnType): JsonSchema {
  switch (type.kind) {
    case "integer":
      // bigint bounds do not fit a double exactly; pipelinewise leaves them out too.
      return type.bits === 16
        ? { type: "integer", minimum: -32768, maximum: 32767 }
        : type.bits === 32
          ? { type: "integer", minimum: -2147483648, maximum: 2147483647 }
          : { type: "integer" };
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
    case "array":
      return { type: "array", items: jsonSchemaOf(type.element, true) };
    case "string":
      return type.maxLength !== undefined
        ? { type: "string", maxLength: type.maxLength }
        : { type: "string" };
    default:
      return { type: "string" };
  }
}
