import { expect, test } from "vitest";
import type { StreamSchema } from "../../../src/connectors/column-type.js";
import { BigqueryLoader } from "../../../src/connectors/target-bigquery/bigquery-loader.js";
import { assertDistinctTables } from "../../../src/connectors/loader-core/distinct-tables.js";

const stream = (schema: string, table: string): StreamSchema => ({
  streamId: `${schema}-${table}`,
  sourceSchema: schema,
  sourceTable: table,
  columns: [{ name: "id", type: { kind: "integer", bits: 32, sqlType: "integer" }, nullable: false }],
  keyProperties: ["id"],
});

test("BigQuery loads every stream into one dataset: s1.orders and s2.orders collide, s1.items does not", () => {
  const loader = new BigqueryLoader(
    { project_id: "p", dataset_id: "analytics", location: "US", max_cache: 50, max_retries: 1 },
    { projectDir: "/tmp" },
    { env: {} },
  );
  const tableOf = (schema: StreamSchema) => loader.tableOf(schema);
  expect(() =>
    assertDistinctTables("target-bigquery", [stream("s1", "items"), stream("s1", "orders")], tableOf),
  ).not.toThrow();
  expect(() =>
    assertDistinctTables(
      "target-bigquery",
      [stream("s1", "orders"), stream("s1", "items"), stream("s2", "orders")],
      tableOf,
    ),
  ).toThrow(/target-bigquery: streams s1-orders and s2-orders would both be loaded into analytics\.orders/);
  // Names BigQuery sanitizes alike are one table too.
  expect(() =>
    assertDistinctTables("target-bigquery", [stream("s1", "x y"), stream("s1", "x_y")], tableOf),
  ).toThrow(/streams s1-x y and s1-x_y would both be loaded into analytics\.x_y/);
});
