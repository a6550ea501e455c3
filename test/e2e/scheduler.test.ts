import { afterAll, beforeAll, expect, test } from "vitest";
import { createTestDatabase, lockTable, type TableLock, type TestDatabase } from "../support/pg.js";
import { TestProject, projectSpec, type ProjectSpec } from "../support/test-project.js";
import { describeResult, jsonLines, type RunningCli } from "../support/run-cli.js";

/**
 * `sluice scheduler` as a user runs it: `--once` with a pretended "now" (SLUICE_SCHEDULER_NOW)
 * for due times and catch-up, and the long-running scheduler in real seconds (a cron with a
 * seconds field) for skipping, refusing an overlapping run and stopping on SIGTERM.
 */

const STATE_ID = "dev:tap-postgres-to-target-duckdb";
const ROWS = 3_000;
let db: TestDatabase;
let project: TestProject;
let spec: ProjectSpec;
let scheduler: RunningCli | undefined;
/** Holds the source table, so that a run waits on it mid-run (`lockTable`). */
let lock: TableLock | undefined;

beforeAll(async () => {
  db = await createTestDatabase("e2e_scheduler");
  await db.query(`
    CREATE TABLE events (id bigint PRIMARY KEY, payload text);
    INSERT INTO events SELECT g, md5(g::text) FROM generate_series(1, ${ROWS}) g;`);
  spec = {
    ...projectSpec(db),
    schedules: [
      { name: "nightly", interval: "@daily", extractor: "tap-postgres", loader: "target-duckdb" },
      // Every 2 seconds (croniter's sixth field), so the real-time test takes seconds.
      { name: "fast", interval: "* * * * * */2", extractor: "tap-postgres", loader: "target-duckdb" },
    ],
  };
  project = TestProject.forDatabase(db, spec);
});

afterAll(async () => {
  await lock?.close();
  scheduler?.child.kill("SIGKILL");
  project?.remove();
  await db?.drop();
});

type LogLine = Record<string, unknown> & { event?: string };
const events = (stderr: string, event: string): LogLine[] =>
  jsonLines(stderr).filter((line) => line.event === event) as LogLine[];

async function countRows(): Promise<number> {
  const [row] = await project.duckdb("SELECT count(*)::INTEGER AS n FROM public.events");
  return row!.n as number;
}

test("--once runs a schedule that never ran, nothing when it is not due, and one catch-up after days down", async () => {
  const first = await project.run(["--log-format", "json", "scheduler", "--once", "--schedule", "nightly"]);
  expect(first.code, describeResult(first)).toBe(0);
  expect(events(first.stderr, "schedule-started")).toMatchObject([{ schedule: "nightly", catchUp: true }]);
  expect(events(first.stderr, "schedule-finished")).toMatchObject([
    { schedule: "nightly", status: "success" },
  ]);
  expect(events(first.stderr, "scheduler-finished")).toMatchObject([{ started: 1, succeeded: 1 }]);
  expect(await countRows()).toBe(ROWS);
  const [run] = await project.runs();
  expect(run).toMatchObject({ stateId: STATE_ID, status: "success" });

  // Just ran: its next time is the coming midnight (UTC), so nothing is due.
  const again = await project.run(["--log-format", "json", "scheduler", "--once", "--schedule", "nightly"]);
  expect(again.code, describeResult(again)).toBe(0);
  expect(events(again.stderr, "schedule-started")).toEqual([]);
  const midnight = new Date();
  midnight.setUTCHours(24, 0, 0, 0);
  expect(events(again.stderr, "schedule-planned")).toMatchObject([
    { schedule: "nightly", stateIds: [STATE_ID], nextRun: midnight.toISOString() },
  ]);
  expect(await project.runs()).toHaveLength(1);

  // Three days later (three midnights missed): one run, not three.
  const later = new Date(Date.now() + 3 * 24 * 3600 * 1000).toISOString();
  const caughtUp = await project.run(
    ["--log-format", "json", "scheduler", "--once", "--schedule", "nightly"],
    { env: { SLUICE_SCHEDULER_NOW: later } },
  );
  expect(caughtUp.code, describeResult(caughtUp)).toBe(0);
  expect(events(caughtUp.stderr, "schedule-started")).toMatchObject([
    { schedule: "nightly", catchUp: true, dueAt: midnight.toISOString() },
  ]);
  expect((await project.runs()).map((r) => r.status)).toEqual(["success", "success"]);
});

test("in real seconds: skips a time while its run is still going, refuses a second scheduler's overlapping run, and SIGTERM stops cleanly", async () => {
  const stateBefore = await project.state(STATE_ID);
  expect(stateBefore).toBeDefined();
  await db.query(
    `INSERT INTO events SELECT g, md5(g::text) FROM generate_series(${ROWS + 1}, ${ROWS + 500}) g`,
  );
  lock = await lockTable(db, "events");
  scheduler = project.start(["--log-format", "json", "scheduler", "--schedule", "fast"], {
    timeoutMs: 90_000,
  });
  const running = scheduler;
  const stderr = (): string => running.output().stderr;
  // The run takes the state lock, records itself and waits on the locked table.
  await expect.poll(() => stderr(), { timeout: 30_000 }).toContain('"run-started"');
  const runId = events(stderr(), "run-started")[0]!.runId as string;
  // Its next time comes while it runs: skipped, not queued.
  await expect
    .poll(() => events(stderr(), "schedule-skipped").length, { timeout: 15_000 })
    .toBeGreaterThan(0);
  expect(events(stderr(), "schedule-skipped")[0]).toMatchObject({
    schedule: "fast",
    reason: "its previous run is still running",
  });
  expect(events(stderr(), "schedule-started")).toHaveLength(1);

  // A second scheduler (another host's cron, say) is refused by the state lock, naming the run:
  // exit 75, as a retry once the run is done succeeds.
  const second = await project.run(["--log-format", "json", "scheduler", "--once", "--schedule", "fast"]);
  expect(second.code, describeResult(second)).toBe(75);
  const refused = events(second.stderr, "schedule-finished");
  expect(refused).toMatchObject([{ schedule: "fast", status: "failed" }]);
  expect(refused[0]!.error).toContain(`state id "${STATE_ID}" is locked by run ${runId}`);

  running.child.kill("SIGTERM");
  await expect.poll(() => stderr(), { timeout: 10_000 }).toContain("SIGTERM received");
  await lock.release();
  const done = await running.done;
  expect(done.code, describeResult(done)).toBe(0);
  expect(done.signal).toBeNull();
  expect(events(done.stderr, "schedule-finished")).toMatchObject([{ schedule: "fast", status: "cancelled" }]);
  // Nothing new started once stopping.
  expect(events(done.stderr, "schedule-started")).toHaveLength(1);

  // The stopped run changed nothing: the warehouse and the state are as before.
  const [latest] = await project.runs();
  expect(latest).toMatchObject({ runId, status: "cancelled" });
  expect(await countRows()).toBe(ROWS);
  expect(await project.state(STATE_ID)).toEqual(stateBefore);

  // A cancelled run does not count as run: the next scheduler catches up and completes.
  const next = await project.run(["--log-format", "json", "scheduler", "--once", "--schedule", "fast"]);
  expect(next.code, describeResult(next)).toBe(0);
  expect(events(next.stderr, "schedule-finished")).toMatchObject([{ schedule: "fast", status: "success" }]);
  expect(await countRows()).toBe(ROWS + 500);
  expect((await project.runs())[0]).toMatchObject({ status: "success" });
});

test("text logs say when each schedule runs next; an unknown --schedule is a usage error", async () => {
  const text = await project.runText(["scheduler", "--once", "--schedule", "nightly"]);
  expect(text.code, describeResult(text)).toBe(0);
  const midnight = new Date();
  midnight.setUTCHours(24, 0, 0, 0);
  expect(text.stderr).toMatch(
    new RegExp(`schedule nightly \\(@daily\\): last run \\S+, next run ${midnight.toISOString()}`),
  );
  expect(text.stderr).toContain("scheduler: 0 run(s) started");

  const result = await project.runText([
    "scheduler",
    "--once",
    "--schedule",
    "nightly",
    "--schedule",
    "nope",
  ]);
  expect(result.code, describeResult(result)).toBe(2);
  expect(result.stderr).toContain('no schedule named "nope" (schedules: nightly, fast)');
});

test("a second signal quits at once with 130; the run left behind is caught up by the next scheduler", async () => {
  lock = await lockTable(db, "events");
  scheduler = project.start(["--log-format", "json", "scheduler", "--schedule", "fast"]);
  const running = scheduler;
  await expect.poll(() => running.output().stderr, { timeout: 30_000 }).toContain('"run-started"');
  // Back to back: the first stop cancels the held run within milliseconds, so waiting for its
  // log line before the second signal would race the scheduler's clean exit. Two different
  // signals, because the kernel merges a second SIGTERM still pending into the first.
  running.child.kill("SIGINT");
  running.child.kill("SIGTERM");
  const done = await running.done;
  expect(done.code, describeResult(done)).toBe(130);
  await lock.release();

  // Its run never ended; run history marks it failed (process gone) and the scheduler runs again.
  const next = await project.run(["--log-format", "json", "scheduler", "--once", "--schedule", "fast"]);
  expect(next.code, describeResult(next)).toBe(0);
  expect(events(next.stderr, "schedule-started")).toMatchObject([{ schedule: "fast", catchUp: true }]);
  expect(events(next.stderr, "schedule-finished")).toMatchObject([{ schedule: "fast", status: "success" }]);
  expect(await countRows()).toBe(ROWS + 500);
});
