import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { RunRecord } from "../../../src/state/run-history.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { describeResult } from "../../support/run-cli.js";
import {
  DUCKDB_FILE,
  PROJECT_STATE_ID,
  projectSpec,
  TestProject,
  TestProjects,
  type ProjectSpecOptions,
} from "../../support/test-project.js";
import { RUN_ARGS, duckdbTables, waitFor } from "./fault-support.js";

/**
 * What a stopped run leaves behind tells the truth. A run stopped with Ctrl-C records in run
 * history the rows and the bookmark it committed, not 0 rows and no streams. A FULL_TABLE copy
 * stopped hard (a second Ctrl-C, SIGKILL) leaves `<table>__sluice_new` in the warehouse, recorded
 * in the state before it was created; the next run of the same state id drops it, whatever that
 * run selects, and a run of another state id sharing the warehouse schema leaves it alone.
 */
const ROWS = 30_000;
const BATCH = 500;

let db: TestDatabase;
const projects = new TestProjects();

beforeAll(async () => {
  db = await createTestDatabase("stopped_runs");
  await db.query(`
    CREATE TABLE big (id bigint PRIMARY KEY, v int NOT NULL, body text NOT NULL);
    INSERT INTO big SELECT i, i % 13, repeat(md5(i::text), 4) FROM generate_series(1, ${ROWS}) i;
    CREATE TABLE small (id int PRIMARY KEY, v text);
    INSERT INTO small SELECT i, 'v' || i FROM generate_series(1, 10) i;`);
});

afterAll(async () => {
  await db?.drop();
  projects.removeAll();
});

function newProject(options: ProjectSpecOptions): TestProject {
  return projects.add(
    TestProject.forDatabase(db, projectSpec(db, options), { prefix: "sluice-stopped-", localSpool: true }),
  );
}

async function runsOf(project: TestProject): Promise<RunRecord[]> {
  const result = await project.runText(["runs", "--json"]);
  expect(result.code, describeResult(result)).toBe(0);
  return JSON.parse(result.stdout) as RunRecord[];
}

const fullTable = {
  select: ["public-big.*", "public-small.*"],
  metadata: {
    "public-big": { "replication-method": "FULL_TABLE" },
    "public-small": { "replication-method": "FULL_TABLE" },
  },
  // Small batches keep the copy going well past the stop.
  tap: { batch_size_rows: 100 },
};

/** Starts a copy of `big` alone and stops it with `stop` once a batch of it is loaded. */
async function stopCopy(
  project: TestProject,
  stop: (run: ReturnType<TestProject["start"]>) => Promise<void>,
) {
  const run = project.start([...RUN_ARGS, "--select", "public-big"]);
  await waitFor(run, "a batch loaded", () => run.output().stderr.includes('"event":"batch-loaded"'));
  await stop(run);
  return run.done;
}

describe("a stopped run", () => {
  test("Ctrl-C: run history records the rows and the bookmark the run committed", async () => {
    const project = newProject({
      select: ["public-big.*"],
      metadata: { "public-big": { "replication-method": "INCREMENTAL", "replication-key": "id" } },
      tap: { batch_size_rows: BATCH },
    });
    const run = project.start(RUN_ARGS);
    await waitFor(run, "a state commit", () => run.output().stderr.includes('"event":"state-committed"'));
    run.child.kill("SIGINT");
    const ended = await run.done;
    expect(ended.code, ended.stderr).toBe(1);
    const bookmark = project.storedState(PROJECT_STATE_ID)?.bookmarks["public-big"];
    const committed = Number(bookmark?.replication_key_value);
    expect(committed).toBeGreaterThan(0);
    const [record] = await runsOf(project);
    expect(record).toMatchObject({ status: "cancelled" });
    // ids 1..n were loaded in whole batches and the bookmark is n: n rows committed.
    expect(record!.streams["public-big"]).toMatchObject({ rows: committed, bookmark });
  });

  test("Ctrl-C twice during a FULL_TABLE copy: the copy it leaves is dropped by the next run, which selects another stream", async () => {
    const project = newProject(fullTable);
    const file = project.file(DUCKDB_FILE);
    const first = await project.run(RUN_ARGS, { timeoutMs: 90_000 });
    expect(first.code, describeResult(first)).toBe(0);
    let left = false;
    // The second Ctrl-C quits at once; the first may have dropped the copy already: try again.
    for (let attempt = 0; attempt < 5 && !left; attempt++) {
      const ended = await stopCopy(project, async (run) => {
        run.child.kill("SIGINT");
        await waitFor(run, "the first SIGINT", () => run.output().stderr.includes("SIGINT received"));
        run.child.kill("SIGINT");
      });
      expect(ended.code, ended.stderr).toBe(130);
      left = (await duckdbTables(file)).includes("big__sluice_new");
      const recorded = project.storedState(PROJECT_STATE_ID)?.sluice_staging_tables;
      if (left) expect(recorded).toEqual({ "public-big": { schema: "public", table: "big__sluice_new" } });
    }
    expect(left, "a second Ctrl-C never left the copy behind").toBe(true);

    const next = await project.run([...RUN_ARGS, "--select", "public-small"], { timeoutMs: 90_000 });
    expect(next.code, describeResult(next)).toBe(0);
    expect(await duckdbTables(file)).toEqual(["big", "small"]);
    expect(project.storedState(PROJECT_STATE_ID)).not.toHaveProperty("sluice_staging_tables");
  });

  test("SIGKILL during a FULL_TABLE copy: another state id sharing the schema leaves the copy alone; the next run of its own drops it", async () => {
    const project = newProject(fullTable);
    const file = project.file(DUCKDB_FILE);
    const first = await project.run(RUN_ARGS, { timeoutMs: 90_000 });
    expect(first.code, describeResult(first)).toBe(0);
    const ended = await stopCopy(project, async (run) => {
      run.child.kill("SIGKILL");
    });
    expect(ended.signal).toBe("SIGKILL");
    expect(await duckdbTables(file)).toEqual(["big", "big__sluice_new", "small"]);

    // Another pipeline into the same DuckDB schema (its own state id) does not own the copy.
    const other = await project.run(
      [...RUN_ARGS, "--select", "public-small", "--state-id", "other:pipeline"],
      {
        timeoutMs: 90_000,
      },
    );
    expect(other.code, describeResult(other)).toBe(0);
    expect(await duckdbTables(file)).toEqual(["big", "big__sluice_new", "small"]);

    const next = await project.run([...RUN_ARGS, "--select", "public-small"], { timeoutMs: 90_000 });
    expect(next.code, describeResult(next)).toBe(0);
    expect(await duckdbTables(file)).toEqual(["big", "small"]);
    expect(project.storedState(PROJECT_STATE_ID)).not.toHaveProperty("sluice_staging_tables");
  });
});
