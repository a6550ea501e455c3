import type { JsonSchema } from "../../protocol/catalog.js";
import type { Column, ColumnType } from "../column-type.js";
import { columnTypeOfSqlDatatype } from "./sql-datatype.js";

/**
 * The sluice column type of each property of a Singer SCHEMA message, for loaders that create
 * typed tables. An `x-sql-datatype` that names a PostgreSQL type sluice knows decides it
 * (`sql-datatype.ts`: what sluice's tap writes, so its tables come out as `sluice run` makes
 * them); an unknown one names a string column's type (`inet`, an enum) and otherwise is ignored.
 * Else it is decided from the property's JSON schema (`type`, `format`, `anyOf`, `multipleOf`,
 * bounds), `null` in a type list only making the column nullable, as a third-party tap's is:
 *
 * - `integer` → integer 64 bits (16 or 32 when `minimum`/`maximum` are exactly those ranges, as
 *   sluice's and pipelinewise's tap-postgres write them for smallint and integer).
 * - `number` (alone or with `integer`) → decimal, exact. Unconstrained, except that `multipleOf`
 *   `10^-s` gives the scale `s`, and with it an exclusive `maximum` of `10^k` (pipelinewise's
 *   form of `numeric(p,s)`) the precision `s + k` when at most 38.
 * - `string` with `format` `date-time` → timestamptz, `date` → date, `time` → time; other strings
 *   → string (`maxLength` kept).
 * - `boolean` → boolean.
 * - `object`, `array` (of anything), several non-null types that include one of them, or no type
 *   at all → json. Other mixes of scalar types (`["string", "number"]`) → string.
 * - `anyOf`: the non-null alternatives are merged as a type list would be.
 *
 * `sqlType` describes the JSON schema (`number(multipleOf 1e-10)`), for messages.
 */
export function columnTypeOfJsonSchema(schema: JsonSchema): { type: ColumnType; nullable: boolean } {
  const inferred = columnTypeOfJsonTypes(schema);
  const sqlDatatype = schema["x-sql-datatype"];
  if (typeof sqlDatatype !== "string" || sqlDatatype.trim() === "") return inferred;
  const named = columnTypeOfSqlDatatype(sqlDatatype);
  if (named !== undefined) return { type: named, nullable: inferred.nullable };
  if (inferred.type.kind === "string") {
    return { type: { ...inferred.type, sqlType: sqlDatatype.trim() }, nullable: inferred.nullable };
  }
  return inferred;
}

/** The column type of a property's JSON Schema alone (no `x-sql-datatype`). */
function columnTypeOfJsonTypes(schema: JsonSchema): { type: ColumnType; nullable: boolean } {
  const alternatives = flatten(schema);
  // A property without a type accepts null as well as anything else.
  const nullable = alternatives.some((a) => a.type === "null" || a.type === undefined);
  const nonNull = alternatives.filter((a) => a.type !== "null");
  const kinds = new Set(nonNull.map((a) => a.type));
  const json = (label: string): ColumnType => ({ kind: "json", sqlType: label });
  if (nonNull.length === 0) return { type: json("any"), nullable: true };
  if (kinds.has("object") || kinds.has("array") || kinds.has(undefined)) {
    return { type: json([...kinds].map((k) => k ?? "any").join("|")), nullable };
  }
  if (kinds.size === 1 && kinds.has("integer")) return { type: integerType(nonNull[0]!.schema), nullable };
  if ([...kinds].every((k) => k === "number" || k === "integer")) {
    const numberSchema = nonNull.find((a) => a.type === "number")?.schema ?? nonNull[0]!.schema;
    return { type: decimalType(numberSchema), nullable };
  }
  if (kinds.size === 1 && kinds.has("boolean"))
    return { type: { kind: "boolean", sqlType: "boolean" }, nullable };
  if (kinds.size === 1 && kinds.has("string")) {
    const formats = new Set(nonNull.map((a) => a.schema.format));
    const format = formats.size === 1 ? nonNull[0]!.schema.format : undefined;
    switch (format) {
      case "date-time":
        return { type: { kind: "timestamptz", sqlType: "string(date-time)" }, nullable };
      case "date":
        return { type: { kind: "date", sqlType: "string(date)" }, nullable };
      case "time":
        return { type: { kind: "time", sqlType: "string(time)" }, nullable };
    }
    const maxLength = nonNull.length === 1 ? nonNull[0]!.schema.maxLength : undefined;
    return {
      type:
        typeof maxLength === "number" && Number.isSafeInteger(maxLength) && maxLength > 0
          ? { kind: "string", sqlType: `string(maxLength ${maxLength})`, maxLength }
          : { kind: "string", sqlType: "string" },
      nullable,
    };
  }
  return { type: { kind: "string", sqlType: [...kinds].join("|") }, nullable };
}

/** The columns of a SCHEMA message's `properties`, in their order; key properties are not nullable. */
export function columnsOfJsonSchema(schema: JsonSchema, keyProperties: readonly string[]): Column[] {
  return Object.entries(schema.properties ?? {}).map(([name, property]) => {
    const { type, nullable } = columnTypeOfJsonSchema(property);
    return { name, type, nullable: nullable && !keyProperties.includes(name) };
  });
}

interface Alternative {
  /** One JSON type name; undefined when the schema names none (any value). */
  type: string | undefined;
  schema: JsonSchema;
}

function flatten(schema: JsonSchema): Alternative[] {
  const out: Alternative[] = [];
  const visit = (s: JsonSchema): void => {
    if (Array.isArray(s.anyOf) || Array.isArray(s.oneOf)) {
      for (const alternative of (s.anyOf ?? (s.oneOf as JsonSchema[])) as JsonSchema[]) visit(alternative);
      return;
    }
    if (Array.isArray(s.type)) for (const t of s.type) out.push({ type: t, schema: s });
    else if (typeof s.type === "string") out.push({ type: s.type, schema: s });
    else out.push({ type: undefined, schema: s });
  };
  visit(schema);
  return out;
}

function integerType(schema: JsonSchema): ColumnType {
  const { minimum, maximum } = schema;
  if (minimum === -32768 && maximum === 32767) return { kind: "integer", bits: 16, sqlType: "integer" };
  if (minimum === -2147483648 && maximum === 2147483647)
    return { kind: "integer", bits: 32, sqlType: "integer" };
  return { kind: "integer", bits: 64, sqlType: "integer" };
}

function decimalType(schema: JsonSchema): ColumnType {
  const scale = scaleOf(schema.multipleOf);
  if (scale === undefined) return { kind: "decimal", sqlType: "number" };
  const sqlType = `number(multipleOf ${schema.multipleOf})`;
  const digits = schema.exclusiveMaximum === true ? powerOfTen(schema.maximum) : undefined;
  if (digits !== undefined && scale + digits <= 38 && scale + digits >= 1) {
    return { kind: "decimal", precision: scale + digits, scale, sqlType };
  }
  return { kind: "decimal", scale, sqlType };
}

/** `0.01` or `1e-2` → 2; `1` → 0; anything else (0.5, 3) → undefined. */
function scaleOf(multipleOf: unknown): number | undefined {
  if (typeof multipleOf !== "number" || !(multipleOf > 0)) return undefined;
  for (let s = 0; s <= 38; s++) {
    if (Math.abs(multipleOf - Number(`1e-${s}`)) <= Number(`1e-${s}`) * 1e-9) return s;
  }
  return undefined;
}

function powerOfTen(value: unknown): number | undefined {
  if (typeof value !== "number" || !(value >= 1)) return undefined;
  const k = Math.round(Math.log10(value));
  return Math.abs(value - Number(`1e${k}`)) <= Number(`1e${k}`) * 1e-9 ? k : undefined;
}
