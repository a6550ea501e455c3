import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { BigqueryLoader } from "../../../src/connectors/target-bigquery/bigquery-loader.js";
import { PostgresExtractor } from "../../../src/connectors/tap-postgres/postgres-extractor.js";
import { verifyStream, type StreamVerification } from "../../../src/verify/verify-streams.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { selectStreams, tapConfig, tempDir } from "../../support/pipeline.js";
import {
  bigqueryConfig,
  datasetName,
  runToBigquery,
  startBigqueryTarget,
  type BigqueryTarget,
} from "../connectors/bigquery-harness.js";

/**
 * `verify` against target-bigquery (the emulator, or real BigQuery with SLUICE_BIGQUERY_PROJECT):
 * the checksums are GoogleSQL query jobs, and a loaded table compares equal until the warehouse
 * is changed behind sluice's back.
 */

let db: TestDatabase;
let target: BigqueryTarget;
let dataset: string;
let workDir: string;

beforeAll(async () => {
  db = await createTestDatabase("verify_bq");
  target = await startBigqueryTarget();
  dataset = datasetName("verify");
  workDir = tempDir();
  await db.query(`
    CREATE TABLE typed (
      id integer PRIMARY KEY, amount numeric(12,3), plain numeric, ratio float8, name text, flag boolean,
      day date, at timestamp, at_tz timestamptz, uid uuid, doc jsonb, bin bytea, tags text[]);
    INSERT INTO typed VALUES
      (1, 1.5, 2.50, 1.0, 'a|b', true, '2024-02-29', '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.5+02',
       'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"b": [1, 2.0], "a": "x y"}', '\\xdeadbeef', '{"x y"}'),
      (2, NULL, NULL, 1e20, NULL, false, '1900-03-15', '1969-12-31 23:59:59.999999', '2000-01-01 00:00:00+00',
       NULL, 'null', '\\x', '{}'),
      (3, -0.001, 1e-7, 'NaN', 'é ü 😀', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
    CREATE TABLE events (id bigint PRIMARY KEY, kind text NOT NULL, happened timestamptz NOT NULL);
    INSERT INTO events SELECT g, 'kind ' || (g % 7), timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second'
      FROM generate_series(1, 5000) g;
    CREATE TYPE pair AS (x integer, y text);
    CREATE TABLE odd (id integer PRIMARY KEY, p pair, a text, b text);
    INSERT INTO odd VALUES (1, ROW(NULL, NULL), 'x' || chr(30), 'y'), (2, NULL, chr(31), ''), (3, ROW(1, 'a'), NULL, NULL);
    CREATE TABLE tagged (tag text PRIMARY KEY, n integer);
    INSERT INTO tagged SELECT 'it''s \\ ' || g, g FROM generate_series(1, 300) g;`);
  const summary = await runToBigquery({
    db,
    workDir,
    target: bigqueryConfig(target, dataset),
    streams: { "public-typed": {}, "public-events": {}, "public-tagged": {}, "public-odd": {} },
  });
  expect(summary.status).toBe("success");
});

afterAll(async () => {
  await target?.close();
  await db?.drop();
});

async function verify(streamId: string): Promise<StreamVerification> {
  const extractor = new PostgresExtractor(tapConfig(db));
  const loader = new BigqueryLoader(bigqueryConfig(target, dataset), { projectDir: workDir }, { env: {} });
  const plans = await extractor.plan(selectStreams(await extractor.discover(), { [streamId]: {} }));
  const source = extractor.verifier();
  const warehouse = loader.verifier();
  try {
    return await verifyStream(plans[0]!.schema, source, warehouse, { maxRangeRows: 200 });
  } finally {
    await source.close();
    await warehouse.close();
    await loader.close();
    await extractor.close();
  }
}

async function bigquery(sql: string): Promise<void> {
  await target.client.query({ query: sql, location: "US" });
}

describe("verify against target-bigquery", () => {
  test("a freshly loaded table of the common types hashes the same in PostgreSQL and BigQuery", async () => {
    const result = await verify("public-typed");
    expect(result).toMatchObject({ equal: true, sourceRows: 3, warehouseRows: 3 });
  });

  test("names the keys deleted, added and changed in BigQuery, reading a few small ranges", async () => {
    await bigquery(`DELETE FROM \`${dataset}.events\` WHERE id = 4321;
      UPDATE \`${dataset}.events\` SET happened = TIMESTAMP '2030-01-01 00:00:00+00' WHERE id = 17;
      INSERT INTO \`${dataset}.events\` (id, kind, happened) VALUES (9999, 'extra', CURRENT_TIMESTAMP())`);
    const result = await verify("public-events");
    expect(result).toMatchObject({
      equal: false,
      sourceRows: 5000,
      warehouseRows: 5000,
      missing: [{ id: "4321" }],
      extra: [{ id: "9999" }],
      changed: [{ id: "17" }],
    });
    expect(result.rowsFetched).toBeLessThan(3 * 2 * 200);
  });

  test("a text key is cut into ranges the same way in both engines", async () => {
    // Every key, and so every range bound, holds a quote and a backslash: quoted in both dialects.
    await bigquery(`UPDATE \`${dataset}.tagged\` SET n = 0 WHERE tag = r"it's \\ 150";
      DELETE FROM \`${dataset}.tagged\` WHERE tag = r"it's \\ 7"`);
    const result = await verify("public-tagged");
    expect(result).toMatchObject({
      missing: [{ tag: "it's \\ 7" }],
      extra: [],
      changed: [{ tag: "it's \\ 150" }],
    });
    expect(result.rangesCompared).toBeGreaterThan(1);
  });

  test("an all-NULL composite is a value, and a separator moved between columns or a NULL marker is a change", async () => {
    expect(await verify("public-odd")).toMatchObject({ equal: true, sourceRows: 3 });
    await bigquery(`UPDATE \`${dataset}.odd\` SET a = 'x', b = CONCAT(CODE_POINTS_TO_STRING([30]), 'y') WHERE id = 1;
      UPDATE \`${dataset}.odd\` SET a = CAST(NULL AS STRING) WHERE id = 2;
      UPDATE \`${dataset}.odd\` SET p = CAST(NULL AS STRING) WHERE id = 3`);
    const result = await verify("public-odd");
    expect(result).toMatchObject({ equal: false, changed: [{ id: "1" }, { id: "2" }, { id: "3" }] });
  });
});
