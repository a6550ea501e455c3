import { afterAll, beforeAll, expect, test } from "vitest";
import { createTestDatabase, lockTable, type TableLock, type TestDatabase } from "../support/pg.js";
import { TestProject } from "../support/test-project.js";
import { describeResult, type RunningCli, type RunRecord } from "../support/run-cli.js";

/**
 * Two runs of one state id never overlap: the second is refused with a message naming the run
 * that holds the state, and the first finishes as if nothing happened.
 *
 * To hold the first run in the middle without depending on timing, the test locks the source
 * table (ACCESS EXCLUSIVE): the first run takes the state lock, records itself as running and
 * then waits on its COPY until the test lets go.
 */

const STATE_ID = "dev:tap-postgres-to-target-duckdb";
const ROWS = 20_000;
let db: TestDatabase;
let project: TestProject;
let first: RunningCli | undefined;
/** Holds the source table, so that a run waits on it mid-run (`lockTable`). */
let lock: TableLock | undefined;

beforeAll(async () => {
  db = await createTestDatabase("e2e_lock");
  await db.query(`
    CREATE TABLE events (id bigint PRIMARY KEY, payload text, created_at timestamptz NOT NULL);
    INSERT INTO events SELECT g, md5(g::text), now() FROM generate_series(1, ${ROWS}) g;`);
  project = TestProject.forDatabase(db);
});

afterAll(async () => {
  await lock?.close();
  first?.child.kill("SIGKILL");
  project?.remove();
  await db?.drop();
});

/**
 * Waits until the first run has taken the state lock and recorded itself (it logs `run-started`
 * then), and returns its record as `sluice runs` shows it.
 */
async function waitForRunning(timeoutMs: number): Promise<RunRecord> {
  const run = first!;
  const ended = run.done.then((result) => result);
  const deadline = Date.now() + timeoutMs;
  let runId: string | undefined;
  while (runId === undefined) {
    const started = run
      .output()
      .stderr.split("\n")
      .filter((line) => line.includes('"run-started"'))
      .map((line) => JSON.parse(line) as { runId: string })[0];
    runId = started?.runId;
    if (runId !== undefined) break;
    const result = await Promise.race([ended, new Promise((r) => setTimeout(() => r(undefined), 100))]);
    if (result) throw new Error(`the run ended before it started:\n${JSON.stringify(result)}`);
    if (Date.now() > deadline) throw new Error(`the run did not start within ${timeoutMs} ms`);
  }
  const record = (await project.runs()).find((r) => r.runId === runId);
  expect(record).toMatchObject({ runId, status: "running" });
  return record!;
}

test("a second run of the same state id is refused while the first runs, naming the holder", async () => {
  lock = await lockTable(db, "events");
  first = project.start(["--log-format", "json", "run", "tap-postgres", "target-duckdb"]);
  const running = await waitForRunning(30_000);
  expect(running.stateId).toBe(STATE_ID);

  // Into another DuckDB file, so that only the state lock stands in the way.
  const second = await project.runText(["run", "tap-postgres", "target-duckdb"], {
    env: { TARGET_DUCKDB_PATH: "output/second.duckdb" },
  });
  // 75: a retry once the first run is done succeeds.
  expect(second.code, describeResult(second)).toBe(75);
  expect(second.stderr).toContain(STATE_ID);
  expect(second.stderr).toContain(`run ${running.runId}`);
  expect(second.stderr).toContain(`pid ${first.child.pid}`);

  // Into the same DuckDB file: refused by the state lock before the warehouse is touched.
  const sameFile = await project.runText(["run", "tap-postgres", "target-duckdb"]);
  expect(sameFile.code, describeResult(sameFile)).toBe(75);
  expect(sameFile.stderr).toContain(STATE_ID);
  expect(sameFile.stderr).toContain(`run ${running.runId}`);

  // A different state id is not held by the first run: --dry-run plans it without waiting.
  const other = await project.runText([
    "run",
    "tap-postgres",
    "target-duckdb",
    "--state-id",
    "other",
    "--dry-run",
  ]);
  expect(other.code, describeResult(other)).toBe(0);

  await lock.release();
  const done = await first.done;
  expect(done.code, describeResult(done)).toBe(0);

  const runs = await project.runs();
  expect(runs.map((run) => run.status)).toEqual(["success"]);
  expect(runs[0]!.runId).toBe(running.runId);
  expect(runs[0]!.streams["public-events"]!.rows).toBe(ROWS);
  expect(await project.duckdb("SELECT count(*)::INTEGER AS n FROM public.events")).toEqual([{ n: ROWS }]);
});

test("SIGTERM stops a run cleanly: recorded as cancelled, exit 1, warehouse and state as they were", async () => {
  const stateBefore = await project.state(STATE_ID);
  expect(stateBefore).toBeDefined();
  await db.query("DELETE FROM events WHERE id > 1000");
  lock = await lockTable(db, "events");
  first = project.start(["--log-format", "json", "run", "tap-postgres", "target-duckdb", "--full-refresh"]);
  const running = await waitForRunning(30_000);
  first.child.kill("SIGTERM");
  // The run says it is stopping before the source lets it go on.
  await expect.poll(() => first!.output().stderr, { timeout: 10_000 }).toContain("SIGTERM received");
  await lock.release();
  const done = await first.done;
  expect(done.code, describeResult(done)).toBe(1);
  expect(done.signal).toBeNull();

  const [latest] = await project.runs();
  expect(latest).toMatchObject({ runId: running.runId, status: "cancelled" });
  // FULL_TABLE replaces the table only when the copy completes: the old rows are all still there.
  expect(await project.duckdb("SELECT count(*)::INTEGER AS n FROM public.events")).toEqual([{ n: ROWS }]);
  expect(await project.state(STATE_ID)).toEqual(stateBefore);
});
