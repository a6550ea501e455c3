import {
  JsonArray,
  JsonNumber,
  JsonObject,
  sourceOf,
  stringifyExact,
  type JsonValue,
} from "sluice/dist/protocol/exact-json.js";
import {
  canonicalDecimal,
  decimalBounds,
  findField,
  INT64_MAX,
  INT64_MIN,
  parseDate,
  parseDatetime,
  parseTime,
  parseTimestamp,
  timestampLiteral,
  formatDate,
  formatDatetime,
  formatTimeOfDay,
  type TableFieldSchema,
} from "./bigquery-types.js";

/** A value of a row that BigQuery would refuse; the message is BigQuery's, without the row prefix. */
export class RowValueError extends Error {}

const TYPE_WORD: Record<string, string> = {
  INTEGER: "integer",
  FLOAT: "double",
  BOOLEAN: "boolean",
  STRING: "string",
  DATE: "date",
  TIME: "time",
  DATETIME: "datetime",
  TIMESTAMP: "timestamp",
  GEOGRAPHY: "geography",
};

function describe(value: JsonValue): string {
  if (typeof value === "string") return `string_value: ${JSON.stringify(value)}`;
  if (typeof value === "boolean") return `bool_value: ${value}`;
  if (value instanceof JsonNumber)
    return `${/^-?\d+$/.test(value.text) ? "int64_value" : "double_value"}: ${value.text}`;
  if (value instanceof JsonArray) return "list_value";
  if (value instanceof JsonObject) return "struct_value";
  return "null_value";
}

function rawText(value: JsonValue): string {
  if (typeof value === "string") return value;
  return value === null ? "NULL" : sourceOf(value);
}

function scalarText(value: JsonValue): string | undefined {
  if (typeof value === "string") return value;
  if (value instanceof JsonNumber) return value.text;
  if (typeof value === "boolean") return value ? "true" : "false";
  return undefined;
}

/**
 * The canonical text of one scalar value for a field of the given type, as DuckDB casts it into the
 * column exactly; throws RowValueError with BigQuery's message when BigQuery would refuse it.
 * `value` is a JSON value (NDJSON loads) or a string (CSV loads, where `csv` is set).
 */
export function canonicalScalar(field: TableFieldSchema, value: JsonValue, path: string): string {
  const fail = (): never => {
    throw new RowValueError(
      `Could not convert value '${describe(value)}' to ${TYPE_WORD[field.type] ?? field.type.toLowerCase()}. Field: ${path}; Value: ${rawText(value)}`,
    );
  };
  if (value instanceof JsonArray || value instanceof JsonObject) {
    // BigQuery keeps JSON compact, whatever spacing it was loaded with.
    if (field.type === "JSON") return stringifyExact(value);
    if (field.type === "GEOGRAPHY" && value instanceof JsonObject) return stringifyExact(value);
    if (field.type === "STRING") {
      throw new RowValueError(`Could not convert value to string. Field: ${path}; Value: ${rawText(value)}`);
    }
    return fail();
  }
  if (field.type === "JSON") return stringifyExact(value);
  const text = scalarText(value);
  if (text === undefined) return fail();
  switch (field.type) {
    case "STRING": {
      if (field.maxLength !== undefined && [...text].length > Number(field.maxLength)) {
        throw new RowValueError(
          `Field ${path}: STRING(${field.maxLength}) has maximum length ${field.maxLength} but got a value with length ${[...text].length}`,
        );
      }
      return text;
    }
    case "INTEGER": {
      if (typeof value === "boolean" || !/^\s*[+-]?\d+\s*$/.test(text)) return fail();
      const n = BigInt(text.trim());
      if (n < INT64_MIN || n > INT64_MAX) return fail();
      return n.toString();
    }
    case "FLOAT": {
      if (typeof value === "boolean") return fail();
      const t = text.trim();
      if (/^[+-]?(inf|infinity)$/i.test(t)) return t.startsWith("-") ? "-Infinity" : "Infinity";
      if (/^nan$/i.test(t)) return "NaN";
      if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return fail();
      const n = Number(t);
      if (!Number.isFinite(n)) return fail();
      return t;
    }
    case "NUMERIC":
    case "BIGNUMERIC": {
      const decimal = typeof value === "boolean" ? undefined : canonicalDecimal(text);
      const [maxInteger, maxScale] = decimalBounds(field);
      if (!decimal || decimal.integerDigits > maxInteger || decimal.scale > maxScale) {
        throw new RowValueError(`Invalid ${field.type} value: ${text} Field: ${path}; Value: ${text}`);
      }
      return decimal.text;
    }
    case "BOOLEAN": {
      const t = text.trim().toLowerCase();
      if (t === "true" || t === "1") return "true";
      if (t === "false" || t === "0") return "false";
      return fail();
    }
    case "BYTES": {
      const t = text.replace(/\s+/g, "");
      if (typeof value !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(t) || t.length % 4 === 1) {
        throw new RowValueError(`Could not decode base64 string to bytes. Field: ${path}; Value: ${text}`);
      }
      const bytes = Buffer.from(t, "base64");
      if (field.maxLength !== undefined && bytes.length > Number(field.maxLength)) {
        throw new RowValueError(
          `Field ${path}: BYTES(${field.maxLength}) has maximum length ${field.maxLength} but got a value with length ${bytes.length}`,
        );
      }
      return bytes.toString("base64");
    }
    case "DATE": {
      const days = parseDate(text.trim());
      return days === undefined ? fail() : formatDate(days);
    }
    case "TIME": {
      const micros = parseTime(text.trim());
      return micros === undefined ? fail() : formatTimeOfDay(micros);
    }
    case "DATETIME": {
      const micros = parseDatetime(text.trim());
      return micros === undefined ? fail() : formatDatetime(micros).replace("T", " ");
    }
    case "TIMESTAMP": {
      let micros: bigint | undefined;
      if (value instanceof JsonNumber || /^\s*[+-]?\d+(\.\d{1,6})?\s*$/.test(text)) {
        // A number is seconds since the epoch, as in BigQuery's JSON loads.
        const decimal = canonicalDecimal(text);
        if (decimal && decimal.scale <= 6) {
          const [integer, fraction = ""] = decimal.text.replace("-", "").split(".");
          const abs = BigInt(integer!) * 1_000_000n + BigInt(fraction.padEnd(6, "0"));
          micros = decimal.text.startsWith("-") ? -abs : abs;
        }
      } else {
        micros = parseTimestamp(text);
      }
      if (micros === undefined) {
        const looksLikeTimestamp = /^\s*[+-]?\d{4,}[-/]\d{1,2}[-/]\d{1,2}/.test(text);
        if (looksLikeTimestamp) {
          throw new RowValueError(
            `Cannot return an invalid timestamp value of ${text} relative to the Unix epoch. The range of valid timestamp values is [0001-01-01 00:00:00, 9999-12-31 23:59:59.999999]; error in writing field ${path}`,
          );
        }
        return fail();
      }
      const literal = timestampLiteral(micros);
      if (micros < -62135596800000000n || micros > 253402300799999999n) {
        throw new RowValueError(
          `Cannot return an invalid timestamp value of ${micros} microseconds relative to the Unix epoch. The range of valid timestamp values is [0001-01-01 00:00:00, 9999-12-31 23:59:59.999999]; error in writing field ${path}`,
        );
      }
      return literal;
    }
    case "GEOGRAPHY": {
      const t = text.trim();
      if (
        !/^(POINT|LINESTRING|POLYGON|MULTIPOINT|MULTILINESTRING|MULTIPOLYGON|GEOMETRYCOLLECTION)\s*(EMPTY|\()/i.test(
          t,
        )
      ) {
        return fail();
      }
      return t;
    }
    case "INTERVAL":
      return text;
    default:
      return fail();
  }
}

/**
 * One JSON value of an NDJSON row as the JSON text of the staging file the emulator hands to
 * DuckDB: scalars become their canonical text, REPEATED a JSON array, RECORD an object keyed by
 * the schema's names. Throws RowValueError as BigQuery would refuse the value.
 */
export function stagedJsonValue(
  field: TableFieldSchema,
  value: JsonValue | undefined,
  path: string,
  options: { ignoreUnknownValues: boolean; nested: boolean },
): string {
  if (field.mode === "REPEATED") {
    if (value === null || value === undefined) return "[]";
    if (!(value instanceof JsonArray)) {
      throw new RowValueError(`Repeated field must be imported as a JSON array. Field: ${path}.`);
    }
    const element = { ...field, mode: "NULLABLE" };
    const items = value.items.map((item) => {
      if (item === null) {
        throw new RowValueError(`Only optional fields can be set to NULL. Field: ${path}; Value: NULL`);
      }
      return stagedJsonValue(element, item, path, { ...options, nested: true });
    });
    return `[${items.join(",")}]`;
  }
  if (value === undefined || value === null) {
    if (field.mode === "REQUIRED") {
      throw new RowValueError(
        value === undefined
          ? `Missing required field: ${path}.`
          : `Only optional fields can be set to NULL. Field: ${path}; Value: NULL`,
      );
    }
    return "null";
  }
  if (value instanceof JsonArray && field.type !== "JSON") {
    throw new RowValueError(`Array specified for non-repeated field: ${path}.`);
  }
  if (field.type === "RECORD") {
    if (!(value instanceof JsonObject)) {
      throw new RowValueError(
        `Could not convert value '${describe(value)}' to a record. Field: ${path}; Value: ${rawText(value)}`,
      );
    }
    return stagedRecord(field.fields ?? [], value, `${path}.`, options);
  }
  const text = canonicalScalar(field, value, path);
  // Inside a RECORD or ARRAY a JSON value stays JSON (DuckDB casts the whole structure); at the
  // top level every scalar is staged as text and cast by the INSERT.
  if (field.type === "JSON" && options.nested) return text;
  return JSON.stringify(options.nested ? text : stagedScalar(field, text));
}

/**
 * A top-level scalar as staged for DuckDB. NUMERIC goes as its unscaled integer (`12.5` at scale
 * 9 is `12500000000`). NOTE: DuckDB casts VARCHAR to DECIMAL(38,9) a hundred times slower than to
 * HUGEINT, which dominated large loads.
 */
export function stagedScalar(field: TableFieldSchema, canonical: string): string {
  if (field.type !== "NUMERIC") return canonical;
  const [, scale] = decimalBounds(field);
  const negative = canonical.startsWith("-");
  const [integer = "0", fraction = ""] = (negative ? canonical.slice(1) : canonical).split(".");
  const digits = `${integer}${fraction.padEnd(scale, "0")}`.replace(/^0+(?=\d)/, "");
  return negative && digits !== "0" ? `-${digits}` : digits;
}

/** The fields of a JSON object matched to a schema, case-insensitively as BigQuery matches them. */
export function stagedRecord(
  schema: readonly TableFieldSchema[],
  object: JsonObject,
  prefix: string,
  options: { ignoreUnknownValues: boolean; nested: boolean },
): string {
  const values = new Map<string, JsonValue>();
  for (const [key, value] of object.members) {
    const field = findField(schema, key);
    if (!field) {
      if (options.ignoreUnknownValues) continue;
      throw new RowValueError(`No such field: ${prefix}${key}.`);
    }
    values.set(field.name, value);
  }
  const parts = schema.map(
    (field) =>
      `${JSON.stringify(field.name)}:${stagedJsonValue(field, values.get(field.name), `${prefix}${field.name}`, { ...options, nested: true })}`,
  );
  return `{${parts.join(",")}}`;
}
