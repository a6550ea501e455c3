import { describe, expect, test } from "vitest";
import type { ColumnType } from "../../../src/connectors/column-type.js";
import { stagingTableName } from "../../../src/connectors/target-postgres/postgres-target-loader.js";
import {
  postgresTargetType,
  sameColumnType,
  stagingConversion,
  stagingType,
} from "../../../src/connectors/target-postgres/postgres-target-types.js";

// The warehouse DDL of target-postgres without a server; the integration tests load every type.

const string = (sqlType: string): ColumnType => ({ kind: "string", sqlType });

describe("postgresTargetType", () => {
  test.each<[ColumnType, string]>([
    [{ kind: "integer", bits: 16, sqlType: "smallint" }, "smallint"],
    [{ kind: "integer", bits: 64, sqlType: "integer" }, "bigint"],
    [{ kind: "decimal", precision: 12, scale: 2, sqlType: "numeric(12,2)" }, "numeric(12,2)"],
    [{ kind: "decimal", precision: 5, scale: -2, sqlType: "numeric(5,-2)" }, "numeric(5,-2)"],
    // A Singer number with only multipleOf: no precision, so unconstrained (never rounded).
    [{ kind: "decimal", scale: 10, sqlType: "number(multipleOf 1e-10)" }, "numeric"],
    [{ kind: "json", sqlType: "json" }, "json"],
    [{ kind: "json", sqlType: "hstore" }, "jsonb"],
    [{ kind: "json", sqlType: "object" }, "jsonb"],
    [string("mood"), "text"],
    [string("citext"), "text"],
    [string("inet"), "inet"],
    [string("bit(4)"), "bit(4)"],
    [string("bit varying(8)"), "bit varying(8)"],
    [string("tstzrange"), "tstzrange"],
    [{ kind: "array", element: string("bit"), dimensions: 1, sqlType: "bit(4)[]" }, "bit varying[]"],
    [
      {
        kind: "array",
        element: { kind: "integer", bits: 32, sqlType: "int4" },
        dimensions: 2,
        sqlType: "integer[]",
      },
      "integer[]",
    ],
    [{ kind: "timestamptz", sqlType: "timestamp(3) with time zone" }, "timestamp with time zone"],
  ])("%j → %s", (type, expected) => {
    expect(postgresTargetType(type)).toBe(expected);
  });
});

describe("staging", () => {
  test("bytea and arrays are staged as text and converted; other kinds are read by COPY as they are", () => {
    const bytes: ColumnType = { kind: "bytes", sqlType: "bytea" };
    expect(stagingType(bytes)).toBe("text");
    expect(stagingConversion("c1", bytes)).toBe("decode(c1, 'hex')");
    const interval: ColumnType = { kind: "interval", sqlType: "interval" };
    expect(stagingType(interval)).toBe("interval");
    expect(stagingConversion("c2", interval)).toBe("c2");
  });

  test("a bytea array's hex elements get the \\x prefix inside the JSON before the cast", () => {
    const type: ColumnType = {
      kind: "array",
      element: { kind: "bytes", sqlType: "bytea" },
      dimensions: 1,
      sqlType: "bytea[]",
    };
    expect(stagingConversion("c0", type)).toBe(
      `(SELECT sluice_a FROM jsonb_to_record(jsonb_build_object('sluice_a', regexp_replace(c0, '"([0-9a-fA-F]*)"', '"\\\\\\\\x\\1"', 'g')::jsonb)) AS sluice_r(sluice_a text[]))::bytea[]`,
    );
  });

  test("an array of simple strings takes the literal path: its brackets become braces", () => {
    const type: ColumnType = {
      kind: "array",
      element: { kind: "integer", bits: 32, sqlType: "int4" },
      dimensions: 2,
      sqlType: "integer[]",
    };
    expect(stagingConversion("c3", type)).toMatch(
      /^CASE WHEN c3 ~ '\^\(.*\)\*\$' THEN translate\(c3, '\[\]', '\{\}'\)::integer\[\] ELSE \(SELECT sluice_a FROM jsonb_to_record/,
    );
  });

  test("array types compare equal whatever their declared dimensions", () => {
    expect(sameColumnType("integer[]", "integer[][]")).toBe(true);
    expect(sameColumnType("numeric(12,2)", "numeric(12,3)")).toBe(false);
  });
});

describe("stagingTableName", () => {
  test("`<table>__sluice_new` while it fits 63 bytes", () => {
    expect(stagingTableName("events")).toBe("events__sluice_new");
  });

  test("a long name is shortened on a character boundary with a hash, never to the table's own name", () => {
    const table = `t${"ü".repeat(31)}`; // 63 bytes
    const staging = stagingTableName(table);
    expect(Buffer.byteLength(staging)).toBeLessThanOrEqual(63);
    expect(staging).not.toBe(table);
    expect(staging).toMatch(/^tü+__sluice_[0-9a-f]{8}$/);
    expect(stagingTableName(`${table.slice(0, -1)}x`)).not.toBe(staging);
  });
});
