import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { RecordBatch } from "../../../src/connectors/batch.js";
import type { StreamSchema } from "../../../src/connectors/column-type.js";
import type { PluginConfig } from "../../../src/connectors/connector.js";
import { PostgresTargetLoader } from "../../../src/connectors/target-postgres/postgres-target-loader.js";
import { ConnectionError, DataError } from "../../../src/errors.js";
import {
  CDC_SCHEMA,
  CDC_SEED,
  PLAIN_COLUMNS,
  openCdcTable,
  runCdcLoaderCases,
  type CdcLoaderKit,
  type CdcTable,
} from "../../support/cdc-loader-cases.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { tempDir } from "../../support/pipeline.js";
import { postgresTargetConfig, utcQuery } from "./postgres-target-support.js";

// The change-batch cases of test/support/cdc-loader-cases.ts against target-postgres (each case
// writes into a schema of its own, named after its place), and target-postgres's own: schema
// changes, quoting, durability and errors.

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

const kit: CdcLoaderKit = {
  loader: "target-postgres",
  factory: (config, place) =>
    new PostgresTargetLoader(postgresTargetConfig(warehouse, { default_target_schema: place.id, ...config })),
  readTable: (place, columns, orderBy) =>
    utcQuery(
      warehouse,
      `SELECT ${columns.map((c) => `${c}::text AS ${c}`).join(", ")} FROM items ORDER BY ${orderBy}`,
      { searchPath: place.id },
    ),
  tableColumns: async (place) =>
    (
      await utcQuery<{ c: string }>(
        warehouse,
        "SELECT column_name::text AS c FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'items' ORDER BY ordinal_position",
        { searchPath: place.id },
      )
    ).map((r) => r.c),
  spelling: {
    integer: (n) => String(n),
    // jsonb's text: a space after each key's colon.
    json: (value) => JSON.stringify(value).replace(/":/g, '": '),
    timestamp: (text) => text,
    instant: (utc) => `${utc}+00`,
  },
};

runCdcLoaderCases(kit);

const open = (config: PluginConfig = {}, options: Parameters<typeof openCdcTable>[2] = {}): CdcTable =>
  openCdcTable(kit, config, options);

/** Closes the table's writer, then runs `sql` with its schema as search_path, in UTC. */
async function query(h: CdcTable, sql: string): Promise<Record<string, string | null>[]> {
  await h.close();
  return utcQuery(warehouse, sql, { searchPath: h.place.id });
}

describe("target-postgres applies change batches exactly (upsert)", () => {
  test("a BC timestamp and a batch of 30,000 changes of one key: the highest sequence wins", async () => {
    const h = open({ add_metadata_columns: true });
    await h.write(CDC_SEED);
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
      await query(
        h,
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

test("a new source column is added; a changed type is converted in place", async () => {
  const h = open();
  await h.write(CDC_SEED);
  await h.close();
  const changed: StreamSchema = {
    ...CDC_SCHEMA,
    columns: [
      ...CDC_SCHEMA.columns.map((c) =>
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
  const after = open({}, { place: h.place, schema: changed });
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
  expect(await query(after, "SELECT id::text, changed_at::text, added::text FROM items ORDER BY id")).toEqual(
    [
      { id: "1", changed_at: "2024-01-01 00:00:00+00", added: null },
      { id: "2", changed_at: "2024-01-02 00:00:00+00", added: null },
      { id: "3", changed_at: "2024-01-03 00:00:00+00", added: null },
      { id: "4", changed_at: "2024-07-01 00:00:00+00", added: "0.00000000000000000001" },
    ],
  );
});

describe("target-postgres merges batches without _sdc_sequence in file order", () => {
  test("a 50,000-row batch whose first key repeats at the end keeps the last row; sequences exact", async () => {
    const h = open({ add_metadata_columns: true });
    const columns = PLAIN_COLUMNS;
    await h.write([`0,seed,,`], { columns, sequenceBase: 1 });
    const n = 50_000;
    const rows = Array.from({ length: n }, (_, i) => `${i === n - 1 ? 0 : i},row-${i},,`);
    await h.write(rows, { columns, sequenceBase: 1000 });
    const result = await query(
      h,
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
  const columns = PLAIN_COLUMNS;
  for (const config of [
    { load_method: "append-only" },
    { load_method: "upsert", add_metadata_columns: true },
  ]) {
    const h = open(config);
    await h.write(rows, { columns, quote: q });
    expect(
      await query(h, "SELECT id::text, name, doc::text FROM items ORDER BY id"),
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
      loader.openStream(structuredClone(CDC_SCHEMA), { mode: "incremental", version: 1, distinctKeys: true }),
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
    const writer = await loader.openStream(structuredClone(CDC_SCHEMA), {
      mode: "replace",
      version: 1,
      distinctKeys: true,
    });
    const p = path.join(dir, "dup.csv");
    fs.writeFileSync(p, "1,a,,\n1,b,,\n");
    const batch: RecordBatch = {
      streamId: CDC_SCHEMA.streamId,
      path: p,
      columns: PLAIN_COLUMNS,
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
    const h = open();
    await h.write(CDC_SEED);
    // The writer is still open: this is another connection.
    const seen = await utcQuery<{ n: string }>(
      warehouse,
      `SELECT count(*)::text AS n FROM ${h.place.id}.items`,
    );
    expect(seen).toEqual([{ n: "3" }]);
    await h.close();

    const replace = open({}, { place: h.place, mode: "replace" });
    await replace.write([`7,seven,,,,1,`]);
    const during = await utcQuery<{ live: string; staged: string }>(
      warehouse,
      `SELECT (SELECT string_agg(id::text, ',' ORDER BY id) FROM ${h.place.id}.items) AS live,
              (SELECT string_agg(id::text, ',' ORDER BY id) FROM ${h.place.id}.items__sluice_new) AS staged`,
    );
    expect(during).toEqual([{ live: "1,2,3", staged: "7" }]);
    expect((await replace.rows()).map((r) => r.id)).toEqual(["7"]);
  });

  test("a value the column cannot hold fails the batch naming the column and value; nothing of it is kept", async () => {
    const h = open();
    await h.write(CDC_SEED);
    const failed = h.write([`4,four,,,,10,`, `5,five,"{not json",,,11,`]);
    await expect(failed).rejects.toBeInstanceOf(DataError);
    await expect(failed).rejects.toThrow(
      /column "doc" of cdc_\d+\.items \(jsonb\) cannot hold the value "\{not json"/,
    );
    // The writer goes on: the failed batch left no row and no open transaction.
    await h.write([`6,six,,,,12,`]);
    expect((await h.rows()).map((r) => r.id)).toEqual(["1", "2", "3", "6"]);

    // Rows appended without conversions are copied straight into the table: the same message.
    const direct = open({ load_method: "append-only" });
    const columns = PLAIN_COLUMNS;
    const bad = direct.write([`1,one,,`, `2,two,,2024-13-45 00:00:00`], { columns });
    await expect(bad).rejects.toThrow(
      /column "changed_at" of cdc_\d+\.items \(timestamp without time zone\) cannot hold the value "2024-13-45 00:00:00" \(line 2 of/,
    );
    await direct.write([`3,three,,`], { columns });
    expect((await query(direct, "SELECT id::text FROM items")).map((r) => r.id)).toEqual(["3"]);
  });
});
