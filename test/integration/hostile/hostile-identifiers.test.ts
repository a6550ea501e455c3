import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { runToDuckdb, tempDir } from "../../support/pipeline.js";
import {
  createVictims,
  dropSlots,
  duckdbValues,
  INJECTION,
  jsonlRecords,
  lit,
  postgresValues,
  q,
  runToJsonl,
  victimRows,
} from "./hostile-support.js";

/**
 * Schema, table, column and type names built to break SQL that pastes identifiers in, moved by
 * each replication method into DuckDB and target-jsonl. Every name must arrive as it is, and
 * `victim` tables in PostgreSQL and in the DuckDB file (which an injected `DROP TABLE victim`
 * would remove) must survive every run. test/integration/connectors/identifiers.test.ts covers
 * one such table with FULL_TABLE; this file adds INCREMENTAL and LOG_BASED, hostile type names,
 * control characters, multi-byte names at PostgreSQL's 63-byte limit and target-jsonl.
 */
const SCHEMA = INJECTION;
const FULL_TABLE = `Robert'); DROP TABLE victim; --`;
const INCREMENTAL_TABLE = INJECTION;
const LOG_TABLE = `$$; DROP TABLE victim; $$ 日本 🎉`;
/** 63 bytes: 21 three-byte characters, PostgreSQL's longest name. */
const MULTIBYTE_63 = "日".repeat(21);
/** 64 bytes of two-byte characters: PostgreSQL keeps the 31 whole characters that fit in 63. */
const MULTIBYTE_64 = "é".repeat(32);
const DOMAIN = `evil domain "; DROP TABLE victim; --`;
const ENUM = `mood'); DROP TABLE victim; --`;
const ENUM_LABELS = ["happy", `'); DROP TABLE victim; --`, `"quoted", label`];

const COLUMNS = [
  "id",
  INJECTION,
  `'); DROP TABLE victim; --`,
  "$$; DROP TABLE victim; $$",
  "select",
  "Mixed Case",
  "semi;colon",
  "back\\slash",
  "new\nline",
  "tab\tand\u0001control",
  "ünï 日本 🎉",
  "x".repeat(63),
  MULTIBYTE_63,
  "a.b",
  "-",
  " ",
  '"',
  "$1",
  "?",
  "%s",
];

const streamId = (schema: string, table: string): string => `${schema}-${table}`;

let db: TestDatabase;

/** A value for each column of row `id`, which names the column it is in. */
function rowValues(id: number): string[] {
  return COLUMNS.map((c, i) => (i === 0 ? String(id) : `${c} ${id}`));
}

async function insertRows(table: string, ids: number[]): Promise<void> {
  for (const id of ids) {
    await db.query(
      `INSERT INTO ${q(SCHEMA)}.${q(table)} (${COLUMNS.map(q).join(", ")}) VALUES (${rowValues(id)
        .map((v, i) => (i === 0 ? v : lit(v)))
        .join(", ")})`,
    );
  }
}

/** The source table, every column as PostgreSQL's text, ordered by id. */
async function sourceRows(
  schema: string,
  table: string,
  columns: string[],
): Promise<Record<string, string | null>[]> {
  return postgresValues(
    db,
    `SELECT ${columns.map((c) => `${q(c)}::text AS ${q(c)}`).join(", ")} FROM ${q(schema)}.${q(table)} AS t ORDER BY t.id`,
  );
}

beforeAll(async () => {
  db = await createTestDatabase("hostile_ident");
  await db.query(`
    CREATE EXTENSION IF NOT EXISTS citext;
    CREATE SCHEMA ${q(SCHEMA)};
    CREATE DOMAIN ${q(SCHEMA)}.${q(DOMAIN)} AS text CHECK (VALUE <> ${lit(INJECTION)});
    CREATE TYPE ${q(SCHEMA)}.${q(ENUM)} AS ENUM (${ENUM_LABELS.map(lit).join(", ")});
    CREATE TABLE ${q(SCHEMA)}.${q(FULL_TABLE)} (${COLUMNS.map((c, i) => `${q(c)} ${i === 0 ? "integer PRIMARY KEY" : "text"}`).join(", ")});
    CREATE TABLE ${q(SCHEMA)}.${q(LOG_TABLE)} (${COLUMNS.map((c, i) => `${q(c)} ${i === 0 ? "integer PRIMARY KEY" : "text"}`).join(", ")});
    CREATE TABLE ${q(SCHEMA)}.${q(INCREMENTAL_TABLE)} (
      id integer PRIMARY KEY,
      ${q(INJECTION)} ${q(SCHEMA)}.${q(DOMAIN)} NOT NULL,
      ${q(ENUM)} ${q(SCHEMA)}.${q(ENUM)},
      ${q(ENUM + "[]")} ${q(SCHEMA)}.${q(ENUM)}[]);
    CREATE TABLE public.${q("t".repeat(63))} (id integer PRIMARY KEY, ${q("c".repeat(63))} text);
    CREATE TABLE public.${q(MULTIBYTE_63)} (id integer PRIMARY KEY, ${q(MULTIBYTE_63)} text);
    CREATE TABLE public.${q(MULTIBYTE_64)} (id integer PRIMARY KEY, ${q(MULTIBYTE_64)} text);
  `);
  await insertRows(FULL_TABLE, [1, 2, 3]);
  await insertRows(LOG_TABLE, [1, 2, 3]);
  for (const [id, key, label] of [
    [1, `a'); DROP TABLE victim; --`, ENUM_LABELS[1]!],
    [2, `b"; DROP TABLE victim; --`, ENUM_LABELS[2]!],
    [3, `c\\'; DROP TABLE victim; --`, ENUM_LABELS[0]!],
  ] as const) {
    await db.query(
      `INSERT INTO ${q(SCHEMA)}.${q(INCREMENTAL_TABLE)} VALUES ($1, $2, $3, ARRAY[$3, NULL]::${q(SCHEMA)}.${q(ENUM)}[])`,
      [id, key, label],
    );
  }
  for (const table of ["t".repeat(63), MULTIBYTE_63, MULTIBYTE_64.slice(0, 31)]) {
    await db.query(`INSERT INTO public.${q(table)} VALUES (1, ${lit(table)})`);
  }
});

afterAll(async () => {
  await dropSlots(db);
  await db?.drop();
});

const incrementalKey = { "replication-method": "INCREMENTAL", "replication-key": INJECTION };
const streams = {
  [streamId(SCHEMA, FULL_TABLE)]: { "replication-method": "FULL_TABLE" },
  [streamId(SCHEMA, INCREMENTAL_TABLE)]: incrementalKey,
  [streamId(SCHEMA, LOG_TABLE)]: { "replication-method": "LOG_BASED" },
  [streamId("public", "t".repeat(63))]: {},
  [streamId("public", MULTIBYTE_63)]: {},
  [streamId("public", MULTIBYTE_64.slice(0, 31))]: {},
};

/** Source changes between the first and second runs: new keys above the bookmark, and CDC. */
async function changeSource(round: number): Promise<void> {
  const base = round * 10;
  await insertRows(LOG_TABLE, [base + 1, base + 2]);
  await db.query(
    `UPDATE ${q(SCHEMA)}.${q(LOG_TABLE)} SET ${q(INJECTION)} = ${lit(`updated'; DROP TABLE victim; -- ${round}`)}, ${q("new\nline")} = NULL WHERE id = 2`,
  );
  await db.query(`DELETE FROM ${q(SCHEMA)}.${q(LOG_TABLE)} WHERE id = ${round === 1 ? 3 : 1}`);
  await db.query(`INSERT INTO ${q(SCHEMA)}.${q(INCREMENTAL_TABLE)} VALUES ($1, $2, $3, NULL)`, [
    base + 4,
    `d${round}"); DROP TABLE victim; --`,
    ENUM_LABELS[1],
  ]);
}

const incrementalColumns = ["id", INJECTION, ENUM, `${ENUM}[]`];

describe("hostile identifiers into DuckDB", () => {
  // With `_sdc_deleted_at` from the start, so live rows can be selected before any delete.
  const target = { add_metadata_columns: true };
  let workDir: string;
  let file: string;

  beforeAll(async () => {
    workDir = tempDir("sluice-hostile-ident-");
    file = path.join(workDir, "warehouse.duckdb");
    await createVictims(db, file);
  });

  async function expectWarehouseEqualsSource(): Promise<void> {
    for (const [schema, table, columns] of [
      [SCHEMA, FULL_TABLE, COLUMNS],
      [SCHEMA, LOG_TABLE, COLUMNS],
    ] as const) {
      const warehouse = await duckdbValues(
        file,
        `SELECT ${columns.map((c) => `CAST(${q(c)} AS VARCHAR) AS ${q(c)}`).join(", ")} FROM ${q(schema)}.${q(table)} AS t WHERE ${table === LOG_TABLE ? "_sdc_deleted_at IS NULL" : "true"} ORDER BY t.id`,
      );
      expect(warehouse, table).toEqual(await sourceRows(schema, table, columns));
    }
    const incremental = await duckdbValues(
      file,
      `SELECT id::VARCHAR AS id, ${q(INJECTION)}, ${q(ENUM)}, to_json(${q(`${ENUM}[]`)})::VARCHAR AS ${q(`${ENUM}[]`)} FROM ${q(SCHEMA)}.${q(INCREMENTAL_TABLE)} AS t ORDER BY t.id`,
    );
    const source = await postgresValues(
      db,
      `SELECT id::text AS id, ${q(INJECTION)}::text, ${q(ENUM)}::text, array_to_json(${q(`${ENUM}[]`)})::text AS ${q(`${ENUM}[]`)} FROM ${q(SCHEMA)}.${q(INCREMENTAL_TABLE)} AS t ORDER BY t.id`,
    );
    expect(incremental).toEqual(source);
  }

  test("every method moves the hostile tables intact, and the victims survive", async () => {
    const first = await runToDuckdb({ db, workDir, streams, stateId: "hostile:duckdb", target });
    expect(first.status).toBe("success");
    await expectWarehouseEqualsSource();
    await changeSource(1);
    const second = await runToDuckdb({ db, workDir, streams, stateId: "hostile:duckdb", target });
    expect(second.status).toBe("success");
    await expectWarehouseEqualsSource();
    expect(await victimRows(db, file)).toEqual({ postgres: "1", "duckdb main": "1", "duckdb public": "1" });
  });

  test("the DuckDB schema, tables and columns carry the source's names exactly", async () => {
    const tables = await duckdbValues(
      file,
      "SELECT schema_name, table_name FROM duckdb_tables() WHERE table_name <> 'victim' ORDER BY schema_name, table_name",
    );
    const expected = [
      [SCHEMA, FULL_TABLE],
      [SCHEMA, INCREMENTAL_TABLE],
      [SCHEMA, LOG_TABLE],
      ["public", "t".repeat(63)],
      ["public", MULTIBYTE_63],
      ["public", MULTIBYTE_64.slice(0, 31)],
    ].map(([schema_name, table_name]) => ({ schema_name, table_name }));
    expect(tables).toEqual(expect.arrayContaining(expected));
    expect(tables).toHaveLength(expected.length);
    const columns = await duckdbValues(
      file,
      `SELECT column_name FROM duckdb_columns() WHERE schema_name = ${lit(SCHEMA)} AND table_name = ${lit(FULL_TABLE)} ORDER BY column_index`,
    );
    expect(columns.map((c) => c.column_name).filter((c) => !c!.startsWith("_sdc_"))).toEqual(COLUMNS);
    const long = await duckdbValues(
      file,
      `SELECT id, ${q(MULTIBYTE_64.slice(0, 31))} FROM public.${q(MULTIBYTE_64.slice(0, 31))}`,
    );
    expect(long).toEqual([{ id: "1", [MULTIBYTE_64.slice(0, 31)]: MULTIBYTE_64.slice(0, 31) }]);
  });
});

describe("hostile identifiers into target-jsonl", () => {
  let workDir: string;
  const tap = { tap_id: "jsonl" };

  test("every method writes each hostile column under its own name, and the victim survives", async () => {
    workDir = tempDir("sluice-hostile-jsonl-");
    const jsonlStreams = {
      [streamId(SCHEMA, FULL_TABLE)]: { "replication-method": "FULL_TABLE" },
      [streamId(SCHEMA, INCREMENTAL_TABLE)]: incrementalKey,
      [streamId(SCHEMA, LOG_TABLE)]: { "replication-method": "LOG_BASED" },
      [streamId("public", MULTIBYTE_63)]: {},
    };
    expect((await runToJsonl({ db, workDir, streams: jsonlStreams, tap })).status).toBe("success");
    const full = jsonlRecords(workDir, streamId(SCHEMA, FULL_TABLE));
    const expectedFull = (await sourceRows(SCHEMA, FULL_TABLE, COLUMNS)).map((r) => ({
      ...r,
      id: Number(r.id),
    }));
    expect(full).toEqual(expectedFull);
    const logged = jsonlRecords(workDir, streamId(SCHEMA, LOG_TABLE));
    const copied = (await sourceRows(SCHEMA, LOG_TABLE, COLUMNS)).map((r) => ({ ...r, id: Number(r.id) }));
    expect([...logged].sort((a, b) => Number(a.id) - Number(b.id))).toEqual(copied);

    await changeSource(2);
    expect((await runToJsonl({ db, workDir, streams: jsonlStreams, tap })).status).toBe("success");
    // The change log: the copy, then each change, a delete with its key and `_sdc_deleted_at`.
    const changes = jsonlRecords(workDir, streamId(SCHEMA, LOG_TABLE)).slice(logged.length);
    const inserted = await sourceRows(SCHEMA, LOG_TABLE, COLUMNS);
    expect(changes.map((c) => [c.id, c._sdc_deleted_at === undefined ? "live" : "deleted"])).toEqual([
      [21, "live"],
      [22, "live"],
      [2, "live"],
      [1, "deleted"],
    ]);
    for (const change of changes.slice(0, 3)) {
      const { _sdc_sequence: sequence, ...values } = change;
      expect(typeof sequence).toBe("number");
      expect(values).toEqual({ ...inserted.find((r) => r.id === String(change.id)), id: change.id });
    }
    const incremental = jsonlRecords(workDir, streamId(SCHEMA, INCREMENTAL_TABLE));
    const source = await postgresValues(
      db,
      `SELECT id, ${q(INJECTION)}::text, ${q(ENUM)}::text, array_to_json(${q(`${ENUM}[]`)})::text AS ${q(`${ENUM}[]`)} FROM ${q(SCHEMA)}.${q(INCREMENTAL_TABLE)} ORDER BY ${q(INJECTION)}`,
    );
    // The second run starts again at the bookmark's key (>=), so that row arrives twice.
    const keys = incremental.map((r) => r[INJECTION]);
    expect(new Set(keys)).toEqual(new Set(source.map((r) => r[INJECTION])));
    const last = incremental.at(-1)!;
    const lastSource = source.find((r) => r[INJECTION] === last[INJECTION])!;
    expect(last).toEqual({
      id: Number(lastSource.id),
      [INJECTION]: lastSource[INJECTION],
      [ENUM]: lastSource[ENUM],
      [`${ENUM}[]`]: lastSource[`${ENUM}[]`] === null ? null : JSON.parse(lastSource[`${ENUM}[]`]!),
    });
    expect(incrementalColumns.every((c) => c in last)).toBe(true);
    expect(jsonlRecords(workDir, streamId("public", MULTIBYTE_63))).toEqual([
      { id: 1, [MULTIBYTE_63]: MULTIBYTE_63 },
    ]);
    const [victim] = await db.query<{ n: string }>("SELECT count(*)::text AS n FROM public.victim");
    expect(victim?.n).toBe("1");
  });
});

describe("names that differ only in case, and stream ids that clash", () => {
  // `a-b`.`c` and `a`.`b-c` are both `a-b-c` by Singer's rule; `x/y`.`z` and `x_y`.`z` once
  // shared one target-jsonl file.
  beforeAll(async () => {
    await db.query(`
      CREATE TABLE public."Orders" (id integer PRIMARY KEY, "Name" text, name text);
      INSERT INTO public."Orders" VALUES (1, 'upper table, upper column', 'upper table, lower column');
      CREATE TABLE public.orders (id integer PRIMARY KEY, v text); INSERT INTO public.orders VALUES (2, 'lower');
      CREATE SCHEMA "a-b"; CREATE TABLE "a-b".c (id integer PRIMARY KEY, x text); INSERT INTO "a-b".c VALUES (3, 'x');
      CREATE SCHEMA a; CREATE TABLE a."b-c" (k text PRIMARY KEY, y text); INSERT INTO a."b-c" VALUES ('4', 'y');
      CREATE SCHEMA "x/y"; CREATE TABLE "x/y".z (id integer PRIMARY KEY); INSERT INTO "x/y".z VALUES (5);
      CREATE SCHEMA x_y; CREATE TABLE x_y.z (id integer PRIMARY KEY); INSERT INTO x_y.z VALUES (6);
    `);
  });

  test("tables whose Singer ids clash are discovered as two streams, with their own columns and keys", async () => {
    const workDir = tempDir("sluice-hostile-clash-");
    const summary = await runToDuckdb({ db, workDir, streams: { '"a-b"-"c"': {}, '"a"-"b-c"': {} } });
    expect(summary.status).toBe("success");
    const file = path.join(workDir, "warehouse.duckdb");
    expect(await duckdbValues(file, 'SELECT * FROM "a-b".c')).toEqual([{ id: "3", x: "x" }]);
    expect(await duckdbValues(file, 'SELECT * FROM a."b-c"')).toEqual([{ k: "4", y: "y" }]);
  });

  test("target-jsonl keeps tables and columns that differ only in case, and streams whose names once mapped to one file", async () => {
    const workDir = tempDir("sluice-hostile-case-");
    const summary = await runToJsonl({
      db,
      workDir,
      streams: { "public-Orders": {}, "public-orders": {}, "x/y-z": {}, "x_y-z": {} },
    });
    expect(summary.status).toBe("success");
    expect(jsonlRecords(workDir, "public-Orders")).toEqual([
      { id: 1, Name: "upper table, upper column", name: "upper table, lower column" },
    ]);
    expect(jsonlRecords(workDir, "public-orders")).toEqual([{ id: 2, v: "lower" }]);
    expect(jsonlRecords(workDir, "x/y-z")).toEqual([{ id: 5 }]);
    expect(jsonlRecords(workDir, "x_y-z")).toEqual([{ id: 6 }]);
  });

  test("target-duckdb refuses columns that differ only in case, naming both", async () => {
    const workDir = tempDir("sluice-hostile-case-");
    await expect(runToDuckdb({ db, workDir, streams: { "public-Orders": {} } })).rejects.toThrow(
      /public-Orders has columns "Name" and "name", which differ only in case/,
    );
  });
});
