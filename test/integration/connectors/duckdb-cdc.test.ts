import fs from "node:fs";
import path from "node:path";
import { describe, expect, test } from "vitest";
import type { RecordBatch } from "../../../src/connectors/batch.js";
import type { StreamSchema } from "../../../src/connectors/column-type.js";
import type { PluginConfig, StreamWriter } from "../../../src/connectors/connector.js";
import { DuckdbLoader } from "../../../src/connectors/duckdb/duckdb-loader.js";
import { duckdbConfig, duckdbRows, tempDir } from "../../support/pipeline.js";

// Change batches as tap-postgres's LOG_BASED reader writes them (batch.ts): every column of the
// stream, then `_sdc_deleted_at`, `_sdc_sequence` and `_sdc_unchanged`. Files are written by hand
// so each case says exactly which rows arrive, in which file order.

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

interface Harness {
  dir: string;
  file: string;
  write(rows: string[], options?: { columns?: string[]; sequenceBase?: number }): Promise<void>;
  truncate(at: Date): Promise<void>;
  rows(sql?: string): Promise<Record<string, string | null>[]>;
  close(): Promise<void>;
}

let fileCounter = 0;

/** A writer on a fresh database whose table already holds `seed` (CDC rows, merged). */
async function open(
  config: PluginConfig = {},
  options: { dir?: string; schema?: StreamSchema } = {},
): Promise<Harness> {
  const dir = options.dir ?? tempDir("sluice-duckdb-cdc-");
  const file = path.join(dir, "warehouse.duckdb");
  let loader: DuckdbLoader | undefined;
  let writer: StreamWriter | undefined;
  const ensureWriter = async (): Promise<StreamWriter> => {
    if (!writer) {
      loader = new DuckdbLoader(duckdbConfig("warehouse.duckdb", config), { projectDir: dir });
      writer = await loader.openStream(structuredClone(options.schema ?? schema), {
        mode: "incremental",
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
    dir,
    file,
    async write(rows, options = {}) {
      const p = path.join(dir, `batch-${++fileCounter}.csv`);
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
      };
      await (await ensureWriter()).write(batch);
    },
    async truncate(at) {
      const w = await ensureWriter();
      expect(w.truncate).toBeDefined();
      await w.truncate!(at);
    },
    async rows(
      sql = `SELECT id, name, CAST(doc AS VARCHAR) AS doc, ${utc("_sdc_deleted_at")} FROM public.items ORDER BY id`,
    ) {
      await closeWriter();
      return duckdbRows(file, sql);
    },
    close: closeWriter,
  };
}

/** A TIMESTAMPTZ column as UTC text, whatever the time zone of the process. */
function utc(column: string): string {
  return `CAST(timezone('UTC', ${column}) AS VARCHAR) AS ${column}`;
}

const seed = [
  `1,one,"{""v"":1}",2024-01-01 00:00:00,,1,`,
  `2,two,"{""v"":2}",2024-01-02 00:00:00,,2,`,
  `3,three,"{""v"":3}",2024-01-03 00:00:00,,3,`,
];

describe("target-duckdb applies change batches exactly (upsert)", () => {
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
      { id: "1", name: "newest", doc: '{"v":13}', _sdc_deleted_at: null },
      { id: "2", name: "b-last", doc: '{"v":22}', _sdc_deleted_at: null },
      { id: "3", name: "three", doc: '{"v":3}', _sdc_deleted_at: null },
    ]);
  });

  test("a field the change did not carry (an unchanged TOAST value) keeps the stored value", async () => {
    const h = await open();
    await h.write(seed);
    // doc (index 2) left out of the WAL: written empty, which must not become NULL.
    await h.write([`1,renamed,,2024-02-01 00:00:00,,10,2`, `2,,,,,11,"1,2"`]);
    expect(
      await h.rows(
        "SELECT id, name, CAST(doc AS VARCHAR) AS doc, CAST(changed_at AS VARCHAR) AS changed_at FROM public.items ORDER BY id",
      ),
    ).toEqual([
      { id: "1", name: "renamed", doc: '{"v":1}', changed_at: "2024-02-01 00:00:00" },
      { id: "2", name: "two", doc: '{"v":2}', changed_at: null },
      { id: "3", name: "three", doc: '{"v":3}', changed_at: "2024-01-03 00:00:00" },
    ]);
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
      { id: "2", name: "two-c", doc: '{"v":40}', _sdc_deleted_at: null },
      { id: "3", name: "three", doc: '{"v":3}', _sdc_deleted_at: null },
      { id: "4", name: "four-updated", doc: '{"v":4}', _sdc_deleted_at: null },
    ]);
  });

  test("_sdc_unchanged counts positions in the batch's own column order", async () => {
    const h = await open();
    await h.write(seed);
    // doc is at position 1 of this batch (position 2 of the stream).
    await h.write([`1,,renamed,,,10,1`], {
      columns: ["id", "doc", "name", "changed_at", "_sdc_deleted_at", "_sdc_sequence", "_sdc_unchanged"],
    });
    expect((await h.rows())[0]).toEqual({ id: "1", name: "renamed", doc: '{"v":1}', _sdc_deleted_at: null });
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
      { id: "1", name: "one", doc: '{"v":1}', _sdc_deleted_at: null },
      { id: "2", name: "two", doc: '{"v":2}', _sdc_deleted_at: "2024-05-01 10:00:00.5" },
      { id: "3", name: "three-updated", doc: '{"v":3}', _sdc_deleted_at: "2024-05-01 11:00:00" },
    ]);
    // Neither CDC bookkeeping column is stored as data.
    const columns = await duckdbRows(
      h.file,
      "SELECT column_name FROM duckdb_columns() WHERE table_name = 'items' ORDER BY column_index",
    );
    expect(columns.map((c) => c.column_name)).toEqual(["id", "name", "doc", "changed_at", "_sdc_deleted_at"]);
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
        doc: '{"v":100}',
        _sdc_deleted_at: null,
      });
    },
  );

  test("a later batch brings a soft-deleted key back", async () => {
    const h = await open();
    await h.write(seed);
    await h.write([`1,,,,2024-05-01 10:00:00+00,10,${DELETE_UNCHANGED}`]);
    await h.write([`1,back,"{""v"":5}",,,11,`]);
    expect((await h.rows())[0]).toEqual({ id: "1", name: "back", doc: '{"v":5}', _sdc_deleted_at: null });
  });

  test("truncate marks every live row deleted at the truncate's commit time, or removes them with hard_delete", async () => {
    const soft = await open();
    await soft.write(seed);
    await soft.write([`1,,,,2024-05-01 09:00:00+00,10,${DELETE_UNCHANGED}`]);
    await soft.truncate(new Date("2024-05-02T00:00:00Z"));
    await soft.write([`3,after,"{""v"":30}",,,20,`]);
    expect(await soft.rows()).toEqual([
      { id: "1", name: "one", doc: '{"v":1}', _sdc_deleted_at: "2024-05-01 09:00:00" },
      { id: "2", name: "two", doc: '{"v":2}', _sdc_deleted_at: "2024-05-02 00:00:00" },
      { id: "3", name: "after", doc: '{"v":30}', _sdc_deleted_at: null },
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
      "SELECT count(*) FILTER (WHERE _sdc_deleted_at IS NOT NULL) AS n FROM public.items",
    );
    expect(rows).toEqual([{ n: "3" }]);
  });

  test("with add_metadata_columns, _sdc_sequence holds the batch's sequence; _sdc_unchanged is never stored", async () => {
    const h = await open({ add_metadata_columns: true });
    await h.write(seed);
    await h.write([`1,b,,,,101,2`, `1,a,,,,100,`, `2,,,,2024-05-01 10:00:00+00,102,${DELETE_UNCHANGED}`]);
    const rows = await h.rows(
      `SELECT id, name, CAST(doc AS VARCHAR) AS doc, ${utc("_sdc_deleted_at")}, _sdc_sequence, _sdc_table_version, ${utc("_sdc_extracted_at")} FROM public.items ORDER BY id`,
    );
    expect(rows).toEqual([
      {
        id: "1",
        name: "b",
        doc: null,
        _sdc_deleted_at: null,
        _sdc_sequence: "101",
        _sdc_table_version: "7",
        _sdc_extracted_at: "2024-06-01 00:00:00",
      },
      {
        id: "2",
        name: "two",
        doc: '{"v":2}',
        _sdc_deleted_at: "2024-05-01 10:00:00",
        _sdc_sequence: "102",
        _sdc_table_version: "7",
        _sdc_extracted_at: "2024-06-01 00:00:00",
      },
      {
        id: "3",
        name: "three",
        doc: '{"v":3}',
        _sdc_deleted_at: null,
        _sdc_sequence: "3",
        _sdc_table_version: "7",
        _sdc_extracted_at: "2024-06-01 00:00:00",
      },
    ]);
    const columns = await duckdbRows(
      h.file,
      "SELECT column_name FROM duckdb_columns() WHERE table_name = 'items' AND column_name LIKE '_sdc_%' ORDER BY 1",
    );
    expect(columns.map((c) => c.column_name)).not.toContain("_sdc_unchanged");
  });

  test("a value the CSV reader's own parser refuses takes the VARCHAR path, CDC columns included", async () => {
    const h = await open({ add_metadata_columns: true });
    await h.write(seed);
    // A BC timestamp fails the typed read; the batch is retried with every field as text.
    await h.write([
      `1,bc,,0044-03-15 12:00:00 BC,,21,2`,
      `1,,,,2024-05-01 10:00:00+00,20,${DELETE_UNCHANGED}`,
    ]);
    const rows = await h.rows(
      `SELECT id, name, CAST(doc AS VARCHAR) AS doc, CAST(changed_at AS VARCHAR) AS changed_at, ${utc("_sdc_deleted_at")}, _sdc_sequence FROM public.items WHERE id = 1`,
    );
    expect(rows).toEqual([
      {
        id: "1",
        name: "bc",
        doc: '{"v":1}',
        changed_at: "0044-03-15 (BC) 12:00:00",
        _sdc_deleted_at: null,
        _sdc_sequence: "21",
      },
    ]);
  });

  test("a batch of 300,000 changes of one key ends with the highest sequence, its missing field from the one before", async () => {
    const h = await open({ add_metadata_columns: true, threads: 4, memory_limit: "256MB" });
    await h.write(seed);
    const n = 300_000;
    // Sequences descend through the file; the highest (n + 1000) comes first and leaves doc out;
    // the second highest carries doc; the lowest is the last line.
    const rows = Array.from({ length: n }, (_, i) => {
      const seq = n + 1000 - i;
      return i === 0 ? `1,winner,,,,${seq},2` : `1,name-${seq},"{""seq"":${seq}}",,,${seq},`;
    });
    await h.write(rows);
    const result = await h.rows(
      "SELECT id, name, CAST(doc AS VARCHAR) AS doc, _sdc_sequence, (SELECT count(*) FROM public.items) AS total FROM public.items WHERE id = 1",
    );
    expect(result).toEqual([
      { id: "1", name: "winner", doc: `{"seq":${n + 999}}`, _sdc_sequence: String(n + 1000), total: "3" },
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
    {
      columns: ["id", "name", "doc", "changed_at", "legacy"],
    },
  );
  await before.close();
  const after = await open({}, { dir: before.dir });
  await after.write([
    `1,renamed,,,,10,2`,
    `2,,,,2024-05-01 10:00:00+00,11,${DELETE_UNCHANGED}`,
    `3,three-b,"{}",,,12,`,
  ]);
  expect(await after.rows("SELECT id, name, legacy FROM public.items ORDER BY id")).toEqual([
    { id: "1", name: "renamed", legacy: "old-1" },
    { id: "2", name: "two", legacy: "old-2" },
    { id: "3", name: "three-b", legacy: "old-3" },
  ]);
});

describe("target-duckdb with change batches, append-only", () => {
  test("rows are appended as they are: deletes keep _sdc_deleted_at, uncarried fields are NULL", async () => {
    const h = await open({ load_method: "append-only", add_metadata_columns: true });
    await h.write([
      `1,one,"{""v"":1}",,,5,`,
      `1,,,,2024-05-01 10:00:00+00,7,${DELETE_UNCHANGED}`,
      `1,renamed,,,,6,2`,
    ]);
    const rows = await h.rows(
      `SELECT id, name, CAST(doc AS VARCHAR) AS doc, ${utc("_sdc_deleted_at")}, _sdc_sequence FROM public.items ORDER BY _sdc_sequence`,
    );
    expect(rows).toEqual([
      { id: "1", name: "one", doc: '{"v":1}', _sdc_deleted_at: null, _sdc_sequence: "5" },
      { id: "1", name: "renamed", doc: null, _sdc_deleted_at: null, _sdc_sequence: "6" },
      { id: "1", name: null, doc: null, _sdc_deleted_at: "2024-05-01 10:00:00", _sdc_sequence: "7" },
    ]);
  });
});

describe("target-duckdb merges batches without _sdc_sequence in file order", () => {
  // `_sdc_sequence` of a non-CDC row is `sequenceBase` + its position in the file, and DuckDB reads
  // files in parallel with preserve_insertion_order=false: a key at both ends of a large
  // multi-buffer file must still end with its last row, and every row's sequence be exact.
  test("a 500,000-row batch whose first key repeats at the end keeps the last row", async () => {
    const h = await open({ add_metadata_columns: true, threads: 4, memory_limit: "256MB" });
    const columns = ["id", "name", "doc", "changed_at"];
    await h.write([`0,seed,,`], { columns, sequenceBase: 1 });
    const n = 500_000;
    const rows = Array.from({ length: n }, (_, i) => `${i === n - 1 ? 0 : i},row-${i},,`);
    await h.write(rows, { columns, sequenceBase: 1000 });
    const result = await h.rows(
      "SELECT count(*) AS total, count(*) FILTER (WHERE _sdc_sequence <> 1000 + CAST(substr(name, 5) AS BIGINT)) AS wrong, max(name) FILTER (WHERE id = 0) AS last FROM public.items",
    );
    expect(result).toEqual([{ total: String(n - 1), wrong: "0", last: `row-${n - 1}` }]);
  });

  test("appended rows get sequenceBase + file position as _sdc_sequence", async () => {
    const h = await open({
      load_method: "append-only",
      add_metadata_columns: true,
      threads: 4,
      memory_limit: "256MB",
    });
    const n = 300_000;
    await h.write(
      Array.from({ length: n }, (_, i) => `${i},row-${i},,`),
      { columns: ["id", "name", "doc", "changed_at"], sequenceBase: 50 },
    );
    const result = await h.rows(
      "SELECT count(*) AS total, count(*) FILTER (WHERE _sdc_sequence <> 50 + id) AS wrong FROM public.items",
    );
    expect(result).toEqual([{ total: String(n), wrong: "0" }]);
  });
});

test("two streams opened and numbering rows by file order at once both get exact sequences", async () => {
  // Both writers switch the instance-wide preserve_insertion_order on and off around their
  // statements; neither may switch it off under the other.
  const dir = tempDir("sluice-duckdb-order-");
  const loader = new DuckdbLoader(
    duckdbConfig("warehouse.duckdb", { add_metadata_columns: true, threads: 4, memory_limit: "256MB" }),
    { projectDir: dir },
  );
  const n = 100_000;
  const open = (table: string, upsert: boolean) =>
    loader.openStream(
      {
        ...structuredClone(schema),
        sourceTable: table,
        streamId: `public-${table}`,
        keyProperties: upsert ? ["id"] : [],
      },
      { mode: "incremental", version: 1, distinctKeys: false },
    );
  const load = async (table: string, writer: StreamWriter): Promise<void> => {
    for (let round = 0; round < 3; round++) {
      const p = path.join(dir, `${table}-${round}.csv`);
      fs.writeFileSync(
        p,
        Array.from({ length: n }, (_, i) => `${i},${table}-${round}-${i},,`).join("\n") + "\n",
      );
      await writer.write({
        streamId: `public-${table}`,
        path: p,
        columns: ["id", "name", "doc", "changed_at"],
        rowCount: n,
        byteCount: fs.statSync(p).size,
        maxRowBytes: 64,
        extractedAt: new Date(),
        sequenceBase: round * n,
      });
    }
    await writer.finish();
  };
  try {
    const [merged, appended] = await Promise.all([open("merged", true), open("appended", false)]);
    await Promise.all([load("merged", merged), load("appended", appended)]);
  } finally {
    await loader.close();
  }
  const file = path.join(dir, "warehouse.duckdb");
  expect(
    await duckdbRows(
      file,
      `SELECT count(*) AS total, count(*) FILTER (WHERE _sdc_sequence <> ${2 * n} + id) AS wrong FROM public.merged`,
    ),
  ).toEqual([{ total: String(n), wrong: "0" }]);
  expect(
    await duckdbRows(
      file,
      `SELECT count(*) AS total, count(*) FILTER (WHERE _sdc_sequence <> CAST(split_part(name, '-', 2) AS BIGINT) * ${n} + id) AS wrong FROM public.appended`,
    ),
  ).toEqual([{ total: String(3 * n), wrong: "0" }]);
});
