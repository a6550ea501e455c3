import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { pipelineSlotName } from "../../../src/connectors/tap-postgres/cdc/replication-slot-name.js";
import type { Catalog } from "../../../src/protocol/catalog.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { selectStreams, tapConfig, tempDir } from "../../support/pipeline.js";
import { describeFinished, sluice } from "./singer-helpers.js";

/**
 * `sluice tap tap-postgres` with LOG_BASED streams speaks Singer as pipelinewise-tap-postgres
 * does: the first run copies and ends with a STATE holding the slot position; a run given that
 * state emits the changes since (deletes with `_sdc_deleted_at`) and a STATE further on.
 */
let db: TestDatabase;
let work: string;

interface Message {
  type: string;
  stream?: string;
  record?: Record<string, unknown>;
  schema?: { properties: Record<string, unknown> };
  value?: {
    bookmarks: Record<string, { lsn?: number; last_replication_method?: string }>;
    replication_slot?: string;
  };
}

beforeAll(async () => {
  db = await createTestDatabase("singercdc");
  await db.query(`
    CREATE TABLE orders (id int PRIMARY KEY, amount numeric(30,10), note text);
    INSERT INTO orders VALUES (1, 12345678901234567890.0123456789, 'one'), (2, 2, 'two'), (3, 3, 'three');
  `);
  work = tempDir("sluice-singer-cdc-");
  fs.writeFileSync(path.join(work, "tap.json"), JSON.stringify(tapConfig(db, { tap_id: "singer" })));
});

afterAll(async () => {
  await db.query(
    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database() AND NOT active",
  );
  await db.drop();
  fs.rmSync(work, { recursive: true, force: true });
});

async function tap(state?: object, extra: string[] = []): Promise<Message[] & { raw: string }> {
  const args = [
    "tap",
    "tap-postgres",
    "--config",
    path.join(work, "tap.json"),
    "--catalog",
    path.join(work, "catalog.json"),
    ...extra,
  ];
  if (state) {
    fs.writeFileSync(path.join(work, "state.json"), JSON.stringify(state));
    args.push("--state", path.join(work, "state.json"));
  }
  const result = await sluice(args);
  expect(result.code, describeFinished(result)).toBe(0);
  const messages = result.stdout
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Message);
  return Object.assign(messages, { raw: result.stdout });
}

describe("sluice tap tap-postgres, LOG_BASED", () => {
  test("copies, then emits the changes since the state's position, deletes included", async () => {
    const discovered = await sluice([
      "tap",
      "tap-postgres",
      "--config",
      path.join(work, "tap.json"),
      "--discover",
    ]);
    expect(discovered.code, describeFinished(discovered)).toBe(0);
    const catalog = selectStreams(JSON.parse(discovered.stdout) as Catalog, {
      "public-orders": { "replication-method": "LOG_BASED" },
    });
    fs.writeFileSync(path.join(work, "catalog.json"), JSON.stringify(catalog));

    const first = await tap();
    expect(first.filter((m) => m.type === "RECORD").map((m) => m.record?.id)).toEqual([1, 2, 3]);
    const firstState = first.filter((m) => m.type === "STATE").at(-1)!.value!;
    const startLsn = firstState.bookmarks["public-orders"]?.lsn;
    expect(startLsn).toBeGreaterThan(0);
    expect(firstState.bookmarks["public-orders"]?.last_replication_method).toBe("LOG_BASED");
    // No state id: pipelinewise's slot, as pipelinewise-tap-postgres reads; the STATE says which.
    expect(firstState.replication_slot).toBe(`pipelinewise_${db.name}_singer`);

    await db.query(
      "UPDATE orders SET amount = 98765432109876543210.9876543210, note = 'changed' WHERE id = 2",
    );
    await db.query("DELETE FROM orders WHERE id = 3");
    await db.query("INSERT INTO orders VALUES (4, 4, 'four')");

    const second = await tap(firstState);
    const schema = second.find((m) => m.type === "SCHEMA");
    expect(Object.keys(schema?.schema?.properties ?? {})).toContain("_sdc_deleted_at");
    const records = second.filter((m) => m.type === "RECORD").map((m) => m.record!);
    expect(records.map((r) => r.id)).toEqual([2, 3, 4]);
    // Numbers exact as text in the JSON line, not through a double.
    expect(second.raw).toContain('"amount":98765432109876543210.9876543210');
    expect(records[0]?.note).toBe("changed");
    expect(records[1]?._sdc_deleted_at).toEqual(expect.stringMatching(/^\d{4}-\d\d-\d\dT/));
    expect(records[2]?._sdc_deleted_at).toBeUndefined();
    const lastState = second.filter((m) => m.type === "STATE").at(-1)!.value!;
    expect(lastState.bookmarks["public-orders"]?.lsn).toBeGreaterThan(startLsn!);

    // Nothing new: no records, and the position is kept.
    const third = await tap(lastState);
    expect(third.filter((m) => m.type === "RECORD")).toEqual([]);
  });

  test("--state-id gives a new state a slot of its own, which the state then keeps", async () => {
    const stateId = "meltano:tap-postgres-to-target-x";
    const first = await tap(undefined, ["--state-id", stateId]);
    const state = first.filter((m) => m.type === "STATE").at(-1)!.value!;
    expect(state.replication_slot).toBe(pipelineSlotName(db.name, stateId));
    await db.query("INSERT INTO orders VALUES (5, 5, 'five')");
    // Given back without --state-id, it reads the slot it recorded (no copy: only the change).
    const second = await tap(state);
    expect(second.filter((m) => m.type === "RECORD").map((m) => m.record?.id)).toEqual([5]);
    expect(second.filter((m) => m.type === "STATE").at(-1)!.value!.replication_slot).toBe(
      state.replication_slot,
    );
  });
});
