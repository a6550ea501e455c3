import fs from "node:fs";
import path from "node:path";
import { describe, expect, test } from "vitest";
import type { StreamWriter } from "../../../src/connectors/connector.js";
import { DuckdbLoader } from "../../../src/connectors/target-duckdb/duckdb-loader.js";
import {
  CDC_SCHEMA,
  CDC_SEED,
  DELETE_UNCHANGED,
  PLAIN_COLUMNS,
  openCdcTable,
  runCdcLoaderCases,
  type CdcLoaderKit,
  type CdcPlace,
  type CdcTable,
} from "../../support/cdc-loader-cases.js";
import { duckdbConfig, duckdbRows, tempDir } from "../../support/pipeline.js";

// The change-batch cases of test/support/cdc-loader-cases.ts against target-duckdb, and DuckDB's
// own: the VARCHAR retry, and large batches read in parallel.

const fileOf = (place: CdcPlace): string => path.join(place.dir, "warehouse.duckdb");

/** A TIMESTAMPTZ column as UTC text, whatever the time zone of the process. */
function utc(column: string): string {
  return `CAST(timezone('UTC', ${column}) AS VARCHAR) AS ${column}`;
}

const INSTANT_COLUMNS = new Set(["_sdc_deleted_at", "_sdc_extracted_at"]);

const kit: CdcLoaderKit = {
  loader: "target-duckdb",
  factory: (config, place) =>
    new DuckdbLoader(duckdbConfig("warehouse.duckdb", config), { projectDir: place.dir }),
  readTable: (place, columns, orderBy) =>
    duckdbRows(
      fileOf(place),
      `SELECT ${columns
        .map((c) => (INSTANT_COLUMNS.has(c) ? utc(c) : `CAST(${c} AS VARCHAR) AS ${c}`))
        .join(", ")} FROM public.items ORDER BY ${orderBy}`,
    ),
  tableColumns: async (place) =>
    (
      await duckdbRows(
        fileOf(place),
        "SELECT column_name FROM duckdb_columns() WHERE table_name = 'items' ORDER BY column_index",
      )
    ).map((r) => r.column_name!),
  spelling: {
    integer: (n) => String(n),
    json: (value) => JSON.stringify(value),
    timestamp: (text) => text,
    instant: (utcText) => utcText,
  },
};

runCdcLoaderCases(kit);

/** Closes the table's writer, then runs `sql` on its file. */
async function query(h: CdcTable, sql: string): Promise<Record<string, string | null>[]> {
  await h.close();
  return duckdbRows(fileOf(h.place), sql);
}

const open = (config: Parameters<typeof openCdcTable>[1] = {}): CdcTable => openCdcTable(kit, config);

describe("target-duckdb applies change batches exactly (upsert)", () => {
  test("a value the CSV reader's own parser refuses takes the VARCHAR path, CDC columns included", async () => {
    const h = open({ add_metadata_columns: true });
    await h.write(CDC_SEED);
    // A BC timestamp fails the typed read; the batch is retried with every field as text.
    await h.write([
      `1,bc,,0044-03-15 12:00:00 BC,,21,2`,
      `1,,,,2024-05-01 10:00:00+00,20,${DELETE_UNCHANGED}`,
    ]);
    const rows = await query(
      h,
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
    const h = open({ add_metadata_columns: true, threads: 4, memory_limit: "256MB" });
    await h.write(CDC_SEED);
    const n = 300_000;
    // Sequences descend through the file; the highest (n + 1000) comes first and leaves doc out;
    // the second highest carries doc; the lowest is the last line.
    const rows = Array.from({ length: n }, (_, i) => {
      const seq = n + 1000 - i;
      return i === 0 ? `1,winner,,,,${seq},2` : `1,name-${seq},"{""seq"":${seq}}",,,${seq},`;
    });
    await h.write(rows);
    const result = await query(
      h,
      "SELECT id, name, CAST(doc AS VARCHAR) AS doc, _sdc_sequence, (SELECT count(*) FROM public.items) AS total FROM public.items WHERE id = 1",
    );
    expect(result).toEqual([
      { id: "1", name: "winner", doc: `{"seq":${n + 999}}`, _sdc_sequence: String(n + 1000), total: "3" },
    ]);
  });
});

describe("target-duckdb merges batches without _sdc_sequence in file order", () => {
  // `_sdc_sequence` of a non-CDC row is `sequenceBase` + its position in the file, and DuckDB reads
  // files in parallel with preserve_insertion_order=false: a key at both ends of a large
  // multi-buffer file must still end with its last row, and every row's sequence be exact.
  test("a 500,000-row batch whose first key repeats at the end keeps the last row", async () => {
    const h = open({ add_metadata_columns: true, threads: 4, memory_limit: "256MB" });
    const columns = PLAIN_COLUMNS;
    await h.write([`0,seed,,`], { columns, sequenceBase: 1 });
    const n = 500_000;
    const rows = Array.from({ length: n }, (_, i) => `${i === n - 1 ? 0 : i},row-${i},,`);
    await h.write(rows, { columns, sequenceBase: 1000 });
    const result = await query(
      h,
      "SELECT count(*) AS total, count(*) FILTER (WHERE _sdc_sequence <> 1000 + CAST(substr(name, 5) AS BIGINT)) AS wrong, max(name) FILTER (WHERE id = 0) AS last FROM public.items",
    );
    expect(result).toEqual([{ total: String(n - 1), wrong: "0", last: `row-${n - 1}` }]);
  });

  test("appended rows get sequenceBase + file position as _sdc_sequence", async () => {
    const h = open({
      load_method: "append-only",
      add_metadata_columns: true,
      threads: 4,
      memory_limit: "256MB",
    });
    const n = 300_000;
    await h.write(
      Array.from({ length: n }, (_, i) => `${i},row-${i},,`),
      { columns: PLAIN_COLUMNS, sequenceBase: 50 },
    );
    const result = await query(
      h,
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
        ...structuredClone(CDC_SCHEMA),
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
