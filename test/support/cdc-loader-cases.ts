import fs from "node:fs";
import path from "node:path";
import { describe, expect, test } from "vitest";
import type { RecordBatch } from "../../src/connectors/batch.js";
import type { StreamSchema } from "../../src/connectors/column-type.js";
import type { Loader, PluginConfig, StreamWriter } from "../../src/connectors/connector.js";
import { tempDir } from "./pipeline.js";

/**
 * The change-batch (CDC) kit: the cases every loader that merges change batches must pass, written
 * once and run per loader, as `runConformanceSuite` does for Singer input. Batches are written by
 * hand as tap-postgres's LOG_BASED reader writes them (batch.ts): every column of the stream, then
 * `_sdc_deleted_at`, `_sdc_sequence` and `_sdc_unchanged`, so each case says exactly which rows
 * arrive, in which file order.
 *
 * A loader's test file gives a factory (a loader for a place), a table reader (the rows of the
 * place's `items` table) and how its engine spells values, calls `runCdcLoaderCases(...)`, and
 * keeps only the cases of its own. `openCdcTable` gives those the same writer.
 */

export const CDC_SCHEMA: StreamSchema = {
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
/** The columns of a change batch of `CDC_SCHEMA`. */
export const CDC_COLUMNS = [
  "id",
  "name",
  "doc",
  "changed_at",
  "_sdc_deleted_at",
  "_sdc_sequence",
  "_sdc_unchanged",
];
/** The columns of a batch without CDC bookkeeping (FULL_TABLE, INCREMENTAL). */
export const PLAIN_COLUMNS = ["id", "name", "doc", "changed_at"];
/** `_sdc_unchanged` of a delete: every field but the key (index 0). */
export const DELETE_UNCHANGED = '"1,2,3"';

/** Three rows, merged first by most cases. */
export const CDC_SEED = [
  `1,one,"{""v"":1}",2024-01-01 00:00:00,,1,`,
  `2,two,"{""v"":2}",2024-01-02 00:00:00,,2,`,
  `3,three,"{""v"":3}",2024-01-03 00:00:00,,3,`,
];

export interface CdcBatchOptions {
  /** Default `CDC_COLUMNS`. */
  columns?: readonly string[];
  sequenceBase?: number;
  quote?: string;
}

let fileCounter = 0;

/** Writes `rows` (CSV lines) to a file in `dir` and describes it as a batch of `streamId`. */
export function cdcBatch(
  dir: string,
  rows: readonly string[],
  options: CdcBatchOptions = {},
  streamId = CDC_SCHEMA.streamId,
): RecordBatch {
  const p = path.join(dir, `batch-${++fileCounter}.csv`);
  fs.writeFileSync(p, rows.join("\n") + "\n");
  return {
    streamId,
    path: p,
    columns: [...(options.columns ?? CDC_COLUMNS)],
    rowCount: rows.length,
    byteCount: fs.statSync(p).size,
    maxRowBytes: Math.max(...rows.slice(0, 1000).map((r) => Buffer.byteLength(r))),
    extractedAt: new Date("2024-06-01T00:00:00Z"),
    sequenceBase: options.sequenceBase ?? 0,
    ...(options.quote !== undefined ? { quote: options.quote } : {}),
  };
}

/** Where one table lives: opened again with the same place, a loader finds the same table. */
export interface CdcPlace {
  /** A folder of its own (project folder, batch files). */
  dir: string;
  /** `cdc_<n>`, unique in the process: a schema or dataset name for the loader. */
  id: string;
}

/** Makes a loader that writes into `place` with the case's settings. */
export type CdcLoaderFactory = (config: PluginConfig, place: CdcPlace) => Loader;

/**
 * Reads `columns` of the place's `items` table, ordered by `orderBy` (a column), each value as the
 * engine gives it (see `CdcSpelling`). Called with no loader open on the place.
 */
export type CdcTableReader = (
  place: CdcPlace,
  columns: readonly string[],
  orderBy: string,
) => Promise<Record<string, unknown>[]>;

/** How the reader returns each kind of value; the cases state values in these terms. */
export interface CdcSpelling {
  /** A bigint column (`id`, `_sdc_sequence`, `_sdc_table_version`). */
  integer(n: number): unknown;
  /** A jsonb column, given as the parsed value. */
  json(value: unknown): unknown;
  /** A timestamp without time zone, given as `YYYY-MM-DD HH:MM:SS[.f]`. */
  timestamp(text: string): unknown;
  /** A timestamptz (`_sdc_deleted_at`, `_sdc_extracted_at`), given as its UTC `YYYY-MM-DD HH:MM:SS[.f]`. */
  instant(utc: string): unknown;
}

export interface CdcLoaderKit {
  /** As the describe blocks name it, e.g. `target-duckdb`. */
  loader: string;
  factory: CdcLoaderFactory;
  readTable: CdcTableReader;
  /** The column names of the place's `items` table, in table order. */
  tableColumns: (place: CdcPlace) => Promise<string[]>;
  spelling: CdcSpelling;
}

/** A writer of one stream into a place, and its table's rows read back. */
export interface CdcTable {
  place: CdcPlace;
  write(rows: readonly string[], options?: CdcBatchOptions): Promise<void>;
  truncate(at: Date): Promise<void>;
  /** Singer ACTIVATE_VERSION of the writer's version (opened with `tableVersion`). */
  activateVersion(): Promise<void>;
  /** Closes the writer first (an engine may lock its file), then reads. */
  rows(columns?: readonly string[], orderBy?: string): Promise<Record<string, unknown>[]>;
  /** Finishes the stream and closes the loader (again later: nothing to do). */
  close(): Promise<void>;
}

const DEFAULT_COLUMNS = ["id", "name", "doc", "_sdc_deleted_at"];
let placeCounter = 0;

/** Opens (lazily, at the first write) a writer of `schema` into a fresh place, or `options.place`. */
export function openCdcTable(
  kit: Pick<CdcLoaderKit, "factory" | "readTable">,
  config: PluginConfig = {},
  options: {
    place?: CdcPlace;
    schema?: StreamSchema;
    mode?: "replace" | "incremental";
    /** Singer table versions (`OpenStreamOptions.tableVersion`), of `version` (7 by default). */
    tableVersion?: "record" | "activate";
    version?: number;
  } = {},
): CdcTable {
  const place = options.place ?? { dir: tempDir("sluice-cdc-"), id: `cdc_${++placeCounter}` };
  let loader: Loader | undefined;
  let writer: StreamWriter | undefined;
  const ensureWriter = async (): Promise<StreamWriter> => {
    if (!writer) {
      loader = kit.factory(config, place);
      writer = await loader.openStream(structuredClone(options.schema ?? CDC_SCHEMA), {
        mode: options.mode ?? "incremental",
        version: options.version ?? 7,
        distinctKeys: false,
        ...(options.tableVersion ? { tableVersion: options.tableVersion } : {}),
      });
    }
    return writer;
  };
  const close = async (): Promise<void> => {
    if (writer) await writer.finish();
    if (loader) await loader.close();
    writer = undefined;
    loader = undefined;
  };
  return {
    place,
    async write(rows, batchOptions = {}) {
      await (await ensureWriter()).write(cdcBatch(place.dir, rows, batchOptions));
    },
    async truncate(at) {
      const w = await ensureWriter();
      expect(w.truncate).toBeDefined();
      await w.truncate!(at);
    },
    async activateVersion() {
      const w = await ensureWriter();
      expect(w.activateVersion).toBeDefined();
      await w.activateVersion!();
    },
    async rows(columns = DEFAULT_COLUMNS, orderBy = "id") {
      await close();
      return kit.readTable(place, columns, orderBy);
    },
    close,
  };
}

interface CdcCase {
  name: string;
  run: (kit: CdcLoaderKit) => Promise<void>;
}

/** `{ id, name, doc, _sdc_deleted_at }` as the loader spells it; `doc` given parsed, `deleted` in UTC. */
function row(
  s: CdcSpelling,
  id: number,
  name: string | null,
  doc: unknown,
  deleted: string | null = null,
): Record<string, unknown> {
  return { id: s.integer(id), name, doc: doc === null ? null : s.json(doc), _sdc_deleted_at: at(s, deleted) };
}

function at(s: CdcSpelling, utc: string | null): unknown {
  return utc === null ? null : s.instant(utc);
}

/** The cases of merged change batches (upsert), in the order they are registered. */
const UPSERT_CASES: readonly CdcCase[] = [
  {
    name: "the row with the highest _sdc_sequence wins, whatever the file order",
    async run(kit) {
      const s = kit.spelling;
      const h = openCdcTable(kit);
      await h.write(CDC_SEED);
      await h.write([
        `1,newest,"{""v"":13}",,,13,`,
        `2,b-last,"{""v"":22}",,,22,`,
        `1,older,"{""v"":11}",,,11,`,
        `2,b-first,"{""v"":20}",,,20,`,
        `1,middle,"{""v"":12}",,,12,`,
      ]);
      expect(await h.rows()).toEqual([
        row(s, 1, "newest", { v: 13 }),
        row(s, 2, "b-last", { v: 22 }),
        row(s, 3, "three", { v: 3 }),
      ]);
    },
  },
  {
    name: "a field the change did not carry (an unchanged TOAST value) keeps the stored value",
    async run(kit) {
      const s = kit.spelling;
      const h = openCdcTable(kit);
      await h.write(CDC_SEED);
      // doc (index 2) left out of the WAL: written empty, which must not become NULL.
      await h.write([`1,renamed,,2024-02-01 00:00:00,,10,2`, `2,,,,,11,"1,2"`]);
      expect(await h.rows(["id", "name", "doc", "changed_at"])).toEqual([
        {
          id: s.integer(1),
          name: "renamed",
          doc: s.json({ v: 1 }),
          changed_at: s.timestamp("2024-02-01 00:00:00"),
        },
        { id: s.integer(2), name: "two", doc: s.json({ v: 2 }), changed_at: null },
        {
          id: s.integer(3),
          name: "three",
          doc: s.json({ v: 3 }),
          changed_at: s.timestamp("2024-01-03 00:00:00"),
        },
      ]);
    },
  },
  {
    name: "an uncarried field takes the key's latest earlier carried value in the batch, even NULL",
    async run(kit) {
      const s = kit.spelling;
      const h = openCdcTable(kit);
      await h.write(CDC_SEED);
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
        row(s, 1, "one-b", null),
        row(s, 2, "two-c", { v: 40 }),
        row(s, 3, "three", { v: 3 }),
        row(s, 4, "four-updated", { v: 4 }),
      ]);
    },
  },
  {
    name: "_sdc_unchanged counts positions in the batch's own column order",
    async run(kit) {
      const h = openCdcTable(kit);
      await h.write(CDC_SEED);
      // doc is at position 1 of this batch (position 2 of the stream).
      await h.write([`1,,renamed,,,10,1`], {
        columns: ["id", "doc", "name", "changed_at", "_sdc_deleted_at", "_sdc_sequence", "_sdc_unchanged"],
      });
      expect((await h.rows())[0]).toEqual(row(kit.spelling, 1, "renamed", { v: 1 }));
    },
  },
  {
    name: "a soft delete keeps the row's values and sets _sdc_deleted_at (no metadata columns needed)",
    async run(kit) {
      const s = kit.spelling;
      const h = openCdcTable(kit, { add_metadata_columns: false, hard_delete: false });
      await h.write(CDC_SEED);
      await h.write([
        `2,,,,2024-05-01 10:00:00.5+00,50,${DELETE_UNCHANGED}`,
        // Updated then deleted in one batch: the values of the update are kept.
        `3,three-updated,,,,51,2`,
        `3,,,,2024-05-01 11:00:00+00,52,${DELETE_UNCHANGED}`,
      ]);
      expect(await h.rows()).toEqual([
        row(s, 1, "one", { v: 1 }),
        row(s, 2, "two", { v: 2 }, "2024-05-01 10:00:00.5"),
        row(s, 3, "three-updated", { v: 3 }, "2024-05-01 11:00:00"),
      ]);
      // Neither CDC bookkeeping column is stored as data.
      expect(await kit.tableColumns(h.place)).toEqual(["id", "name", "doc", "changed_at", "_sdc_deleted_at"]);
    },
  },
  {
    name: "hard_delete removes a key whose latest change is a delete",
    async run(kit) {
      const h = openCdcTable(kit, { hard_delete: true });
      await h.write(CDC_SEED);
      await h.write([
        `2,,,,2024-05-01 10:00:00+00,50,${DELETE_UNCHANGED}`,
        // Inserted and deleted within the batch: never appears.
        `9,nine,,,,51,`,
        `9,,,,2024-05-01 10:00:01+00,52,${DELETE_UNCHANGED}`,
      ]);
      // Only the ids: a table loaded with hard_delete may have no _sdc_deleted_at (BigQuery).
      expect((await h.rows(["id"])).map((r) => r.id)).toEqual([
        kit.spelling.integer(1),
        kit.spelling.integer(3),
      ]);
    },
  },
  ...[false, true].map((hardDelete): CdcCase => ({
    name: `a key deleted then inserted again in one batch ends present and not deleted (hard_delete ${hardDelete})`,
    async run(kit) {
      const h = openCdcTable(kit, { hard_delete: hardDelete });
      await h.write(CDC_SEED);
      await h.write([
        `1,reborn,"{""v"":100}",,,62,`,
        `1,,,,2024-05-01 10:00:00+00,61,${DELETE_UNCHANGED}`,
        `1,updated,,,,60,2`,
      ]);
      expect((await h.rows())[0]).toEqual(row(kit.spelling, 1, "reborn", { v: 100 }));
    },
  })),
  {
    name: "a later batch brings a soft-deleted key back",
    async run(kit) {
      const h = openCdcTable(kit);
      await h.write(CDC_SEED);
      await h.write([`1,,,,2024-05-01 10:00:00+00,10,${DELETE_UNCHANGED}`]);
      await h.write([`1,back,"{""v"":5}",,,11,`]);
      expect((await h.rows())[0]).toEqual(row(kit.spelling, 1, "back", { v: 5 }));
    },
  },
  {
    name: "truncate marks every live row deleted at the truncate's commit time, or removes them with hard_delete",
    async run(kit) {
      const s = kit.spelling;
      const soft = openCdcTable(kit);
      await soft.write(CDC_SEED);
      await soft.write([`1,,,,2024-05-01 09:00:00+00,10,${DELETE_UNCHANGED}`]);
      await soft.truncate(new Date("2024-05-02T00:00:00Z"));
      await soft.write([`3,after,"{""v"":30}",,,20,`]);
      expect(await soft.rows()).toEqual([
        row(s, 1, "one", { v: 1 }, "2024-05-01 09:00:00"),
        row(s, 2, "two", { v: 2 }, "2024-05-02 00:00:00"),
        row(s, 3, "after", { v: 30 }),
      ]);

      const hard = openCdcTable(kit, { hard_delete: true });
      await hard.write(CDC_SEED);
      await hard.truncate(new Date("2024-05-02T00:00:00Z"));
      await hard.write([`3,after,"{""v"":30}",,,20,`]);
      expect((await hard.rows(["id", "name"])).map((r) => [r.id, r.name])).toEqual([[s.integer(3), "after"]]);
    },
  },
  {
    name: "truncate on a table that never saw a delete gives it _sdc_deleted_at",
    async run(kit) {
      const h = openCdcTable(kit);
      await h.write(
        CDC_SEED.map((r) => r.replace(/,[^,]*,[^,]*,$/, "")),
        { columns: PLAIN_COLUMNS },
      );
      await h.truncate(new Date("2024-05-02T00:00:00Z"));
      const rows = await h.rows(["id", "_sdc_deleted_at"]);
      expect(rows.filter((r) => r._sdc_deleted_at !== null)).toHaveLength(3);
    },
  },
  {
    name: "with add_metadata_columns, _sdc_sequence holds the batch's sequence; _sdc_unchanged is never stored",
    async run(kit) {
      const s = kit.spelling;
      const h = openCdcTable(kit, { add_metadata_columns: true });
      await h.write(CDC_SEED);
      await h.write([`1,b,,,,101,2`, `1,a,,,,100,`, `2,,,,2024-05-01 10:00:00+00,102,${DELETE_UNCHANGED}`]);
      const rows = await h.rows([
        "id",
        "name",
        "doc",
        "_sdc_deleted_at",
        "_sdc_sequence",
        "_sdc_table_version",
        "_sdc_extracted_at",
      ]);
      const metadata = (sequence: number) => ({
        _sdc_sequence: s.integer(sequence),
        _sdc_table_version: s.integer(7),
        _sdc_extracted_at: s.instant("2024-06-01 00:00:00"),
      });
      expect(rows).toEqual([
        { ...row(s, 1, "b", null), ...metadata(101) },
        { ...row(s, 2, "two", { v: 2 }, "2024-05-01 10:00:00"), ...metadata(102) },
        { ...row(s, 3, "three", { v: 3 }), ...metadata(3) },
      ]);
      expect(await kit.tableColumns(h.place)).not.toContain("_sdc_unchanged");
    },
  },
];

/** A case outside the upsert block: a stream's column gone from the source. */
const DROPPED_COLUMN_CASE: CdcCase = {
  name: "a column the stream no longer has keeps its stored values through merges",
  async run(kit) {
    const before = openCdcTable(
      kit,
      {},
      {
        schema: {
          ...CDC_SCHEMA,
          columns: [
            ...CDC_SCHEMA.columns,
            { name: "legacy", type: { kind: "string", sqlType: "text" }, nullable: true },
          ],
        },
      },
    );
    await before.write(
      CDC_SEED.map((r, i) => r.replace(/,[^,]*,[^,]*,$/, `,old-${i + 1}`)),
      { columns: [...PLAIN_COLUMNS, "legacy"] },
    );
    await before.close();
    const after = openCdcTable(kit, {}, { place: before.place });
    await after.write([
      `1,renamed,,,,10,2`,
      `2,,,,2024-05-01 10:00:00+00,11,${DELETE_UNCHANGED}`,
      `3,three-b,"{}",,,12,`,
    ]);
    const s = kit.spelling;
    expect(await after.rows(["id", "name", "legacy"])).toEqual([
      { id: s.integer(1), name: "renamed", legacy: "old-1" },
      { id: s.integer(2), name: "two", legacy: "old-2" },
      { id: s.integer(3), name: "three-b", legacy: "old-3" },
    ]);
  },
};

const APPEND_ONLY_CASE: CdcCase = {
  name: "rows are appended as they are: deletes keep _sdc_deleted_at, uncarried fields are NULL",
  async run(kit) {
    const s = kit.spelling;
    const h = openCdcTable(kit, { load_method: "append-only", add_metadata_columns: true });
    await h.write([
      `1,one,"{""v"":1}",,,5,`,
      `1,,,,2024-05-01 10:00:00+00,7,${DELETE_UNCHANGED}`,
      `1,renamed,,,,6,2`,
    ]);
    const rows = await h.rows(["id", "name", "doc", "_sdc_deleted_at", "_sdc_sequence"], "_sdc_sequence");
    expect(rows).toEqual([
      { ...row(s, 1, "one", { v: 1 }), _sdc_sequence: s.integer(5) },
      { ...row(s, 1, "renamed", null), _sdc_sequence: s.integer(6) },
      { ...row(s, 1, null, null, "2024-05-01 10:00:00"), _sdc_sequence: s.integer(7) },
    ]);
  },
};

/** Every case's name, for `only`. */
export const CDC_CASE_NAMES: readonly string[] = [
  ...UPSERT_CASES.map((c) => c.name),
  DROPPED_COLUMN_CASE.name,
  APPEND_ONLY_CASE.name,
];

export interface CdcSuiteOptions {
  /**
   * The cases to register (default: all). A loader whose tests do not yet cover every case
   * names those it runs; a name that is no case throws.
   */
  only?: readonly string[];
  /** Case name → words appended to its test name, in parentheses, for this loader. */
  notes?: Readonly<Record<string, string>>;
  /** What the upsert block's title says in parentheses; default `upsert`. */
  upsertTitle?: string;
  timeoutMs?: number;
}

/**
 * Registers the kit's cases for one loader: `<loader> applies change batches exactly (upsert)`,
 * the dropped-column case, and `<loader> with change batches, append-only`.
 */
export function runCdcLoaderCases(kit: CdcLoaderKit, options: CdcSuiteOptions = {}): void {
  for (const name of [...(options.only ?? []), ...Object.keys(options.notes ?? {})]) {
    if (!CDC_CASE_NAMES.includes(name)) throw new Error(`no CDC case "${name}"`);
  }
  const runs = (c: CdcCase): boolean => !options.only || options.only.includes(c.name);
  const register = (c: CdcCase): void => {
    const note = options.notes?.[c.name];
    test(note ? `${c.name} (${note})` : c.name, () => c.run(kit), options.timeoutMs);
  };
  describe(`${kit.loader} applies change batches exactly (${options.upsertTitle ?? "upsert"})`, () => {
    UPSERT_CASES.filter(runs).forEach(register);
  });
  if (runs(DROPPED_COLUMN_CASE)) register(DROPPED_COLUMN_CASE);
  if (runs(APPEND_ONLY_CASE)) {
    describe(`${kit.loader} with change batches, append-only`, () => register(APPEND_ONLY_CASE));
  }
}
