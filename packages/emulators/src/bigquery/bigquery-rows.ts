import {
  DuckDBBlobValue,
  DuckDBDateValue,
  DuckDBDecimalValue,
  DuckDBIntervalValue,
  DuckDBListValue,
  DuckDBStructValue,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  DuckDBTimeValue,
  DuckDBTypeId,
  type DuckDBType,
  type DuckDBValue,
} from "@duckdb/node-api";
import {
  findField,
  formatDate,
  formatDatetime,
  formatTimeOfDay,
  formatTimestampFloat,
  formatTimestampIso,
  type TableFieldSchema,
} from "./bigquery-types.js";

/** A cell of a REST row: `{ v: "1" }`, `{ v: [{ v: "a" }] }` for REPEATED, `{ v: { f: [...] } }` for RECORD. */
export interface RestCell {
  v: string | null | RestCell[] | { f: RestCell[] };
}
export interface RestRow {
  f: RestCell[];
}

/** How TIMESTAMP cells are written, from `formatOptions` of the request. */
export type TimestampFormat = "int64" | "float" | "iso";

export function timestampFormatOf(
  useInt64Timestamp: unknown,
  timestampOutputFormat: unknown,
): TimestampFormat {
  if (timestampOutputFormat === "ISO8601_STRING") return "iso";
  if (timestampOutputFormat === "INT64") return "int64";
  if (useInt64Timestamp === true || useInt64Timestamp === "true") return "int64";
  return "float";
}

/**
 * The BigQuery field a DuckDB result column stands for. `hint` is the catalog's field of the same
 * name when the column comes from a table, so BIGNUMERIC and GEOGRAPHY (stored as VARCHAR),
 * NUMERIC(p,s) and REQUIRED survive a round trip through DuckDB.
 */
export function fieldOfDuckdbType(
  name: string,
  type: DuckDBType,
  hint: TableFieldSchema | undefined,
  notNull = false,
): TableFieldSchema {
  if (type.typeId === DuckDBTypeId.LIST || type.typeId === DuckDBTypeId.ARRAY) {
    const elementHint = hint?.mode === "REPEATED" ? { ...hint, mode: "NULLABLE" } : undefined;
    const element = fieldOfDuckdbType(name, type.valueType, elementHint);
    return { ...element, mode: "REPEATED" };
  }
  const mode = notNull && hint?.mode === "REQUIRED" ? "REQUIRED" : "NULLABLE";
  const field = (t: string): TableFieldSchema => ({ name, type: t, mode });
  switch (type.typeId) {
    case DuckDBTypeId.BOOLEAN:
      return field("BOOLEAN");
    case DuckDBTypeId.TINYINT:
    case DuckDBTypeId.SMALLINT:
    case DuckDBTypeId.INTEGER:
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.UTINYINT:
    case DuckDBTypeId.USMALLINT:
    case DuckDBTypeId.UINTEGER:
    case DuckDBTypeId.UBIGINT:
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UHUGEINT:
      return field("INTEGER");
    case DuckDBTypeId.FLOAT:
    case DuckDBTypeId.DOUBLE:
      return field("FLOAT");
    case DuckDBTypeId.DECIMAL: {
      if (hint?.type === "NUMERIC") return { ...hint, name, mode };
      return field("NUMERIC");
    }
    case DuckDBTypeId.VARCHAR:
      if (type.alias === "JSON") return field("JSON");
      if (hint && (hint.type === "BIGNUMERIC" || hint.type === "GEOGRAPHY" || hint.type === "STRING")) {
        return { ...hint, name, mode };
      }
      return field("STRING");
    case DuckDBTypeId.UUID:
      return field("STRING");
    case DuckDBTypeId.BLOB:
      return hint?.type === "BYTES" ? { ...hint, name, mode } : field("BYTES");
    case DuckDBTypeId.DATE:
      return field("DATE");
    case DuckDBTypeId.TIME:
      return field("TIME");
    case DuckDBTypeId.TIMESTAMP:
    case DuckDBTypeId.TIMESTAMP_S:
    case DuckDBTypeId.TIMESTAMP_MS:
    case DuckDBTypeId.TIMESTAMP_NS:
      return field("DATETIME");
    case DuckDBTypeId.TIMESTAMP_TZ:
      return field("TIMESTAMP");
    case DuckDBTypeId.INTERVAL:
      return field("INTERVAL");
    case DuckDBTypeId.STRUCT: {
      const fields = type.entryNames.map((entry, i) =>
        fieldOfDuckdbType(
          entry,
          type.entryTypes[i]!,
          hint?.fields ? findField(hint.fields, entry) : undefined,
        ),
      );
      return { name, type: "RECORD", mode, fields };
    }
    case DuckDBTypeId.SQLNULL:
      return field("INTEGER");
    default:
      return field("STRING");
  }
}

function decimalText(value: DuckDBDecimalValue): string {
  const negative = value.value < 0n;
  const digits = (negative ? -value.value : value.value).toString().padStart(value.scale + 1, "0");
  const integer = digits.slice(0, digits.length - value.scale);
  const fraction = digits.slice(digits.length - value.scale).replace(/0+$/, "");
  const text = fraction ? `${integer}.${fraction}` : integer;
  return negative && text !== "0" ? `-${text}` : text;
}

function floatText(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "Infinity";
  if (value === -Infinity) return "-Infinity";
  return String(value);
}

/** BigQuery's canonical INTERVAL text: `Y-M D H:M:S[.F]`. */
function intervalText(value: DuckDBIntervalValue): string {
  const years = Math.trunc(value.months / 12);
  const months = value.months % 12;
  const negative = value.micros < 0n;
  const micros = negative ? -value.micros : value.micros;
  return `${years}-${Math.abs(months)} ${value.days} ${negative ? "-" : ""}${formatTimeOfDay(micros % 86_400_000_000n).replace(/^(\d+)/, (h) => String(Number(h) + Number(micros / 86_400_000_000n) * 24))}`;
}

/** One DuckDB value as a REST cell of the given field. */
export function restCell(field: TableFieldSchema, value: DuckDBValue, timestamps: TimestampFormat): RestCell {
  if (field.mode === "REPEATED") {
    if (value === null) return { v: [] };
    const element = { ...field, mode: "NULLABLE" };
    const items = value instanceof DuckDBListValue ? value.items : [];
    return { v: items.map((item) => restCell(element, item, timestamps)) };
  }
  if (value === null) return { v: null };
  if (field.type === "RECORD" && value instanceof DuckDBStructValue) {
    const entries = value.entries;
    return {
      v: {
        f: (field.fields ?? []).map((sub) => restCell(sub, entries[sub.name] ?? null, timestamps)),
      },
    };
  }
  return { v: scalarText(field, value, timestamps) };
}

function scalarText(field: TableFieldSchema, value: DuckDBValue, timestamps: TimestampFormat): string {
  if (typeof value === "string") return value;
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number") return floatText(value);
  if (value instanceof DuckDBDecimalValue) return decimalText(value);
  if (value instanceof DuckDBBlobValue) return Buffer.from(value.bytes).toString("base64");
  if (value instanceof DuckDBDateValue) return formatDate(value.days);
  if (value instanceof DuckDBTimeValue) return formatTimeOfDay(value.micros);
  if (value instanceof DuckDBTimestampTZValue) {
    if (timestamps === "int64") return value.micros.toString();
    if (timestamps === "iso") return formatTimestampIso(value.micros);
    return formatTimestampFloat(value.micros);
  }
  if (value instanceof DuckDBTimestampValue) return formatDatetime(value.micros);
  if (value instanceof DuckDBIntervalValue) return intervalText(value);
  if (field.type === "JSON") return JSON.stringify(String(value));
  return String(value);
}

/** A row of a DuckDB result as a REST row. */
export function restRow(
  schema: readonly TableFieldSchema[],
  row: readonly DuckDBValue[],
  timestamps: TimestampFormat,
): RestRow {
  return { f: schema.map((field, i) => restCell(field, row[i] ?? null, timestamps)) };
}
