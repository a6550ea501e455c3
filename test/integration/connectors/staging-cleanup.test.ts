import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Loader, OpenStreamOptions } from "../../../src/connectors/connector.js";
import type { StreamSchema } from "../../../src/connectors/column-type.js";
import { BigqueryLoader } from "../../../src/connectors/target-bigquery/bigquery-loader.js";
import { DuckdbLoader } from "../../../src/connectors/target-duckdb/duckdb-loader.js";
import { PostgresTargetLoader } from "../../../src/connectors/target-postgres/postgres-target-loader.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { duckdbConfig, duckdbRows, tempDir } from "../../support/pipeline.js";
import { bigqueryConfig, datasetName, startBigqueryTarget, type BigqueryTarget } from "./bigquery-harness.js";
import { postgresTargetConfig } from "./postgres-target-support.js";

/**
 * `Loader.stagingOf` names the very table a `replace` stream's writer creates (the runner records
 * that name before the table exists, and a later run drops what it names), in every warehouse,
 * including a PostgreSQL table whose `__sluice_new` name would pass 63 bytes; `dropStaging`
 * removes it and leaves the stream's table alone; a stream loading its table directly has none.
 */

let warehouse: TestDatabase;
let bigquery: BigqueryTarget;
const workDir = tempDir();
const dataset = datasetName("staging");

beforeAll(async () => {
  [warehouse, bigquery] = await Promise.all([createTestDatabase("staging_wh"), startBigqueryTarget()]);
});

afterAll(async () => {
  await Promise.all([warehouse?.drop(), bigquery?.close()]);
});

const LONG = `orders_${"x".repeat(50)}`;

function schemaOf(table: string): StreamSchema {
  return {
    streamId: `public-${table}`,
    sourceSchema: "public",
    sourceTable: table,
    columns: [{ name: "id", nullable: false, type: { kind: "integer", bits: 32, sqlType: "integer" } }],
    keyProperties: ["id"],
  };
}

interface Warehouse {
  loader: () => Loader;
  tables: () => Promise<string[]>;
}

const WAREHOUSES: Record<string, Warehouse> = {
  "target-duckdb": {
    loader: () => new DuckdbLoader(duckdbConfig("warehouse.duckdb"), { projectDir: workDir }),
    tables: async () =>
      (
        await duckdbRows(
          path.join(workDir, "warehouse.duckdb"),
          "SELECT table_name AS t FROM duckdb_tables() WHERE schema_name = 'public' ORDER BY 1",
        )
      ).map((r) => String(r.t)),
  },
  "target-postgres": {
    loader: () =>
      new PostgresTargetLoader(postgresTargetConfig(warehouse, { default_target_schema: "public" })),
    tables: async () =>
      (
        await warehouse.query<{ t: string }>(
          "SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename COLLATE \"C\"",
        )
      ).map((r) => r.t),
  },
  "target-bigquery": {
    loader: () => new BigqueryLoader(bigqueryConfig(bigquery, dataset), { projectDir: workDir }),
    tables: async () => {
      const [tables] = await bigquery.client.dataset(dataset).getTables();
      return tables.map((t) => t.id!).sort();
    },
  },
};

const replace: OpenStreamOptions = { mode: "replace", version: 1, distinctKeys: true };
const incremental: OpenStreamOptions = { mode: "incremental", version: 1, distinctKeys: true };

describe.each(Object.entries(WAREHOUSES))("%s", (_name, warehouseOf) => {
  test("stagingOf names the table a replace stream fills; a later dropStaging removes it and nothing else", async () => {
    for (const table of ["orders", LONG]) {
      const schema = schemaOf(table);
      // A run that loaded the stream's table once, then began a copy and was stopped hard.
      const stopped = warehouseOf.loader();
      await (await stopped.openStream(schema, incremental)).finish();
      await stopped.openStream(schema, replace);
      const staging = stopped.stagingOf!(schema, replace)!;
      expect(stopped.stagingOf!(schema, incremental)).toBeUndefined();
      await stopped.close();
      expect(await warehouseOf.tables()).toEqual(expect.arrayContaining([table, staging.table]));

      // The next run drops it by the name the stopped one recorded.
      const next = warehouseOf.loader();
      try {
        await next.dropStaging!(staging);
        // Dropping what is already gone is no error: a run may have dropped it on its way out.
        await next.dropStaging!(staging);
      } finally {
        await next.close();
      }
      const after = await warehouseOf.tables();
      expect(after).toContain(table);
      expect(after).not.toContain(staging.table);
    }
  });
});
