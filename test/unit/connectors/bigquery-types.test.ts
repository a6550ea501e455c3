import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { ColumnType } from "../../../src/connectors/column-type.js";
import {
  bigqueryType,
  ddlType,
  DUCKDB_MACROS,
  evolveType,
  type BigqueryColumnType,
  ndjsonConversion,
  type InvalidValuePolicy,
} from "../../../src/connectors/target-bigquery/bigquery-types.js";

const int32: ColumnType = { kind: "integer", bits: 32, sqlType: "integer" };
const numeric = (precision?: number, scale?: number): ColumnType => ({
  kind: "decimal",
  ...(precision !== undefined ? { precision } : {}),
  ...(scale !== undefined ? { scale } : {}),
  sqlType: "numeric",
});
const array = (element: ColumnType, dimensions = 1): ColumnType => ({
  kind: "array",
  element,
  dimensions,
  sqlType: `${element.sqlType}[]`,
});

describe("sluice types onto BigQuery types", () => {
  test.each([
    [int32, "INT64"],
    [numeric(12, 2), "NUMERIC(12, 2)"],
    [numeric(38, 9), "NUMERIC(38, 9)"],
    [numeric(38, 0), "BIGNUMERIC(38, 0)"],
    [numeric(20, 10), "BIGNUMERIC(20, 10)"],
    [numeric(76, 38), "BIGNUMERIC(76, 38)"],
    [numeric(60, 0), "BIGNUMERIC"],
    [numeric(), "BIGNUMERIC"],
    [{ kind: "float", bits: 64, sqlType: "double precision" }, "FLOAT64"],
    [{ kind: "boolean", sqlType: "boolean" }, "BOOL"],
    [{ kind: "string", sqlType: "varchar(10)", maxLength: 10 }, "STRING"],
    [{ kind: "uuid", sqlType: "uuid" }, "STRING"],
    [{ kind: "json", sqlType: "jsonb" }, "JSON"],
    [{ kind: "bytes", sqlType: "bytea" }, "BYTES"],
    [{ kind: "date", sqlType: "date" }, "DATE"],
    [{ kind: "time", sqlType: "time" }, "TIME"],
    [{ kind: "timetz", sqlType: "timetz" }, "STRING"],
    [{ kind: "timestamp", sqlType: "timestamp" }, "DATETIME"],
    [{ kind: "timestamptz", sqlType: "timestamptz" }, "TIMESTAMP"],
    [{ kind: "interval", sqlType: "interval" }, "STRING"],
    [array(int32), "ARRAY<INT64>"],
    [array(numeric(10, 2)), "ARRAY<NUMERIC(10, 2)>"],
    [array(int32, 2), "JSON"],
  ] as [ColumnType, string][])("%j → %s", (type, expected) => {
    expect(ddlType(bigqueryType(type))).toBe(expected);
  });

  test("an existing column is kept when it holds the new type, widened to hold both when BigQuery can, else refused", () => {
    const n = (precision?: number, scale?: number) => bigqueryType(numeric(precision, scale));
    const evolve = (a: BigqueryColumnType, b: BigqueryColumnType) => {
      const result = evolveType(a, b);
      return result.action === "widen" ? ddlType(result.to) : result.action;
    };
    expect(evolve(n(12, 2), n(12, 2))).toBe("keep");
    expect(evolve(n(20, 2), n(10, 2))).toBe("keep");
    expect(evolve(n(), bigqueryType(int32))).toBe("keep");
    expect(evolve(bigqueryType(int32), n(12, 2))).toBe("NUMERIC(21, 2)");
    expect(evolve(bigqueryType(int32), n(30, 2))).toBe("NUMERIC(30, 2)");
    expect(evolve(bigqueryType(int32), n(35, 2))).toBe("BIGNUMERIC(35, 2)");
    expect(evolve(n(10, 2), n(20, 4))).toBe("NUMERIC(20, 4)");
    expect(evolve(n(10, 2), n(40, 0))).toBe("BIGNUMERIC");
    expect(evolve(n(10, 2), n(36, 0))).toBe("BIGNUMERIC(38, 2)");
    expect(evolve(bigqueryType(int32), n())).toBe("BIGNUMERIC");
    expect(
      evolve({ type: "STRING", mode: "NULLABLE", maxLength: 10 }, { type: "STRING", mode: "NULLABLE" }),
    ).toBe("STRING");
    expect(evolve({ type: "STRING", mode: "NULLABLE" }, bigqueryType(int32))).toBe("incompatible");
    expect(evolve(bigqueryType(array(int32)), bigqueryType(array(numeric(10, 2))))).toBe("incompatible");
    expect(evolve({ type: "INT64", mode: "REQUIRED" }, bigqueryType(int32))).toBe("keep");
  });
});

/** The NDJSON values DuckDB writes for batch fields, as JSON text per value. */
let connection: DuckDBConnection;
let instance: DuckDBInstance;
beforeAll(async () => {
  instance = await DuckDBInstance.create(":memory:");
  connection = await instance.connect();
  for (const macro of DUCKDB_MACROS) await connection.run(macro);
});
afterAll(() => {
  connection.closeSync();
  instance.closeSync();
});

async function convert(type: ColumnType, values: (string | null)[], policy: InvalidValuePolicy = "fail") {
  const rows = values.map((v) => `(${v === null ? "NULL" : `'${v.replaceAll("'", "''")}'`})`).join(", ");
  const sql = ndjsonConversion("x", type, { policy, column: "c", rowDescription: "'row ' || _sluice_row" });
  const reader = await connection.runAndReadAll(
    `SELECT CAST(to_json(${sql}) AS VARCHAR) AS v FROM (SELECT x, row_number() OVER () AS _sluice_row FROM (VALUES ${rows}) t(x))`,
  );
  return reader.getRowObjectsJS().map((r) => (r.v === null ? null : (JSON.parse(String(r.v)) as unknown)));
}

describe("batch text into the NDJSON BigQuery loads", () => {
  test("exact decimals travel as strings; floats as numbers or NaN/Infinity strings", async () => {
    expect(await convert(numeric(12, 2), ["1234567890.12", "-0.01", null])).toEqual([
      "1234567890.12",
      "-0.01",
      null,
    ]);
    expect(await convert(numeric(), ["3.14159265358979323846264338327950288419"])).toEqual([
      "3.14159265358979323846264338327950288419",
    ]);
    expect(
      await convert({ kind: "float", bits: 64, sqlType: "double" }, ["0.1", "NaN", "-Infinity", "1e+308"]),
    ).toEqual([0.1, "NaN", "-Infinity", 1e308]);
  });

  test("dates and times in BigQuery's forms; bytes in base64; intervals in BigQuery's canonical text", async () => {
    expect(
      await convert({ kind: "timestamptz", sqlType: "timestamptz" }, ["2024-01-31 10:00:00.5+00"]),
    ).toEqual(["2024-01-31 10:00:00.5+00:00"]);
    expect(await convert({ kind: "bytes", sqlType: "bytea" }, ["00ff10", ""])).toEqual(["AP8Q", ""]);
    expect(
      await convert({ kind: "interval", sqlType: "interval" }, [
        "14 months 3 days 14706500000 microseconds",
        "0 months -1 days 7200000000 microseconds",
        "-3 months 0 days 0 microseconds",
      ]),
    ).toEqual(["1-2 3 4:5:6.5", "0-0 -1 2:0:0", "-0-3 0 0:0:0"]);
    expect(await convert({ kind: "boolean", sqlType: "boolean" }, ["t", "f", null])).toEqual([
      true,
      false,
      null,
    ]);
  });

  test("one-dimensional arrays become lists of converted elements; deeper ones JSON", async () => {
    expect(await convert(array(numeric(10, 2)), ['["1.50","-2.25"]', "[]"])).toEqual([["1.50", "-2.25"], []]);
    expect(await convert(array(int32, 2), ['[["1","2"],["3",null]]'])).toEqual([
      [
        [1, 2],
        [3, null],
      ],
    ]);
    expect(await convert(array({ kind: "bytes", sqlType: "bytea" }), ['["00ff"]'])).toEqual([["AP8="]]);
  });

  test("fail: a value BigQuery cannot hold stops the batch, naming column, row and value", async () => {
    await expect(convert({ kind: "date", sqlType: "date" }, ["2024-01-01", "infinity"])).rejects.toThrow(
      /column "c" \(row 2\): BigQuery cannot hold the value "infinity"/,
    );
    await expect(convert(numeric(), ["NaN"])).rejects.toThrow(/cannot hold the value "NaN"/);
    await expect(convert(numeric(), ["1e-40".replace("1e-40", "0." + "0".repeat(39) + "1")])).rejects.toThrow(
      /cannot hold/,
    );
    await expect(convert(array(int32), ['["1",null]'])).rejects.toThrow(/arrays cannot hold a NULL element/);
  });

  test("null: such values load as NULL", async () => {
    expect(
      await convert(
        { kind: "timestamp", sqlType: "timestamp" },
        ["-infinity", "2024-01-01 00:00:00"],
        "null",
      ),
    ).toEqual([null, "2024-01-01 00:00:00"]);
    expect(await convert(array(int32), ['["1",null]'], "null")).toEqual([null]);
  });

  test("clamp: the nearest value BigQuery holds", async () => {
    const big = "578960446186580977117854925043439539266.34992332820282019728792003956564819967";
    expect(
      await convert(
        numeric(),
        [
          "NaN",
          "Infinity",
          "-Infinity",
          "3.141592653589793238462643383279502884197169399375",
          big,
          "6" + "0".repeat(38),
        ],
        "clamp",
      ),
    ).toEqual([null, big, `-${big}`, "3.14159265358979323846264338327950288419", big, big]);
    expect(await convert(numeric(5, 2), ["Infinity", "NaN"], "clamp")).toEqual(["999.99", null]);
    expect(
      await convert(
        { kind: "date", sqlType: "date" },
        ["infinity", "-infinity", "0044-03-15 BC", "12000-01-01"],
        "clamp",
      ),
    ).toEqual(["9999-12-31", "0001-01-01", "0001-01-01", "9999-12-31"]);
    expect(await convert({ kind: "timestamptz", sqlType: "timestamptz" }, ["infinity"], "clamp")).toEqual([
      "9999-12-31 23:59:59.999999+00:00",
    ]);
    expect(await convert({ kind: "time", sqlType: "time" }, ["24:00:00"], "clamp")).toEqual([
      "23:59:59.999999",
    ]);
    expect(await convert(array(int32), ['["1",null,"3"]'], "clamp")).toEqual([[1, 3]]);
  });
});
