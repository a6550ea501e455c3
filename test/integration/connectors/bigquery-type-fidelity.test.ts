import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { tempDir } from "../../support/pipeline.js";
import {
  bigqueryConfig,
  committedState,
  datasetName,
  plainRows,
  runToBigquery,
  startBigqueryTarget,
  type BigqueryTarget,
} from "./bigquery-harness.js";

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
interface Case {
  column: string;
  pgType: string;
  values: string[];
  bigqueryType: string;
  expected: unknown[];
}

const MAX_TS = "9999-12-31T23:59:59.999999000Z";
const MIN_TS = "0001-01-01T00:00:00.000Z";

const cases: Case[] = [
  {
    column: "c_smallint",
    pgType: "smallint",
    values: ["-32768", "32767"],
    bigqueryType: "INTEGER",
    expected: [-32768, 32767],
  },
  {
    column: "c_integer",
    pgType: "integer",
    values: ["-2147483648", "0"],
    bigqueryType: "INTEGER",
    expected: [-2147483648, 0],
  },
  {
    column: "c_bigint",
    pgType: "bigint",
    values: ["-9223372036854775808", "9223372036854775807"],
    bigqueryType: "INTEGER",
    expected: ["-9223372036854775808", "9223372036854775807"],
  },
  {
    column: "c_numeric_38",
    pgType: "numeric(38,0)",
    values: ["99999999999999999999999999999999999999", "-12345678901234567890123456789012345678"],
    bigqueryType: "BIGNUMERIC(38,0)",
    expected: ["99999999999999999999999999999999999999", "-12345678901234567890123456789012345678"],
  },
  {
    column: "c_numeric_12_2",
    pgType: "numeric(12,2)",
    values: ["1234567890.12", "0.10", "-0.01"],
    bigqueryType: "NUMERIC(12,2)",
    // BigQuery keeps the value, not PostgreSQL's display scale: 0.10 reads back as 0.1.
    expected: ["1234567890.12", "0.1", "-0.01"],
  },
  {
    column: "c_numeric_free",
    pgType: "numeric",
    values: ["'NaN'", "3.141592653589793238462643383279502884197169399375", "1e-40", "-1.5"],
    bigqueryType: "BIGNUMERIC",
    // clamp: NaN has no nearest value (NULL); fraction digits past the 38th are cut toward zero.
    expected: [null, "3.14159265358979323846264338327950288419", "0", "-1.5"],
  },
  {
    column: "c_real",
    pgType: "real",
    values: ["1.5", "'NaN'", "'-Infinity'"],
    bigqueryType: "FLOAT",
    expected: [1.5, "NaN", "-Infinity"],
  },
  {
    column: "c_double",
    pgType: "double precision",
    values: ["0.1", "'Infinity'", "1e308"],
    bigqueryType: "FLOAT",
    expected: [0.1, "Infinity", 1e308],
  },
  {
    column: "c_money",
    pgType: "money",
    values: ["'1234.56'", "'-0.99'"],
    bigqueryType: "NUMERIC(19,2)",
    expected: ["1234.56", "-0.99"],
  },
  {
    column: "c_bool",
    pgType: "boolean",
    values: ["true", "false"],
    bigqueryType: "BOOLEAN",
    expected: [true, false],
  },
  {
    column: "c_text",
    pgType: "text",
    values: ["''", "E'line\\nbreak, \"quoted\" and ,commas'", "'ü日本語🎉'"],
    bigqueryType: "STRING",
    expected: ["", 'line\nbreak, "quoted" and ,commas', "ü日本語🎉"],
  },
  {
    column: "c_varchar",
    pgType: "varchar(10)",
    values: ["'abc'"],
    bigqueryType: "STRING",
    expected: ["abc"],
  },
  { column: "c_char", pgType: "char(4)", values: ["'ab'"], bigqueryType: "STRING", expected: ["ab  "] },
  { column: "c_citext", pgType: "citext", values: ["'MiXeD'"], bigqueryType: "STRING", expected: ["MiXeD"] },
  {
    column: "c_uuid",
    pgType: "uuid",
    values: ["'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"],
    bigqueryType: "STRING",
    expected: ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"],
  },
  {
    column: "c_enum",
    pgType: "mood",
    values: ["'happy'", "'sad'"],
    bigqueryType: "STRING",
    expected: ["happy", "sad"],
  },
  {
    column: "c_json",
    pgType: "json",
    values: [`'{"b": 1, "a": [1, 2.50]}'`],
    bigqueryType: "JSON",
    expected: [{ b: 1, a: [1, 2.5] }],
  },
  {
    column: "c_jsonb",
    pgType: "jsonb",
    values: [
      `'{"nested": {"ü": "日本", "deep": [{"x": null}, 1e2, "\\u00e9"]}}'`,
      `'[]'`,
      `'"plain string"'`,
    ],
    bigqueryType: "JSON",
    expected: [{ nested: { ü: "日本", deep: [{ x: null }, 100, "é"] } }, [], "plain string"],
  },
  {
    column: "c_int_array",
    pgType: "integer[]",
    values: ["'{1,NULL,3}'", "'{}'"],
    bigqueryType: "ARRAY<INTEGER>",
    // BigQuery arrays hold no NULL (clamp drops it) and read a NULL array back as [].
    expected: [[1, 3], [], [], [], []],
  },
  {
    column: "c_text_array",
    pgType: "text[]",
    values: [`ARRAY['a', NULL, 'NULL', 'with,comma', 'quote"d', '']`],
    bigqueryType: "ARRAY<STRING>",
    expected: [["a", "NULL", "with,comma", 'quote"d', ""], [], [], [], []],
  },
  {
    column: "c_numeric_array",
    pgType: "numeric(10,2)[]",
    values: ["'{1.50,-2.25}'"],
    bigqueryType: "ARRAY<NUMERIC(10,2)>",
    expected: [["1.5", "-2.25"], [], [], [], []],
  },
  {
    column: "c_int_matrix",
    pgType: "integer[][]",
    values: ["'{{1,2},{3,NULL}}'"],
    bigqueryType: "JSON",
    expected: [
      [
        [1, 2],
        [3, null],
      ],
    ],
  },
  {
    column: "c_tstz_array",
    pgType: "timestamptz[]",
    values: ["ARRAY['2024-01-01 00:00:00+00'::timestamptz, 'infinity']"],
    bigqueryType: "ARRAY<TIMESTAMP>",
    expected: [["2024-01-01T00:00:00.000Z", MAX_TS], [], [], [], []],
  },
  {
    column: "c_bytea_array",
    pgType: "bytea[]",
    values: ["ARRAY['\\x00ff'::bytea]"],
    bigqueryType: "ARRAY<BYTES>",
    expected: [["\\x00ff"], [], [], [], []],
  },
  {
    column: "c_date",
    pgType: "date",
    values: ["'2024-02-29'", "'infinity'", "'0044-03-15 BC'"],
    bigqueryType: "DATE",
    expected: ["2024-02-29", "9999-12-31", "0001-01-01"],
  },
  {
    column: "c_time",
    pgType: "time",
    values: ["'23:59:59.999999'"],
    bigqueryType: "TIME",
    expected: ["23:59:59.999999"],
  },
  {
    column: "c_timetz",
    pgType: "time with time zone",
    values: ["'12:34:56.789+05:30'", "'00:00:00.000001-08'"],
    bigqueryType: "STRING",
    expected: ["12:34:56.789+05:30", "00:00:00.000001-08"],
  },
  {
    column: "c_timestamp",
    pgType: "timestamp",
    values: ["'2024-01-31 12:00:00.123456'", "'-infinity'", "'0044-03-15 12:00:00 BC'"],
    bigqueryType: "DATETIME",
    expected: ["2024-01-31T12:00:00.123456", "0001-01-01T00:00:00", "0001-01-01T00:00:00"],
  },
  {
    column: "c_timestamptz",
    pgType: "timestamptz",
    values: ["'2024-01-31 12:00:00.5+02'", "'infinity'", "'-infinity'", "'0044-03-15 12:00:00+00 BC'"],
    bigqueryType: "TIMESTAMP",
    expected: ["2024-01-31T10:00:00.500Z", MAX_TS, MIN_TS, MIN_TS],
  },
  {
    column: "c_interval",
    pgType: "interval",
    values: ["'1 year 2 mons 3 days 04:05:06.5'", "'-1 days +02:00:00'", "'-3 mons'"],
    bigqueryType: "STRING",
    // BigQuery's canonical interval text: CAST(c_interval AS INTERVAL) reads it.
    expected: ["1-2 3 4:5:6.5", "0-0 -1 2:0:0", "-0-3 0 0:0:0"],
  },
  {
    column: "c_bytea",
    pgType: "bytea",
    values: ["'\\x00ff10'", "''"],
    bigqueryType: "BYTES",
    expected: ["\\x00ff10", "\\x"],
  },
  {
    column: "c_inet",
    pgType: "inet",
    values: ["'192.168.0.1/24'", "'::1'"],
    bigqueryType: "STRING",
    expected: ["192.168.0.1/24", "::1"],
  },
  {
    column: "c_cidr",
    pgType: "cidr",
    values: ["'10.0.0.0/8'"],
    bigqueryType: "STRING",
    expected: ["10.0.0.0/8"],
  },
  {
    column: "c_macaddr",
    pgType: "macaddr",
    values: ["'08:00:2b:01:02:03'"],
    bigqueryType: "STRING",
    expected: ["08:00:2b:01:02:03"],
  },
  {
    column: "c_hstore",
    pgType: "hstore",
    values: [`'a=>1, "b c"=>NULL'`],
    bigqueryType: "JSON",
    expected: [{ a: "1", "b c": null }],
  },
  { column: "c_bit", pgType: "bit(4)", values: ["B'1010'"], bigqueryType: "STRING", expected: ["1010"] },
  { column: "c_varbit", pgType: "varbit", values: ["B'101'"], bigqueryType: "STRING", expected: ["101"] },
  {
    column: "c_int4range",
    pgType: "int4range",
    values: ["'[1,10)'", "'empty'"],
    bigqueryType: "STRING",
    expected: ["[1,10)", "empty"],
  },
  {
    column: "c_tstzrange",
    pgType: "tstzrange",
    values: ["'[2024-01-01,infinity)'"],
    bigqueryType: "STRING",
    expected: ['["2024-01-01 00:00:00+00",infinity)'],
  },
  {
    column: "c_point",
    pgType: "point",
    values: ["'(1.5,-2)'"],
    bigqueryType: "STRING",
    expected: ["(1.5,-2)"],
  },
  {
    column: "c_domain",
    pgType: "positive_amount",
    values: ["12.34"],
    bigqueryType: "NUMERIC(10,2)",
    expected: ["12.34"],
  },
];

const rowCount = Math.max(...cases.map((c) => c.values.length)) + 1; // the last row is all NULL

let db: TestDatabase;
let target: BigqueryTarget;
const dataset = datasetName("types");
let fields: { name: string; type: string; mode?: string; precision?: string; scale?: string }[];
let rows: Record<string, unknown>[];

beforeAll(async () => {
  db = await createTestDatabase("bq_types");
  target = await startBigqueryTarget();
  await db.query(`
    CREATE EXTENSION hstore; CREATE EXTENSION citext;
    CREATE TYPE mood AS ENUM ('happy', 'sad');
    CREATE DOMAIN positive_amount AS numeric(10,2) CHECK (VALUE > 0);
    CREATE TABLE all_types (id integer PRIMARY KEY, ${cases.map((c) => `${c.column} ${c.pgType}`).join(", ")});
  `);
  for (let row = 0; row < rowCount; row++) {
    const values = cases.map((c) => c.values[row] ?? "NULL");
    await db.query(`INSERT INTO all_types VALUES (${row}, ${values.join(", ")})`);
  }
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
    const actual = rows.map((r) => {
      const v = r[c.column];
      return c.bigqueryType === "JSON" && typeof v === "string" ? (JSON.parse(v) as unknown) : v;
    });
    expect(actual).toEqual(expected);
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
