import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import type { RunEvent } from "../../../src/runner/run-events.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { duckdbRows, runToDuckdb, tempDir } from "../../support/pipeline.js";

/**
 * The safety net under slots per pipeline (issue 16): when a slot is confirmed past a stream's
 * position anyway (a shared `logical_slot_name`, a stream left out of the plans, a state restored
 * from a backup), the stream must never lose those changes. Here a run planned with one stream
 * only (as no `sluice run --select` does any more: it reads the others' changes too, see
 * log-based-slots.test.ts) moves the slot; the next full run finds the other stream behind the
 * slot and copies its table again instead of streaming from a gap.
 */
let db: TestDatabase;
let workDir: string;
const STATE_ID = "test:topology";
const LOG_BASED = { "replication-method": "LOG_BASED" };

beforeAll(async () => {
  db = await createTestDatabase("topology");
  workDir = tempDir("sluice-topology-");
  await db.query(`
    CREATE TABLE orders (id int PRIMARY KEY, note text);
    CREATE TABLE refunds (id int PRIMARY KEY, note text);
    INSERT INTO orders SELECT g, 'o' || g FROM generate_series(1, 10) g;
    INSERT INTO refunds SELECT g, 'r' || g FROM generate_series(1, 10) g;`);
});

afterAll(async () => {
  await db.query(
    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database() AND NOT active",
  );
  await db.drop();
  fs.rmSync(workDir, { recursive: true, force: true });
});

async function warehouseIds(table: string): Promise<number[]> {
  const rows = await duckdbRows(
    path.join(workDir, "warehouse.duckdb"),
    `SELECT id FROM public.${table} WHERE _sdc_deleted_at IS NULL ORDER BY id`,
  );
  return rows.map((r) => Number(r.id));
}

async function sourceIds(table: string): Promise<number[]> {
  return (await db.query<{ id: number }>(`SELECT id FROM ${table} ORDER BY id`)).map((r) => r.id);
}

test("a stream a --select run left out is copied again, not streamed past its lost changes", async () => {
  const both = { "public-orders": LOG_BASED, "public-refunds": LOG_BASED };
  const run = (streams: Record<string, Record<string, unknown>>, observer?: (e: RunEvent) => void) =>
    runToDuckdb({
      db,
      workDir,
      streams,
      stateId: STATE_ID,
      target: { add_metadata_columns: true },
      ...(observer ? { observer } : {}),
    });
  await run(both);
  await db.query(`INSERT INTO orders VALUES (11, 'o11'); INSERT INTO refunds VALUES (11, 'r11');
                  DELETE FROM refunds WHERE id = 1;`);
  // Only orders: the slot is confirmed past refunds' insert and delete, which this run does not load.
  await run({ "public-orders": LOG_BASED });
  await db.query(`INSERT INTO refunds VALUES (12, 'r12')`);

  const warnings: string[] = [];
  await run(both, (event) => {
    if (event.type === "warning") warnings.push(event.message);
  });
  expect(await warehouseIds("orders")).toEqual(await sourceIds("orders"));
  expect(await warehouseIds("refunds")).toEqual(await sourceIds("refunds"));
  expect(warnings).toEqual([
    expect.stringMatching(/^public-refunds: replication slot .* copying the table again/),
  ]);
});
