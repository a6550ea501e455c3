import { expect, test } from "vitest";
import type { StreamSchema } from "../../../src/connectors/column-type.js";
import {
  bucketExpression,
  keyOrderExpression,
  keyOrderOf,
  rangeCondition,
  splitRange,
} from "../../../src/verify/key-ranges.js";

/** The SQL text that cuts key ranges, without an engine: bounds are quoted as each dialect wants. */

const quote = (name: string): string => `"${name.replaceAll('"', '""')}"`;

const textKeyed: StreamSchema = {
  streamId: "public-t",
  sourceSchema: "public",
  sourceTable: "t",
  columns: [
    { name: "code", type: { kind: "string", sqlType: "text" }, nullable: false },
    { name: "v", type: { kind: "integer", bits: 32, sqlType: "integer" }, nullable: true },
  ],
  keyProperties: ["code"],
};

test("a range is cut at its bounds into half-open parts covering it whole", () => {
  expect(splitRange({ from: "10" }, ["20", "30"])).toEqual([
    { from: "10", to: "20" },
    { from: "20", to: "30" },
    { from: "30" },
  ]);
  expect(splitRange({}, [])).toEqual([{}]);
});

test("a single integer key is compared as a number; its bounds must be integers", () => {
  const intKeyed = { ...textKeyed, keyProperties: ["v"] };
  expect(keyOrderOf(intKeyed)).toBe("integer");
  expect(rangeCondition('"v"', "integer", { from: "-5", to: "7" }, "duckdb")).toEqual([
    '"v" >= -5',
    '"v" < 7',
  ]);
  expect(() => rangeCondition('"v"', "integer", { from: "1; DROP TABLE t" }, "duckdb")).toThrow(
    /not an integer/,
  );
});

test("text bounds are quoted for each engine, and PostgreSQL compares them byte by byte", () => {
  expect(keyOrderOf(textKeyed)).toBe("text");
  expect(keyOrderExpression("postgres", textKeyed, quote)).toContain('COLLATE "C"');
  expect(rangeCondition("k", "text", { from: "it's \\" }, "postgres")).toEqual([
    `k >= ('it''s \\' COLLATE "C")`,
  ]);
  expect(rangeCondition("k", "text", { from: "it's \\" }, "duckdb")).toEqual([`k >= 'it''s \\'`]);
  expect(rangeCondition("k", "text", { to: "it's \\" }, "bigquery")).toEqual([`k < 'it\\'s \\\\'`]);
  expect(bucketExpression("k", "text", ["b", "d"], "duckdb")).toBe(
    "CASE WHEN k < 'b' THEN 0 WHEN k < 'd' THEN 1 ELSE 2 END",
  );
});
