import path from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { duckdbRows, runToDuckdb, tempDir } from "../../support/pipeline.js";

/**
 * A row far larger than DuckDB's default CSV line limit (2 MB) and than the loader's ordinary
 * memory limit must still arrive whole: a 12 MB jsonb document and a deeply nested one.
 */
let db: TestDatabase;
let workDir: string;

beforeAll(async () => {
  db = await createTestDatabase("large");
  workDir = tempDir();
  await db.query(`
    CREATE TABLE docs (id integer PRIMARY KEY, doc jsonb, body text);
    INSERT INTO docs VALUES
      (1, jsonb_build_object('blob', repeat('ü"x', 4 * 1024 * 1024)), repeat('line
', 100000)),
      (2, (SELECT ('[' || repeat('{"a": [', 200) || '1' || repeat(']}', 200) || ']')::jsonb), 'small'),
      (3, '{"k": 1}', NULL);
  `);
  await runToDuckdb({ db, workDir, streams: { "public-docs": {} } });
});

afterAll(async () => {
  await db?.drop();
});

test("a 12 MB jsonb value and a 200-level nested document arrive equal to the source", async () => {
  const source = await db.query<{ id: number; doc_md5: string; body_md5: string | null; doc_length: number }>(
    "SELECT id, md5(doc::text) AS doc_md5, md5(body) AS body_md5, length(doc::text) AS doc_length FROM docs ORDER BY id",
  );
  expect(source[0]!.doc_length).toBeGreaterThan(12_000_000);
  const rows = await duckdbRows(
    path.join(workDir, "warehouse.duckdb"),
    "SELECT id, md5(CAST(doc AS VARCHAR)) AS doc_md5, md5(body) AS body_md5 FROM public.docs ORDER BY id",
  );
  expect(rows).toEqual(source.map((r) => ({ id: String(r.id), doc_md5: r.doc_md5, body_md5: r.body_md5 })));
});
