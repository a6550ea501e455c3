import path from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { runToDuckdb, tempDir } from "../../support/pipeline.js";
import { duckdbValues } from "./hostile-support.js";

// DuckDB table names are case-insensitive: tables differing only in case are refused, never merged.
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase("case_tables");
  await db.query(`
    CREATE TABLE public."Orders" (id integer PRIMARY KEY, v text); INSERT INTO public."Orders" VALUES (1, 'upper');
    CREATE TABLE public.orders (id integer PRIMARY KEY, v text); INSERT INTO public.orders VALUES (2, 'lower');
  `);
});
afterAll(async () => {
  await db?.drop();
});

test("tables Orders and orders selected in one run: refused up front, naming both", async () => {
  const workDir = tempDir("sluice-case-");
  await expect(
    runToDuckdb({ db, workDir, streams: { "public-Orders": {}, "public-orders": {} } }),
  ).rejects.toThrow(
    /streams public-Orders and public-orders would both be loaded into public\.orders \(to target-duckdb, public\.Orders is the same table\)/,
  );
});

test("tables Orders and orders loaded by two runs: the second does not silently replace the first", async () => {
  const workDir = tempDir("sluice-case-");
  await runToDuckdb({ db, workDir, streams: { "public-Orders": {} } });
  const second = await runToDuckdb({ db, workDir, streams: { "public-orders": {} } }).catch((e: Error) => e);
  expect(second).toBeInstanceOf(Error);
  expect((second as Error).message).toMatch(/"Orders" and "orders" differ only in case/);
  // The first stream's rows are still there, untouched.
  const rows = await duckdbValues(
    path.join(workDir, "warehouse.duckdb"),
    'SELECT id, v FROM public."Orders"',
  );
  expect(rows).toEqual([{ id: "1", v: "upper" }]);
});
