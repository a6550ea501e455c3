import fs from "node:fs";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/pg.js";
import { TestProject, projectSpec, type ProjectSpec } from "../support/test-project.js";
import { describeResult } from "../support/run-cli.js";

/**
 * `sluice run <job>` as `meltano run <job>`: a job's tasks run in order, each with its own state;
 * `sluice run <extractor> <loader>` unchanged; and a sequence mixing both.
 */

let db: TestDatabase;
let project: TestProject;

const JSONL_FILE = "output/jsonl/public-events.jsonl";

beforeAll(async () => {
  db = await createTestDatabase("e2e_run_job");
  await db.query(`
    CREATE TABLE events (id bigint PRIMARY KEY, payload text);
    INSERT INTO events SELECT g, 'row ' || g FROM generate_series(1, 50) g;`);
  const base = projectSpec(db);
  const spec: ProjectSpec = {
    ...base,
    plugins: {
      extractors: base.plugins.extractors,
      loaders: [
        ...base.plugins.loaders,
        { name: "target-jsonl", config: { destination_path: "output/jsonl" } },
      ],
    },
    jobs: [
      { name: "everywhere", tasks: ["tap-postgres target-duckdb", "tap-postgres target-jsonl"] },
      { name: "to-duckdb", tasks: "tap-postgres target-duckdb" },
      { name: "broken", tasks: ["tap-postgres"] },
    ],
  };
  project = TestProject.forDatabase(db, spec);
});

afterAll(async () => {
  project?.remove();
  await db?.drop();
});

const jsonlIds = (): number[] =>
  fs
    .readFileSync(project.file(JSONL_FILE), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => (JSON.parse(line) as { id: number }).id);

async function duckdbCount(): Promise<number> {
  const [row] = await project.duckdb("SELECT count(*)::INTEGER AS n FROM public.events");
  return row!.n as number;
}

test("sluice run <job> runs each task of the job in order, each pipeline with its own state", async () => {
  const result = await project.runText(["run", "everywhere"]);
  expect(result.code, describeResult(result)).toBe(0);
  expect(result.stderr).toContain("job everywhere: tap-postgres → target-duckdb (1 of 2)");
  expect(result.stderr).toContain("job everywhere: tap-postgres → target-jsonl (2 of 2)");
  expect(result.stderr.indexOf("(1 of 2)")).toBeLessThan(result.stderr.indexOf("(2 of 2)"));
  expect(await duckdbCount()).toBe(50);
  expect(jsonlIds().sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  expect((await project.stateIds()).sort()).toEqual([
    "dev:tap-postgres-to-target-duckdb",
    "dev:tap-postgres-to-target-jsonl",
  ]);
});

test("sluice run <extractor> <loader> still runs one pipeline, and blocks mix: a job, then a pair", async () => {
  await db.query("INSERT INTO events VALUES (51, 'row 51')");
  const pair = await project.runText(["run", "tap-postgres", "target-duckdb"]);
  expect(pair.code, describeResult(pair)).toBe(0);
  expect(pair.stderr).not.toContain("1 of");
  expect(await duckdbCount()).toBe(51);

  await db.query("INSERT INTO events VALUES (52, 'row 52')");
  const mixed = await project.runText(["run", "to-duckdb", "tap-postgres", "target-jsonl"]);
  expect(mixed.code, describeResult(mixed)).toBe(0);
  expect(mixed.stderr).toContain("job to-duckdb: tap-postgres → target-duckdb (1 of 2)");
  expect(mixed.stderr).toContain("tap-postgres → target-jsonl (2 of 2)");
  expect(await duckdbCount()).toBe(52);
  expect(jsonlIds()).toContain(52);
});

test("an unknown name, a job whose task is not a pair, and --state-id over several pipelines are refused before any run", async () => {
  const before = await duckdbCount();
  await db.query("INSERT INTO events VALUES (53, 'row 53')");

  const unknown = await project.runText(["run", "nightly"]);
  expect(unknown.code, describeResult(unknown)).not.toBe(0);
  expect(unknown.stderr).toMatch(/"nightly" is neither a job nor an extractor followed by a loader/);
  expect(unknown.stderr).toContain("jobs: everywhere, to-duckdb, broken");

  const broken = await project.runText(["run", "broken"]);
  expect(broken.code, describeResult(broken)).not.toBe(0);
  expect(broken.stderr).toMatch(
    /jobs\[2\]\.tasks\[0\]: "tap-postgres" is not an extractor followed by a loader/,
  );

  const stateId = await project.runText(["run", "everywhere", "--state-id", "mine"]);
  expect(stateId.code, describeResult(stateId)).not.toBe(0);
  expect(stateId.stderr).toContain("--state-id names one pipeline's state");

  expect(await duckdbCount()).toBe(before);
});
