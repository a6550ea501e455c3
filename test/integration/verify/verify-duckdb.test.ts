import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { DuckdbLoader } from "../../../src/connectors/target-duckdb/duckdb-loader.js";
import { PostgresExtractor } from "../../../src/connectors/tap-postgres/postgres-extractor.js";
import type { StreamSchema } from "../../../src/connectors/column-type.js";
import { verifyStream, type StreamVerification } from "../../../src/verify/verify-streams.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import {
  duckdbConfig,
  duckdbRows,
  runToDuckdb,
  selectStreams,
  tapConfig,
  tempDir,
} from "../../support/pipeline.js";

/**
 * `verify` against target-duckdb: a table loaded by a real run compares equal, and after the
 * warehouse and the source are changed behind sluice's back it names exactly the changed keys,
 * reading the rows of only a few small key ranges.
 */

let db: TestDatabase;
let workDir: string;

beforeAll(async () => {
  db = await createTestDatabase("verify_duckdb");
  workDir = tempDir();
  await db.query(`
    CREATE TABLE typed (
      id integer PRIMARY KEY, amount numeric(12,3), plain numeric, ratio float8, small float4,
      name text, code char(5), flag boolean, day date, at timestamp, at_tz timestamptz, uid uuid,
      doc jsonb, raw json, bin bytea, tags text[], ids integer[], t time, tz timetz, iv interval);
    INSERT INTO typed VALUES
      (1, 1.5, 2.50, 1.0, 0.1, 'a|b', 'ab', true, '2024-02-29', '2024-01-02 03:04:05.123456',
       '2024-01-02 03:04:05.5+02', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"b": [1, 2.0], "a": "x y"}',
       '{"z":1,  "a":2}', '\\xdeadbeef', '{"x y", NULL}', '{1,2}', '12:34:56.789', '12:34:56.5+02:30',
       '1 year 2 mons 3 days 04:05:06.7'),
      (2, NULL, NULL, 1e20, -2.5, NULL, NULL, false, '0044-03-15 BC', '1969-12-31 23:59:59.999999',
       '2000-01-01 00:00:00+00', NULL, 'null', '[]', '\\x', '{}', NULL, '24:00:00', '00:00:00-11', '-1 mons 1 day -00:00:00.000001'),
      (3, -0.001, 1e-7, 'NaN', '-Infinity', 'é ü 😀', 'x', NULL, 'infinity', '-infinity', 'infinity', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
    CREATE TABLE big (id bigint PRIMARY KEY, v text NOT NULL, n numeric(10,2));
    INSERT INTO big SELECT g, 'row ' || g, g / 7.0 FROM generate_series(1, 50000) g;
    CREATE TABLE pairs (a text, b date, v integer, PRIMARY KEY (a, b));
    INSERT INTO pairs SELECT 'k''\\' || (g % 50), date '2024-01-01' + (g / 50), g FROM generate_series(1, 3000) g;`);
  const summary = await runToDuckdb({
    db,
    workDir,
    streams: { "public-typed": {}, "public-big": {}, "public-pairs": {} },
    target: { hard_delete: false },
  });
  expect(summary.status).toBe("success");
});

afterAll(async () => {
  await db?.drop();
});

async function verify(streamId: string, options = {}): Promise<StreamVerification> {
  const extractor = new PostgresExtractor(tapConfig(db));
  const loader = new DuckdbLoader(duckdbConfig("warehouse.duckdb"), { projectDir: workDir });
  const plans = await extractor.plan(selectStreams(await extractor.discover(), { [streamId]: {} }));
  const schema: StreamSchema = plans[0]!.schema;
  const source = extractor.verifier();
  const warehouse = loader.verifier();
  try {
    return await verifyStream(schema, source, warehouse, options);
  } finally {
    await source.close();
    await warehouse.close();
    await loader.close();
    await extractor.close();
  }
}

async function duckdb(sql: string): Promise<void> {
  await duckdbRows(path.join(workDir, "warehouse.duckdb"), sql);
}

describe("verify against target-duckdb", () => {
  test("a freshly loaded table of every common type hashes the same on both sides", async () => {
    const result = await verify("public-typed");
    expect(result).toMatchObject({
      equal: true,
      sourceRows: 3,
      warehouseRows: 3,
      missing: [],
      extra: [],
      changed: [],
    });
    expect(result.inexactColumns).toEqual(["doc (json)", "raw (json)", "tags (array)", "ids (array)"]);
  });

  test("a changed value of any type is seen", async () => {
    await duckdb(`UPDATE public.typed SET at_tz = at_tz + INTERVAL 1 MICROSECOND WHERE id = 1;
      UPDATE public.typed SET amount = 0.002 WHERE id = 3; UPDATE public.typed SET code = 'ab' WHERE id = 3;
      UPDATE public.typed SET iv = iv + INTERVAL 1 MICROSECOND WHERE id = 2`);
    const result = await verify("public-typed");
    expect(result.equal).toBe(false);
    expect(result.changed).toEqual([{ id: "1" }, { id: "2" }, { id: "3" }]);
  });

  test("names exactly the keys deleted, added and changed in the warehouse and the source", async () => {
    expect((await verify("public-big")).equal).toBe(true);
    await duckdb(`DELETE FROM public.big WHERE id = 12345;
      UPDATE public.big SET v = 'changed' WHERE id = 40000;
      INSERT INTO public.big VALUES (60000, 'extra', 1.00);
      INSERT INTO public.big SELECT * FROM public.big WHERE id = 25000`);
    await db.query(`UPDATE big SET n = n + 0.01 WHERE id = 777; DELETE FROM big WHERE id = 30000`);
    const result = await verify("public-big");
    expect(result).toMatchObject({
      equal: false,
      sourceRows: 49999,
      warehouseRows: 50001,
      missing: [{ id: "12345" }],
      // 25000 is in the warehouse twice: the second copy is extra.
      extra: [{ id: "25000" }, { id: "30000" }, { id: "60000" }],
      changed: [{ id: "777" }, { id: "40000" }],
      truncated: false,
    });
    // 50,000 rows cut in 16 parts twice: only the six ranges of at most 197 rows around the
    // six keys were read, from both sides (about 2,400 rows of 100,000).
    expect(result.rowsFetched).toBeGreaterThan(0);
    expect(result.rowsFetched).toBeLessThanOrEqual(6 * 2 * 198);
    expect(result.rangesCompared).toBeLessThanOrEqual(1 + 17 + 6 * 17);
  });

  test("rows soft-deleted in the warehouse count as absent", async () => {
    await duckdb(`ALTER TABLE public.pairs ADD COLUMN _sdc_deleted_at TIMESTAMPTZ;
      UPDATE public.pairs SET _sdc_deleted_at = now() WHERE a = 'k''\\7' AND b = DATE '2024-01-03'`);
    const result = await verify("public-pairs");
    expect(result).toMatchObject({
      equal: false,
      sourceRows: 3000,
      warehouseRows: 2999,
      extra: [],
      changed: [],
    });
    // A composite key of text and date is cut by its canonical text; the date is days since 1970.
    // Its text keys hold a quote and a backslash, and so do the range bounds.
    expect(result.missing).toEqual([{ a: "k'\\7", b: String(19725) }]);
  });

  test("a stream with no warehouse table says so", async () => {
    await duckdb("DROP TABLE public.pairs");
    const result = await verify("public-pairs");
    expect(result).toMatchObject({
      equal: false,
      sourceRows: 3000,
      note: "the warehouse has no table for this stream",
    });
  });
});
