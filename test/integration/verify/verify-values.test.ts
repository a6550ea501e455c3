import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Loader } from "../../../src/connectors/connector.js";
import { DuckdbLoader } from "../../../src/connectors/target-duckdb/duckdb-loader.js";
import { PostgresTargetLoader } from "../../../src/connectors/target-postgres/postgres-target-loader.js";
import { PostgresExtractor } from "../../../src/connectors/tap-postgres/postgres-extractor.js";
import { verifyStreams, type StreamVerification } from "../../../src/verify/verify-streams.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import {
  duckdbConfig,
  duckdbRows,
  runToDuckdb,
  selectStreams,
  tapConfig,
  tempDir,
} from "../../support/pipeline.js";
import { postgresTargetConfig, runToPostgres } from "../connectors/postgres-target-support.js";

/**
 * The values `verify` once compared wrongly, loaded by real runs into DuckDB and PostgreSQL: a
 * table of PostgreSQL's 1,600 columns, composites whose fields are all NULL, arrays with their
 * subscripts and dimensions, floats' NaN, -0 and infinities, numeric trailing zeros, timestamps
 * at microsecond edges, jsonb key order, and texts holding the hash's own separators. Loaded as
 * they are, every stream compares equal; changed behind sluice's back, exactly the changed keys
 * are named, including changes that only move a separator from one column to the next.
 */

const WIDTH = 1600;
let source: TestDatabase;
let warehouseDb: TestDatabase;
let workDir: string;

const wideColumns = Array.from({ length: WIDTH - 1 }, (_, i) => `c${i + 1}`);

beforeAll(async () => {
  [source, warehouseDb] = await Promise.all([
    createTestDatabase("verify_values"),
    createTestDatabase("verify_values_wh"),
  ]);
  workDir = tempDir();
  await source.query(`
    CREATE TABLE broad (id integer PRIMARY KEY, ${wideColumns.map((c) => `${c} smallint`).join(", ")});
    INSERT INTO broad (id, ${wideColumns.join(", ")}) SELECT g, ${wideColumns.map((_, i) => `(g + ${i}) % 1000`).join(", ")}
      FROM generate_series(1, 3) g;
    CREATE TYPE pair AS (x integer, y text);
    CREATE TABLE odd (
      id integer PRIMARY KEY, p pair, a text, b text, ints integer[], grid integer[][], f float8, n numeric,
      ts timestamp, doc jsonb);
    INSERT INTO odd VALUES
      (1, ROW(NULL, NULL), 'x' || chr(30), 'y', '[0:1]={1,2}', '{{1,2},{3,4}}', 'NaN', 1.500,
       '2024-01-01 00:00:00.999999', '{"b": 1, "a": {"d": 2, "c": 3}}'),
      (2, ROW(1, 'a,b'), chr(31), '', '{}', '[2:3][1:1]={{5},{6}}', '-0', 0.000,
       '1999-12-31 23:59:59.000001', '[]'),
      (3, NULL, NULL, NULL, NULL, '{{1}}', 'Infinity', 100, '2000-01-01 00:00:00', 'null'),
      (4, ROW(NULL, ''), ':' || chr(30) || ':', chr(31), '{NULL}', NULL, '-Infinity', -12.340,
       '1970-01-01 00:00:00.000001', '{"a": null}'),
      (5, ROW(2, NULL), 'z', 'w', '{7}', NULL, 2.2250738585072014e-308, 1e-20,
       '0001-01-01 00:00:00', '{}');`);
  for (const run of [
    await runToDuckdb({ db: source, workDir, streams: "all" }),
    await runToPostgres({
      source,
      warehouse: warehouseDb,
      workDir,
      streams: "all",
      stateId: "test:to-postgres",
      target: { default_target_schema: "public" },
    }),
  ]) {
    expect(run.status).toBe("success");
  }
}, 120_000);

afterAll(async () => {
  await Promise.all([source?.drop(), warehouseDb?.drop()]);
});

type Warehouse = "duckdb" | "postgres";

async function verify(target: Warehouse, streams: string[]): Promise<StreamVerification[]> {
  const extractor = new PostgresExtractor(tapConfig(source));
  const loader: Loader =
    target === "duckdb"
      ? new DuckdbLoader(duckdbConfig("warehouse.duckdb"), { projectDir: workDir })
      : new PostgresTargetLoader(postgresTargetConfig(warehouseDb, { default_target_schema: "public" }));
  const plans = await extractor.plan(
    selectStreams(await extractor.discover(), Object.fromEntries(streams.map((s) => [s, {}]))),
  );
  const sourceSide = extractor.verifier();
  const warehouseSide = loader.verifier!();
  try {
    return await verifyStreams(
      plans.map((p) => p.schema),
      sourceSide,
      warehouseSide,
    );
  } finally {
    await sourceSide.close();
    await warehouseSide.close();
    await loader.close();
    await extractor.close();
  }
}

async function change(target: Warehouse, sql: string): Promise<void> {
  if (target === "duckdb") await duckdbRows(path.join(workDir, "warehouse.duckdb"), sql);
  else await warehouseDb.query(sql);
}

describe.each<Warehouse>(["duckdb", "postgres"])("verify values into %s", (target) => {
  test("values loaded as they are compare equal; arrays not starting at 1 are reported as not held", async () => {
    const [broad, odd] = await verify(target, ["public-broad", "public-odd"]);
    expect(broad).toMatchObject({ stream: "public-broad", equal: true, sourceRows: 3, warehouseRows: 3 });
    expect(broad!.error).toBeUndefined();
    expect(odd).toMatchObject({ stream: "public-odd", equal: true, sourceRows: 5, changed: [] });
    expect(odd!.notHeld).toEqual([
      "ints: 1 row(s) hold arrays whose subscripts do not start at 1; the warehouse holds their elements from 1 (compared by elements)",
      "grid: 1 row(s) hold arrays whose subscripts do not start at 1; the warehouse holds their elements from 1 (compared by elements)",
    ]);
  });

  test("a change in any of 1,600 columns, or one that only moves a separator between columns, is named", async () => {
    await change(
      target,
      `UPDATE public.broad SET c1555 = c1555 + 1 WHERE id = 2;
       UPDATE public.odd SET a = 'x', b = chr(30) || 'y' WHERE id = 1;
       UPDATE public.odd SET a = NULL WHERE id = 2;
       UPDATE public.odd SET b = '' WHERE id = 3;
       UPDATE public.odd SET a = ':', b = ':' || chr(30) || chr(31) WHERE id = 4`,
    );
    const [broad, odd] = await verify(target, ["public-broad", "public-odd"]);
    expect(broad).toMatchObject({ equal: false, changed: [{ id: "2" }], missing: [], extra: [] });
    // 1: `x\x1e|y` became `x|\x1ey`; 2: chr(31) (the NULL marker) became NULL; 3: NULL became '';
    // 4: a separator moved across columns.
    expect(odd).toMatchObject({
      equal: false,
      changed: [{ id: "1" }, { id: "2" }, { id: "3" }, { id: "4" }],
    });
  });

  test("an all-NULL composite, an empty array, -0 and microseconds are values of their own", async () => {
    await change(
      target,
      `UPDATE public.odd SET p = NULL WHERE id = 1;
       UPDATE public.odd SET ints = NULL WHERE id = 2;
       UPDATE public.odd SET f = 0 WHERE id = 2;
       UPDATE public.odd SET ts = ts + INTERVAL '1 microsecond' WHERE id = 5;
       UPDATE public.odd SET n = 1e-19 WHERE id = 5`,
    );
    await source.query(`UPDATE odd SET a = 'x', b = chr(30) || 'y' WHERE id = 1;
      UPDATE odd SET a = NULL WHERE id = 2; UPDATE odd SET b = '' WHERE id = 3;
      UPDATE odd SET a = ':', b = ':' || chr(30) || chr(31) WHERE id = 4`);
    const [odd] = await verify(target, ["public-odd"]);
    expect(odd).toMatchObject({ equal: false, changed: [{ id: "1" }, { id: "2" }, { id: "5" }] });
    await source.query(`UPDATE odd SET a = 'x' || chr(30), b = 'y' WHERE id = 1;
      UPDATE odd SET a = chr(31) WHERE id = 2; UPDATE odd SET b = NULL WHERE id = 3;
      UPDATE odd SET a = ':' || chr(30) || ':', b = chr(31) WHERE id = 4`);
  });

  test("a stream that cannot be verified is named with its error; the others are still verified", async () => {
    await change(target, `ALTER TABLE public.broad DROP COLUMN c7`);
    const results = await verify(target, ["public-odd", "public-broad"]);
    const broad = results.find((r) => r.stream === "public-broad");
    expect(broad).toMatchObject({ equal: false });
    expect(broad!.error).toMatch(/c7/);
    // Sorted by stream id, broad failed first and odd was still verified in full.
    const odd = results.find((r) => r.stream === "public-odd");
    expect(odd).toMatchObject({ sourceRows: 5, warehouseRows: 5 });
    expect(odd!.error).toBeUndefined();
  });
});
