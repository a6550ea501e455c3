import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parseLsn } from "../../../src/connectors/postgres/cdc/replication-message.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { tempDir } from "../../support/pipeline.js";
import {
  PROJECT_STATE_ID,
  readStoredState,
  runSluice,
  sleep,
  startSluice,
  writeProject,
  type SluiceProcess,
} from "../../support/sluice-project.js";
import { describeDifference, duckdbRowTexts, sourceRowTexts } from "../../support/table-diff.js";

/**
 * LOG_BASED runs killed with SIGKILL at random moments, while the source keeps changing: during
 * the initial copy, and while streaming in follow mode. After every kill the slot has not been
 * told more than the state holds, and DuckDB holds no key twice; once the writes stop, a last
 * run ends with DuckDB equal to the source.
 */
const ROWS = 50_000;
const KILLS = 7;
const RUN_ARGS = ["--log-format", "json", "run", "tap-postgres", "target-duckdb"];

let db: TestDatabase;
let dir: string;

beforeAll(async () => {
  db = await createTestDatabase("cdckill");
  dir = tempDir("sluice-cdc-kill-");
  await db.query("CREATE TABLE events (id bigint PRIMARY KEY, v int NOT NULL, body text NOT NULL)");
  await db.query(`INSERT INTO events SELECT i, 0, md5(i::text) FROM generate_series(1, ${ROWS}) i`);
});

const children: SluiceProcess[] = [];

afterAll(async () => {
  for (const child of children) child.child.kill("SIGKILL");
  await Promise.all(children.map((c) => c.exited));
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
  fs.rmSync(dir, { recursive: true, force: true });
});

const randomBetween = (min: number, max: number): number => Math.round(min + Math.random() * (max - min));

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
    writeProject(dir, db, {
      select: ["public-events.*"],
      metadata: { "public-events": { "replication-method": "LOG_BASED" } },
      tap: { batch_size_rows: 3000, logical_commit_seconds: 0, tap_id: "kill" },
      target: { add_metadata_columns: true },
    });
    const file = path.join(dir, "warehouse.duckdb");
    let writing = true;
    let next = ROWS;
    const writer = (async () => {
      while (writing) {
        const statements: string[] = [];
        for (let i = randomBetween(1, 20); i > 0; i--) {
          const op = Math.random();
          const id = randomBetween(1, next);
          if (op < 0.4) statements.push(`INSERT INTO events VALUES (${++next}, 0, 'new ${next}')`);
          else if (op < 0.85)
            statements.push(`UPDATE events SET v = v + 1, body = body || '.' WHERE id = ${id}`);
          else statements.push(`DELETE FROM events WHERE id = ${id}`);
        }
        await db.query(`BEGIN; ${statements.join("; ")}; COMMIT;`);
      }
    })();

    const kills: string[] = [];
    try {
      for (let attempt = 1; attempt <= KILLS; attempt++) {
        // The first run copies the table (and is killed during or soon after the copy); the
        // others stream in follow mode and are killed mid-stream.
        const follow = attempt > 1;
        const run = startSluice(dir, db, follow ? [...RUN_ARGS, "--follow"] : RUN_ARGS);
        children.push(run);
        // Kill relative to progress, not to the clock (a loaded machine starts node slowly):
        // during the copy, or a random while into the streaming.
        const milestone = follow ? '"mode":"incremental"' : '"event":"stream-started"';
        const deadline = Date.now() + 60_000;
        let exitedEarly = false;
        void run.exited.then(() => (exitedEarly = true));
        while (!run.output().stderr.includes(milestone) && !exitedEarly && Date.now() < deadline) {
          await sleep(10);
        }
        const delay = follow ? randomBetween(0, 2500) : randomBetween(0, 300);
        await sleep(delay);
        run.child.kill("SIGKILL");
        const ended = await run.exited;
        const bookmark = readStoredState(dir, PROJECT_STATE_ID)?.bookmarks["public-events"];
        const where = `kill ${attempt} ${delay} ms into ${follow ? "streaming" : "the copy"} (state lsn ${bookmark?.lsn ?? "none"})`;
        kills.push(where);
        if (follow) {
          expect(ended.signal, `${where}: the run ended by itself\n${ended.stderr.slice(-2000)}`).toBe(
            "SIGKILL",
          );
        }
        // Acknowledged only after the state: the slot is never ahead of the stored position.
        const confirmed = await slotConfirmed();
        if (confirmed !== undefined && bookmark?.lsn !== undefined) {
          expect(confirmed <= BigInt(bookmark.lsn), `${where}: slot confirmed ${confirmed}`).toBe(true);
        }
        if (fs.existsSync(file) && bookmark?.lsn !== undefined) {
          const loaded = await duckdbRowTexts(file, duckdbSql(""));
          expect(loaded.duplicates, `${where}: keys twice`).toEqual([]);
        }
      }
    } finally {
      writing = false;
      await writer;
    }

    await runSluice(dir, db, RUN_ARGS, { timeoutMs: 90_000 });
    const source = await sourceRowTexts(db, sourceSql);
    const loaded = await duckdbRowTexts(file, duckdbSql("WHERE _sdc_deleted_at IS NULL"));
    expect(loaded.duplicates).toEqual([]);
    expect(describeDifference(source, loaded.rows), `after ${kills.join("; ")}`).toBe("");
    expect(next - ROWS, "the writer made changes").toBeGreaterThan(100);
  }, 300_000);
});
