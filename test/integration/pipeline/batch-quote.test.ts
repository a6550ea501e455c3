import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { duckdbRows, runToDuckdb } from "../../support/pipeline.js";
import { TestProject, TestProjects } from "../../support/test-project.js";

/**
 * Into DuckDB, tap-postgres writes copies in COPY text format (no quoting; backslash escapes,
 * undone by the loader) rather than CSV, whose quoting costs PostgreSQL and DuckDB more. Text
 * holding tabs, newlines, backslashes, `\N`, `"` and \x01 (the quote of the CSV batches other
 * loaders get) must still arrive unchanged, and an INCREMENTAL bookmark read from such a row must
 * be the key itself, unescaped (the last key holds escapes).
 */
const VALUES = [
  "plain",
  'say "hi", twice ""',
  "\u0001",
  "a\u0001b\u0001\u0001c",
  "line\nbreak\r\nand\ttab",
  "",
  '\u0001,\n"',
  "\\n is not a newline, \\N is not NULL, \\\\ two\tand a tab\n",
];

let db: TestDatabase;
const projects = new TestProjects();

beforeAll(async () => {
  db = await createTestDatabase("quote");
  await db.query("CREATE TABLE notes (k text PRIMARY KEY, body text, doc jsonb, tags text[])");
  for (const [i, value] of VALUES.entries()) {
    await db.query("INSERT INTO notes VALUES ($1, $2, $3, $4)", [
      `${i}${value}`,
      value,
      JSON.stringify({ v: value, nested: [value] }),
      [value, "x"],
    ]);
  }
});

afterAll(async () => {
  await db?.drop();
  projects.removeAll();
});

describe("batches in COPY text format", () => {
  test.each(["FULL_TABLE", "INCREMENTAL"])(
    "%s: text with escapes, quotes and \\x01 arrives unchanged",
    async (method) => {
      const project = projects.add(new TestProject({ prefix: "sluice-quote-" }));
      const workDir = project.dir;
      const summary = await runToDuckdb({
        db,
        workDir,
        streams: {
          "public-notes": {
            "replication-method": method,
            ...(method === "INCREMENTAL" ? { "replication-key": "k" } : {}),
          },
        },
      });
      expect(summary.status).toBe("success");
      const rows = await duckdbRows(
        path.join(workDir, "warehouse.duckdb"),
        "SELECT k, body, CAST(doc AS VARCHAR) AS doc, to_json(tags)::VARCHAR AS tags FROM public.notes ORDER BY k",
      );
      const expected = (
        await db.query<{ k: string; body: string; doc: string; tags: string }>(
          'SELECT k, body, doc::text AS doc, array_to_json(tags)::text AS tags FROM notes ORDER BY k COLLATE "C"',
        )
      ).map((r) => ({
        k: r.k,
        body: r.body,
        doc: JSON.parse(r.doc) as unknown,
        tags: JSON.parse(r.tags) as unknown,
      }));
      expect(
        rows
          .map((r) => ({
            k: r.k,
            body: r.body,
            doc: JSON.parse(r.doc!) as unknown,
            tags: JSON.parse(r.tags!) as unknown,
          }))
          .sort((a, b) => Buffer.compare(Buffer.from(a.k!), Buffer.from(b.k!))),
      ).toEqual(expected);
      if (method === "INCREMENTAL") {
        // The last key in the order PostgreSQL reads them (the database's collation).
        const last = (await db.query<{ last: string }>("SELECT max(k) AS last FROM notes"))[0]?.last;
        const state = project.storedState("test:tap-postgres-to-target-duckdb");
        expect(state?.bookmarks["public-notes"]?.replication_key_value).toBe(last);
      }
    },
  );
});
