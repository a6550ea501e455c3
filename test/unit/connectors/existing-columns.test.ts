import { describe, expect, test } from "vitest";
import type { ColumnType } from "../../../src/connectors/column-type.js";
import {
  keptColumnsWarning,
  planExistingColumns,
} from "../../../src/connectors/loader-core/existing-columns.js";
import {
  bigqueryColumnFit,
  columnText,
  ddlType,
  parseColumnText,
} from "../../../src/connectors/target-bigquery/bigquery-types.js";
import { duckdbColumnFit, duckdbType } from "../../../src/connectors/target-duckdb/duckdb-types.js";
import {
  postgresColumnFit,
  postgresTargetType,
} from "../../../src/connectors/target-postgres/postgres-target-types.js";

const int32: ColumnType = { kind: "integer", bits: 32, sqlType: "integer" };
const int64: ColumnType = { kind: "integer", bits: 64, sqlType: "bigint" };
const money: ColumnType = { kind: "decimal", precision: 12, scale: 2, sqlType: "numeric(12,2)" };
const uuid: ColumnType = { kind: "uuid", sqlType: "uuid" };
const text: ColumnType = { kind: "string", sqlType: "text" };
const tags: ColumnType = { kind: "array", element: text, dimensions: 1, sqlType: "_text" };
const instant: ColumnType = { kind: "timestamptz", sqlType: "timestamptz" };

describe("which of another target's column types hold sluice's values", () => {
  // pipelinewise target-postgres's column_type: number → double precision, array → jsonb,
  // date-time → timestamp without time zone, other strings → character varying.
  test.each([
    [money, "double precision", "holds", "about 15 significant digits kept"],
    [uuid, "character varying", "holds", "kept as its text"],
    [tags, "jsonb", "holds", "kept as a JSON array"],
    [instant, "timestamp without time zone", "holds", "the offset is not kept: instants are stored in UTC"],
    [int32, "numeric", "holds", undefined],
    [int64, "numeric(20,0)", "holds", undefined],
    [money, "numeric(14,4)", "holds", undefined],
    [text, "character varying", "holds", undefined],
    [int32, "integer", "same", undefined],
    [text, "integer", "refused", undefined],
    [int64, "integer", "refused", undefined],
    [money, "numeric(12,1)", "refused", undefined],
    [uuid, "character varying(20)", "refused", undefined],
    [int32, "jsonb", "refused", undefined],
  ] as const)("PostgreSQL: %o in %s %s", (type, current, fits, loss) => {
    const fit = postgresColumnFit(type, current);
    expect(fit.fits).toBe(fits);
    if (fit.fits === "holds") expect(fit.loss).toBe(loss);
  });

  // jwills target-duckdb's: json, timestamp, double, hugeint, varchar.
  test.each([
    [money, "DOUBLE", "holds", "about 15 significant digits kept"],
    [uuid, "VARCHAR", "holds", "kept as its text"],
    [tags, "JSON", "holds", "kept as a JSON array"],
    [instant, "TIMESTAMP", "holds", "the offset is not kept: instants are stored in UTC"],
    [int64, "HUGEINT", "holds", undefined],
    [instant, "TIMESTAMP WITH TIME ZONE", "same", undefined],
    [text, "INTEGER", "refused", undefined],
    [int64, "INTEGER", "refused", undefined],
  ] as const)("DuckDB: %o in %s %s", (type, current, fits, loss) => {
    const fit = duckdbColumnFit(type, current);
    expect(fit.fits).toBe(fits);
    if (fit.fits === "holds") expect(fit.loss).toBe(loss);
  });

  // adswerve target-bigquery's: INTEGER, FLOAT, NUMERIC, STRING, TIMESTAMP, REPEATED fields, as
  // `columns` spells them (columnText).
  const numeric: ColumnType = { kind: "decimal", sqlType: "numeric" };
  const codes: ColumnType = { kind: "array", element: int32, dimensions: 1, sqlType: "_int4" };
  const naive: ColumnType = { kind: "timestamp", sqlType: "timestamp" };
  test.each([
    [
      money,
      "FLOAT64",
      "holds",
      "about 15 significant digits kept; a value beyond FLOAT64's range fails the batch",
    ],
    [
      numeric,
      "NUMERIC",
      "holds",
      "rounded to 9 fraction digits; a value of more than 29 integer digits fails the batch",
    ],
    [money, "NUMERIC", "same", undefined],
    [uuid, "STRING", "same", undefined],
    [tags, "STRING", "holds", "kept as JSON text"],
    [codes, "ARRAY<STRING>", "holds", "elements kept as their text"],
    [tags, "ARRAY<STRING>", "same", undefined],
    [naive, "TIMESTAMP", "holds", "read as UTC"],
    [instant, "TIMESTAMP", "same", undefined],
    [int32, "FLOAT64", "holds", undefined],
    [int64, "FLOAT64", "holds", "integers beyond 2^53 (about 9.0e15) are rounded"],
    [text, "INT64", "refused", undefined],
    [money, "INT64", "refused", undefined],
    [numeric, "BIGNUMERIC(50, 20)", "refused", undefined],
    [codes, "STRING", "holds", "kept as JSON text"],
    [int32, "ARRAY<STRING>", "refused", undefined],
    [text, "RECORD", "refused", undefined],
    [text, "STRING(10)", "refused", undefined],
    [instant, "DATETIME", "refused", undefined],
  ] as const)("BigQuery: %o in %s %s", (type, current, fits, loss) => {
    const fit = bigqueryColumnFit(type, current);
    expect(fit.fits).toBe(fits);
    if (fit.fits === "holds") expect(fit.loss).toBe(loss);
  });

  test("BigQuery: a column's type as `columns` spells it reads back", () => {
    for (const field of [
      { name: "a", type: "FLOAT" },
      { name: "b", type: "STRING", mode: "REPEATED" },
      { name: "c", type: "NUMERIC", precision: "12", scale: "2" },
      { name: "d", type: "STRING", maxLength: "10", mode: "REQUIRED" },
    ]) {
      const text = columnText(field);
      const parsed = parseColumnText(text);
      expect(parsed && ddlType(parsed), text).toBe(text);
    }
    expect(columnText({ name: "r", type: "RECORD", mode: "REPEATED" })).toBe("ARRAY<RECORD>");
    expect(parseColumnText("ARRAY<RECORD>")).toBeUndefined();
  });
});

test("every column is decided before anything is changed: added, kept, refused", () => {
  const plan = planExistingColumns({
    wanted: [
      { name: "id", type: int32 },
      { name: "Price", type: money },
      { name: "qty", type: text },
      { name: "added", type: text },
    ],
    existing: new Map([
      ["id", "INTEGER"],
      ["price", "DOUBLE"],
      ["qty", "INTEGER"],
      ["gone", "VARCHAR"],
    ]),
    fit: duckdbColumnFit,
    spell: duckdbType,
    caseInsensitive: true,
  });
  expect(plan.add.map((c) => c.name)).toEqual(["added"]);
  expect(plan.kept).toEqual([
    {
      name: "price",
      type: money,
      current: "DOUBLE",
      wanted: "DECIMAL(12,2)",
      loss: "about 15 significant digits kept",
    },
  ]);
  expect(plan.refused.map((r) => [r.name, r.current, r.wanted])).toEqual([["qty", "INTEGER", "VARCHAR"]]);
});

test("the warning names each kept column, both types and what is lost, and the way back", () => {
  const plan = planExistingColumns({
    wanted: [
      { name: "price", type: money },
      { name: "note", type: text },
    ],
    existing: new Map([
      ["price", "double precision"],
      ["note", "character varying"],
    ]),
    fit: postgresColumnFit,
    spell: postgresTargetType,
  });
  expect(keptColumnsWarning("target-postgres: pw.orders", plan.kept)).toBe(
    "target-postgres: pw.orders was not created by sluice; its column types are kept where they hold the values (existing_tables: continue), and values are converted to them as they load:\n" +
      "  - price: numeric(12,2) in a double precision column: about 15 significant digits kept\n" +
      "  - note: text in a character varying column\n" +
      "To rebuild the table with sluice's types instead, set `existing_tables: rebuild` on the loader and run with --full-refresh.",
  );
  expect(keptColumnsWarning("x", [])).toBeUndefined();
});
