import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/pg.js";
import { projectSpec, TestProject } from "../support/test-project.js";
import { describeResult } from "../support/run-cli.js";

/**
 * `sluice verify tap-postgres target-postgres`: a PostgreSQL warehouse (a second database on the
 * suite's server) checked against the source after a load. Equal: exit 0. Corrupted (a row
 * deleted, a value changed, a row added, a row marked deleted): exit 1 naming exactly those keys.
 */

let source: TestDatabase;
let warehouse: TestDatabase;
let project: TestProject;

beforeAll(async () => {
  [source, warehouse] = await Promise.all([
    createTestDatabase("e2e_vpg_src"),
    createTestDatabase("e2e_vpg_wh"),
  ]);
  await source.query(`
    CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL, price numeric(8,2), at timestamptz, tags text[]);
    INSERT INTO items SELECT g, 'item ' || g, g * 1.25, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute', ARRAY['t' || (g % 3)]
      FROM generate_series(1, 2000) g;
    CREATE TABLE notes (code text PRIMARY KEY, body jsonb);
    INSERT INTO notes VALUES ('a', '{"x": 1}'), ('b', '[1, 2]'), ('it''s; "quoted"', 'null');
    CREATE TABLE "Order Lines" (order_id bigint, line smallint, qty numeric, PRIMARY KEY (order_id, line));
    INSERT INTO "Order Lines" SELECT o, l, o * l / 3.0 FROM generate_series(1, 100) o, generate_series(1, 5) l;`);
  const spec = projectSpec(source);
  spec.plugins.loaders = [
    {
      name: "target-postgres",
      variant: "transferwise",
      pip_url: "pipelinewise-target-postgres",
      config: {
        host: warehouse.host,
        port: warehouse.port,
        user: warehouse.user,
        dbname: warehouse.name,
        default_target_schema: "analytics",
        add_metadata_columns: true,
      },
    },
  ];
  project = TestProject.forDatabase(source, spec);
  project.env.TARGET_POSTGRES_PASSWORD = warehouse.password;
  const run = await project.runText(["run", "tap-postgres", "target-postgres"]);
  expect(run.code, describeResult(run)).toBe(0);
});

afterAll(async () => {
  project?.remove();
  await Promise.all([source?.drop(), warehouse?.drop()]);
});

interface Report {
  equal: boolean;
  streams: {
    stream: string;
    table?: string;
    equal: boolean;
    missing: Record<string, string>[];
    extra: Record<string, string>[];
    changed: Record<string, string>[];
  }[];
}

describe("sluice verify with a PostgreSQL warehouse", () => {
  test("a warehouse equal to the source: exit 0, every stream equal", async () => {
    const result = await project.runText(["verify", "tap-postgres", "target-postgres"]);
    expect(result.code, describeResult(result)).toBe(0);
    expect(result.stdout).toContain(
      "public-items: equal (source 2000 rows, warehouse analytics.items 2000 rows)",
    );
    expect(result.stdout).toContain("public-notes: equal");
    expect(result.stdout).toContain("public-Order Lines: equal (source 500 rows");
    expect(result.stdout + result.stderr).not.toContain(warehouse.password);
  });

  test("a corrupted warehouse: exit 1 and exactly the keys missing, extra and changed, as JSON", async () => {
    await warehouse.query(`
      DELETE FROM analytics.items WHERE id = 1500;
      UPDATE analytics.items SET _sdc_deleted_at = now() WHERE id = 42;
      UPDATE analytics.items SET price = 0 WHERE id = 7;
      UPDATE analytics.items SET tags = '{t9}' WHERE id = 1999;
      INSERT INTO analytics.items (id, name, price) VALUES (5000, 'new', 1);
      UPDATE analytics.notes SET body = '{"x": 2}' WHERE code = 'b';
      INSERT INTO analytics.notes VALUES ('it''s; "quoted" too', 'null');
      UPDATE analytics."Order Lines" SET qty = qty + 0.000001 WHERE order_id = 77 AND line = 3;
      DELETE FROM analytics."Order Lines" WHERE order_id = 100 AND line = 5;`);
    const result = await project.run(["verify", "tap-postgres", "target-postgres", "--format", "json"]);
    expect(result.code, describeResult(result)).toBe(1);
    const report = JSON.parse(result.stdout) as Report;
    expect(report.equal).toBe(false);
    const byKey = (rows: Record<string, string>[]): Record<string, string>[] =>
      [...rows].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    const stream = (name: string) => {
      const found = report.streams.find((s) => s.stream === name);
      expect(found, name).toBeDefined();
      return {
        ...found!,
        missing: byKey(found!.missing),
        extra: byKey(found!.extra),
        changed: byKey(found!.changed),
      };
    };
    expect(stream("public-items")).toMatchObject({
      table: "analytics.items",
      equal: false,
      missing: [{ id: "1500" }, { id: "42" }],
      extra: [{ id: "5000" }],
      changed: [{ id: "1999" }, { id: "7" }],
    });
    expect(stream("public-notes")).toMatchObject({
      equal: false,
      missing: [],
      extra: [{ code: 'it\'s; "quoted" too' }],
      changed: [{ code: "b" }],
    });
    expect(stream("public-Order Lines")).toMatchObject({
      equal: false,
      missing: [{ order_id: "100", line: "5" }],
      extra: [],
      changed: [{ order_id: "77", line: "3" }],
    });
  });

  test("a rerun with --full-refresh makes the warehouse equal again", async () => {
    const run = await project.runText(["run", "tap-postgres", "target-postgres", "--full-refresh"]);
    expect(run.code, describeResult(run)).toBe(0);
    const result = await project.run(["verify", "tap-postgres", "target-postgres", "--format", "json"]);
    expect(result.code, describeResult(result)).toBe(0);
    const report = JSON.parse(result.stdout) as Report;
    expect(report.streams.map((s) => [s.stream, s.equal])).toEqual([
      ["public-Order Lines", true],
      ["public-items", true],
      ["public-notes", true],
    ]);
  });
});
