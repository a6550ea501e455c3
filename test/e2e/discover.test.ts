import { afterAll, beforeAll, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/pg.js";
import { TestProject } from "../support/test-project.js";
import { describeResult } from "../support/run-cli.js";

/** `sluice discover tap-postgres`: the Singer catalog a user (or Meltano) reads. */

interface CatalogEntry {
  tap_stream_id: string;
  stream: string;
  table_name: string;
  schema: { type?: unknown; properties: Record<string, unknown> };
  metadata: { breadcrumb: string[]; metadata: Record<string, unknown> }[];
}

let db: TestDatabase;
let project: TestProject;
let streams: Map<string, CatalogEntry>;

beforeAll(async () => {
  db = await createTestDatabase("e2e_discover");
  await db.query(`
    CREATE TABLE items (id integer PRIMARY KEY, name text, price numeric(12,2), updated_at timestamptz);
    INSERT INTO items SELECT g, 'item ' || g, g * 1.5, now() FROM generate_series(1, 40) g;
    CREATE VIEW item_names AS SELECT id, name FROM items;
    CREATE MATERIALIZED VIEW item_totals AS SELECT count(*) AS n, sum(price) AS total FROM items;
    CREATE TABLE measurements (id integer, at date NOT NULL, value double precision, PRIMARY KEY (id, at))
      PARTITION BY RANGE (at);
    CREATE TABLE measurements_2024 PARTITION OF measurements FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
    CREATE TABLE measurements_2025 PARTITION OF measurements FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
    INSERT INTO measurements VALUES (1, '2024-03-01', 1.0), (2, '2025-03-01', 2.0), (3, '2025-04-01', 3.0);
    CREATE SCHEMA hidden;
    CREATE TABLE hidden.secret_table (id integer);
    ANALYZE;`);
  project = TestProject.forDatabase(db);
  const result = await project.runText(["discover", "tap-postgres"]);
  expect(result.code, describeResult(result)).toBe(0);
  const catalog = JSON.parse(result.stdout) as { streams: CatalogEntry[] };
  streams = new Map(catalog.streams.map((s) => [s.tap_stream_id, s]));
});

afterAll(async () => {
  project?.remove();
  await db?.drop();
});

function streamMetadata(id: string): Record<string, unknown> {
  const entry = streams.get(id);
  expect(entry, `stream ${id} in ${[...streams.keys()].join(", ")}`).toBeDefined();
  return entry!.metadata.find((m) => m.breadcrumb.length === 0)!.metadata;
}

function columnMetadata(id: string, column: string): Record<string, unknown> {
  return streams.get(id)!.metadata.find((m) => m.breadcrumb.join("/") === `properties/${column}`)!.metadata;
}

test("lists tables, views, materialized views and partitioned tables of filter_schemas, not partitions", () => {
  expect([...streams.keys()].sort()).toEqual([
    "public-item_names",
    "public-item_totals",
    "public-items",
    "public-measurements",
  ]);
  const items = streams.get("public-items")!;
  expect(items).toMatchObject({ stream: "items", table_name: "items" });
  expect(Object.keys(items.schema.properties)).toEqual(["id", "name", "price", "updated_at"]);
});

test("a table: key properties, names, row count, replication keys, column metadata", () => {
  expect(streamMetadata("public-items")).toMatchObject({
    "table-key-properties": ["id"],
    "schema-name": "public",
    "database-name": db.name,
    "row-count": 40,
    "is-view": false,
    "selected-by-default": false,
  });
  expect(streamMetadata("public-items")["valid-replication-keys"]).toEqual(
    expect.arrayContaining(["id", "updated_at"]),
  );
  expect(columnMetadata("public-items", "id")).toMatchObject({
    "sql-datatype": "integer",
    inclusion: "automatic",
    "selected-by-default": true,
  });
  expect(columnMetadata("public-items", "price")).toMatchObject({
    "sql-datatype": "numeric(12,2)",
    inclusion: "available",
    "selected-by-default": true,
  });
  expect(columnMetadata("public-items", "updated_at")).toMatchObject({
    "sql-datatype": "timestamp with time zone",
    inclusion: "available",
  });
});

test("a view has no key and is-view true", () => {
  expect(streamMetadata("public-item_names")).toMatchObject({
    "table-key-properties": [],
    "schema-name": "public",
    "database-name": db.name,
    "is-view": true,
    "row-count": expect.any(Number),
  });
  expect(columnMetadata("public-item_names", "name")).toMatchObject({
    "sql-datatype": "text",
    inclusion: "available",
  });
});

test("a materialized view is a stream like a view", () => {
  expect(streamMetadata("public-item_totals")).toMatchObject({
    "table-key-properties": [],
    "is-view": true,
    "row-count": 1,
    "valid-replication-keys": expect.any(Array),
  });
  expect(columnMetadata("public-item_totals", "n")).toMatchObject({ "sql-datatype": "bigint" });
});

test("a partitioned table is one stream with its key and the rows of every partition", () => {
  expect(streamMetadata("public-measurements")).toMatchObject({
    "table-key-properties": ["id", "at"],
    "is-view": false,
    "row-count": 3,
    "valid-replication-keys": expect.arrayContaining(["at"]),
  });
  expect(columnMetadata("public-measurements", "at")).toMatchObject({
    "sql-datatype": "date",
    inclusion: "automatic",
  });
});

test("discover reads a partitioned table and a view through a run", async () => {
  const result = await project.runText([
    "run",
    "tap-postgres",
    "target-duckdb",
    "--select",
    "public-measurements",
    "public-item_names",
  ]);
  expect(result.code, describeResult(result)).toBe(0);
  expect(await project.duckdb("SELECT id, value FROM public.measurements ORDER BY id")).toEqual([
    { id: 1, value: 1 },
    { id: 2, value: 2 },
    { id: 3, value: 3 },
  ]);
  expect(await project.duckdb("SELECT count(*)::INTEGER AS n FROM public.item_names")).toEqual([{ n: 40 }]);
});
