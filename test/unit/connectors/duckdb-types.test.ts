import { DuckDBInstance } from "@duckdb/node-api";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import type { ColumnType } from "../../../src/connectors/column-type.js";
import {
  copyTextUnescape,
  csvParseType,
  duckdbConversion,
  duckdbLiteral,
  duckdbType,
} from "../../../src/connectors/target-duckdb/duckdb-types.js";
import { copyTextHostileText, escapeCopyText } from "../../support/copy-text.js";

const t = (type: Omit<ColumnType, "sqlType"> & Record<string, unknown>): ColumnType =>
  ({ sqlType: "x", ...type }) as ColumnType;

describe("DuckDB type mapping", () => {
  test("numeric keeps precision and scale, and never becomes a float", () => {
    expect(duckdbType(t({ kind: "decimal", precision: 12, scale: 2 }))).toBe("DECIMAL(12,2)");
    expect(duckdbType(t({ kind: "decimal", precision: 38, scale: 0 }))).toBe("DECIMAL(38,0)");
    // Beyond DuckDB's 38 digits, or without a scale, the exact text is kept.
    expect(duckdbType(t({ kind: "decimal", precision: 50, scale: 2 }))).toBe("VARCHAR");
    expect(duckdbType(t({ kind: "decimal" }))).toBe("VARCHAR");
  });

  test("arrays nest once per dimension and convert their elements", () => {
    const matrix = t({ kind: "array", dimensions: 2, element: t({ kind: "integer", bits: 32 }) });
    expect(duckdbType(matrix)).toBe("INTEGER[][]");
    expect(duckdbConversion("c0", matrix)).toBe(
      "list_transform(CAST(CAST(c0 AS JSON) AS VARCHAR[][]), l1 -> list_transform(l1, v -> CAST(v AS INTEGER)))",
    );
    const texts = t({ kind: "array", dimensions: 1, element: t({ kind: "string" }) });
    expect(duckdbConversion("c1", texts)).toBe("CAST(CAST(c1 AS JSON) AS VARCHAR[])");
  });

  test("kinds DuckDB's CSV reader would silently get wrong are never parsed by it", () => {
    expect(csvParseType(t({ kind: "timestamptz" }))).toBeUndefined();
    expect(csvParseType(t({ kind: "timetz" }))).toBeUndefined();
    expect(csvParseType(t({ kind: "date" }))).toBeUndefined();
    expect(csvParseType(t({ kind: "integer", bits: 64 }))).toBe("BIGINT");
    expect(csvParseType(t({ kind: "decimal" }))).toBe("VARCHAR");
  });

  test("bytes, json and BC dates have explicit conversions", () => {
    expect(duckdbConversion("c2", t({ kind: "bytes" }))).toBe("unhex(c2)");
    expect(duckdbConversion("c3", t({ kind: "json" }))).toBe("CAST(c3 AS JSON)");
    expect(duckdbConversion("c4", t({ kind: "date" }))).toContain("' (BC)'");
  });

  test("copyTextUnescape undoes COPY text escaping in DuckDB, for any text", async () => {
    const instance = await DuckDBInstance.create(":memory:");
    const connection = await instance.connect();
    try {
      const texts = fc.sample(copyTextHostileText(16), { numRuns: 300, seed: 7 });
      texts.push("\\\\n", "\\N", "", '{"a": "q\\"z\\n"}');
      const selects = texts.map(
        (text, i) => `SELECT ${i} AS i, ${copyTextUnescape(duckdbLiteral(escapeCopyText(text)))} AS v`,
      );
      const reader = await connection.runAndReadAll(`${selects.join(" UNION ALL ")} ORDER BY i`);
      expect(reader.getRowObjectsJS().map((r) => r.v)).toEqual(texts);
      // NULL stays NULL.
      const nulls = await connection.runAndReadAll(
        `SELECT ${copyTextUnescape("CAST(NULL AS VARCHAR)")} AS v`,
      );
      expect(nulls.getRowObjectsJS()[0]!.v).toBeNull();
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  });
});
