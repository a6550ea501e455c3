import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { projectSpec, TestProject } from "../../support/test-project.js";
import { describeResult } from "../../support/run-cli.js";

/**
 * `sluice schedule list` and `sluice schedule run` on a project with a schedule of one pipeline and
 * a schedule of a job with two tasks, against a real PostgreSQL, DuckDB file and JSON-lines folder.
 */

let db: TestDatabase;
let project: TestProject;

beforeAll(async () => {
  db = await createTestDatabase("deploy_schedule");
  await db.query(`
    CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL);
    INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 7) g;`);
  const spec = projectSpec(db);
  spec.plugins.loaders.push({ name: "target-jsonl", config: { destination_path: "jsonl-out" } });
  spec.jobs = [{ name: "both", tasks: [["tap-postgres", "target-duckdb"], "tap-postgres target-jsonl"] }];
  spec.schedules = [
    { name: "hourly-duckdb", interval: "@hourly", extractor: "tap-postgres", loader: "target-duckdb" },
    {
      name: "nightly",
      interval: "30 2 * * mon-fri",
      job: "both",
      // The schedule's env reaches its runs: the JSON-lines folder moves.
      env: { TARGET_JSONL_DESTINATION_PATH: "nightly-jsonl" },
    },
  ];
  project = TestProject.forDatabase(db, spec);
});

afterAll(async () => {
  project?.remove();
  await db?.drop();
});

describe("sluice schedule list", () => {
  test("lists each schedule with what it runs and its next run, in UTC", async () => {
    const before = Date.now();
    const result = await project.runText(["schedule", "list", "--format", "json"]);
    expect(result.code, describeResult(result)).toBe(0);
    const rows = JSON.parse(result.stdout) as {
      name: string;
      interval: string;
      steps: { extractor: string; loader: string }[];
      next_run: string;
    }[];
    expect(rows.map((r) => [r.name, r.interval])).toEqual([
      ["hourly-duckdb", "@hourly"],
      ["nightly", "30 2 * * mon-fri"],
    ]);
    expect(rows[1]!.steps).toEqual([
      { extractor: "tap-postgres", loader: "target-duckdb" },
      { extractor: "tap-postgres", loader: "target-jsonl" },
    ]);
    const hourly = new Date(rows[0]!.next_run);
    expect(hourly.getUTCMinutes()).toBe(0);
    expect(hourly.getTime()).toBeGreaterThan(before);
    expect(hourly.getTime() - before).toBeLessThanOrEqual(3600_000);
    const nightly = new Date(rows[1]!.next_run);
    expect([nightly.getUTCHours(), nightly.getUTCMinutes()]).toEqual([2, 30]);
    expect([1, 2, 3, 4, 5]).toContain(nightly.getUTCDay());
  });

  test("as a table for people", async () => {
    const result = await project.runText(["schedule", "list"]);
    expect(result.code, describeResult(result)).toBe(0);
    const lines = result.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^NAME\s+INTERVAL\s+RUNS\s+NEXT RUN \(UTC\)$/);
    expect(lines[1]).toMatch(
      /^hourly-duckdb\s+@hourly\s+tap-postgres → target-duckdb\s+\d{4}-\d\d-\d\dT\d\d:00:00.000Z$/,
    );
    expect(lines[2]).toContain("job both: tap-postgres → target-duckdb, tap-postgres → target-jsonl");
  });
});

describe("sluice schedule run", () => {
  test("runs a schedule's pipeline", async () => {
    const result = await project.runText(["schedule", "run", "hourly-duckdb"]);
    expect(result.code, describeResult(result)).toBe(0);
    expect(await project.duckdb("SELECT count(*)::int AS n FROM public.items")).toEqual([{ n: 7 }]);
  });

  test("runs each task of a job in order, with the schedule's env", async () => {
    await db.query("INSERT INTO items VALUES (8, 'item 8')");
    const result = await project.runText(["schedule", "run", "nightly"]);
    expect(result.code, describeResult(result)).toBe(0);
    expect(await project.duckdb("SELECT count(*)::int AS n FROM public.items")).toEqual([{ n: 8 }]);
    const files = fs.readdirSync(project.file("nightly-jsonl"));
    expect(files).toEqual(["public-items.jsonl"]);
    const lines = fs
      .readFileSync(project.file("nightly-jsonl/public-items.jsonl"), "utf8")
      .trim()
      .split("\n");
    expect(lines).toHaveLength(8);
    expect(fs.existsSync(project.file("jsonl-out"))).toBe(false);
    const runs = await project.runs();
    // Newest first: the job's second task ran last.
    expect(runs.slice(0, 3).map((r) => [r.stateId, r.status])).toEqual([
      ["dev:tap-postgres-to-target-jsonl", "success"],
      ["dev:tap-postgres-to-target-duckdb", "success"],
      ["dev:tap-postgres-to-target-duckdb", "success"],
    ]);
  });

  test("an unknown schedule is a usage error naming the schedules", async () => {
    const result = await project.runText(["schedule", "run", "weekly"]);
    expect(result.code, describeResult(result)).toBe(2);
    expect(result.stderr).toContain('no schedule named "weekly" (schedules: hourly-duckdb, nightly)');
  });

  test("a failing task stops the job with exit 1", async () => {
    const result = await project.runText(["schedule", "run", "nightly"], {
      env: { TAP_POSTGRES_PASSWORD: "wrong" },
    });
    expect(result.code, describeResult(result)).toBe(1);
    expect(result.stderr).toContain("target-duckdb (1 of 2)");
    expect(result.stderr).not.toContain("target-jsonl (2 of 2)");
  });
});
