import { afterAll, beforeAll, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { runToDuckdb, tempDir } from "../../support/pipeline.js";

/**
 * Batches carry change data in `_sdc_deleted_at`, `_sdc_sequence` and `_sdc_unchanged`; a source
 * column of one of those names would be read as such. It is refused when the run is planned,
 * naming it and how to leave it out, before anything is loaded.
 */
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase("sdc_columns");
  await db.query(
    `CREATE TABLE t (id int PRIMARY KEY, "_sdc_deleted_at" text, "_sdc_sequence" text, v text); INSERT INTO t VALUES (1, 'a', 'b', 'kept')`,
  );
});
afterAll(async () => {
  await db?.drop();
});

test.each(["FULL_TABLE", "LOG_BASED"])(
  "%s: a column named like sluice's change columns is refused up front",
  async (method) => {
    await expect(
      runToDuckdb({ db, workDir: tempDir(), streams: { "public-t": { "replication-method": method } } }),
    ).rejects.toThrow(/"_sdc_deleted_at", "_sdc_sequence" of public\.t .*deselect them/);
  },
);
