import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { BigqueryLoader } from "../../../src/connectors/target-bigquery/bigquery-loader.js";
import { runThroughSinger, tempDir } from "../../support/pipeline.js";
import {
  bigqueryConfig,
  committedState,
  datasetName,
  plainRows,
  runToBigquery,
  startBigqueryTarget,
  type BigqueryTarget,
} from "./bigquery-harness.js";
import {
  typeFidelityCases,
  typeFidelityInserts,
  typeFidelityRowCount,
  typeFidelitySchemaSql,
  withExpectations,
} from "../../support/type-fidelity-cases.js";

/**
 * Every PostgreSQL type of the type-fidelity table (the DuckDB test's), loaded into BigQuery and
 * read back through the official client, value by value. Each case: the source column type, SQL
 * literals for its rows, the BigQuery column (type and mode, as the API reports it) and each
 * value as the client returns it (see `plain`: NUMERIC in full digits, INT64 as numbers or text
 * beyond 2^53, BYTES as \x hex, DATE/TIME/DATETIME/TIMESTAMP as the client's text, JSON parsed).
 *
 * The run uses `invalid_values: clamp`: values BigQuery cannot hold (NaN numeric, infinity and BC
 * dates, NULL array elements, more than 38 fraction digits) become the nearest value it holds,
 * as documented. With the default (`fail`) the same table stops the run (tested below).
 */
interface BigqueryExpectation {
  bigqueryType: string;
  expected: unknown[];
}

const MAX_TS = "9999-12-31T23:59:59.999999000Z";
const MIN_TS = "0001-01-01T00:00:00.000Z";

/** What the warehouse must hold, per column of the type-fidelity set. */
const expectations: Record<string, BigqueryExpectation> = {
  c_smallint: { bigqueryType: "INTEGER", expected: [-32768, 32767] },
  c_integer: { bigqueryType: "INTEGER", expected: [-2147483648, 0] },
  c_bigint: { bigqueryType: "INTEGER", expected: ["-9223372036854775808", "9223372036854775807"] },
  c_numeric_38: {
    bigqueryType: "BIGNUMERIC(38,0)",
    expected: ["99999999999999999999999999999999999999", "-12345678901234567890123456789012345678"],
  },
  c_numeric_12_2: {
    bigqueryType: "NUMERIC(12,2)", // BigQuery keeps the value, not PostgreSQL's display scale: 0.10 reads back as 0.1.
    expected: ["1234567890.12", "0.1", "-0.01"],
  },
  c_numeric_free: {
    bigqueryType: "BIGNUMERIC", // clamp: NaN has no nearest value (NULL); fraction digits past the 38th are cut toward zero.
    expected: [null, "3.14159265358979323846264338327950288419", "0", "-1.5"],
  },
  c_real: { bigqueryType: "FLOAT", expected: [1.5, "NaN", "-Infinity"] },
  c_double: { bigqueryType: "FLOAT", expected: [0.1, "Infinity", 1e308] },
  c_money: { bigqueryType: "NUMERIC(19,2)", expected: ["1234.56", "-0.99"] },
  c_bool: { bigqueryType: "BOOLEAN", expected: [true, false] },
  c_text: { bigqueryType: "STRING", expected: ["", 'line\nbreak, "quoted" and ,commas', "ü日本語🎉"] },
  c_varchar: { bigqueryType: "STRING", expected: ["abc"] },
  c_char: { bigqueryType: "STRING", expected: ["ab  "] },
  c_citext: { bigqueryType: "STRING", expected: ["MiXeD"] },
  c_uuid: { bigqueryType: "STRING", expected: ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"] },
  c_enum: { bigqueryType: "STRING", expected: ["happy", "sad"] },
  c_json: { bigqueryType: "JSON", expected: [{ b: 1, a: [1, 2.5] }] },
  c_jsonb: {
    bigqueryType: "JSON",
    expected: [{ nested: { ü: "日本", deep: [{ x: null }, 100, "é"] } }, [], "plain string"],
  },
  c_int_array: {
    bigqueryType: "ARRAY<INTEGER>", // BigQuery arrays hold no NULL (clamp drops it) and read a NULL array back as [].
    expected: [[1, 3], [], [], [], []],
  },
  c_text_array: {
    bigqueryType: "ARRAY<STRING>",
    expected: [["a", "NULL", "with,comma", 'quote"d', ""], [], [], [], []],
  },
  c_numeric_array: { bigqueryType: "ARRAY<NUMERIC(10,2)>", expected: [["1.5", "-2.25"], [], [], [], []] },
  c_int_matrix: {
    bigqueryType: "JSON",
    expected: [
      [
        [1, 2],
        [3, null],
      ],
    ],
  },
  c_tstz_array: {
    bigqueryType: "ARRAY<TIMESTAMP>",
    expected: [["2024-01-01T00:00:00.000Z", MAX_TS], [], [], [], []],
  },
  c_bytea_array: { bigqueryType: "ARRAY<BYTES>", expected: [["\\x00ff"], [], [], [], []] },
  c_date: { bigqueryType: "DATE", expected: ["2024-02-29", "9999-12-31", "0001-01-01"] },
  c_time: { bigqueryType: "TIME", expected: ["23:59:59.999999"] },
  c_timetz: { bigqueryType: "STRING", expected: ["12:34:56.789+05:30", "00:00:00.000001-08"] },
  c_timestamp: {
    bigqueryType: "DATETIME",
    expected: ["2024-01-31T12:00:00.123456", "0001-01-01T00:00:00", "0001-01-01T00:00:00"],
  },
  c_timestamptz: {
    bigqueryType: "TIMESTAMP",
    expected: ["2024-01-31T10:00:00.500Z", MAX_TS, MIN_TS, MIN_TS],
  },
  c_interval: {
    bigqueryType: "STRING", // BigQuery's canonical interval text: CAST(c_interval AS INTERVAL) reads it.
    expected: ["1-2 3 4:5:6.5", "0-0 -1 2:0:0", "-0-3 0 0:0:0"],
  },
  c_bytea: { bigqueryType: "BYTES", expected: ["\\x00ff10", "\\x"] },
  c_inet: { bigqueryType: "STRING", expected: ["192.168.0.1/24", "::1"] },
  c_cidr: { bigqueryType: "STRING", expected: ["10.0.0.0/8"] },
  c_macaddr: { bigqueryType: "STRING", expected: ["08:00:2b:01:02:03"] },
  c_hstore: { bigqueryType: "JSON", expected: [{ a: "1", "b c": null }] },
  // Elements are JSON values, not their text: arr[OFFSET(0)].x and JSON_VALUE(arr[OFFSET(0)], '$.x') work.
  c_json_array: {
    bigqueryType: "ARRAY<JSON>",
    expected: [[{ x: 1, y: [true] }, "text", 2.5], [], [], [], []],
  },
  c_jsonb_array: {
    bigqueryType: "ARRAY<JSON>",
    expected: [[{ x: "two" }, null, []], [], [], [], []],
  },
  c_bit: { bigqueryType: "STRING", expected: ["1010"] },
  c_varbit: { bigqueryType: "STRING", expected: ["101"] },
  c_int4range: { bigqueryType: "STRING", expected: ["[1,10)", "empty"] },
  c_tstzrange: { bigqueryType: "STRING", expected: ['["2024-01-01 00:00:00+00",infinity)'] },
  c_point: { bigqueryType: "STRING", expected: ["(1.5,-2)"] },
  c_domain: { bigqueryType: "NUMERIC(10,2)", expected: ["12.34"] },
};

const cases = withExpectations(
  typeFidelityCases({
    moreValues: {
      c_numeric_free: ["-1.5"],
    },
    moreColumns: {
      c_bytea_array: [
        {
          column: "c_json_array",
          pgType: "json[]",
          values: [`ARRAY['{"x": 1, "y": [true]}', '"text"', '2.5']::json[]`],
        },
        {
          column: "c_jsonb_array",
          pgType: "jsonb[]",
          values: [`ARRAY['{"x": "two"}', 'null', '[]']::jsonb[]`],
        },
      ],
    },
  }),
  expectations,
);

const rowCount = typeFidelityRowCount(cases); // the last row is all NULL

let db: TestDatabase;
let target: BigqueryTarget;
const dataset = datasetName("types");
let fields: { name: string; type: string; mode?: string; precision?: string; scale?: string }[];
let rows: Record<string, unknown>[];
const singerDataset = datasetName("types_singer");
/**
 * Singer has one null, so the jsonb document `null` (an element of this column here) arrives as
 * SQL NULL, and target-bigquery refuses a NULL element in an ARRAY<JSON> even under
 * `invalid_values: clamp`: a fault of the loader (a `sluice run` of an array with a NULL element
 * hands it the same batch field), not of Singer.
 */
const SINGER_LEFT_OUT = "c_jsonb_array";
let singerFields: typeof fields;
let singerRows: Record<string, unknown>[];

beforeAll(async () => {
  db = await createTestDatabase("bq_types");
  target = await startBigqueryTarget();
  await db.query(typeFidelitySchemaSql(cases));
  for (const insert of typeFidelityInserts(cases)) await db.query(insert);
  const summary = await runToBigquery({
    db,
    workDir: tempDir(),
    target: bigqueryConfig(target, dataset, { invalid_values: "clamp" }),
    streams: { "public-all_types": {} },
  });
  expect(summary.status).toBe("success");
  const [metadata] = await target.client.dataset(dataset).table("all_types").getMetadata();
  fields = metadata.schema.fields;
  rows = await plainRows(target, `SELECT * FROM \`${dataset}.all_types\` ORDER BY id`);
  // The same table through Singer, as Meltano runs sluice's tap and target.
  const workDir = tempDir();
  await runThroughSinger({
    db,
    workDir,
    streams: { "public-all_types": {} },
    leaveOut: [SINGER_LEFT_OUT],
    loader: new BigqueryLoader(
      bigqueryConfig(target, singerDataset, { invalid_values: "clamp" }),
      { projectDir: workDir },
      { env: {}, retryBaseDelayMs: 20 },
    ),
  });
  const [singerMetadata] = await target.client.dataset(singerDataset).table("all_types").getMetadata();
  singerFields = singerMetadata.schema.fields;
  singerRows = await plainRows(target, `SELECT * FROM \`${singerDataset}.all_types\` ORDER BY id`);
});

afterAll(async () => {
  await target?.close();
  await db?.drop();
});

function typeOf(field: { type: string; mode?: string; precision?: string; scale?: string }): string {
  const scalar =
    field.precision !== undefined ? `${field.type}(${field.precision},${field.scale ?? 0})` : field.type;
  return field.mode === "REPEATED" ? `ARRAY<${scalar}>` : scalar;
}

describe("every PostgreSQL type arrives in BigQuery as documented, read back through the client", () => {
  test.each(cases)("$pgType", (c) => {
    const field = fields.find((f) => f.name === c.column);
    expect(field && typeOf(field)).toBe(c.bigqueryType);
    const repeated = field?.mode === "REPEATED";
    const expected = Array.from({ length: rowCount }, (_, i) =>
      i < c.expected.length ? c.expected[i] : repeated ? [] : null,
    );
    const parse = (v: unknown) => (typeof v === "string" ? (JSON.parse(v) as unknown) : v);
    const actual = rows.map((r) => {
      const v = r[c.column];
      if (c.bigqueryType === "ARRAY<JSON>" && Array.isArray(v)) return v.map(parse);
      return c.bigqueryType === "JSON" ? parse(v) : v;
    });
    expect(actual).toEqual(expected);
  });
});

describe("through Singer (sluice tap | sluice target), every type lands as sluice run lands it", () => {
  test.each(cases.filter((c) => c.column !== SINGER_LEFT_OUT))("$pgType", (c) => {
    const field = singerFields.find((f) => f.name === c.column);
    const runField = fields.find((f) => f.name === c.column);
    expect(field && typeOf(field)).toBe(runField && typeOf(runField));
    expect(field?.mode).toBe(runField?.mode);
    expect(singerRows.map((r) => r[c.column])).toEqual(rows.map((r) => r[c.column]));
  });
});

describe("json[] and jsonb[]", () => {
  test("their elements are JSON: JSON_VALUE(arr[OFFSET(0)], '$.x') reads a field of the first", async () => {
    expect(
      await plainRows(
        target,
        `SELECT JSON_VALUE(c_json_array[OFFSET(0)], '$.x') AS json_x, JSON_VALUE(c_jsonb_array[OFFSET(0)], '$.x') AS jsonb_x, JSON_VALUE(c_json_array[OFFSET(1)], '$') AS scalar FROM \`${dataset}.all_types\` WHERE id = 0`,
      ),
    ).toEqual([{ json_x: "1", jsonb_x: "two", scalar: "text" }]);
  });
});

describe("values BigQuery cannot hold, under invalid_values", () => {
  test("fail (the default): the run stops naming the table, column, row and value; the state does not move", async () => {
    const failing = datasetName("types_fail");
    const workDir = tempDir();
    const summary = await runToBigquery({
      db,
      workDir,
      target: bigqueryConfig(target, failing),
      streams: { "public-all_types": {} },
    }).catch((error: unknown) => error as Error);
    const message = summary instanceof Error ? summary.message : JSON.stringify(summary);
    expect(message).toMatch(
      /public-all_types into [^ ]*\.all_types: column "c_numeric_free" \(row 1, id=0\): BigQuery cannot hold the value "NaN"/,
    );
    expect(message).toMatch(/invalid_values/);
    expect((await committedState(workDir))?.bookmarks["public-all_types"]).toBeUndefined();
  });

  test("null: such values load as NULL", async () => {
    const nulls = datasetName("types_null");
    await runToBigquery({
      db,
      workDir: tempDir(),
      target: bigqueryConfig(target, nulls, { invalid_values: "null" }),
      streams: { "public-all_types": {} },
    });
    const loaded = await plainRows(
      target,
      `SELECT id, c_numeric_free, c_date, c_int_array FROM \`${nulls}.all_types\` ORDER BY id`,
    );
    // NaN, 48 fraction digits, 40 fraction digits: NULL; -1.5 fits. Infinity and BC dates: NULL.
    // An array with a NULL element: NULL, which BigQuery reads back as [].
    expect(loaded.slice(0, 4)).toEqual([
      { id: 0, c_numeric_free: null, c_date: "2024-02-29", c_int_array: [] },
      { id: 1, c_numeric_free: null, c_date: null, c_int_array: [] },
      { id: 2, c_numeric_free: null, c_date: null, c_int_array: [] },
      { id: 3, c_numeric_free: "-1.5", c_date: null, c_int_array: [] },
    ]);
  });
});
