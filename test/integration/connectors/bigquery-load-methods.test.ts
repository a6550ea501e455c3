import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { StreamSchema } from "../../../src/connectors/column-type.js";
import { BigqueryLoader } from "../../../src/connectors/target-bigquery/bigquery-loader.js";
import { SchemaError } from "../../../src/errors.js";
import { SqliteSystemDatabase } from "../../../src/state/sqlite-system-database.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { tempDir } from "../../support/pipeline.js";
import {
  bigqueryConfig,
  committedState,
  datasetName,
  plainRows,
  runToBigquery,
  STATE_ID,
  startBigqueryTarget,
  type BigqueryTarget,
} from "./bigquery-harness.js";

let db: TestDatabase;
let target: BigqueryTarget;

beforeAll(async () => {
  db = await createTestDatabase("bq_methods");
  target = await startBigqueryTarget();
});

afterAll(async () => {
  await target?.close();
  await db?.query(
    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database() AND NOT active",
  );
  await db?.drop();
});

async function fieldsOf(dataset: string, table: string): Promise<string[][]> {
  const [metadata] = await target.client.dataset(dataset).table(table).getMetadata();
  return (metadata.schema.fields as { name: string; type: string; mode?: string }[]).map((f) => [
    f.name,
    f.type
      .replace(/^INTEGER$/, "INT64")
      .replace(/^FLOAT$/, "FLOAT64")
      .replace(/^BOOLEAN$/, "BOOL"),
    f.mode ?? "NULLABLE",
  ]);
}

describe("PostgreSQL → target-bigquery", () => {
  test("full table: typed rows in prefix + table + suffix, through load jobs only, state committed", async () => {
    const dataset = datasetName("full");
    await db.query(`
      CREATE TABLE accounts (id integer PRIMARY KEY, name text, balance numeric(12,2), created_at timestamptz);
      INSERT INTO accounts VALUES (1, 'ada', 10.50, '2024-01-01 10:00:00+00'), (2, 'bob', NULL, NULL);
    `);
    const workDir = tempDir();
    const config = bigqueryConfig(target, dataset, {
      table_prefix: "meltano_extract_",
      table_suffix: "_v1",
      add_metadata_columns: true,
    });
    const summary = await runToBigquery({ db, workDir, target: config, streams: { "public-accounts": {} } });
    expect(summary.status).toBe("success");
    const rows = await plainRows(
      target,
      `SELECT id, name, balance, created_at, _sdc_table_version IS NOT NULL AS versioned FROM \`${dataset}.meltano_extract_accounts_v1\` ORDER BY id`,
    );
    expect(rows).toEqual([
      { id: 1, name: "ada", balance: "10.5", created_at: "2024-01-01T10:00:00.000Z", versioned: true },
      { id: 2, name: "bob", balance: null, created_at: null, versioned: true },
    ]);
    expect((await fieldsOf(dataset, "meltano_extract_accounts_v1")).slice(0, 4)).toEqual([
      ["id", "INT64", "NULLABLE"],
      ["name", "STRING", "NULLABLE"],
      ["balance", "NUMERIC", "NULLABLE"],
      ["created_at", "TIMESTAMP", "NULLABLE"],
    ]);
    if (target.emulator) {
      expect(
        target.emulator.requests.some((r) => /^POST \/upload\/bigquery\/v2\/projects\/[^/]+\/jobs/.test(r)),
      ).toBe(true);
      expect(target.emulator.requests.some((r) => r.includes("insertAll"))).toBe(false);
    }
    expect((await committedState(workDir))?.bookmarks["public-accounts"]).toBeDefined();
  });

  test("incremental upsert across three runs: inserts, updates, rows sharing the bookmark value, no key twice", async () => {
    const dataset = datasetName("incr");
    await db.query(`
      CREATE TABLE orders (id integer PRIMARY KEY, status text, updated_at timestamptz NOT NULL);
      INSERT INTO orders VALUES (1, 'new', '2024-01-01 00:00:00+00'), (2, 'new', '2024-01-02 00:00:00+00');
    `);
    const workDir = tempDir();
    const config = bigqueryConfig(target, dataset, { replication_method: "incremental" });
    const streams = {
      "public-orders": { "replication-method": "INCREMENTAL", "replication-key": "updated_at" },
    };
    const read = () => plainRows(target, `SELECT id, status FROM \`${dataset}.orders\` ORDER BY id`);

    await runToBigquery({ db, workDir, target: config, streams });
    expect(await read()).toEqual([
      { id: 1, status: "new" },
      { id: 2, status: "new" },
    ]);

    // Run 2: an update, a new row sharing the last bookmark value, and a later one.
    await db.query(`
      UPDATE orders SET status = 'paid', updated_at = '2024-01-03 00:00:00+00' WHERE id = 1;
      INSERT INTO orders VALUES (3, 'new', '2024-01-02 00:00:00+00'), (4, 'new', '2024-01-03 00:00:00+00');
    `);
    await runToBigquery({ db, workDir, target: config, streams });
    expect(await read()).toEqual([
      { id: 1, status: "paid" },
      { id: 2, status: "new" },
      { id: 3, status: "new" },
      { id: 4, status: "new" },
    ]);

    // Run 3: the bookmark row is read again (>=) and merged, not duplicated; another update.
    await db.query(
      `UPDATE orders SET status = 'shipped', updated_at = '2024-01-04 00:00:00+00' WHERE id = 2`,
    );
    await runToBigquery({ db, workDir, target: config, streams });
    expect(await read()).toEqual([
      { id: 1, status: "paid" },
      { id: 2, status: "shipped" },
      { id: 3, status: "new" },
      { id: 4, status: "new" },
    ]);
    const bookmark = (await committedState(workDir))?.bookmarks["public-orders"];
    expect(String(bookmark?.replication_key_value)).toMatch(/^2024-01-04/);
  });

  test("load jobs upload gzipped NDJSON: the bytes sent are a fraction of the rows' JSON", async () => {
    const dataset = datasetName("gzip");
    await db.query(`
      CREATE TABLE notes (id integer PRIMARY KEY, body text);
      INSERT INTO notes SELECT i, repeat('sluice ', 40) FROM generate_series(1, 2000) i;
    `);
    const summary = await runToBigquery({
      db,
      workDir: tempDir(),
      target: bigqueryConfig(target, dataset),
      streams: { "public-notes": {} },
    });
    expect(summary.status).toBe("success");
    expect(
      await plainRows(target, `SELECT count(*) AS n, min(length(body)) AS len FROM \`${dataset}.notes\``),
    ).toEqual([{ n: 2000, len: 280 }]);
    const [jobs] = await target.client.getJobs({ allUsers: true });
    const loads = jobs
      .map(
        (j) =>
          j.metadata as {
            configuration?: { load?: { destinationTable?: { datasetId?: string } } };
            statistics?: { load?: { inputFileBytes?: string } };
          },
      )
      .filter((m) => m.configuration?.load?.destinationTable?.datasetId === dataset);
    expect(loads.length).toBeGreaterThan(0);
    const sent = loads.reduce((sum, m) => sum + Number(m.statistics?.load?.inputFileBytes ?? NaN), 0);
    // 2,000 lines of at least 280 bytes of JSON each: 560 KB as text, a few KB gzipped.
    expect(sent).toBeLessThan((2000 * 280) / 20);
  });

  test("a replace stream's staging table expires in 7 days (a crash cannot leave it billed for ever); the table it replaces never expires", async () => {
    const dataset = datasetName("expire");
    const loader = new BigqueryLoader(bigqueryConfig(target, dataset), { projectDir: tempDir() });
    const schema: StreamSchema = {
      streamId: "public-orders",
      sourceSchema: "public",
      sourceTable: "orders",
      columns: [{ name: "id", nullable: false, type: { kind: "integer", bits: 32, sqlType: "integer" } }],
      keyProperties: ["id"],
    };
    const metadata = async (table: string) =>
      (await target.client.dataset(dataset).table(table).getMetadata())[0] as { expirationTime?: string };
    const week = 7 * 24 * 60 * 60 * 1000;
    try {
      for (const version of [1, 2]) {
        const before = Date.now();
        const writer = await loader.openStream(schema, { mode: "replace", version, distinctKeys: true });
        const expires = Number((await metadata("orders__sluice_new")).expirationTime);
        expect(expires).toBeGreaterThanOrEqual(before + week);
        expect(expires).toBeLessThanOrEqual(Date.now() + week);
        await writer.finish();
        expect((await metadata("orders")).expirationTime).toBeUndefined();
      }
      const [tables] = await target.client.dataset(dataset).getTables();
      expect(tables.map((t) => t.id)).toEqual(["orders"]);
    } finally {
      await loader.close();
    }
  });

  test("truncate (overwrite): each run replaces the table whole", async () => {
    const dataset = datasetName("trunc");
    await db.query(`
      CREATE TABLE snapshots (id integer PRIMARY KEY, v text);
      INSERT INTO snapshots VALUES (1, 'a'), (2, 'b');
    `);
    const workDir = tempDir();
    const config = bigqueryConfig(target, dataset, { replication_method: "truncate" });
    const streams = { "public-snapshots": {} };
    await runToBigquery({ db, workDir, target: config, streams });
    await db.query(`DELETE FROM snapshots WHERE id = 1; INSERT INTO snapshots VALUES (3, 'c')`);
    await runToBigquery({ db, workDir, target: config, streams });
    expect(await plainRows(target, `SELECT id, v FROM \`${dataset}.snapshots\` ORDER BY id`)).toEqual([
      { id: 2, v: "b" },
      { id: 3, v: "c" },
    ]);
    const [tables] = await target.client.dataset(dataset).getTables();
    expect(tables.map((t) => t.id)).toEqual(["snapshots"]);
  });

  test("append: every run adds its rows", async () => {
    const dataset = datasetName("append");
    await db.query(
      `CREATE TABLE events_log (id integer PRIMARY KEY, v text); INSERT INTO events_log VALUES (1, 'a')`,
    );
    const workDir = tempDir();
    const config = bigqueryConfig(target, dataset, { replication_method: "append" });
    const streams = { "public-events_log": { "replication-method": "INCREMENTAL", "replication-key": "id" } };
    await runToBigquery({ db, workDir, target: config, streams });
    await db.query(`INSERT INTO events_log VALUES (2, 'b')`);
    await runToBigquery({ db, workDir, target: config, streams });
    // The bookmark row (id 1 is read again with >=) is appended once more: append keeps every version.
    expect(await plainRows(target, `SELECT id, v FROM \`${dataset}.events_log\` ORDER BY id`)).toEqual([
      { id: 1, v: "a" },
      { id: 1, v: "a" },
      { id: 2, v: "b" },
    ]);
  });

  test("a table named with a dash and mixed case, and columns BigQuery cannot name as they are", async () => {
    const dataset = datasetName("names");
    await db.query(`
      CREATE TABLE "Public-Events" ("Event Id" integer PRIMARY KEY, "2nd-value" text, "order" text);
      INSERT INTO "Public-Events" VALUES (1, 'x', 'lower');
    `);
    const workDir = tempDir();
    const config = bigqueryConfig(target, dataset, { table_prefix: "meltano_extract_" });
    await runToBigquery({ db, workDir, target: config, streams: { "public-Public-Events": {} } });
    expect((await fieldsOf(dataset, "meltano_extract_Public-Events")).map((f) => f[0])).toEqual([
      "Event_Id",
      "_2nd_value",
      "order",
    ]);
    expect(await plainRows(target, `SELECT * FROM \`${dataset}.meltano_extract_Public-Events\``)).toEqual([
      { Event_Id: 1, _2nd_value: "x", order: "lower" },
    ]);
    // A column added later whose BigQuery name is taken: refused before anything is written, the
    // existing columns and rows as they were.
    await db.query(
      `ALTER TABLE "Public-Events" ADD COLUMN "Order" text; UPDATE "Public-Events" SET "Order" = 'upper'`,
    );
    await expect(
      runToBigquery({ db, workDir, target: config, streams: { "public-Public-Events": {} } }),
    ).rejects.toThrow(
      /source columns "order" and "Order" would both be BigQuery column "Order".*selected: false/,
    );
    expect((await fieldsOf(dataset, "meltano_extract_Public-Events")).map((f) => f[0])).toEqual([
      "Event_Id",
      "_2nd_value",
      "order",
    ]);
    expect(await plainRows(target, `SELECT * FROM \`${dataset}.meltano_extract_Public-Events\``)).toEqual([
      { Event_Id: 1, _2nd_value: "x", order: "lower" },
    ]);
  });

  test("schema evolution: a new column is added and a dropped one stays; a retyped column reads the table again", async () => {
    const dataset = datasetName("evolve");
    await db.query(`
      CREATE TABLE items (id integer PRIMARY KEY, qty integer, legacy text);
      INSERT INTO items VALUES (1, 5, 'old');
    `);
    const workDir = tempDir();
    const config = bigqueryConfig(target, dataset);
    const streams = { "public-items": { "replication-method": "INCREMENTAL", "replication-key": "id" } };
    await runToBigquery({ db, workDir, target: config, streams });
    await db.query(`
      ALTER TABLE items ADD COLUMN note varchar(20), DROP COLUMN legacy;
      INSERT INTO items VALUES (2, 2, 'hello');
    `);
    await runToBigquery({ db, workDir, target: config, streams });
    expect(await fieldsOf(dataset, "items")).toEqual([
      ["id", "INT64", "NULLABLE"],
      ["qty", "INT64", "NULLABLE"],
      ["legacy", "STRING", "NULLABLE"],
      ["note", "STRING", "NULLABLE"],
    ]);
    expect(
      await plainRows(target, `SELECT id, qty, legacy, note FROM \`${dataset}.items\` ORDER BY id`),
    ).toEqual([
      { id: 1, qty: 5, legacy: "old", note: null },
      { id: 2, qty: 2, legacy: null, note: "hello" },
    ]);
    // PostgreSQL converted qty's stored values by its own rules: the table is read again whole
    // and replaces the warehouse's (issue 16: no conversion of ours), so it is the source's now.
    await db.query(`
      ALTER TABLE items ALTER COLUMN qty TYPE numeric(12,3);
      INSERT INTO items VALUES (3, 2.125, 'more');
    `);
    const warnings: string[] = [];
    await runToBigquery({
      db,
      workDir,
      target: config,
      streams,
      observer: (event) => {
        if (event.type === "warning") warnings.push(event.message);
      },
    });
    expect(warnings.join("\n")).toContain('public-items: column "qty" changed type');
    expect(await fieldsOf(dataset, "items")).toEqual([
      ["id", "INT64", "NULLABLE"],
      ["qty", "NUMERIC", "NULLABLE"],
      ["note", "STRING", "NULLABLE"],
    ]);
    expect(await plainRows(target, `SELECT id, qty, note FROM \`${dataset}.items\` ORDER BY id`)).toEqual([
      { id: 1, qty: "5", note: null },
      { id: 2, qty: "2", note: "hello" },
      { id: 3, qty: "2.125", note: "more" },
    ]);
  });

  test("schema evolution is all or nothing: a column it cannot convert stops the widening and the new column too", async () => {
    const dataset = datasetName("evolve_refused");
    await db.query(`
      CREATE TABLE gadgets (id integer PRIMARY KEY, qty integer, code text);
      INSERT INTO gadgets VALUES (1, 5, 'A-17');
    `);
    const workDir = tempDir();
    const config = bigqueryConfig(target, dataset);
    const streams = { "public-gadgets": { "replication-method": "INCREMENTAL", "replication-key": "id" } };
    expect((await runToBigquery({ db, workDir, target: config, streams })).status).toBe("success");
    const before = await fieldsOf(dataset, "gadgets");
    // A bookmark from before bookmarks recorded their table's identity: the retyped columns reach
    // the loader as an evolution of the table (as from a Singer tap), which is all or nothing.
    await forgetTableIdentity(workDir);
    await db.query(`
      ALTER TABLE gadgets ALTER COLUMN qty TYPE numeric(12,3), ADD COLUMN note text;
      ALTER TABLE gadgets ALTER COLUMN code TYPE bigint USING 17;
      INSERT INTO gadgets VALUES (2, 2.125, 18, 'hello');
    `);
    const failure = await runToBigquery({ db, workDir, target: config, streams }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(SchemaError);
    const message = (failure as Error).message;
    expect(message).toContain(
      "stream public-gadgets needs column types the table cannot be converted to (1 column)",
    );
    expect(message).toContain("- code: STRING cannot be converted to INT64");
    expect(message).not.toContain("- qty");
    expect(await fieldsOf(dataset, "gadgets")).toEqual(before);
    expect(before).toEqual([
      ["id", "INT64", "NULLABLE"],
      ["qty", "INT64", "NULLABLE"],
      ["code", "STRING", "NULLABLE"],
    ]);
  });

  test("a batch larger than max_cache goes in several load jobs and lands whole", async () => {
    const dataset = datasetName("chunks");
    await db.query(`
      CREATE TABLE wide (id integer PRIMARY KEY, payload text, v integer NOT NULL);
      INSERT INTO wide SELECT i, repeat(md5(i::text), 40), 1 FROM generate_series(1, 1500) i;
    `);
    const workDir = tempDir();
    const config = bigqueryConfig(target, dataset, { max_cache: 1, replication_method: "append" });
    const before = target.emulator?.requests.length ?? 0;
    const streams = { "public-wide": { "replication-method": "INCREMENTAL", "replication-key": "v" } };
    await runToBigquery({ db, workDir, target: config, streams });
    expect(
      await plainRows(target, `SELECT count(*) AS n, count(DISTINCT id) AS k FROM \`${dataset}.wide\``),
    ).toEqual([{ n: 1500, k: 1500 }]);
    if (target.emulator) {
      const uploads = target.emulator.requests.slice(before).filter((r) => r.startsWith("POST /upload/"));
      expect(uploads.length).toBeGreaterThanOrEqual(2);
    }
    // Upsert: every row comes again (v >= 1); the chunks of the batch meet in one staging table
    // and one MERGE applies them.
    await db.query(`UPDATE wide SET payload = 'changed', v = 2 WHERE id % 2 = 0`);
    const merges = target.emulator?.requests.length ?? 0;
    await runToBigquery({ db, workDir, target: { ...config, replication_method: "incremental" }, streams });
    if (target.emulator) {
      const uploads = target.emulator.requests.slice(merges).filter((r) => r.startsWith("POST /upload/"));
      expect(uploads.length).toBeGreaterThanOrEqual(2);
    }
    expect(
      await plainRows(
        target,
        `SELECT count(*) AS n, count(DISTINCT id) AS k, countif(payload = 'changed') AS changed FROM \`${dataset}.wide\``,
      ),
    ).toEqual([{ n: 1500, k: 1500, changed: 750 }]);
  });

  test("LOG_BASED: inserts, updates and deletes from the WAL are merged; a delete stays as a soft delete", async () => {
    const dataset = datasetName("cdc");
    await db.query(`
      CREATE TABLE tickets (id integer PRIMARY KEY, state text, note text);
      INSERT INTO tickets VALUES (1, 'open', 'a'), (2, 'open', 'b'), (3, 'open', 'c');
    `);
    const workDir = tempDir();
    const config = bigqueryConfig(target, dataset, { add_metadata_columns: true });
    const streams = { "public-tickets": { "replication-method": "LOG_BASED" } };
    await runToBigquery({ db, workDir, target: config, streams });
    await db.query(`
      UPDATE tickets SET state = 'closed' WHERE id = 1;
      DELETE FROM tickets WHERE id = 2;
      INSERT INTO tickets VALUES (4, 'open', 'd');
      UPDATE tickets SET note = 'd2' WHERE id = 4;
    `);
    await runToBigquery({ db, workDir, target: config, streams });
    const rows = await plainRows(
      target,
      `SELECT id, state, note, _sdc_deleted_at IS NOT NULL AS deleted FROM \`${dataset}.tickets\` ORDER BY id`,
    );
    expect(rows).toEqual([
      { id: 1, state: "closed", note: "a", deleted: false },
      { id: 2, state: "open", note: "b", deleted: true },
      { id: 3, state: "open", note: "c", deleted: false },
      { id: 4, state: "open", note: "d2", deleted: false },
    ]);
    expect((await committedState(workDir))?.bookmarks["public-tickets"]?.lsn).toBeDefined();
  });

  test("table_config: the table is created partitioned and clustered (by source column names)", async () => {
    const dataset = datasetName("partition");
    await db.query(`
      CREATE TABLE visits ("Visit Id" integer PRIMARY KEY, site text, visited_at timestamptz);
      INSERT INTO visits VALUES (1, 'a', '2024-03-01 10:00:00+00'), (2, 'b', '2024-04-01 10:00:00+00');
    `);
    const config = bigqueryConfig(target, dataset, {
      table_config: {
        "public-visits": {
          partition_field: "visited_at",
          partition_type: "MONTH",
          cluster_fields: ["site", "Visit Id"],
        },
      },
    });
    for (const mode of ["FULL_TABLE", "INCREMENTAL"]) {
      const streams = { "public-visits": { "replication-method": mode, "replication-key": "Visit Id" } };
      await runToBigquery({ db, workDir: tempDir(), target: config, streams });
      const [metadata] = await target.client.dataset(dataset).table("visits").getMetadata();
      expect(metadata.timePartitioning).toMatchObject({ type: "MONTH", field: "visited_at" });
      expect(metadata.clustering).toEqual({ fields: ["site", "Visit_Id"] });
    }
    expect(await plainRows(target, `SELECT Visit_Id FROM \`${dataset}.visits\` ORDER BY 1`)).toEqual([
      { Visit_Id: 1 },
      { Visit_Id: 2 },
    ]);
  });
});

/** Removes `table_identity` from every bookmark the runs in `workDir` committed. */
async function forgetTableIdentity(workDir: string): Promise<void> {
  const system = await SqliteSystemDatabase.open({ path: path.join(workDir, ".sluice", "sluice.db") });
  try {
    const state = await system.stateStore.get(STATE_ID);
    if (!state) throw new Error("no state to change");
    for (const bookmark of Object.values(state.bookmarks)) delete bookmark.table_identity;
    await system.stateStore.set(STATE_ID, state);
  } finally {
    await system.close();
  }
}
