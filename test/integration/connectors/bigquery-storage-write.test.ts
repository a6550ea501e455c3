import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { BigqueryLoader } from "../../../src/connectors/target-bigquery/bigquery-loader.js";
import { ConfigError } from "../../../src/errors.js";
import { CDC_SCHEMA, cdcBatch } from "../../support/cdc-loader-cases.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { tempDir } from "../../support/pipeline.js";
import {
  typeFidelityCases,
  typeFidelityInserts,
  typeFidelityRowCount,
  typeFidelitySchemaSql,
} from "../../support/type-fidelity-cases.js";
import {
  bigqueryConfig,
  committedState,
  datasetName,
  plainRows,
  runToBigquery,
  startBigqueryTarget,
  type BigqueryTarget,
} from "./bigquery-harness.js";

// Change data capture into BigQuery through the Storage Write API (cdc_method: storage_write, the
// default): what goes through the default stream (streams whose changes carry whole rows: REPLICA
// IDENTITY FULL), what is merged instead (the others), what is refused, and what a lost answer
// does. Most tests need the emulator (its counters and injected failures); the first block runs
// against real BigQuery too (SLUICE_BIGQUERY_PROJECT, README "Tests against BigQuery"), as does
// the CDC kit in bigquery-cdc.test.ts.
const emulatorOnly = process.env.SLUICE_BIGQUERY_PROJECT ? describe.skip : describe;

let db: TestDatabase;
let target: BigqueryTarget;

beforeAll(async () => {
  db = await createTestDatabase("bq_storage_write");
  target = await startBigqueryTarget();
});

afterAll(async () => {
  await target?.close();
  await db?.query(
    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database() AND NOT active",
  );
  await db?.drop();
});

const emulator = () => target.emulator!;
async function mergesInto(dataset: string): Promise<number> {
  const [jobs] = await target.client.getJobs();
  return jobs.filter((j) => {
    const query = (j.metadata.configuration?.query as { query?: string } | undefined)?.query;
    return query?.startsWith("MERGE") && query.includes(dataset);
  }).length;
}

async function changesTables(dataset: string): Promise<string[]> {
  const [tables] = await target.client.dataset(dataset).getTables();
  return tables.map((t) => t.id ?? "").filter((id) => id.includes("__sluice_changes_"));
}

/** CDC_SCHEMA as the tap describes a REPLICA IDENTITY FULL table: its changes carry whole rows. */
const wholeRows = () => ({ ...structuredClone(CDC_SCHEMA), wholeRowChanges: true });

const uploads = (): number => emulator().requests.filter((r) => r.startsWith("POST /upload/")).length;

describe("target-bigquery, cdc_method: storage_write, against the emulator or real BigQuery", () => {
  for (const hardDelete of [false, true]) {
    test(`a LOG_BASED run of inserts, updates (a TOASTed value left unchanged) and ${hardDelete ? "hard" : "soft"} deletes lands through the default stream; the table equals the source`, async () => {
      const table = hardDelete ? "sw_real_hard" : "sw_real_soft";
      const dataset = datasetName(hardDelete ? "sw_real_hard" : "sw_real_soft");
      await db.query(`
        CREATE TABLE ${table} (id integer PRIMARY KEY, title text, body text, amount numeric(12,2), at timestamptz);
        ALTER TABLE ${table} ALTER COLUMN body SET STORAGE EXTERNAL;
        ALTER TABLE ${table} REPLICA IDENTITY FULL;
        INSERT INTO ${table} SELECT i, 't' || i, repeat(chr(96 + i), 5000), i * 1.25, '2024-01-01 00:00:00+00'::timestamptz + i * interval '1 hour'
          FROM generate_series(1, 6) i;
      `);
      const workDir = tempDir();
      // Real BigQuery: max_staleness 0, so that the comparison reads every change applied.
      const config = bigqueryConfig(target, dataset, {
        hard_delete: hardDelete,
        ...(target.emulator ? {} : { max_staleness: "0" }),
      });
      const streams = { [`public-${table}`]: { "replication-method": "LOG_BASED" } };
      await runToBigquery({ db, workDir, target: config, streams });
      await db.query(`
        UPDATE ${table} SET title = 'changed', amount = amount + 1 WHERE id IN (1, 2);
        DELETE FROM ${table} WHERE id IN (3, 4);
        INSERT INTO ${table} VALUES (7, 'new', repeat('z', 5000), 7.5, NULL);
        UPDATE ${table} SET title = 'changed again' WHERE id = 1;
        DELETE FROM ${table} WHERE id = 7;
        INSERT INTO ${table} VALUES (3, 'back', 'short', 3, NULL);
      `);
      await runToBigquery({ db, workDir, target: config, streams });
      await target.emulator?.storageWrite.applyPendingChanges();
      const [metadata] = await target.client.dataset(dataset).table(table).getMetadata();
      expect(metadata.tableConstraints).toEqual({ primaryKey: { columns: ["id"] } });
      const source = await db.query<{ id: number; title: string; body: string; amount: string }>(
        `SELECT id, title, md5(body) AS body, trim_scale(amount)::text AS amount FROM ${table} ORDER BY id`,
      );
      const live = hardDelete ? "" : "WHERE _sdc_deleted_at IS NULL";
      expect(
        await plainRows(
          target,
          `SELECT id, title, TO_HEX(MD5(body)) AS body, CAST(amount AS STRING) AS amount FROM \`${dataset}.${table}\` ${live} ORDER BY id`,
        ),
      ).toEqual(source);
      if (!hardDelete) {
        expect(
          await plainRows(
            target,
            `SELECT id, title FROM \`${dataset}.${table}\` WHERE _sdc_deleted_at IS NOT NULL ORDER BY id`,
          ),
        ).toEqual([
          { id: 4, title: "t4" },
          { id: 7, title: "new" },
        ]);
      }
    });
  }
});

emulatorOnly("target-bigquery, cdc_method: storage_write", () => {
  test("LOG_BASED inserts, updates and hard deletes go through the default stream, one change per key, no load job nor MERGE", async () => {
    const dataset = datasetName("sw");
    await db.query(`
      CREATE TABLE orders (id integer PRIMARY KEY, state text, total numeric(10,2), placed_at timestamptz, day date);
      ALTER TABLE orders REPLICA IDENTITY FULL;
      INSERT INTO orders VALUES (1, 'new', 1.50, '2024-01-01 10:00:00.123456+00', '2024-01-01'), (2, 'new', 2, NULL, NULL);
    `);
    const workDir = tempDir();
    const config = bigqueryConfig(target, dataset, { hard_delete: true });
    const streams = { "public-orders": { "replication-method": "LOG_BASED" } };
    await runToBigquery({ db, workDir, target: config, streams });
    const appended = emulator().storageWrite.stats.rowsAppended;
    const uploadsBefore = uploads();
    await db.query(`
      UPDATE orders SET state = 'paid', placed_at = '2024-02-29 23:59:59.5-02' WHERE id = 1;
      DELETE FROM orders WHERE id = 2;
      INSERT INTO orders VALUES (3, 'new', 3.25, NULL, '1999-12-31');
      UPDATE orders SET total = 4 WHERE id = 3;
    `);
    await runToBigquery({ db, workDir, target: config, streams });
    expect(emulator().storageWrite.stats.rowsAppended - appended).toBe(3);
    expect(uploads()).toBe(uploadsBefore);
    await emulator().storageWrite.applyPendingChanges();
    expect(
      await plainRows(
        target,
        `SELECT id, state, CAST(total AS STRING) AS total, CAST(placed_at AS STRING) AS placed_at, CAST(day AS STRING) AS day FROM \`${dataset}.orders\` ORDER BY id`,
      ),
    ).toEqual([
      { id: 1, state: "paid", total: "1.5", placed_at: "2024-03-01 01:59:59.5+00", day: "2024-01-01" },
      { id: 3, state: "new", total: "4", placed_at: null, day: "1999-12-31" },
    ]);
    const [metadata] = await target.client.dataset(dataset).table("orders").getMetadata();
    expect(metadata.tableConstraints).toEqual({ primaryKey: { columns: ["id"] } });
    expect(metadata.maxStaleness).toBe("0-0 0 0:15:0");
    expect(metadata.clustering).toEqual({ fields: ["id"] });
    expect((await committedState(workDir))?.bookmarks["public-orders"]?.lsn).toBeDefined();
  });

  test("every type of the type-fidelity table lands through the default stream as load jobs land it", async () => {
    const types = await createTestDatabase("bq_sw_types");
    try {
      // json[] and jsonb[] too: ARRAY<JSON>, each element its own JSON value on the wire.
      const cases = typeFidelityCases({
        moreColumns: {
          c_bytea_array: [
            { column: "c_json_array", pgType: "json[]", values: [`ARRAY['{"x": 1}', '"text"']::json[]`] },
            { column: "c_jsonb_array", pgType: "jsonb[]", values: [`ARRAY['{"x": "two"}', '[]']::jsonb[]`] },
          ],
        },
      });
      await types.query(typeFidelitySchemaSql(cases));
      for (const insert of typeFidelityInserts(cases)) await types.query(insert);
      const dataset = datasetName("sw_types");
      const workDir = tempDir();
      const config = bigqueryConfig(target, dataset, { invalid_values: "clamp", hard_delete: true });
      const streams = { "public-all_types": { "replication-method": "LOG_BASED" } };
      await runToBigquery({ db: types, workDir, target: config, streams });
      const read = () => plainRows(target, `SELECT * FROM \`${dataset}.all_types\` ORDER BY id`);
      const loaded = await read();
      const appended = emulator().storageWrite.stats.rowsAppended;
      // Every row changes (and comes back whole), every value stays.
      await types.query("ALTER TABLE all_types REPLICA IDENTITY FULL; UPDATE all_types SET id = id");
      await runToBigquery({ db: types, workDir, target: config, streams });
      expect(emulator().storageWrite.stats.rowsAppended - appended).toBe(typeFidelityRowCount(cases));
      await emulator().storageWrite.applyPendingChanges();
      expect(await read()).toEqual(loaded);
      expect(
        await plainRows(
          target,
          `SELECT JSON_VALUE(c_json_array[OFFSET(0)], '$.x') AS x, JSON_VALUE(c_jsonb_array[OFFSET(0)], '$.x') AS y FROM \`${dataset}.all_types\` WHERE id = 0`,
        ),
      ).toEqual([{ x: "1", y: "two" }]);
    } finally {
      await types.query(
        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database() AND NOT active",
      );
      await types.drop();
    }
  });

  test("REPLICA IDENTITY FULL: a soft delete lands as an UPSERT of the whole row with _sdc_deleted_at, an unchanged TOASTed value from the old row; no MERGE", async () => {
    const dataset = datasetName("sw_full");
    await db.query(`
      CREATE TABLE notes (id integer PRIMARY KEY, title text, body text);
      ALTER TABLE notes ALTER COLUMN body SET STORAGE EXTERNAL;
      ALTER TABLE notes REPLICA IDENTITY FULL;
      INSERT INTO notes VALUES (1, 'a', repeat('x', 10000)), (2, 'b', repeat('y', 10000));
    `);
    const workDir = tempDir();
    const config = bigqueryConfig(target, dataset);
    const streams = { "public-notes": { "replication-method": "LOG_BASED" } };
    await runToBigquery({ db, workDir, target: config, streams });
    const appended = emulator().storageWrite.stats.rowsAppended;
    // The update leaves the TOASTed body out of the new row; the delete of 2 carries the old row.
    await db.query(`UPDATE notes SET title = 'A' WHERE id = 1; DELETE FROM notes WHERE id = 2;`);
    await runToBigquery({ db, workDir, target: config, streams });
    expect(emulator().storageWrite.stats.rowsAppended - appended).toBe(2);
    expect(await mergesInto(dataset)).toBe(0);
    await emulator().storageWrite.applyPendingChanges();
    expect(
      await plainRows(
        target,
        `SELECT id, title, LENGTH(body) AS body, _sdc_deleted_at IS NOT NULL AS deleted FROM \`${dataset}.notes\` ORDER BY id`,
      ),
    ).toEqual([
      { id: 1, title: "A", body: 10000, deleted: false },
      { id: 2, title: "b", body: 10000, deleted: true },
    ]);
  });

  test("a stream whose changes do not carry whole rows (no REPLICA IDENTITY FULL) is merged, never sent to the default stream", async () => {
    const dir = tempDir();
    const dataset = datasetName("sw_soft");
    const loader = new BigqueryLoader(bigqueryConfig(target, dataset), { projectDir: dir }, { env: {} });
    const writer = await loader.openStream(structuredClone(CDC_SCHEMA), {
      mode: "incremental",
      version: 1,
      distinctKeys: false,
    });
    const appended = emulator().storageWrite.stats.rowsAppended;
    await writer.write(cdcBatch(dir, [`1,one,"{""v"":1}",2024-01-01 00:00:00,,1,`, `2,two,,,,2,`]));
    // The delete of 1 needs its stored values (name, doc, ...): only a MERGE reads them.
    await writer.write(cdcBatch(dir, [`1,,,,2024-06-01 00:00:00+00,3,"1,2,3"`, `2,deux,,,,4,`]));
    await writer.finish();
    await loader.close();
    expect(emulator().storageWrite.stats.rowsAppended).toBe(appended);
    expect(await mergesInto(dataset)).toBe(1);
    const [metadata] = await target.client.dataset(dataset).table("items").getMetadata();
    expect(metadata.tableConstraints).toBeUndefined();
    expect(
      await plainRows(
        target,
        `SELECT id, name, _sdc_deleted_at IS NOT NULL AS deleted FROM \`${dataset}.items\` ORDER BY id`,
      ),
    ).toEqual([
      { id: 1, name: "one", deleted: true },
      { id: 2, name: "deux", deleted: false },
    ]);
  });

  test("a change that comes without a value on a default-stream table is refused before anything is sent, saying what to do", async () => {
    const dir = tempDir();
    const dataset = datasetName("sw_partial");
    const loader = new BigqueryLoader(bigqueryConfig(target, dataset), { projectDir: dir }, { env: {} });
    const writer = await loader.openStream(wholeRows(), {
      mode: "incremental",
      version: 1,
      distinctKeys: false,
    });
    await writer.write(cdcBatch(dir, [`1,one,,,,1,`]));
    const appended = emulator().storageWrite.stats.rowsAppended;
    // The source's replica identity went back to the key: a delete carries only the key.
    const error = await writer
      .write(cdcBatch(dir, [`1,,,,2024-06-01 00:00:00+00,2,"1,2,3"`]))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(
      /batch row 1 is a delete that does not carry "name", "doc", "changed_at".*refuses MERGE.*REPLICA IDENTITY FULL.*hard_delete: true.*cdc_method: merge/,
    );
    expect(emulator().storageWrite.stats.rowsAppended).toBe(appended);
    // A source TRUNCATE cannot be applied there either: UPDATE and DELETE are refused.
    await expect(writer.truncate!(new Date())).rejects.toThrow(
      /source table was truncated.*--full-refresh --select public-items/,
    );
    await writer.abort();
    await loader.close();
    await emulator().storageWrite.applyPendingChanges();
    expect(await plainRows(target, `SELECT id, name FROM \`${dataset}.items\` ORDER BY id`)).toEqual([
      { id: 1, name: "one" },
    ]);
  });

  test("an answer lost after BigQuery applied the changes: the client sends them again, and the table is still exact", async () => {
    const dir = tempDir();
    const dataset = datasetName("sw_lost");
    const loader = new BigqueryLoader(
      bigqueryConfig(target, dataset, { hard_delete: true }),
      { projectDir: dir },
      { env: {} },
    );
    const writer = await loader.openStream(wholeRows(), {
      mode: "incremental",
      version: 1,
      distinctKeys: false,
    });
    await writer.write(cdcBatch(dir, [`1,one,,,,1,`, `2,two,,,,2,`]));
    const requests = emulator().storageWrite.stats.appendRequests;
    emulator().storageWrite.failNextAppend({ code: 14, afterApply: true });
    await writer.write(cdcBatch(dir, [`1,uno,,,,3,`, `2,,,,2024-06-01 00:00:00+00,4,"1,2,3"`]));
    expect(emulator().storageWrite.stats.appendRequests - requests).toBe(2);
    await writer.finish();
    await loader.close();
    await emulator().storageWrite.applyPendingChanges();
    expect(await plainRows(target, `SELECT id, name FROM \`${dataset}.items\` ORDER BY id`)).toEqual([
      { id: 1, name: "uno" },
    ]);
  });

  test("an append BigQuery refuses fails the batch (nothing acknowledged), naming the table and the batch row", async () => {
    const dir = tempDir();
    const dataset = datasetName("sw_refused");
    const loader = new BigqueryLoader(bigqueryConfig(target, dataset), { projectDir: dir }, { env: {} });
    const writer = await loader.openStream(wholeRows(), {
      mode: "incremental",
      version: 1,
      distinctKeys: false,
    });
    emulator().storageWrite.failNextAppend({ code: 3 });
    await expect(writer.write(cdcBatch(dir, [`1,one,,,,1,`]))).rejects.toThrow(
      /Storage Write API refused changes to .*sw_refused.*items.*Injected failure/,
    );
    await writer.abort();
    await loader.close();
  });

  test("cdc_method: merge clusters the table on the key, sets no primary key nor max_staleness, and caps every query with maximum_bytes_billed", async () => {
    const dir = tempDir();
    const dataset = datasetName("sw_merge");
    const loader = new BigqueryLoader(
      bigqueryConfig(target, dataset, { cdc_method: "merge", maximum_bytes_billed: 1_000_000_000 }),
      { projectDir: dir },
      { env: {} },
    );
    const writer = await loader.openStream(structuredClone(CDC_SCHEMA), {
      mode: "incremental",
      version: 1,
      distinctKeys: false,
    });
    const appended = emulator().storageWrite.stats.rowsAppended;
    await writer.write(cdcBatch(dir, [`1,one,,,,1,`, `2,two,,,,2,`]));
    await writer.finish();
    await loader.close();
    expect(emulator().storageWrite.stats.rowsAppended).toBe(appended);
    const [metadata] = await target.client.dataset(dataset).table("items").getMetadata();
    expect(metadata.clustering).toEqual({ fields: ["id"] });
    expect(metadata.tableConstraints).toBeUndefined();
    expect(metadata.maxStaleness).toBeUndefined();
    const [jobs] = await target.client.getJobs();
    const merges = jobs
      .map(
        (j) => j.metadata.configuration?.query as { query?: string; maximumBytesBilled?: string } | undefined,
      )
      .filter((q) => q?.query?.startsWith("MERGE") && q.query.includes(dataset));
    expect(merges.map((q) => q!.maximumBytesBilled)).toEqual(["1000000000"]);
  });

  test("merge_interval: change batches accumulate in a changes table and are merged once, when the stream ends", async () => {
    const dir = tempDir();
    const dataset = datasetName("sw_interval");
    const loader = new BigqueryLoader(
      bigqueryConfig(target, dataset, { cdc_method: "merge", merge_interval: "1h" }),
      { projectDir: dir },
      { env: {} },
    );
    const writer = await loader.openStream(structuredClone(CDC_SCHEMA), {
      mode: "incremental",
      version: 1,
      distinctKeys: false,
    });
    await writer.write(cdcBatch(dir, [`1,one,"{""v"":1}",,,1,`, `2,two,,,,2,`]));
    await writer.write(cdcBatch(dir, [`1,uno,,,,3,"2"`]));
    await writer.write(cdcBatch(dir, [`2,,,,2024-06-01 00:00:00+00,4,"1,2,3"`]));
    expect(await mergesInto(dataset)).toBe(0);
    expect(await changesTables(dataset)).toHaveLength(1);
    await writer.finish();
    await loader.close();
    expect(await mergesInto(dataset)).toBe(1);
    expect(await changesTables(dataset)).toEqual([]);
    expect(
      await plainRows(
        target,
        `SELECT id, name, TO_JSON_STRING(doc) AS doc, _sdc_deleted_at IS NOT NULL AS deleted FROM \`${dataset}.items\` ORDER BY id`,
      ),
    ).toEqual([
      { id: 1, name: "uno", doc: '{"v":1}', deleted: false },
      { id: 2, name: "two", doc: null, deleted: true },
    ]);
  });

  test("changes a run loaded but did not merge (it died) are merged by the next run before anything else", async () => {
    const dir = tempDir();
    const dataset = datasetName("sw_leftover");
    const open = async () => {
      const loader = new BigqueryLoader(
        bigqueryConfig(target, dataset, { cdc_method: "merge", merge_interval: "1h" }),
        { projectDir: dir },
        { env: {} },
      );
      const writer = await loader.openStream(structuredClone(CDC_SCHEMA), {
        mode: "incremental",
        version: 1,
        distinctKeys: false,
      });
      return { loader, writer };
    };
    const first = await open();
    await first.writer.write(cdcBatch(dir, [`1,one,,,,1,`, `2,two,,,,2,`]));
    // The state moved past this batch; the run dies before its merge.
    await first.writer.abort();
    await first.loader.close();
    expect(await changesTables(dataset)).toHaveLength(1);
    const second = await open();
    expect(await changesTables(dataset)).toEqual([]);
    await second.writer.write(cdcBatch(dir, [`2,deux,,,,3,`]));
    await second.writer.finish();
    await second.loader.close();
    expect(await plainRows(target, `SELECT id, name FROM \`${dataset}.items\` ORDER BY id`)).toEqual([
      { id: 1, name: "one" },
      { id: 2, name: "deux" },
    ]);
  });

  test("a table that receives changes on its default stream, whose source changes no longer come whole: refused before any load, saying what to do", async () => {
    const dir = tempDir();
    const dataset = datasetName("sw_identity");
    const open = async (schema: typeof CDC_SCHEMA) => {
      const loader = new BigqueryLoader(bigqueryConfig(target, dataset), { projectDir: dir }, { env: {} });
      return {
        loader,
        writer: await loader.openStream(schema, { mode: "incremental", version: 1, distinctKeys: false }),
      };
    };
    const first = await open(wholeRows());
    await first.writer.write(cdcBatch(dir, [`1,one,,,,1,`]));
    await first.writer.finish();
    await first.loader.close();
    // The source table's replica identity went back to the key (the tap no longer says wholeRowChanges).
    const second = await open(structuredClone(CDC_SCHEMA));
    const loads = uploads();
    await expect(second.writer.write(cdcBatch(dir, [`1,uno,,,,2,`]))).rejects.toThrow(
      /receives change data capture through the Storage Write API.*refuses MERGE.*REPLICA IDENTITY FULL.*--full-refresh --select public-items/,
    );
    expect(uploads()).toBe(loads);
    await second.writer.abort();
    await second.loader.close();
  });

  test("storage_write: changes merged while the stream's changes did not come whole land before the first sent to the default stream", async () => {
    const dir = tempDir();
    const dataset = datasetName("sw_order");
    const open = async (schema: typeof CDC_SCHEMA) => {
      const loader = new BigqueryLoader(
        bigqueryConfig(target, dataset, { merge_interval: "1h" }),
        { projectDir: dir },
        { env: {} },
      );
      return {
        loader,
        writer: await loader.openStream(schema, { mode: "incremental", version: 1, distinctKeys: false }),
      };
    };
    const first = await open(structuredClone(CDC_SCHEMA));
    await first.writer.write(cdcBatch(dir, [`1,one,,,,1,`]));
    await first.writer.write(cdcBatch(dir, [`1,,,,2024-06-01 00:00:00+00,2,"1,2,3"`]));
    // The run dies before its merge; then the source table is made REPLICA IDENTITY FULL.
    await first.writer.abort();
    await first.loader.close();
    expect(await changesTables(dataset)).toHaveLength(1);
    const second = await open(wholeRows());
    await second.writer.write(cdcBatch(dir, [`1,again,,,,3,`]));
    await second.writer.finish();
    await second.loader.close();
    await emulator().storageWrite.applyPendingChanges();
    expect(
      await plainRows(
        target,
        `SELECT id, name, _sdc_deleted_at IS NOT NULL AS deleted FROM \`${dataset}.items\` ORDER BY id`,
      ),
    ).toEqual([{ id: 1, name: "again", deleted: false }]);
  });

  test("an api_endpoint that does not say where its Storage Write API is: a configuration error naming the settings", async () => {
    const server = http.createServer((_req, res) => res.writeHead(404).end());
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const { openWriterClient } =
      await import("../../../src/connectors/target-bigquery/bigquery-storage-write.js");
    try {
      const error = await openWriterClient({ projectId: "p", apiEndpoint: url }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(/storage_write_endpoint.*cdc_method: merge/);
    } finally {
      server.close();
    }
  });
});
