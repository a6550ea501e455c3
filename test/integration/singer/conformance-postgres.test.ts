import { afterAll, beforeAll, describe } from "vitest";
import { PostgresTargetLoader } from "../../../src/connectors/target-postgres/postgres-target-loader.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { runConformanceSuite, type ConformanceRow } from "../../support/singer-conformance.js";
import { postgresTargetConfig } from "../connectors/postgres-target-support.js";

const quote = (name: string): string => `"${name.replace(/"/g, '""')}"`;

// Each case loads into a schema of its own (`default_target_schema`) of one warehouse database.
let warehouse: TestDatabase;
beforeAll(async () => {
  warehouse = await createTestDatabase("pgt_conformance");
});
afterAll(async () => {
  await warehouse?.drop();
});

describe("Singer conformance: target-postgres", () => {
  runConformanceSuite(
    ({ id }) => new PostgresTargetLoader(postgresTargetConfig(warehouse, { default_target_schema: id })),
    async (table, { id }) => {
      const qualified = `${quote(id)}.${quote(table.table)}`;
      const columns = await warehouse.query<{ name: string }>(
        "SELECT attname AS name FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        [qualified],
      );
      if (columns.length === 0) return undefined;
      // Every value as PostgreSQL prints it: exact numerics and JSON text.
      const list = columns.map((c) => `${quote(c.name)}::text AS ${quote(c.name)}`).join(", ");
      return warehouse.query<ConformanceRow>(`SELECT ${list} FROM ${qualified}`);
    },
    {
      cli: {
        loader: "target-postgres",
        config: ({ id }) => postgresTargetConfig(warehouse, { default_target_schema: id }),
      },
      expectedFailures: {
        very_wide: {
          reason:
            "a PostgreSQL row must fit one 8 kB page: 1,000 bigint columns (8 bytes each, never moved out of line) do not",
          error: /row is too big.*a PostgreSQL row must fit one 8 kB page/,
        },
      },
      cleanUp: async ({ id }) => {
        await warehouse.query(`DROP SCHEMA IF EXISTS ${quote(id)} CASCADE`);
      },
    },
  );
});
