import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { duckdbRows, runToDuckdb, tempDir } from "../../support/pipeline.js";

/**
 * Every PostgreSQL type the product promises, with its edge values, must arrive in DuckDB equal
 * to the source, value by value. Each case: the source column type, SQL literals for its rows,
 * the DuckDB column type expected and each value as DuckDB prints it (CAST AS VARCHAR).
 */
interface Case {
  column: string;
  pgType: string;
  values: string[];
  duckdbType: string;
  expected: (string | null)[];
}

const cases: Case[] = [
  {
    column: "c_smallint",
    pgType: "smallint",
    values: ["-32768", "32767"],
    duckdbType: "SMALLINT",
    expected: ["-32768", "32767"],
  },
  {
    column: "c_integer",
    pgType: "integer",
    values: ["-2147483648", "0"],
    duckdbType: "INTEGER",
    expected: ["-2147483648", "0"],
  },
  {
    column: "c_bigint",
    pgType: "bigint",
    values: ["-9223372036854775808", "9223372036854775807"],
    duckdbType: "BIGINT",
    expected: ["-9223372036854775808", "9223372036854775807"],
  },
  {
    column: "c_numeric_38",
    pgType: "numeric(38,0)",
    values: ["99999999999999999999999999999999999999", "-12345678901234567890123456789012345678"],
    duckdbType: "DECIMAL(38,0)",
    expected: ["99999999999999999999999999999999999999", "-12345678901234567890123456789012345678"],
  },
  {
    column: "c_numeric_12_2",
    pgType: "numeric(12,2)",
    values: ["1234567890.12", "0.10", "-0.01"],
    duckdbType: "DECIMAL(12,2)",
    expected: ["1234567890.12", "0.10", "-0.01"],
  },
  {
    column: "c_numeric_free",
    pgType: "numeric",
    values: ["'NaN'", "3.141592653589793238462643383279502884197169399375", "1e-40"],
    duckdbType: "VARCHAR",
    expected: [
      "NaN",
      "3.141592653589793238462643383279502884197169399375",
      "0.0000000000000000000000000000000000000001",
    ],
  },
  {
    column: "c_real",
    pgType: "real",
    values: ["1.5", "'NaN'", "'-Infinity'"],
    duckdbType: "FLOAT",
    expected: ["1.5", "nan", "-inf"],
  },
  {
    column: "c_double",
    pgType: "double precision",
    values: ["0.1", "'Infinity'", "1e308"],
    duckdbType: "DOUBLE",
    expected: ["0.1", "inf", "1e+308"],
  },
  {
    column: "c_money",
    pgType: "money",
    values: ["'1234.56'", "'-0.99'"],
    duckdbType: "DECIMAL(19,2)",
    expected: ["1234.56", "-0.99"],
  },
  {
    column: "c_bool",
    pgType: "boolean",
    values: ["true", "false"],
    duckdbType: "BOOLEAN",
    expected: ["true", "false"],
  },
  {
    column: "c_text",
    pgType: "text",
    values: ["''", "E'line\\nbreak, \"quoted\" and ,commas'", "'ü日本語🎉'"],
    duckdbType: "VARCHAR",
    expected: ["", 'line\nbreak, "quoted" and ,commas', "ü日本語🎉"],
  },
  { column: "c_varchar", pgType: "varchar(10)", values: ["'abc'"], duckdbType: "VARCHAR", expected: ["abc"] },
  { column: "c_char", pgType: "char(4)", values: ["'ab'"], duckdbType: "VARCHAR", expected: ["ab  "] },
  { column: "c_citext", pgType: "citext", values: ["'MiXeD'"], duckdbType: "VARCHAR", expected: ["MiXeD"] },
  {
    column: "c_uuid",
    pgType: "uuid",
    values: ["'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"],
    duckdbType: "UUID",
    expected: ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"],
  },
  {
    column: "c_enum",
    pgType: "mood",
    values: ["'happy'", "'sad'"],
    duckdbType: "VARCHAR",
    expected: ["happy", "sad"],
  },
  {
    column: "c_json",
    pgType: "json",
    values: [`'{"b": 1, "a": [1, 2.50]}'`],
    duckdbType: "JSON",
    expected: ['{"b": 1, "a": [1, 2.50]}'],
  },
  {
    column: "c_jsonb",
    pgType: "jsonb",
    values: [
      `'{"nested": {"ü": "日本", "deep": [{"x": null}, 1e2, "\\u00e9"]}}'`,
      `'[]'`,
      `'"plain string"'`,
    ],
    duckdbType: "JSON",
    // jsonb keeps keys sorted by length, then bytes: PostgreSQL's own text is what must arrive.
    expected: ['{"nested": {"ü": "日本", "deep": [{"x": null}, 100, "é"]}}', "[]", '"plain string"'],
  },
  {
    column: "c_int_array",
    pgType: "integer[]",
    values: ["'{1,NULL,3}'", "'{}'"],
    duckdbType: "INTEGER[]",
    expected: ["[1, NULL, 3]", "[]"],
  },
  {
    column: "c_text_array",
    pgType: "text[]",
    values: [`ARRAY['a', NULL, 'NULL', 'with,comma', 'quote"d', '']`],
    duckdbType: "VARCHAR[]",
    expected: ["[a, NULL, 'NULL', 'with,comma', 'quote\"d', '']"],
  },
  {
    column: "c_numeric_array",
    pgType: "numeric(10,2)[]",
    values: ["'{1.50,-2.25}'"],
    duckdbType: "DECIMAL(10,2)[]",
    expected: ["[1.50, -2.25]"],
  },
  {
    column: "c_int_matrix",
    pgType: "integer[][]",
    values: ["'{{1,2},{3,NULL}}'"],
    duckdbType: "INTEGER[][]",
    expected: ["[[1, 2], [3, NULL]]"],
  },
  {
    column: "c_tstz_array",
    pgType: "timestamptz[]",
    values: ["ARRAY['2024-01-01 00:00:00+00'::timestamptz, 'infinity']"],
    duckdbType: "TIMESTAMP WITH TIME ZONE[]",
    expected: ["['2024-01-01 00:00:00+00', infinity]"],
  },
  {
    column: "c_bytea_array",
    pgType: "bytea[]",
    values: ["ARRAY['\\x00ff'::bytea]"],
    duckdbType: "BLOB[]",
    expected: ["[\\x00\\xFF]"],
  },
  {
    column: "c_date",
    pgType: "date",
    values: ["'2024-02-29'", "'infinity'", "'0044-03-15 BC'"],
    duckdbType: "DATE",
    expected: ["2024-02-29", "infinity", "0044-03-15 (BC)"],
  },
  {
    column: "c_time",
    pgType: "time",
    values: ["'23:59:59.999999'"],
    duckdbType: "TIME",
    expected: ["23:59:59.999999"],
  },
  {
    column: "c_timetz",
    pgType: "time with time zone",
    values: ["'12:34:56.789+05:30'", "'00:00:00.000001-08'"],
    duckdbType: "TIME WITH TIME ZONE",
    expected: ["12:34:56.789+05:30", "00:00:00.000001-08"],
  },
  {
    column: "c_timestamp",
    pgType: "timestamp",
    values: ["'2024-01-31 12:00:00.123456'", "'-infinity'", "'0044-03-15 12:00:00 BC'"],
    duckdbType: "TIMESTAMP",
    expected: ["2024-01-31 12:00:00.123456", "-infinity", "0044-03-15 (BC) 12:00:00"],
  },
  {
    column: "c_timestamptz",
    pgType: "timestamptz",
    values: ["'2024-01-31 12:00:00.5+02'", "'infinity'", "'-infinity'", "'0044-03-15 12:00:00+00 BC'"],
    duckdbType: "TIMESTAMP WITH TIME ZONE",
    expected: ["2024-01-31 10:00:00.5+00", "infinity", "-infinity", "0044-03-15 (BC) 12:00:00+00"],
  },
  {
    column: "c_interval",
    pgType: "interval",
    values: ["'1 year 2 mons 3 days 04:05:06.5'", "'-1 days +02:00:00'", "'-3 mons'"],
    duckdbType: "INTERVAL",
    expected: ["1 year 2 months 3 days 04:05:06.5", "-1 day 02:00:00", "-3 months"],
  },
  {
    column: "c_bytea",
    pgType: "bytea",
    values: ["'\\x00ff10'", "''"],
    duckdbType: "BLOB",
    expected: ["\\x00\\xFF\\x10", ""],
  },
  {
    column: "c_inet",
    pgType: "inet",
    values: ["'192.168.0.1/24'", "'::1'"],
    duckdbType: "VARCHAR",
    expected: ["192.168.0.1/24", "::1"],
  },
  {
    column: "c_cidr",
    pgType: "cidr",
    values: ["'10.0.0.0/8'"],
    duckdbType: "VARCHAR",
    expected: ["10.0.0.0/8"],
  },
  {
    column: "c_macaddr",
    pgType: "macaddr",
    values: ["'08:00:2b:01:02:03'"],
    duckdbType: "VARCHAR",
    expected: ["08:00:2b:01:02:03"],
  },
  {
    column: "c_hstore",
    pgType: "hstore",
    values: [`'a=>1, "b c"=>NULL'`],
    duckdbType: "JSON",
    expected: ['{"a": "1", "b c": null}'],
  },
  { column: "c_bit", pgType: "bit(4)", values: ["B'1010'"], duckdbType: "VARCHAR", expected: ["1010"] },
  { column: "c_varbit", pgType: "varbit", values: ["B'101'"], duckdbType: "VARCHAR", expected: ["101"] },
  {
    column: "c_int4range",
    pgType: "int4range",
    values: ["'[1,10)'", "'empty'"],
    duckdbType: "VARCHAR",
    expected: ["[1,10)", "empty"],
  },
  {
    column: "c_tstzrange",
    pgType: "tstzrange",
    values: ["'[2024-01-01,infinity)'"],
    duckdbType: "VARCHAR",
    expected: ['["2024-01-01 00:00:00+00",infinity)'],
  },
  {
    column: "c_point",
    pgType: "point",
    values: ["'(1.5,-2)'"],
    duckdbType: "VARCHAR",
    expected: ["(1.5,-2)"],
  },
  {
    column: "c_domain",
    pgType: "positive_amount",
    values: ["12.34"],
    duckdbType: "DECIMAL(10,2)",
    expected: ["12.34"],
  },
];

const rowCount = Math.max(...cases.map((c) => c.values.length)) + 1; // the last row is all NULL

let db: TestDatabase;
let workDir: string;

beforeAll(async () => {
  db = await createTestDatabase("types");
  workDir = tempDir();
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
  await runToDuckdb({ db, workDir, streams: { "public-all_types": {} } });
});

afterAll(async () => {
  await db?.drop();
});

describe("every PostgreSQL type arrives in DuckDB equal to the source", () => {
  test.each(cases)("$pgType", async (c) => {
    const file = path.join(workDir, "warehouse.duckdb");
    const [typeRow] = await duckdbRows(
      file,
      `SELECT data_type FROM duckdb_columns() WHERE table_name = 'all_types' AND column_name = '${c.column}'`,
    );
    expect(typeRow?.data_type).toBe(c.duckdbType);
    const rows = await duckdbRows(
      file,
      `SELECT CAST(${c.column} AS VARCHAR) AS v FROM public.all_types ORDER BY id`,
    );
    const expected = Array.from({ length: rowCount }, (_, i) => c.expected[i] ?? null);
    expect(rows.map((r) => r.v)).toEqual(expected);
  });
});
