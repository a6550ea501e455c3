import { describe, expect, test } from "vitest";
import { columnTypeOfJsonSchema } from "../../../src/connectors/singer/singer-column-types.js";
import {
  csvField,
  dateToWire,
  fieldEncoderFor,
  plainDecimal,
  rfc3339ToWire,
} from "../../../src/connectors/singer/singer-record-encoder.js";
import type { ColumnType } from "../../../src/connectors/column-type.js";
import { JsonNumber, parseExactJson } from "../../../src/protocol/exact-json.js";

const kindOf = (schema: Record<string, unknown>): Partial<ColumnType> & { nullable: boolean } => {
  const { type, nullable } = columnTypeOfJsonSchema(schema);
  const { sqlType: _sqlType, ...rest } = type;
  return { ...rest, nullable };
};

describe("Singer JSON schema → sluice column types", () => {
  test("scalars", () => {
    expect(kindOf({ type: "integer" })).toEqual({ kind: "integer", bits: 64, nullable: false });
    expect(kindOf({ type: ["null", "integer"], minimum: -2147483648, maximum: 2147483647 })).toEqual({
      kind: "integer",
      bits: 32,
      nullable: true,
    });
    expect(kindOf({ type: "number" })).toEqual({ kind: "decimal", nullable: false });
    expect(kindOf({ type: ["null", "number"], multipleOf: 1e-10 })).toEqual({
      kind: "decimal",
      scale: 10,
      nullable: true,
    });
    // pipelinewise-tap-postgres's numeric(12,2)
    expect(
      kindOf({ type: "number", multipleOf: 0.01, maximum: 1e10, exclusiveMaximum: true, minimum: -1e10 }),
    ).toEqual({ kind: "decimal", precision: 12, scale: 2, nullable: false });
    expect(kindOf({ type: ["integer", "number"] })).toMatchObject({ kind: "decimal" });
    expect(kindOf({ type: "boolean" })).toMatchObject({ kind: "boolean" });
    expect(kindOf({ type: "string", maxLength: 20 })).toMatchObject({ kind: "string", maxLength: 20 });
  });

  test("string formats", () => {
    expect(kindOf({ type: ["null", "string"], format: "date-time" })).toMatchObject({ kind: "timestamptz" });
    expect(kindOf({ type: "string", format: "date" })).toMatchObject({ kind: "date" });
    expect(kindOf({ type: "string", format: "time" })).toMatchObject({ kind: "time" });
    expect(kindOf({ anyOf: [{ type: "string", format: "date-time" }, { type: "null" }] })).toEqual({
      kind: "timestamptz",
      nullable: true,
    });
  });

  test("objects, arrays, mixes and untyped properties are json", () => {
    expect(kindOf({ type: "object", properties: {} })).toMatchObject({ kind: "json" });
    expect(kindOf({ type: ["null", "array"], items: { type: "integer" } })).toMatchObject({ kind: "json" });
    expect(kindOf({ type: ["null", "object", "array", "string", "number", "boolean"] })).toMatchObject({
      kind: "json",
      nullable: true,
    });
    expect(kindOf({})).toMatchObject({ kind: "json", nullable: true });
    expect(kindOf({ type: ["string", "number"] })).toMatchObject({ kind: "string" });
  });
});

describe("RECORD values → sluice CSV wire form", () => {
  const encode = (type: ColumnType, json: string): string =>
    fieldEncoderFor({ name: "c", type, nullable: true })(parseExactJson(json));

  test("numbers stay exact; exponents are expanded for decimals", () => {
    const decimal: ColumnType = { kind: "decimal", sqlType: "number" };
    expect(encode(decimal, "123456789012345678901234567890.000000001")).toBe(
      "123456789012345678901234567890.000000001",
    );
    expect(encode(decimal, '"NaN"')).toBe("NaN");
    expect(plainDecimal("1.5E+3")).toBe("1500");
    expect(plainDecimal("12e-3")).toBe("0.012");
    expect(plainDecimal("-1.25e1")).toBe("-12.5");
    const integer: ColumnType = { kind: "integer", bits: 64, sqlType: "integer" };
    expect(encode(integer, "9223372036854775807")).toBe("9223372036854775807");
    expect(encode(integer, "1.0")).toBe("1");
    expect(() => encode(integer, "1.5")).toThrow(/expects an integer, got 1.5/);
  });

  test("timestamps, dates, booleans and json", () => {
    expect(rfc3339ToWire("2024-01-31T12:00:00.5+00:00")).toBe("2024-01-31 12:00:00.5+00:00");
    expect(rfc3339ToWire("2024-01-31T12:00:00Z")).toBe("2024-01-31 12:00:00+00");
    expect(dateToWire("2024-01-31T00:00:00+00:00")).toBe("2024-01-31");
    expect(encode({ kind: "boolean", sqlType: "boolean" }, "true")).toBe("t");
    expect(encode({ kind: "json", sqlType: "json" }, '{"a": [1.10, {"b": null}]}')).toBe(
      '{"a": [1.10, {"b": null}]}',
    );
    expect(encode({ kind: "json", sqlType: "json" }, '"caf\\u00e9"')).toBe('"café"');
    expect(encode({ kind: "string", sqlType: "string" }, "12.50")).toBe("12.50");
    expect(new JsonNumber("1").text).toBe("1");
  });

  test("CSV fields: NULL unquoted, empty string quoted, specials quoted", () => {
    expect(csvField(null)).toBe("");
    expect(csvField("")).toBe('""');
    expect(csvField('a "b",\nc')).toBe('"a ""b"",\nc"');
    expect(csvField("plain")).toBe("plain");
  });
});
