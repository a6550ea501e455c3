import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parseLsn } from "../../../src/connectors/tap-postgres/cdc/replication-message.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { describeResult, type RunningCli } from "../../support/run-cli.js";
import {
  DUCKDB_FILE,
  PROJECT_STATE_ID,
  projectSpec,
  TestProject,
  type ProjectSpecOptions,
} from "../../support/test-project.js";
import { describeDifference, duckdbRowTexts, sourceRowTexts } from "../../support/table-diff.js";
import { RUN_ARGS, keysHeldTwice, randomChanges, startWriter } from "./fault-support.js";
import { sigkillLoop } from "./sigkill-loop.js";

/**
 * LOG_BASED runs killed with SIGKILL at random moments while the source keeps changing: during
 * the initial copy, during copies again (`--full-refresh`), while streaming in follow mode and in
 * runs that stop at the WAL end. After every kill the slot has not been told more than the state
 * holds, a stored position means the table exists, and DuckDB holds no key twice; once the
 * writes stop, a last run ends with DuckDB equal to the source (deleted rows marked deleted).
 */
const ROWS = 10_000;

let db: TestDatabase;
let project: TestProject;
const children: RunningCli[] = [];
const projectOptions: ProjectSpecOptions = {
  select: ["public-events.*"],
  metadata: { "public-events": { "replication-method": "LOG_BASED" } },
  tap: { batch_size_rows: 1000, logical_commit_seconds: 0, tap_id: "kill" },
  target: { add_metadata_columns: true },
};

beforeAll(async () => {
  db = await createTestDatabase("killcdc");
  await db.query("CREATE TABLE events (id bigint PRIMARY KEY, v int NOT NULL, body text NOT NULL)");
  await db.query(`INSERT INTO events SELECT i, 0, md5(i::text) FROM generate_series(1, ${ROWS}) i`);
  project = TestProject.forDatabase(db, projectSpec(db, projectOptions), {
    prefix: "sluice-kill-cdc-",
    localSpool: true,
  });
});

afterAll(async () => {
  for (const child of children) child.child.kill("SIGKILL");
  await Promise.allSettled(children.map((c) => c.done));
  // A killed run's walsender lets go of the slot a moment after the process is gone.
  for (let i = 0; i < 50; i++) {
    const active = await db.query(
      "SELECT 1 FROM pg_replication_slots WHERE database = current_database() AND active",
    );
    if (active.length === 0) break;
    await sleep(200);
  }
  await db.query(
    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database() AND NOT active",
  );
  await db.drop();
  project?.remove();
});

async function slotConfirmed(): Promise<bigint | undefined> {
  const rows = await db.query<{ lsn: string | null }>(
    "SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE database = current_database() AND NOT temporary",
  );
  return rows[0]?.lsn ? parseLsn(rows[0].lsn) : undefined;
}

const sourceSql = "SELECT id::text AS k, v::text || '|' || body AS v FROM events";
const duckdbSql = (where: string): string =>
  `SELECT CAST(id AS VARCHAR) AS k, CAST(v AS VARCHAR) || '|' || body AS v FROM public.events ${where}`;

describe("LOG_BASED killed with SIGKILL", () => {
  test("no change lost or applied twice, and the slot never acknowledged past the state", async () => {
    const file = project.file(DUCKDB_FILE);
    const ids = { last: ROWS };
    const writer = startWriter(db, () => randomChanges("events", ids, 20), 40);

    let transactions = 0;
    try {
      await sigkillLoop({
        start: async (iteration) => {
          let positioned = project.storedState(PROJECT_STATE_ID)?.bookmarks["public-events"]?.lsn;
          if (positioned === undefined && iteration > 3) {
            // Three kills landed in the first copy; one whole copy, so the rest stream.
            const copy = await project.run(RUN_ARGS, { timeoutMs: 90_000 });
            expect(copy.code, describeResult(copy)).toBe(0);
            positioned = project.storedState(PROJECT_STATE_ID)?.bookmarks["public-events"]?.lsn;
          }
          const draw = Math.random();
          let kind: string;
          let args: string[];
          if (positioned === undefined) [kind, args] = ["copy, then streaming", ["--follow"]];
          else if (draw < 0.2) [kind, args] = ["copy again, then streaming", ["--full-refresh", "--follow"]];
          else if (draw < 0.4) [kind, args] = ["to the WAL end", []];
          else [kind, args] = ["streaming", ["--follow"]];
          const run = project.start([...RUN_ARGS, ...args]);
          children.push(run);
          return {
            run,
            kind,
            endless: args.includes("--follow"),
            horizonMs: kind.startsWith("copy") ? 5000 : 3000,
          };
        },
        check: async (_point, where) => {
          const lsn = project.storedState(PROJECT_STATE_ID)?.bookmarks["public-events"]?.lsn;
          // Acknowledged only after the state: the slot is never ahead of the stored position.
          const confirmed = await slotConfirmed();
          if (confirmed !== undefined && lsn !== undefined) {
            expect(confirmed <= BigInt(lsn), `${where}: slot confirmed ${confirmed}, state ${lsn}`).toBe(
              true,
            );
          }
          const twice = await keysHeldTwice(file, "public.events");
          if (lsn !== undefined) expect(twice, `${where}: a position but no table`).toBeDefined();
          expect(twice ?? [], `${where}: keys twice`).toEqual([]);
        },
      });
    } finally {
      transactions = await writer.stop();
    }

    // The last run only catches up: checkpoints every second rather than after every one of the
    // writer's small transactions.
    project.write(
      projectSpec(db, { ...projectOptions, tap: { ...projectOptions.tap, logical_commit_seconds: 1 } }),
    );
    const rerun = await project.run(RUN_ARGS, { timeoutMs: 180_000 });
    expect(rerun.code, describeResult(rerun)).toBe(0);
    const source = await sourceRowTexts(db, sourceSql);
    const loaded = await duckdbRowTexts(file, duckdbSql("WHERE _sdc_deleted_at IS NULL"));
    expect(loaded.duplicates).toEqual([]);
    expect(describeDifference(source, loaded.rows)).toBe("");
    expect(transactions, "the writer made changes").toBeGreaterThan(50);
  }, 300_000);
});
