import path from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { duckdbRows, runToDuckdb, tempDir } from "../../support/pipeline.js";

/**
 * Identifiers of any shape PostgreSQL allows must survive discovery, the COPY query and the
 * DuckDB DDL, and none of them may inject SQL on either side.
 */
let db: TestDatabase;
let workDir: string;
const schema = `Sales "Data"; DROP TABLE x; --`;
const table = `Ördérs 'quoted' "table"`;
const columns = ["id", "select", "Mixed Case", "semi;colon", `a"b`, "ünïcödé", "x".repeat(63)];

beforeAll(async () => {
  db = await createTestDatabase("ident");
  workDir = tempDir();
  const q = (name: string): string => `"${name.replaceAll('"', '""')}"`;
  await db.query(`CREATE SCHEMA ${q(schema)}`);
  await db.query(
    `CREATE TABLE ${q(schema)}.${q(table)} (${columns.map((c, i) => `${q(c)} ${i === 0 ? "integer PRIMARY KEY" : "text"}`).join(", ")})`,
  );
  await db.query(
    `INSERT INTO ${q(schema)}.${q(table)} VALUES (1, ${columns
      .slice(1)
      .map((c) => `'${c.replaceAll("'", "''")} value'`)
      .join(", ")})`,
  );
  await runToDuckdb({ db, workDir, streams: { [`${schema}-${table}`]: {} } });
});

afterAll(async () => {
  await db?.drop();
});

test("a table and columns with quotes, semicolons, spaces, unicode, reserved words and 63-byte names arrive intact", async () => {
  const file = path.join(workDir, "warehouse.duckdb");
  const tables = await duckdbRows(file, "SELECT schema_name, table_name FROM duckdb_tables()");
  expect(tables).toEqual([{ schema_name: schema, table_name: table }]);
  const names = await duckdbRows(
    file,
    "SELECT column_name FROM duckdb_columns() WHERE table_name = $$" + table + "$$ ORDER BY column_index",
  );
  expect(names.map((n) => n.column_name)).toEqual(columns);
  const quoted = (name: string): string => `"${name.replaceAll('"', '""')}"`;
  const rows = await duckdbRows(
    file,
    `SELECT ${columns.map(quoted).join(", ")} FROM ${quoted(schema)}.${quoted(table)}`,
  );
  expect(rows).toEqual([Object.fromEntries(columns.map((c, i) => [c, i === 0 ? "1" : `${c} value`]))]);
});
