import pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import type { Catalog } from "../../../src/protocol/catalog.js";
import { catalogOf, discoverTables } from "../../../src/connectors/tap-postgres/postgres-discovery.js";
import { planStreams } from "../../../src/connectors/tap-postgres/postgres-stream-plans.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";

// StreamSchema.wholeRowChanges: what tap-postgres tells a loader about a LOG_BASED stream's
// changes (target-bigquery sends only such streams to BigQuery's default stream, where an UPSERT
// replaces the whole row). Read from the catalog of the real server when the run plans.

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase("whole_rows");
  await db.query(`
    CREATE TABLE full_plain (id int PRIMARY KEY, body text);
    ALTER TABLE full_plain REPLICA IDENTITY FULL;
    CREATE TABLE full_generated (id int PRIMARY KEY, n int, twice int GENERATED ALWAYS AS (n * 2) STORED);
    ALTER TABLE full_generated REPLICA IDENTITY FULL;
    CREATE TABLE by_key (id int PRIMARY KEY, body text);
    CREATE TABLE by_index (id int PRIMARY KEY, code int NOT NULL, body text);
    CREATE UNIQUE INDEX by_index_code ON by_index (code);
    ALTER TABLE by_index REPLICA IDENTITY USING INDEX by_index_code;
  `);
});

afterAll(async () => {
  await db?.drop();
});

/** The discovered catalog with `streams` selected, LOG_BASED, `deselect` columns left out. */
function selected(catalog: Catalog, deselect: Record<string, string[]> = {}): Catalog {
  for (const stream of catalog.streams) {
    for (const entry of stream.metadata) {
      if (entry.breadcrumb.length === 0) {
        entry.metadata.selected = true;
        entry.metadata["replication-method"] = "LOG_BASED";
      } else if (deselect[stream.tap_stream_id]?.includes(entry.breadcrumb[1] ?? "")) {
        entry.metadata.selected = false;
      }
    }
  }
  return catalog;
}

test("only a plain table with REPLICA IDENTITY FULL and no selected generated column has whole-row changes", async () => {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    const tables = await discoverTables(client, ["public"]);
    const byId = new Map(tables.map((t) => [t.streamId, t]));
    const plan = (deselect?: Record<string, string[]>) =>
      new Map(
        planStreams(selected(catalogOf(tables, db.name), deselect), byId, {
          dbname: db.name,
          default_replication_method: "LOG_BASED",
        }).map((p) => [p.schema.streamId, p.schema.wholeRowChanges ?? false]),
      );
    expect(plan()).toEqual(
      new Map([
        ["public-by_index", false],
        ["public-by_key", false],
        ["public-full_generated", false],
        ["public-full_plain", true],
      ]),
    );
    // The generated column left out: every change of the others is whole.
    expect(plan({ "public-full_generated": ["twice"] }).get("public-full_generated")).toBe(true);
  } finally {
    await client.end();
  }
});
