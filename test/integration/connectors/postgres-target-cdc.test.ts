import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { RecordBatch } from "../../../src/connectors/batch.js";
import type { StreamSchema } from "../../../src/connectors/column-type.js";
import type { PluginConfig, StreamWriter } from "../../../src/connectors/connector.js";
import { PostgresTargetLoader } from "../../../src/connectors/postgres-target/postgres-target-loader.js";
import { ConnectionError, DataError } from "../../../src/errors.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { tempDir } from "../../support/pipeline.js";
import { postgresTargetConfig, utcQuery } from "./postgres-target-support.js";

// Change batches as tap-postgres's LOG_BASED reader writes them (batch.ts): every column of the
// stream, then `_sdc_deleted_at`, `_sdc_sequence` and `_sdc_unchanged`. Files are written by hand
// so each case says exactly which rows arrive, in which file order: the cases of
// duckdb-cdc.test.ts, against target-postgres. Each case writes into a schema of its own.

const schema: StreamSchema = {
  streamId: "public-items",
  sourceSchema: "public",
  sourceTable: "items",
  columns: [
    { name: "id", type: { kind: "integer", bits: 64, sqlType: "bigint" }, nullable: false },
    { name: "name", type: { kind: "string", sqlType: "text" }, nullable: true },
    { name: "doc", type: { kind: "json", sqlType: "jsonb" }, nullable: true },
    {
      name: "changed_at",
      type: { kind: "timestamp", sqlType: "timestamp without time zone" },
      nullable: true,
    },
  ],
  keyProperties: ["id"],
};
const CDC_COLUMNS = ["id", "name", "doc", "changed_at", "_sdc_deleted_at", "_sdc_sequence", "_sdc_unchanged"];
/** `_sdc_unchanged` of a delete: every field but the key (index 0). */
const DELETE_UNCHANGED = '"1,2,3"';

let warehouse: TestDatabase;
let dir: string;

beforeAll(async () => {
  warehouse = await createTestDatabase("pgt_cdc");
  dir = tempDir("sluice-pg-target-cdc-");
});

afterAll(async () => {
  await warehouse?.drop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

interface Harness {
  schemaName: string;
  write(
    rows: string[],
    options?: { columns?: string[]; sequenceBase?: number; quote?: string },
  ): Promise<void>;
  truncate(at: Date): Promise<void>;
  rows(sql?: string): Promise<Record<string, string | null>[]>;
  close(): Promise<void>;
}

let counter = 0;

/** A writer into a fresh schema (or `schemaName`, to reopen one). */
async function open(
  config: PluginConfig = {},
  options: { schemaName?: string; schema?: StreamSchema; mode?: "replace" | "incremental" } = {},
): Promise<Harness> {
  const schemaName = options.schemaName ?? `cdc_${++counter}`;
  let loader: PostgresTargetLoader | undefined;
  let writer: StreamWriter | undefined;
  const ensureWriter = async (): Promise<StreamWriter> => {
    if (!writer) {
      loader = new PostgresTargetLoader(
        postgresTargetConfig(warehouse, { default_target_schema: schemaName, ...config }),
      );
      writer = await loader.openStream(structuredClone(options.schema ?? schema), {
        mode: options.mode ?? "incremental",
        version: 7,
        distinctKeys: false,
      });
    }
    return writer;
  };
  const closeWriter = async (): Promise<void> => {
    if (writer) await writer.finish();
    if (loader) await loader.close();
    writer = undefined;
    loader = undefined;
  };
  return {
    schemaName,
    async write(rows, options = {}) {
      const p = path.join(dir, `batch-${++counter}.csv`);
      fs.writeFileSync(p, rows.join("\n") + "\n");
      const batch: RecordBatch = {
        streamId: schema.streamId,
        path: p,
        columns: options.columns ?? CDC_COLUMNS,
        rowCount: rows.length,
        byteCount: fs.statSync(p).size,
        maxRowBytes: Math.max(...rows.slice(0, 1000).map((r) => Buffer.byteLength(r))),
        extractedAt: new Date("2024-06-01T00:00:00Z"),
        sequenceBase: options.sequenceBase ?? 0,
        ...(options.quote !== undefined ? { quote: options.quote } : {}),
      };
      await (await ensureWriter()).write(batch);
    },
    async truncate(at) {
      const w = await ensureWriter();
      expect(w.truncate).toBeDefined();
      await w.truncate!(at);
    },
    async rows(sql = "SELECT id::text, name, doc::text, _sdc_deleted_at::text FROM items ORDER BY id") {
      await closeWriter();
      return utcQuery(warehouse, sql, { searchPath: schemaName });
    },
    close: closeWriter,
  };
}

const seed = [
  `1,one,"{""v"":1}",2024-01-01 00:00:00,,1,`,
  `2,two,"{""v"":2}",2024-01-02 00:00:00,,2,`,
  `3,three,"{""v"":3}",2024-01-03 00:00:00,,3,`,
];

describe("target-postgres applies change batches exactly (upsert)", () => {
  test("the row with the highest _sdc_sequence wins, whatever the file order", async () => {
    const h = await open();
    await h.write(seed);
    await h.write([
      `1,newest,"{""v"":13}",,,13,`,
      `2,b-last,"{""v"":22}",,,22,`,
      `1,older,"{""v"":11}",,,11,`,
      `2,b-first,"{""v"":20}",,,20,`,
      `1,middle,"{""v"":12}",,,12,`,
    ]);
    expect(await h.rows()).toEqual([
      { id: "1", name: "newest", doc: '{"v": 13}', _sdc_deleted_at: null },
      { id: "2", name: "b-last", doc: '{"v": 22}', _sdc_deleted_at: null },
      { id: "3", name: "three", doc: '{"v": 3}', _sdc_deleted_at: null },
    ]);
  });

  test("a field the change did not carry (an unchanged TOAST value) keeps the stored value", async () => {
    const h = await open();
    await h.write(seed);
    // doc (index 2) left out of the WAL: written empty, which must not become NULL.
    await h.write([`1,renamed,,2024-02-01 00:00:00,,10,2`, `2,,,,,11,"1,2"`]);
    expect(await h.rows("SELECT id::text, name, doc::text, changed_at::text FROM items ORDER BY id")).toEqual(
      [
        { id: "1", name: "renamed", doc: '{"v": 1}', changed_at: "2024-02-01 00:00:00" },
        { id: "2", name: "two", doc: '{"v": 2}', changed_at: null },
        { id: "3", name: "three", doc: '{"v": 3}', changed_at: "2024-01-03 00:00:00" },
      ],
    );
  });

  test("an uncarried field takes the key's latest earlier carried value in the batch, even NULL", async () => {
    const h = await open();
    await h.write(seed);
    await h.write([
      // Key 4: inserted and updated in one batch, the update without doc.
      `4,four-updated,,,,21,2`,
      `4,four,"{""v"":4}",,,20,`,
      // Key 1: doc set to NULL (carried), then an update without doc: NULL, not the stored {"v":1}.
      `1,one-b,,,,31,2`,
      `1,one-a,,,,30,`,
      // Key 2: two updates without doc over an older carried value.
      `2,two-c,,,,42,2`,
      `2,two-a,"{""v"":40}",,,40,`,
      `2,two-b,,,,41,2`,
    ]);
    expect(await h.rows()).toEqual([
      { id: "1", name: "one-b", doc: null, _sdc_deleted_at: null },
      { id: "2", name: "two-c", doc: '{"v": 40}', _sdc_deleted_at: null },
      { id: "3", name: "three", doc: '{"v": 3}', _sdc_deleted_at: null },
      { id: "4", name: "four-updated", doc: '{"v": 4}', _sdc_deleted_at: null },
    ]);
  });

  test("_sdc_unchanged counts positions in the batch's own column order", async () => {
    const h = await open();
    await h.write(seed);
    // doc is at position 1 of this batch (position 2 of the stream).
    await h.write([`1,,renamed,,,10,1`], {
      columns: ["id", "doc", "name", "changed_at", "_sdc_deleted_at", "_sdc_sequence", "_sdc_unchanged"],
    });
    expect((await h.rows())[0]).toEqual({ id: "1", name: "renamed", doc: '{"v": 1}', _sdc_deleted_at: null });
  });

  test("a soft delete keeps the row's values and sets _sdc_deleted_at (no metadata columns needed)", async () => {
    const h = await open({ add_metadata_columns: false, hard_delete: false });
    await h.write(seed);
    await h.write([
      `2,,,,2024-05-01 10:00:00.5+00,50,${DELETE_UNCHANGED}`,
      // Updated then deleted in one batch: the values of the update are kept.
      `3,three-updated,,,,51,2`,
      `3,,,,2024-05-01 11:00:00+00,52,${DELETE_UNCHANGED}`,
    ]);
    expect(await h.rows()).toEqual([
      { id: "1", name: "one", doc: '{"v": 1}', _sdc_deleted_at: null },
      { id: "2", name: "two", doc: '{"v": 2}', _sdc_deleted_at: "2024-05-01 10:00:00.5+00" },
      { id: "3", name: "three-updated", doc: '{"v": 3}', _sdc_deleted_at: "2024-05-01 11:00:00+00" },
    ]);
    // Neither CDC bookkeeping column is stored as data.
    const columns = await h.rows(
      "SELECT column_name::text AS c FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'items' ORDER BY ordinal_position",
    );
    expect(columns.map((c) => c.c)).toEqual(["id", "name", "doc", "changed_at", "_sdc_deleted_at"]);
  });

  test("hard_delete removes a key whose latest change is a delete", async () => {
    const h = await open({ hard_delete: true });
    await h.write(seed);
    await h.write([
      `2,,,,2024-05-01 10:00:00+00,50,${DELETE_UNCHANGED}`,
      // Inserted and deleted within the batch: never appears.
      `9,nine,,,,51,`,
      `9,,,,2024-05-01 10:00:01+00,52,${DELETE_UNCHANGED}`,
    ]);
    expect((await h.rows()).map((r) => r.id)).toEqual(["1", "3"]);
  });

  test.each([false, true])(
    "a key deleted then inserted again in one batch ends present and not deleted (hard_delete %s)",
    async (hardDelete) => {
      const h = await open({ hard_delete: hardDelete });
      await h.write(seed);
      await h.write([
        `1,reborn,"{""v"":100}",,,62,`,
        `1,,,,2024-05-01 10:00:00+00,61,${DELETE_UNCHANGED}`,
        `1,updated,,,,60,2`,
      ]);
      expect((await h.rows())[0]).toEqual({
        id: "1",
        name: "reborn",
        doc: '{"v": 100}',
        _sdc_deleted_at: null,
      });
    },
  );

  test("a later batch brings a soft-deleted key back", async () => {
    const h = await open();
    await h.write(seed);
    await h.write([`1,,,,2024-05-01 10:00:00+00,10,${DELETE_UNCHANGED}`]);
    await h.write([`1,back,"{""v"":5}",,,11,`]);
    expect((await h.rows())[0]).toEqual({ id: "1", name: "back", doc: '{"v": 5}', _sdc_deleted_at: null });
  });

  test("truncate marks every live row deleted at the truncate's commit time, or removes them with hard_delete", async () => {
    const soft = await open();
    await soft.write(seed);
    await soft.write([`1,,,,2024-05-01 09:00:00+00,10,${DELETE_UNCHANGED}`]);
    await soft.truncate(new Date("2024-05-02T00:00:00Z"));
    await soft.write([`3,after,"{""v"":30}",,,20,`]);
    expect(await soft.rows()).toEqual([
      { id: "1", name: "one", doc: '{"v": 1}', _sdc_deleted_at: "2024-05-01 09:00:00+00" },
      { id: "2", name: "two", doc: '{"v": 2}', _sdc_deleted_at: "2024-05-02 00:00:00+00" },
      { id: "3", name: "after", doc: '{"v": 30}', _sdc_deleted_at: null },
    ]);

    const hard = await open({ hard_delete: true });
    await hard.write(seed);
    await hard.truncate(new Date("2024-05-02T00:00:00Z"));
    await hard.write([`3,after,"{""v"":30}",,,20,`]);
    expect((await hard.rows()).map((r) => [r.id, r.name])).toEqual([["3", "after"]]);
  });

  test("truncate on a table that never saw a delete gives it _sdc_deleted_at", async () => {
    const h = await open();
    await h.write(
      seed.map((r) => r.replace(/,[^,]*,[^,]*,$/, "")),
      { columns: ["id", "name", "doc", "changed_at"] },
    );
    await h.truncate(new Date("2024-05-02T00:00:00Z"));
    const rows = await h.rows(
      "SELECT count(*) FILTER (WHERE _sdc_deleted_at IS NOT NULL)::text AS n FROM items",
    );
    expect(rows).toEqual([{ n: "3" }]);
  });

  test("with add_metadata_columns, _sdc_sequence holds the batch's sequence; _sdc_unchanged is never stored", async () => {
    const h = await open({ add_metadata_columns: true });
    await h.write(seed);
    await h.write([`1,b,,,,101,2`, `1,a,,,,100,`, `2,,,,2024-05-01 10:00:00+00,102,${DELETE_UNCHANGED}`]);
    const rows = await h.rows(
      "SELECT id::text, name, doc::text, _sdc_deleted_at::text, _sdc_sequence::text, _sdc_table_version::text, _sdc_extracted_at::text FROM items ORDER BY id",
    );
    expect(rows).toEqual([
      {
        id: "1",
        name: "b",
        doc: null,
        _sdc_deleted_at: null,
        _sdc_sequence: "101",
        _sdc_table_version: "7",
        _sdc_extracted_at: "2024-06-01 00:00:00+00",
      },
      {
        id: "2",
        name: "two",
        doc: '{"v": 2}',
        _sdc_deleted_at: "2024-05-01 10:00:00+00",
        _sdc_sequence: "102",
        _sdc_table_version: "7",
        _sdc_extracted_at: "2024-06-01 00:00:00+00",
      },
      {
        id: "3",
        name: "three",
        doc: '{"v": 3}',
        _sdc_deleted_at: null,
        _sdc_sequence: "3",
        _sdc_table_version: "7",
        _sdc_extracted_at: "2024-06-01 00:00:00+00",
      },
    ]);
    const columns = await h.rows(
      "SELECT column_name::text AS c FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'items'",
    );
    expect(columns.map((c) => c.c)).not.toContain("_sdc_unchanged");
  });

  test("a BC timestamp and a batch of 30,000 changes of one key: the highest sequence wins", async () => {
    const h = await open({ add_metadata_columns: true });
    await h.write(seed);
    const n = 30_000;
    // Sequences descend through the file; the highest (n + 1000) comes first and leaves doc out;
    // the second highest carries doc; the lowest is the last line.
    const rows = Array.from({ length: n }, (_, i) => {
      const seq = n + 1000 - i;
      return i === 0
        ? `1,winner,,0044-03-15 12:00:00 BC,,${seq},2`
        : `1,name-${seq},"{""seq"":${seq}}",,,${seq},`;
    });
    await h.write(rows);
    expect(
      await h.rows(
        "SELECT id::text, name, doc::text, changed_at::text, _sdc_sequence::text, (SELECT count(*) FROM items)::text AS total FROM items WHERE id = 1",
      ),
    ).toEqual([
      {
        id: "1",
        name: "winner",
        doc: `{"seq": ${n + 999}}`,
        changed_at: "0044-03-15 12:00:00 BC",
        _sdc_sequence: String(n + 1000),
        total: "3",
      },
    ]);
  });
});

test("a column the stream no longer has keeps its stored values through merges", async () => {
  const before = await open(
    {},
    {
      schema: {
        ...schema,
        columns: [
          ...schema.columns,
          { name: "legacy", type: { kind: "string", sqlType: "text" }, nullable: true },
        ],
      },
    },
  );
  await before.write(
    seed.map((r, i) => r.replace(/,[^,]*,[^,]*,$/, `,old-${i + 1}`)),
    { columns: ["id", "name", "doc", "changed_at", "legacy"] },
  );
  await before.close();
  const after = await open({}, { schemaName: before.schemaName });
  await after.write([
    `1,renamed,,,,10,2`,
    `2,,,,2024-05-01 10:00:00+00,11,${DELETE_UNCHANGED}`,
    `3,three-b,"{}",,,12,`,
  ]);
  expect(await after.rows("SELECT id::text, name, legacy FROM items ORDER BY id")).toEqual([
    { id: "1", name: "renamed", legacy: "old-1" },
    { id: "2", name: "two", legacy: "old-2" },
    { id: "3", name: "three-b", legacy: "old-3" },
  ]);
});

test("a new source column is added; a changed type is converted in place", async () => {
  const h = await open();
  await h.write(seed);
  await h.close();
  const changed: StreamSchema = {
    ...schema,
    columns: [
      ...schema.columns.map((c) =>
        c.name === "changed_at"
          ? { ...c, type: { kind: "timestamptz" as const, sqlType: "timestamptz" } }
          : c,
      ),
      {
        name: "added",
        type: { kind: "decimal", precision: 40, scale: 20, sqlType: "numeric(40,20)" },
        nullable: true,
      },
    ],
  };
  const after = await open({}, { schemaName: h.schemaName, schema: changed });
  await after.write([`4,four,,2024-07-01 00:00:00+00,0.00000000000000000001,,10,`], {
    columns: [
      "id",
      "name",
      "doc",
      "changed_at",
      "added",
      "_sdc_deleted_at",
      "_sdc_sequence",
      "_sdc_unchanged",
    ],
  });
  expect(await after.rows("SELECT id::text, changed_at::text, added::text FROM items ORDER BY id")).toEqual([
    { id: "1", changed_at: "2024-01-01 00:00:00+00", added: null },
    { id: "2", changed_at: "2024-01-02 00:00:00+00", added: null },
    { id: "3", changed_at: "2024-01-03 00:00:00+00", added: null },
    { id: "4", changed_at: "2024-07-01 00:00:00+00", added: "0.00000000000000000001" },
  ]);
});

describe("target-postgres with change batches, append-only", () => {
  test("rows are appended as they are: deletes keep _sdc_deleted_at, uncarried fields are NULL", async () => {
    const h = await open({ load_method: "append-only", add_metadata_columns: true });
    await h.write([
      `1,one,"{""v"":1}",,,5,`,
      `1,,,,2024-05-01 10:00:00+00,7,${DELETE_UNCHANGED}`,
      `1,renamed,,,,6,2`,
    ]);
    const rows = await h.rows(
      "SELECT id::text, name, doc::text, _sdc_deleted_at::text, _sdc_sequence::text FROM items ORDER BY _sdc_sequence",
    );
    expect(rows).toEqual([
      { id: "1", name: "one", doc: '{"v": 1}', _sdc_deleted_at: null, _sdc_sequence: "5" },
      { id: "1", name: "renamed", doc: null, _sdc_deleted_at: null, _sdc_sequence: "6" },
      { id: "1", name: null, doc: null, _sdc_deleted_at: "2024-05-01 10:00:00+00", _sdc_sequence: "7" },
    ]);
  });
});

describe("target-postgres merges batches without _sdc_sequence in file order", () => {
  test("a 50,000-row batch whose first key repeats at the end keeps the last row; sequences exact", async () => {
    const h = await open({ add_metadata_columns: true });
    const columns = ["id", "name", "doc", "changed_at"];
    await h.write([`0,seed,,`], { columns, sequenceBase: 1 });
    const n = 50_000;
    const rows = Array.from({ length: n }, (_, i) => `${i === n - 1 ? 0 : i},row-${i},,`);
    await h.write(rows, { columns, sequenceBase: 1000 });
    const result = await h.rows(
      "SELECT count(*)::text AS total, count(*) FILTER (WHERE _sdc_sequence <> 1000 + substr(name, 5)::bigint)::text AS wrong, max(name) FILTER (WHERE id = 0) AS last FROM items",
    );
    expect(result).toEqual([{ total: String(n - 1), wrong: "0", last: `row-${n - 1}` }]);
  });
});

test("batches quoted with \\x01 (the loader's preferredCsvQuote) load the same values, staged or copied straight", async () => {
  const q = "\x01";
  const rows = [
    `1,${q}say "hi", ok\nnext${q},${q}{"v": 1}${q},`,
    `2,${q}${q},,`,
    `3,${q}a${q}${q}b${q},,2024-01-01 00:00:00`,
  ];
  const expected = [
    { id: "1", name: 'say "hi", ok\nnext', doc: '{"v": 1}' },
    { id: "2", name: "", doc: null },
    { id: "3", name: `a${q}b`, doc: null },
  ];
  const columns = ["id", "name", "doc", "changed_at"];
  for (const config of [
    { load_method: "append-only" },
    { load_method: "upsert", add_metadata_columns: true },
  ]) {
    const h = await open(config);
    await h.write(rows, { columns, quote: q });
    expect(
      await h.rows("SELECT id::text, name, doc::text FROM items ORDER BY id"),
      config.load_method,
    ).toEqual(expected);
  }
});

describe("target-postgres: durability and errors", () => {
  test("a table name that table_prefix pushes past 63 bytes is refused, naming the setting", async () => {
    const loader = new PostgresTargetLoader(
      postgresTargetConfig(warehouse, { default_target_schema: "long_names", table_prefix: "p".repeat(60) }),
    );
    await expect(
      loader.openStream(structuredClone(schema), { mode: "incremental", version: 1, distinctKeys: true }),
    ).rejects.toThrow(
      /longer than PostgreSQL's 63 bytes and would be cut; shorten it \(setting `table_prefix`\)/,
    );
    const created = await warehouse.query("SELECT 1 FROM pg_namespace WHERE nspname = 'long_names'");
    expect(created).toEqual([]);
  });

  test("a key twice in a stream said to have distinct keys fails clearly instead of loading twice", async () => {
    const loader = new PostgresTargetLoader(
      postgresTargetConfig(warehouse, { default_target_schema: "dup_keys" }),
    );
    const writer = await loader.openStream(structuredClone(schema), {
      mode: "replace",
      version: 1,
      distinctKeys: true,
    });
    const p = path.join(dir, "dup.csv");
    fs.writeFileSync(p, "1,a,,\n1,b,,\n");
    const batch: RecordBatch = {
      streamId: schema.streamId,
      path: p,
      columns: ["id", "name", "doc", "changed_at"],
      rowCount: 2,
      byteCount: fs.statSync(p).size,
      maxRowBytes: 8,
      extractedAt: new Date(),
      sequenceBase: 0,
    };
    await expect(writer.write(batch)).rejects.toThrow(
      /duplicate key value violates unique constraint.*key_properties are not unique/,
    );
    await writer.abort();
    expect(
      await warehouse.query(
        "SELECT 1 FROM pg_class WHERE relname LIKE 'items%' AND relnamespace = 'dup_keys'::regnamespace",
      ),
    ).toEqual([]);
  });

  test("a refused password is named by its variable, never shown", async () => {
    const secret = "not-the-password-4711";
    const loader = new PostgresTargetLoader(postgresTargetConfig(warehouse, { password: secret }));
    const failed = loader.test();
    await expect(failed).rejects.toBeInstanceOf(ConnectionError);
    await expect(failed).rejects.toThrow(/authentication failed.*TARGET_POSTGRES_PASSWORD/);
    await expect(failed).rejects.not.toThrow(secret);
  });

  test("a write is committed when it resolves: another session sees it; a replace shows only at finish", async () => {
    const h = await open();
    await h.write(seed);
    // The writer is still open: this is another connection.
    const seen = await utcQuery<{ n: string }>(
      warehouse,
      `SELECT count(*)::text AS n FROM ${h.schemaName}.items`,
    );
    expect(seen).toEqual([{ n: "3" }]);
    await h.close();

    const replace = await open({}, { schemaName: h.schemaName, mode: "replace" });
    await replace.write([`7,seven,,,,1,`]);
    const during = await utcQuery<{ live: string; staged: string }>(
      warehouse,
      `SELECT (SELECT string_agg(id::text, ',' ORDER BY id) FROM ${h.schemaName}.items) AS live,
              (SELECT string_agg(id::text, ',' ORDER BY id) FROM ${h.schemaName}.items__sluice_new) AS staged`,
    );
    expect(during).toEqual([{ live: "1,2,3", staged: "7" }]);
    expect((await replace.rows()).map((r) => r.id)).toEqual(["7"]);
  });

  test("a value the column cannot hold fails the batch naming the column and value; nothing of it is kept", async () => {
    const h = await open();
    await h.write(seed);
    const failed = h.write([`4,four,,,,10,`, `5,five,"{not json",,,11,`]);
    await expect(failed).rejects.toBeInstanceOf(DataError);
    await expect(failed).rejects.toThrow(
      /column "doc" of cdc_\d+\.items \(jsonb\) cannot hold the value "\{not json"/,
    );
    // The writer goes on: the failed batch left no row and no open transaction.
    await h.write([`6,six,,,,12,`]);
    expect((await h.rows()).map((r) => r.id)).toEqual(["1", "2", "3", "6"]);

    // Rows appended without conversions are copied straight into the table: the same message.
    const direct = await open({ load_method: "append-only" });
    const columns = ["id", "name", "doc", "changed_at"];
    const bad = direct.write([`1,one,,`, `2,two,,2024-13-45 00:00:00`], { columns });
    await expect(bad).rejects.toThrow(
      /column "changed_at" of cdc_\d+\.items \(timestamp without time zone\) cannot hold the value "2024-13-45 00:00:00" \(line 2 of/,
    );
    await direct.write([`3,three,,`], { columns });
    expect((await direct.rows("SELECT id::text FROM items")).map((r) => r.id)).toEqual(["3"]);
  });
});
