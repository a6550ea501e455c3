import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parseLsn } from "../../../src/connectors/tap-postgres/cdc/replication-message.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { DuckDBInstance } from "@duckdb/node-api";
import { pipelineSlotName } from "../../../src/connectors/tap-postgres/cdc/replication-slot-name.js";
import { PROJECT_STATE_ID, projectSpec, TestProject } from "../../support/test-project.js";

/**
 * Replication slots belong to a pipeline (issue 16): every state id with LOG_BASED streams reads
 * its own slot and publication, so no pipeline (nor a `--select` run) confirms changes another
 * has not stored. Through the CLI, as a user runs it: two loaders from one extractor, a
 * `--select` subset, a state imported from pipelinewise, a state id too long for a slot name,
 * `sluice cdc status` and `teardown`.
 */
let db: TestDatabase;
let project: TestProject;
const LOG_BASED = { "replication-method": "LOG_BASED" };
const OTHER_STATE_ID = "dev:tap-postgres-to-target-duckdb--b";

beforeAll(async () => {
  db = await createTestDatabase("slots");
  await db.query(`
    CREATE TABLE orders (id int PRIMARY KEY, note text);
    CREATE TABLE refunds (id int PRIMARY KEY, note text);
    INSERT INTO orders SELECT g, 'o' || g FROM generate_series(1, 5) g;
    INSERT INTO refunds SELECT g, 'r' || g FROM generate_series(1, 5) g;`);
  const spec = projectSpec(db, {
    metadata: { "public-orders": LOG_BASED, "public-refunds": LOG_BASED },
    target: { add_metadata_columns: true },
  });
  // More pipelines from the same extractor: other DuckDB files.
  for (const name of ["b", "c"]) {
    spec.plugins.loaders.push({
      name: `target-duckdb--${name}`,
      inherit_from: "target-duckdb",
      config: { path: `output/${name}.duckdb` },
    });
  }
  project = TestProject.forDatabase(db, spec, { prefix: "sluice-slots-" });
});

afterAll(async () => {
  await db.query(
    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database() AND NOT active",
  );
  await db.drop();
  project.remove();
});

async function sluice(args: string[]): Promise<{ stdout: string; stderr: string }> {
  const result = await project.runText(args);
  expect(result.code, result.stderr).toBe(0);
  return result;
}

async function slotNames(): Promise<string[]> {
  const rows = await db.query<{ slot_name: string }>(
    "SELECT slot_name FROM pg_replication_slots WHERE database = current_database() ORDER BY 1",
  );
  return rows.map((r) => r.slot_name);
}

async function sourceIds(table: string): Promise<number[]> {
  return (await db.query<{ id: number }>(`SELECT id FROM ${table} ORDER BY id`)).map((r) => r.id);
}

/** Rows of a query on one of the project's DuckDB files, values as text. */
async function duckdbRows(file: string, sql: string): Promise<Record<string, string>[]> {
  const instance = await DuckDBInstance.create(project.file(file), { access_mode: "READ_ONLY" });
  try {
    const connection = await instance.connect();
    try {
      const rows = (await connection.runAndReadAll(sql)).getRowObjectsJS();
      return rows.map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, String(v)])));
    } finally {
      connection.closeSync();
    }
  } finally {
    instance.closeSync();
  }
}

async function warehouseIds(file: string, table: string): Promise<number[]> {
  const rows = await duckdbRows(
    file,
    `SELECT id FROM public.${table} WHERE _sdc_deleted_at IS NULL ORDER BY id`,
  );
  return rows.map((r) => Number(r.id));
}

describe("a replication slot per pipeline", () => {
  test("two pipelines from one extractor each read their own slot and each see every change", async () => {
    await sluice(["run", "tap-postgres", "target-duckdb"]);
    await sluice(["run", "tap-postgres", "target-duckdb--b"]);
    const a = project.storedState(PROJECT_STATE_ID)?.replication_slot;
    const b = project.storedState(OTHER_STATE_ID)?.replication_slot;
    expect(a).toBe(pipelineSlotName(db.name, PROJECT_STATE_ID));
    expect(b).toBe(pipelineSlotName(db.name, OTHER_STATE_ID));
    expect(a).not.toBe(b);
    expect(await slotNames()).toEqual([a, b].sort());

    // Pipeline A reads (and confirms) the changes first; B must still find them in its slot.
    await db.query(`INSERT INTO orders VALUES (6, 'o6'); DELETE FROM refunds WHERE id = 1;`);
    const first = await sluice(["run", "tap-postgres", "target-duckdb"]);
    const second = await sluice(["run", "tap-postgres", "target-duckdb--b"]);
    for (const file of ["output/warehouse.duckdb", "output/b.duckdb"]) {
      expect(await warehouseIds(file, "orders")).toEqual(await sourceIds("orders"));
      expect(await warehouseIds(file, "refunds")).toEqual(await sourceIds("refunds"));
    }
    // Streamed, not copied again: the safety net for a slot confirmed past a stream never fired.
    expect(first.stderr + second.stderr).not.toMatch(/copying the table again/);
  });

  test("a --select run also reads the changes of the pipeline's other LOG_BASED streams, and says so", async () => {
    await db.query(`INSERT INTO orders VALUES (7, 'o7'); INSERT INTO refunds VALUES (7, 'r7');`);
    const subset = await sluice(["run", "tap-postgres", "target-duckdb", "--select", "public-orders"]);
    expect(subset.stderr).toMatch(/--select: also reading the changes of public-refunds/);
    expect(await warehouseIds("output/warehouse.duckdb", "refunds")).toEqual(await sourceIds("refunds"));
    // A re-copy of one table is a --select too: the other keeps streaming, nothing is copied twice.
    await db.query(`INSERT INTO refunds VALUES (8, 'r8')`);
    const refresh = await sluice([
      "run",
      "tap-postgres",
      "target-duckdb",
      "--full-refresh",
      "--select",
      "public-orders",
    ]);
    expect(refresh.stderr).not.toMatch(/copying the table again/);
    await db.query(`INSERT INTO refunds VALUES (9, 'r9')`);
    const full = await sluice(["run", "tap-postgres", "target-duckdb"]);
    expect(full.stderr).not.toMatch(/copying the table again/);
    expect(await warehouseIds("output/warehouse.duckdb", "orders")).toEqual(await sourceIds("orders"));
    expect(await warehouseIds("output/warehouse.duckdb", "refunds")).toEqual(await sourceIds("refunds"));
  });

  test("cdc status lists both pipelines' slots; teardown removes only the named pipeline's", async () => {
    const a = project.storedState(PROJECT_STATE_ID)!.replication_slot!;
    const b = project.storedState(OTHER_STATE_ID)!.replication_slot!;
    const status = await sluice(["cdc", "status", "tap-postgres"]);
    expect(status.stdout).toContain(`slot ${a}: idle\n  pipeline: ${PROJECT_STATE_ID}\n`);
    expect(status.stdout).toContain(`slot ${b}: idle\n  pipeline: ${OTHER_STATE_ID}\n`);
    expect(status.stdout).toContain(`publication: ${a}_pub`);

    const unnamed = await project.runText(["cdc", "teardown", "tap-postgres"]);
    expect(unnamed.code).toBe(2);
    expect(unnamed.stderr).toMatch(/name the pipeline whose slot to drop/);
    const teardown = await sluice(["cdc", "teardown", "tap-postgres", "target-duckdb--b"]);
    expect(teardown.stdout).toContain(`removed replication slot "${b}" and publication "${b}_pub"`);
    expect(await slotNames()).toEqual([a]);
    const publications = await db.query<{ pubname: string }>("SELECT pubname FROM pg_publication");
    expect(publications.map((p) => p.pubname)).toEqual([`${a}_pub`]);
    // Its next run makes the slot again and copies its tables: B ends equal to the source.
    await db.query(`INSERT INTO orders VALUES (10, 'o10')`);
    await sluice(["run", "tap-postgres", "target-duckdb--b"]);
    expect(await warehouseIds("output/b.duckdb", "orders")).toEqual(await sourceIds("orders"));
    expect(await slotNames()).toEqual([a, b].sort());
  });

  test("a state id longer than a slot name may be gets a name within 63 bytes, and works", async () => {
    const stateId = `prod:${"a-very-long-pipeline-name-".repeat(4)}to-target-duckdb`;
    await sluice(["run", "tap-postgres", "target-duckdb--b", "--state-id", stateId]);
    const slot = project.storedState(stateId)?.replication_slot;
    expect(slot).toMatch(/^sluice_[a-z0-9_]+_[0-9a-f]{8}$/);
    expect(Buffer.byteLength(`${slot}_pub`)).toBeLessThanOrEqual(63);
    expect(await slotNames()).toContain(slot);
    await db.query(`INSERT INTO orders VALUES (11, 'o11')`);
    // Streams from the slot found again by its name; a re-copy takes a temporary slot's snapshot,
    // `<slot>_copy_<pid>` cut to fit (PostgreSQL refuses a longer name).
    const next = await sluice([
      "run",
      "tap-postgres",
      "target-duckdb--b",
      "--state-id",
      stateId,
      "--full-refresh",
      "--select",
      "public-orders",
    ]);
    expect(next.stderr).not.toMatch(/copying the table again/);
    expect(await warehouseIds("output/b.duckdb", "orders")).toEqual(await sourceIds("orders"));
    expect(await warehouseIds("output/b.duckdb", "refunds")).toEqual(await sourceIds("refunds"));
    await sluice(["cdc", "teardown", "tap-postgres", "--state-id", stateId]);
    expect(await slotNames()).not.toContain(slot);
  });
});

test("a state naming a slot of another database of the server is refused, saying what to do", async () => {
  const other = await createTestDatabase("slots_other");
  try {
    const slot = `elsewhere_${other.name}`;
    await other.query(`SELECT pg_create_logical_replication_slot('${slot}', 'pgoutput')`);
    // As a state copied from another environment would carry it.
    const stateId = "dev:copied-from-elsewhere";
    await sluice([
      "state",
      "set",
      stateId,
      JSON.stringify({ bookmarks: {}, replication_slot: slot }),
      "--force",
    ]);
    const refused = await project.runText(["run", "tap-postgres", "target-duckdb--b", "--state-id", stateId]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(
      `replication slot "${slot}" belongs to database "${other.name}" of this server (slot names are server-wide), not to "${db.name}": set logical_slot_name to a name of its own, or remove "replication_slot" from this pipeline's state`,
    );
    // Refused before anything was made for it in this database.
    expect(await db.query("SELECT pubname FROM pg_publication WHERE pubname = $1", [`${slot}_pub`])).toEqual(
      [],
    );
    await other.query(`SELECT pg_drop_replication_slot('${slot}')`);
  } finally {
    await other.drop();
  }
});

describe("a state imported from pipelinewise", () => {
  test("keeps reading pipelinewise's slot from its positions; no new slot, no copy", async () => {
    const stateId = "dev:tap-postgres-to-target-duckdb--c";
    const legacy = `pipelinewise_${db.name}`;
    // As a sluice from before slots per pipeline left it (pipelinewise's name, pgoutput): the slot,
    // its publication, and a state whose positions came from that slot.
    await db.query(`CREATE PUBLICATION ${legacy}_pub FOR TABLE orders, refunds`);
    const [created] = await db.query<{ lsn: string }>(
      `SELECT lsn::text FROM pg_create_logical_replication_slot('${legacy}', 'pgoutput')`,
    );
    const lsn = Number(parseLsn(created!.lsn));
    const bookmark = { lsn, version: 1, last_replication_method: "LOG_BASED" };
    await sluice([
      "state",
      "set",
      stateId,
      JSON.stringify({ bookmarks: { "public-orders": bookmark, "public-refunds": bookmark } }),
      "--force",
    ]);
    await db.query(`INSERT INTO orders VALUES (100, 'after the import'); DELETE FROM refunds WHERE id = 2;`);
    const before = await slotNames();
    const run = await sluice(["run", "tap-postgres", "target-duckdb--c"]);
    expect(run.stderr).not.toMatch(/copying the table again/);
    expect(await slotNames()).toEqual(before);
    expect(project.storedState(stateId)?.replication_slot).toBe(legacy);
    // Only the changes since the imported position arrived (no copy of the tables).
    const rows = await duckdbRows(
      "output/c.duckdb",
      "SELECT id, _sdc_deleted_at IS NOT NULL AS deleted FROM public.orders UNION ALL SELECT id, _sdc_deleted_at IS NOT NULL FROM public.refunds ORDER BY id",
    );
    expect(rows).toEqual([
      { id: "2", deleted: "true" },
      { id: "100", deleted: "false" },
    ]);
  });

  test("teardown will not drop a slot other pipelines read too, unless told to", async () => {
    const legacy = `pipelinewise_${db.name}`;
    // Another pipeline imported from the same pipelinewise tap: the same slot.
    const bookmark = { lsn: 1, version: 1, last_replication_method: "LOG_BASED" };
    const other = "prod:tap-postgres-to-target-duckdb--c";
    await sluice([
      "state",
      "set",
      other,
      JSON.stringify({ bookmarks: { "public-orders": bookmark } }),
      "--force",
    ]);
    const status = await sluice(["cdc", "status", "tap-postgres"]);
    expect(status.stdout).toContain(
      `slot ${legacy}: idle\n  pipeline: dev:tap-postgres-to-target-duckdb--c, ${other}\n`,
    );

    const refused = await project.runText(["cdc", "teardown", "tap-postgres", "target-duckdb--c"]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(
      `replication slot "${legacy}" of pipeline dev:tap-postgres-to-target-duckdb--c is read by ${other} too`,
    );
    expect(await slotNames()).toContain(legacy);
    await sluice(["cdc", "teardown", "tap-postgres", "target-duckdb--c", "--force"]);
    expect(await slotNames()).not.toContain(legacy);
  });
});
