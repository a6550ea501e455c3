import { describe, expect, test } from "vitest";
import type { ColumnType } from "../../../src/connectors/column-type.js";
import { jsonSchemaOf } from "../../../src/connectors/singer/json-schema-of.js";
import { columnTypeOfJsonSchema } from "../../../src/connectors/singer/singer-column-types.js";
import {
  bytesToWire,
  fieldEncoderFor,
  intervalToWire,
} from "../../../src/connectors/singer/singer-record-encoder.js";
import { columnTypeOfSqlDatatype, sqlDatatypeOf } from "../../../src/connectors/singer/sql-datatype.js";
import { intervalToIso8601 } from "../../../src/connectors/batch-rows.js";
import { formatSchemaJson } from "../../../src/protocol/catalog.js";
import { formatSchemaMessage } from "../../../src/protocol/singer-messages.js";
import { parseExactJson } from "../../../src/protocol/exact-json.js";

/** Column types as tap-postgres's `columnTypeOf` makes them (sqlType: the source's own name). */
const TAP_TYPES: ColumnType[] = [
  { kind: "integer", bits: 16, sqlType: "smallint" },
  { kind: "integer", bits: 32, sqlType: "integer" },
  { kind: "integer", bits: 64, sqlType: "bigint" },
  { kind: "decimal", precision: 12, scale: 2, sqlType: "numeric(12,2)" },
  { kind: "decimal", precision: 5, scale: -2, sqlType: "numeric(5,-2)" },
  { kind: "decimal", sqlType: "numeric" },
  { kind: "decimal", precision: 19, scale: 2, sqlType: "money" },
  { kind: "decimal", precision: 10, scale: 2, sqlType: "positive_amount" },
  { kind: "float", bits: 32, sqlType: "real" },
  { kind: "float", bits: 64, sqlType: "double precision" },
  { kind: "boolean", sqlType: "boolean" },
  { kind: "uuid", sqlType: "uuid" },
  { kind: "json", sqlType: "json" },
  { kind: "json", sqlType: "jsonb" },
  { kind: "json", sqlType: "hstore" },
  { kind: "date", sqlType: "date" },
  { kind: "time", sqlType: "time without time zone" },
  { kind: "timetz", sqlType: "time with time zone" },
  { kind: "timestamp", sqlType: "timestamp without time zone" },
  { kind: "timestamptz", sqlType: "timestamp with time zone" },
  { kind: "interval", sqlType: "interval" },
  { kind: "bytes", sqlType: "bytea" },
  { kind: "string", sqlType: "text" },
  { kind: "string", sqlType: "character varying(10)", maxLength: 10 },
  { kind: "string", sqlType: "character(4)", maxLength: 4 },
  { kind: "string", sqlType: "inet" },
  { kind: "string", sqlType: "bit(4)" },
  { kind: "string", sqlType: "mood" },
  { kind: "string", sqlType: "tstzrange" },
  {
    kind: "array",
    element: { kind: "integer", bits: 32, sqlType: "int4" },
    dimensions: 2,
    sqlType: "integer[]",
  },
  {
    kind: "array",
    element: { kind: "decimal", precision: 10, scale: 2, sqlType: "numeric" },
    dimensions: 1,
    sqlType: "numeric(10,2)[]",
  },
  { kind: "array", element: { kind: "string", sqlType: "bit" }, dimensions: 1, sqlType: "bit(4)[]" },
  { kind: "array", element: { kind: "bytes", sqlType: "bytea" }, dimensions: 1, sqlType: "bytea[]" },
];

/** What loaders read of a type: everything but `sqlType`, which only names json's and strings' own types. */
function shape(type: ColumnType): unknown {
  const { sqlType, ...rest } = type;
  const element = type.kind === "array" ? { element: shape(type.element) } : {};
  const named = type.kind === "string" || type.kind === "json" ? { sqlType } : {};
  return { ...rest, ...element, ...named };
}

describe("x-sql-datatype", () => {
  test.each(TAP_TYPES.map((type) => ({ type, text: sqlDatatypeOf(type) })))(
    "$text reads back as the tap's column type",
    ({ type }) => {
      const schema = JSON.parse(formatSchemaJson(jsonSchemaOf(type, true))) as Record<string, unknown>;
      const read = columnTypeOfJsonSchema(schema);
      expect(read.nullable).toBe(true);
      const expected = shape(type) as Record<string, unknown>;
      // A string's name is kept where a loader reads it (inet, bit(4)); varchar/char are spelled by format_type.
      if (type.kind === "string" && type.maxLength !== undefined) delete expected.sqlType;
      expect(shape(read.type)).toMatchObject(expected);
    },
  );

  test("PostgreSQL's other spellings", () => {
    expect(columnTypeOfSqlDatatype("timetz")).toMatchObject({ kind: "timetz" });
    expect(columnTypeOfSqlDatatype("time(3) with time zone")).toMatchObject({ kind: "timetz" });
    expect(columnTypeOfSqlDatatype("TIMESTAMPTZ")).toMatchObject({ kind: "timestamptz" });
    expect(columnTypeOfSqlDatatype("int4[]")).toMatchObject({
      kind: "array",
      dimensions: 1,
      element: { kind: "integer", bits: 32 },
    });
    expect(columnTypeOfSqlDatatype("decimal(38, 0)")).toMatchObject({ precision: 38, scale: 0 });
    expect(columnTypeOfSqlDatatype("varchar(20)")).toMatchObject({ kind: "string", maxLength: 20 });
    expect(columnTypeOfSqlDatatype("interval day to second")).toMatchObject({ kind: "interval" });
    expect(columnTypeOfSqlDatatype("vector")).toBeUndefined();
  });

  test("an unknown x-sql-datatype names a string column's type and leaves other JSON types alone", () => {
    expect(columnTypeOfJsonSchema({ type: "string", "x-sql-datatype": "inet" }).type).toEqual({
      kind: "string",
      sqlType: "inet",
    });
    expect(
      columnTypeOfJsonSchema({ type: "array", items: {}, "x-sql-datatype": "vector" }).type,
    ).toMatchObject({
      kind: "json",
    });
  });

  test("without x-sql-datatype a schema is read as before (a third-party tap's)", () => {
    // The forms sluice's tap adds for other targets change nothing on their own.
    expect(columnTypeOfJsonSchema({ type: "string", format: "uuid" }).type.kind).toBe("string");
    expect(columnTypeOfJsonSchema({ type: "string", contentEncoding: "base16" }).type.kind).toBe("string");
    expect(columnTypeOfJsonSchema({ type: "string", format: "time" }).type.kind).toBe("time");
    expect(columnTypeOfJsonSchema({ type: "array", items: { type: "integer" } }).type.kind).toBe("json");
  });
});

describe("integer ranges in the SCHEMA", () => {
  test("int2, int4 and int8 carry their exact bounds, bigint's written from their text", () => {
    const line = formatSchemaMessage({
      stream: "public-t",
      schema: {
        type: "object",
        properties: {
          s: jsonSchemaOf({ kind: "integer", bits: 16, sqlType: "smallint" }, false),
          i: jsonSchemaOf({ kind: "integer", bits: 32, sqlType: "integer" }, true),
          b: jsonSchemaOf({ kind: "integer", bits: 64, sqlType: "bigint" }, true),
          n: { type: "number", maximum: 2 ** 63 },
        },
      },
      keyProperties: ["s"],
    });
    expect(line).toContain('"s":{"type":"integer","minimum":-32768,"maximum":32767');
    expect(line).toContain('"i":{"type":["null","integer"],"minimum":-2147483648,"maximum":2147483647');
    expect(line).toContain(
      '"b":{"type":["null","integer"],"minimum":-9223372036854775808,"maximum":9223372036854775807',
    );
    // Only an integer's bound is bigint's: a number's is written as JSON.stringify writes it.
    expect(line).toContain('"n":{"type":"number","maximum":9223372036854776000}');
  });
});

describe("RECORD values of the kinds JSON Schema alone cannot name", () => {
  const encode = (sqlDatatype: string, json: string, contentEncoding?: string): string =>
    fieldEncoderFor(
      { name: "c", type: columnTypeOfSqlDatatype(sqlDatatype)!, nullable: true },
      contentEncoding ? { contentEncoding } : {},
    )(parseExactJson(json));

  test("bytea from hex (base16) or base64, to the wire's lowercase hex", () => {
    expect(encode("bytea", '"00FF10"')).toBe("00ff10");
    expect(encode("bytea", '"\\\\x00ff"')).toBe("00ff");
    expect(encode("bytea", '""')).toBe("");
    expect(encode("bytea", '"AP8Q"', "base64")).toBe("00ff10");
    expect(() => encode("bytea", '"0f0"')).toThrow(/expects hex text/);
    expect(() => encode("bytea", '"AP8Q"', "base32")).toThrow(/base16 \(hex\) or base64/);
    expect(bytesToWire("not base64!", "base64")).toBeUndefined();
  });

  test("intervals: every ISO 8601 duration batchRowsAsJson writes reads back to the same wire text", () => {
    for (const wire of [
      "14 months 3 days 14706500000 microseconds",
      "0 months -1 days 7200000000 microseconds",
      "-3 months 0 days 0 microseconds",
      "0 months 0 days 0 microseconds",
      "-1200 months 0 days -1 microseconds",
      "1 months -2 days -3723000001 microseconds",
    ]) {
      expect(intervalToWire(intervalToIso8601(wire))).toBe(wire);
    }
    expect(intervalToWire("P1W")).toBe("0 months 7 days 0 microseconds");
    expect(intervalToWire("-P1Y2M")).toBe("-14 months 0 days 0 microseconds");
    expect(intervalToWire("P")).toBeUndefined();
    expect(intervalToWire("PT0.0000001S")).toBeUndefined();
    expect(() => encode("interval", '"1 day"')).toThrow(/ISO 8601 duration/);
  });

  test("arrays: JSON arrays become the wire's arrays of element texts, nested per dimension", () => {
    expect(encode("numeric(10,2)[]", "[1.50, -2.25, 1e2]")).toBe('["1.50","-2.25","100"]');
    expect(encode("integer[]", "[[1, 2], [3, null]]")).toBe('[["1","2"],["3",null]]');
    expect(encode("bytea[]", '["00ff", null]')).toBe('["00ff",null]');
    expect(encode("timestamptz[]", '["2024-01-01T00:00:00+00:00", "infinity"]')).toBe(
      '["2024-01-01 00:00:00+00:00","infinity"]',
    );
    // A json element that is an array stays one element.
    expect(encode("jsonb[]", '[{"x": 1}, [], [1, 2]]')).toBe('["{\\"x\\": 1}","[]","[1, 2]"]');
    expect(() => encode("integer[]", '"{1,2}"')).toThrow(/a JSON array/);
  });

  test("timetz keeps its offset", () => {
    expect(encode("time with time zone", '"12:34:56.789+05:30"')).toBe("12:34:56.789+05:30");
  });
});
