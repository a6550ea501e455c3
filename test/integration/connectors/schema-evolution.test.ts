import fs from "node:fs";
import path from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { ColumnType, StreamSchema } from "../../../src/connectors/column-type.js";
import type { Loader } from "../../../src/connectors/connector.js";
import { DuckdbLoader } from "../../../src/connectors/target-duckdb/duckdb-loader.js";
import { PostgresTargetLoader } from "../../../src/connectors/target-postgres/postgres-target-loader.js";
import { SchemaError } from "../../../src/errors.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { duckdbConfig, tempDir } from "../../support/pipeline.js";
import { postgresTargetConfig, utcQuery } from "./postgres-target-support.js";

// All or nothing for a table's shape: continuing into a table another target made (pipelinewise's
// `jsonb` arrays and `double precision` numerics), every column is decided before anything is
// applied (loader-core/existing-columns.ts). Columns whose type holds the values are kept; one
// that cannot hold them refuses the stream, in one message naming each such column, and leaves
// the table's columns exactly as they were (the new column is not added either).

const int64: ColumnType = { kind: "integer", bits: 64, sqlType: "bigint" };
const decimal: ColumnType = { kind: "decimal", precision: 38, scale: 10, sqlType: "numeric(38,10)" };
const column = (name: string, type: ColumnType) => ({ name, type, nullable: name !== "id" });

/** What the stream now says: four columns have other types than the table's, one is new. */
const STREAM: StreamSchema = {
  streamId: "shop-orders",
  sourceSchema: "shop",
  sourceTable: "orders",
  keyProperties: ["id"],
  columns: [
    column("id", int64),
    column("price", decimal), // double precision: kept, about 15 digits
    column("qty", int64), // integer: cannot hold every bigint
    column("code", int64), // text: kept, the number as its text
    column("tags", decimal), // jsonb/JSON arrays: cannot hold a decimal
    column("added", { kind: "string", sqlType: "text" }),
  ],
};

const open = (loader: Loader) =>
  loader.openStream(STREAM, { mode: "incremental", version: 1, distinctKeys: false });

/** The refusal: both columns named with their types, the kept ones not, what to do. */
function expectRefusal(error: unknown, columns: { qty: string; tags: string }): void {
  expect(error).toBeInstanceOf(SchemaError);
  const message = (error as Error).message;
  expect(message).toContain(
    "shop.orders was not created by sluice, and 2 columns of it cannot hold what stream shop-orders sends",
  );
  expect(message).toContain("no change was made to the table");
  expect(message).toContain(`- qty (${columns.qty})`);
  expect(message).toContain(`- tags (${columns.tags})`);
  expect(message).not.toContain("- price");
  expect(message).not.toContain("- code");
  expect(message).toContain("existing_tables: rebuild");
  expect(message).toContain("--full-refresh --select shop-orders");
}

describe("target-postgres", () => {
  let warehouse: TestDatabase;

  beforeAll(async () => {
    warehouse = await createTestDatabase("pgt_evolve");
  });

  afterAll(async () => {
    await warehouse?.drop();
  });

  const catalog = () =>
    utcQuery<{ name: string; type: string }>(
      warehouse,
      `SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS type
         FROM pg_attribute a WHERE a.attrelid = 'shop.orders'::regclass AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attnum`,
    );

  test("a table with one column it cannot convert keeps every column as it was", async () => {
    await utcQuery(
      warehouse,
      `CREATE SCHEMA shop;
       CREATE TABLE shop.orders (id bigint PRIMARY KEY, price double precision, qty integer, code text, tags jsonb);
       INSERT INTO shop.orders VALUES (1, 9.99, 3, 'A-17', '["red", "large"]'), (2, 0.5, 1, '42', '[]')`,
    );
    const before = await catalog();
    const loader = new PostgresTargetLoader(
      postgresTargetConfig(warehouse, { default_target_schema: "shop" }),
    );
    try {
      const error = await open(loader).then(
        () => undefined,
        (e: unknown) => e,
      );
      expectRefusal(error, {
        qty: "integer, sluice sends bigint",
        tags: "jsonb, sluice sends numeric(38,10)",
      });
    } finally {
      await loader.close();
    }
    expect(await catalog()).toEqual(before);
    expect(before.map((c) => c.type)).toEqual(["bigint", "double precision", "integer", "text", "jsonb"]);
    const rows = await utcQuery(warehouse, "SELECT id, price, code, tags::text FROM shop.orders ORDER BY id");
    expect(rows).toEqual([
      { id: "1", price: 9.99, code: "A-17", tags: '["red", "large"]' },
      { id: "2", price: 0.5, code: "42", tags: "[]" },
    ]);
  });

  test("a key that cannot be made (duplicate keys) adds no column either", async () => {
    await utcQuery(
      warehouse,
      `CREATE TABLE shop.dupes (id bigint, price double precision);
       INSERT INTO shop.dupes VALUES (1, 1.5), (1, 2.5)`,
    );
    const columns = () =>
      utcQuery<{ name: string; type: string }>(
        warehouse,
        `SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS type
           FROM pg_attribute a WHERE a.attrelid = 'shop.dupes'::regclass AND a.attnum > 0 AND NOT a.attisdropped
          ORDER BY a.attnum`,
      );
    const before = await columns();
    const loader = new PostgresTargetLoader(
      postgresTargetConfig(warehouse, { default_target_schema: "shop" }),
    );
    try {
      const schema: StreamSchema = {
        ...STREAM,
        streamId: "shop-dupes",
        sourceTable: "dupes",
        columns: [
          column("id", int64),
          column("price", decimal),
          column("added", { kind: "string", sqlType: "text" }),
        ],
      };
      await expect(
        loader.openStream(schema, { mode: "incremental", version: 1, distinctKeys: false }),
      ).rejects.toThrow(/shop\.dupes has no unique key on \(id\).*so no change was made to the table/);
    } finally {
      await loader.close();
    }
    expect(await columns()).toEqual(before);
    expect(before.map((c) => c.type)).toEqual(["bigint", "double precision"]);
  });
});

describe("target-duckdb", () => {
  let dir: string;

  beforeAll(() => {
    dir = tempDir("sluice-duckdb-evolve-");
  });

  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  async function duckdb<T>(file: string, sql: string): Promise<T[]> {
    const instance = await DuckDBInstance.create(file);
    try {
      const connection = await instance.connect();
      try {
        const reader = await connection.runAndReadAll(sql);
        return reader.getRowObjectsJS() as T[];
      } finally {
        connection.closeSync();
      }
    } finally {
      instance.closeSync();
    }
  }

  test("a table with one column it cannot convert keeps every column as it was", async () => {
    const file = path.join(dir, "warehouse.duckdb");
    await duckdb(
      file,
      `CREATE SCHEMA shop;
       CREATE TABLE shop.orders (id BIGINT PRIMARY KEY, price DOUBLE, qty INTEGER, code VARCHAR, tags JSON);
       INSERT INTO shop.orders VALUES (1, 9.99, 3, 'A-17', '["red","large"]'), (2, 0.5, 1, '42', '[]')`,
    );
    const catalog = () =>
      duckdb<{ name: string; type: string }>(
        file,
        "SELECT column_name AS name, data_type AS type FROM duckdb_columns() WHERE schema_name = 'shop' AND table_name = 'orders' ORDER BY column_index",
      );
    const before = await catalog();
    const loader = new DuckdbLoader(duckdbConfig(file), { projectDir: dir });
    try {
      const error = await open(loader).then(
        () => undefined,
        (e: unknown) => e,
      );
      expectRefusal(error, {
        qty: "INTEGER, sluice sends BIGINT",
        tags: "JSON, sluice sends DECIMAL(38,10)",
      });
    } finally {
      await loader.close();
    }
    expect(await catalog()).toEqual(before);
    expect(before.map((c) => c.type)).toEqual(["BIGINT", "DOUBLE", "INTEGER", "VARCHAR", "JSON"]);
    expect(await duckdb(file, "SELECT id, code, tags::VARCHAR AS tags FROM shop.orders ORDER BY id")).toEqual(
      [
        { id: 1n, code: "A-17", tags: '["red","large"]' },
        { id: 2n, code: "42", tags: "[]" },
      ],
    );
  });
});
