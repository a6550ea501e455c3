import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { DuckdbLoader } from "../../../src/connectors/target-duckdb/duckdb-loader.js";
import { duckdbConfig, duckdbRows, runThroughSinger, runToDuckdb, tempDir } from "../../support/pipeline.js";
import {
  typeFidelityCases,
  typeFidelityInserts,
  typeFidelityRowCount,
  typeFidelitySchemaSql,
  withExpectations,
} from "../../support/type-fidelity-cases.js";

/**
 * Every PostgreSQL type the product promises, with its edge values, must arrive in DuckDB equal
 * to the source, value by value. Each case: the source column type, SQL literals for its rows,
 * the DuckDB column type expected and each value as DuckDB prints it (CAST AS VARCHAR).
 */
interface DuckdbExpectation {
  duckdbType: string;
  expected: (string | null)[];
}

/** What the warehouse must hold, per column of the type-fidelity set. */
const expectations: Record<string, DuckdbExpectation> = {
  c_smallint: { duckdbType: "SMALLINT", expected: ["-32768", "32767"] },
  c_integer: { duckdbType: "INTEGER", expected: ["-2147483648", "0"] },
  c_bigint: { duckdbType: "BIGINT", expected: ["-9223372036854775808", "9223372036854775807"] },
  c_numeric_38: {
    duckdbType: "DECIMAL(38,0)",
    expected: ["99999999999999999999999999999999999999", "-12345678901234567890123456789012345678"],
  },
  c_numeric_12_2: { duckdbType: "DECIMAL(12,2)", expected: ["1234567890.12", "0.10", "-0.01"] },
  c_numeric_free: {
    duckdbType: "VARCHAR",
    expected: [
      "NaN",
      "3.141592653589793238462643383279502884197169399375",
      "0.0000000000000000000000000000000000000001",
    ],
  },
  c_real: { duckdbType: "FLOAT", expected: ["1.5", "nan", "-inf"] },
  c_double: { duckdbType: "DOUBLE", expected: ["0.1", "inf", "1e+308"] },
  c_money: { duckdbType: "DECIMAL(19,2)", expected: ["1234.56", "-0.99"] },
  c_bool: { duckdbType: "BOOLEAN", expected: ["true", "false"] },
  c_text: { duckdbType: "VARCHAR", expected: ["", 'line\nbreak, "quoted" and ,commas', "ü日本語🎉"] },
  c_varchar: { duckdbType: "VARCHAR", expected: ["abc"] },
  c_char: { duckdbType: "VARCHAR", expected: ["ab  "] },
  c_citext: { duckdbType: "VARCHAR", expected: ["MiXeD"] },
  c_uuid: { duckdbType: "UUID", expected: ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"] },
  c_enum: { duckdbType: "VARCHAR", expected: ["happy", "sad"] },
  c_json: { duckdbType: "JSON", expected: ['{"b": 1, "a": [1, 2.50]}'] },
  c_jsonb: {
    duckdbType: "JSON", // jsonb keeps keys sorted by length, then bytes: PostgreSQL's own text is what must arrive.
    expected: ['{"nested": {"ü": "日本", "deep": [{"x": null}, 100, "é"]}}', "[]", '"plain string"'],
  },
  c_int_array: { duckdbType: "INTEGER[]", expected: ["[1, NULL, 3]", "[]"] },
  c_text_array: { duckdbType: "VARCHAR[]", expected: ["[a, NULL, 'NULL', 'with,comma', 'quote\"d', '']"] },
  c_numeric_array: { duckdbType: "DECIMAL(10,2)[]", expected: ["[1.50, -2.25]"] },
  c_int_matrix: { duckdbType: "INTEGER[][]", expected: ["[[1, 2], [3, NULL]]"] },
  c_tstz_array: {
    duckdbType: "TIMESTAMP WITH TIME ZONE[]",
    expected: ["['2024-01-01 00:00:00+00', infinity]"],
  },
  c_bytea_array: { duckdbType: "BLOB[]", expected: ["[\\x00\\xFF]"] },
  c_date: { duckdbType: "DATE", expected: ["2024-02-29", "infinity", "0044-03-15 (BC)"] },
  c_time: { duckdbType: "TIME", expected: ["23:59:59.999999"] },
  c_timetz: { duckdbType: "TIME WITH TIME ZONE", expected: ["12:34:56.789+05:30", "00:00:00.000001-08"] },
  c_timestamp: {
    duckdbType: "TIMESTAMP",
    expected: ["2024-01-31 12:00:00.123456", "-infinity", "0044-03-15 (BC) 12:00:00"],
  },
  c_timestamptz: {
    duckdbType: "TIMESTAMP WITH TIME ZONE",
    expected: ["2024-01-31 10:00:00.5+00", "infinity", "-infinity", "0044-03-15 (BC) 12:00:00+00"],
  },
  c_interval: {
    duckdbType: "INTERVAL",
    expected: ["1 year 2 months 3 days 04:05:06.5", "-1 day 02:00:00", "-3 months"],
  },
  c_bytea: { duckdbType: "BLOB", expected: ["\\x00\\xFF\\x10", ""] },
  c_inet: { duckdbType: "VARCHAR", expected: ["192.168.0.1/24", "::1"] },
  c_cidr: { duckdbType: "VARCHAR", expected: ["10.0.0.0/8"] },
  c_macaddr: { duckdbType: "VARCHAR", expected: ["08:00:2b:01:02:03"] },
  c_hstore: { duckdbType: "JSON", expected: ['{"a": "1", "b c": null}'] },
  c_bit: { duckdbType: "VARCHAR", expected: ["1010"] },
  c_varbit: { duckdbType: "VARCHAR", expected: ["101"] },
  c_int4range: { duckdbType: "VARCHAR", expected: ["[1,10)", "empty"] },
  c_tstzrange: { duckdbType: "VARCHAR", expected: ['["2024-01-01 00:00:00+00",infinity)'] },
  c_point: { duckdbType: "VARCHAR", expected: ["(1.5,-2)"] },
  c_domain: { duckdbType: "DECIMAL(10,2)", expected: ["12.34"] },
};

const cases = withExpectations(typeFidelityCases(), expectations);

const rowCount = typeFidelityRowCount(cases); // the last row is all NULL

let db: TestDatabase;
let workDir: string;

beforeAll(async () => {
  db = await createTestDatabase("types");
  workDir = tempDir();
  await db.query(typeFidelitySchemaSql(cases));
  for (const insert of typeFidelityInserts(cases)) await db.query(insert);
  await runToDuckdb({ db, workDir, streams: { "public-all_types": {} } });
  // The same table through Singer, as Meltano runs sluice's tap and target: `sluice tap | sluice target`.
  await runThroughSinger({
    db,
    workDir,
    streams: { "public-all_types": {} },
    loader: new DuckdbLoader(duckdbConfig("singer.duckdb"), { projectDir: workDir }),
  });
});

afterAll(async () => {
  await db?.drop();
});

/** The column's DuckDB type and each row's value as DuckDB prints it, by id. */
async function landed(
  file: string,
  column: string,
): Promise<{ type: string | null | undefined; values: (string | null)[] }> {
  const [typeRow] = await duckdbRows(
    file,
    `SELECT data_type FROM duckdb_columns() WHERE table_name = 'all_types' AND column_name = '${column}'`,
  );
  const rows = await duckdbRows(
    file,
    `SELECT CAST(${column} AS VARCHAR) AS v FROM public.all_types ORDER BY id`,
  );
  return { type: typeRow?.data_type, values: rows.map((r) => r.v ?? null) };
}

describe("every PostgreSQL type arrives in DuckDB equal to the source", () => {
  test.each(cases)("$pgType", async (c) => {
    const { type, values } = await landed(path.join(workDir, "warehouse.duckdb"), c.column);
    expect(type).toBe(c.duckdbType);
    const expected = Array.from({ length: rowCount }, (_, i) => c.expected[i] ?? null);
    expect(values).toEqual(expected);
  });
});

describe("through Singer (sluice tap | sluice target), every type lands as sluice run lands it", () => {
  test.each(cases)("$pgType", async (c) => {
    const { type, values } = await landed(path.join(workDir, "singer.duckdb"), c.column);
    expect(type).toBe(c.duckdbType);
    const expected = Array.from({ length: rowCount }, (_, i) => c.expected[i] ?? null);
    expect(values).toEqual(expected);
  });
});
