import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/pg.js";
import { TestProject } from "../support/test-project.js";
import { describeResult } from "../support/run-cli.js";

/**
 * `sluice verify tap-postgres target-duckdb` as a user runs it after a load: exit 0 and "equal"
 * when the warehouse matches, exit 1 naming the keys when it does not, JSON with `--format json`.
 */

let db: TestDatabase;
let project: TestProject;

beforeAll(async () => {
  db = await createTestDatabase("e2e_verify");
  await db.query(`
    CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL, price numeric(8,2), at timestamptz);
    INSERT INTO items SELECT g, 'item ' || g, g * 1.25, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute'
      FROM generate_series(1, 2000) g;
    CREATE TABLE notes (code text PRIMARY KEY, body jsonb);
    INSERT INTO notes VALUES ('a', '{"x": 1}'), ('b', '[1, 2]');`);
  project = TestProject.forDatabase(db);
  const run = await project.runText(["run", "tap-postgres", "target-duckdb"]);
  expect(run.code, describeResult(run)).toBe(0);
});

afterAll(async () => {
  project?.remove();
  await db?.drop();
});

describe("sluice verify", () => {
  test("a warehouse equal to the source: exit 0, every stream equal", async () => {
    const result = await project.runText(["verify", "tap-postgres", "target-duckdb"]);
    expect(result.code, describeResult(result)).toBe(0);
    expect(result.stdout).toContain(
      "public-items: equal (source 2000 rows, warehouse public.items 2000 rows)",
    );
    expect(result.stdout).toContain("public-notes: equal");
  });

  test("a corrupted warehouse: exit 1 and the keys missing, extra and changed, as JSON", async () => {
    await project.duckdb(`DELETE FROM public.items WHERE id = 1500;
      UPDATE public.items SET price = 0 WHERE id = 7;
      INSERT INTO public.items VALUES (5000, 'new', 1, NULL);
      UPDATE public.notes SET body = '{"x": 2}' WHERE code = 'b'`);
    const result = await project.run(["verify", "tap-postgres", "target-duckdb", "--format", "json"]);
    expect(result.code, describeResult(result)).toBe(1);
    const report = JSON.parse(result.stdout) as {
      equal: boolean;
      streams: { stream: string; equal: boolean; missing: unknown[]; extra: unknown[]; changed: unknown[] }[];
    };
    expect(report.equal).toBe(false);
    const items = report.streams.find((s) => s.stream === "public-items");
    expect(items).toMatchObject({
      equal: false,
      missing: [{ id: "1500" }],
      extra: [{ id: "5000" }],
      changed: [{ id: "7" }],
    });
    const notes = report.streams.find((s) => s.stream === "public-notes");
    expect(notes).toMatchObject({ equal: false, missing: [], extra: [], changed: [{ code: "b" }] });
  });

  test("--select narrows to the streams asked for; a bad --format is a usage error", async () => {
    const items = await project.runText([
      "verify",
      "tap-postgres",
      "target-duckdb",
      "--select",
      "public-notes",
    ]);
    expect(items.code).toBe(1);
    expect(items.stdout).not.toContain("public-items");
    expect(items.stdout).toContain("  changed:              code=b");
    const bad = await project.runText(["verify", "tap-postgres", "target-duckdb", "--format", "xml"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--format: "xml" is not one of text, json');
  });

  test("a stream that cannot be verified is named with its error, and the others are still verified: exit 1", async () => {
    await project.duckdb("ALTER TABLE public.items DROP COLUMN price");
    const result = await project.runText(["verify", "tap-postgres", "target-duckdb"]);
    expect(result.code, describeResult(result)).toBe(1);
    expect(result.stdout).toMatch(/^public-items: NOT VERIFIED: .*price/m);
    expect(result.stdout).toContain("public-notes: DIFFERENT (source 2 rows, warehouse public.notes 2 rows)");
  });
});
