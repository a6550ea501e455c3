import path from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { runToDuckdb, tempDir } from "../../support/pipeline.js";
import { describeDifference, type RowTexts } from "../../support/table-diff.js";
import { dropSlots, duckdbValues, jsonlRecords, postgresValues, runToJsonl } from "./hostile-support.js";

/**
 * Values built to break CSV spooling, JSON encoding and DuckDB's reader: control characters next
 * to NUL (PostgreSQL text cannot hold U+0000 itself, but json can hold its `\u0000` escape),
 * Unicode line separators, a byte-order mark, non-characters, surrogate pairs, COPY's own
 * markers (`\.`, `\N`), 10 MB text and jsonb, and json nested 10,000 deep. Each moves by
 * FULL_TABLE, INCREMENTAL and LOG_BASED (copy, then the WAL, including an update that leaves the
 * 10 MB values in TOAST) into DuckDB and target-jsonl, and must arrive equal to the source.
 * large-values.test.ts checks a 12 MB jsonb by FULL_TABLE into DuckDB; this adds the other paths.
 */
const HOSTILE = [
  "\u0001",
  "\u0002",
  "\b",
  "\t",
  "\n",
  "\r",
  "\r\n",
  "\u000b",
  "\f",
  "\u001b",
  "\u001f",
  "\u007f",
  "\u0080",
  "\u0085",
  "\u00a0",
  "\u200b",
  "\u202e",
  "\u2028",
  "\u2029",
  "\ufeff",
  "\ufffd",
  "\ufffe",
  "\uffff",
  "\u{10ffff}",
  "𝄞",
  "🎉",
  "👩‍👩‍👧",
  "e\u0301",
  '"',
  "'",
  "\\",
  ",",
  ";",
  "\\.",
  "\\N",
  "NULL",
  "",
  " ",
];

/** Texts each hostile piece alone, framed, at the start and end, and all of them at once. */
const TEXTS = [
  ...HOSTILE,
  ...HOSTILE.map((h) => `a${h}b`),
  ...HOSTILE.map((h) => `${h}${h}x${h}`),
  HOSTILE.join(""),
  `\\.\n\\.`,
  `"\n"`,
];

const TABLES = ["full_rows", "incremental_rows", "logged_rows"] as const;

let db: TestDatabase;

/**
 * 10 MB of text with quotes, separators, COPY markers and line separators every ~100 characters
 * (denser quoting only slows every CSV reader down, it tests nothing more); and jsonb holding it.
 */
const BIG_TEXT = `ü日本 \u2028 line\n, "q" \\. \u0001 \ufeff${"x".repeat(83)}`.repeat(
  (10 * 1024 * 1024) / 100,
);
const BIG_JSON = JSON.stringify({ "k\u0001\u2028": BIG_TEXT, n: 1 });
/** json nested 10,000 deep (PostgreSQL's parser allows ~30,000). */
const DEEP_JSON = `${'{"a": ['.repeat(5000)}"\\u0000 deep"${"]}".repeat(5000)}`;

async function insertBigRow(table: string, id: number): Promise<void> {
  await db.query(`INSERT INTO ${table} (id, t, j, js, arr) VALUES ($1, $2, $3, $4, ARRAY[$5])`, [
    id,
    BIG_TEXT,
    BIG_JSON,
    DEEP_JSON,
    "\u2029".repeat(1000),
  ]);
}

async function insertRows(table: string, firstId: number): Promise<void> {
  // One statement: each db.query opens a connection, and hundreds of them cost a minute on a busy machine.
  const values = TEXTS.map(
    (_, i) =>
      `(${firstId + i}, $${2 * i + 1}, jsonb_build_object($${2 * i + 1}::text, $${2 * i + 1}::text, 'list', jsonb_build_array($${2 * i + 1}::text, NULL)), $${2 * i + 2}::json, ARRAY[$${2 * i + 1}, NULL, ''], $${2 * i + 1})`,
  );
  await db.query(
    `INSERT INTO ${table} (id, t, j, js, arr, c) VALUES ${values.join(", ")}, (${firstId + TEXTS.length}, NULL, NULL, NULL, NULL, NULL)`,
    TEXTS.flatMap((text) => [text, `{"raw": ${JSON.stringify(text)}, "nul": "\\u0000", "dup": 1, "dup": 2}`]),
  );
}

beforeAll(async () => {
  db = await createTestDatabase("hostile_values");
  for (const table of TABLES) {
    await db.query(
      `CREATE TABLE ${table} (id integer PRIMARY KEY, t text, j jsonb, js json, arr text[], c varchar(200))`,
    );
    await insertRows(table, 1);
    // large-values.test.ts moves a 12 MB jsonb by FULL_TABLE; here the other paths carry them.
    if (table === "logged_rows") await insertBigRow(table, 1000);
  }
});

afterAll(async () => {
  await dropSlots(db);
  await db?.drop();
});

const streams = {
  "public-full_rows": { "replication-method": "FULL_TABLE" },
  "public-incremental_rows": { "replication-method": "INCREMENTAL", "replication-key": "id" },
  "public-logged_rows": { "replication-method": "LOG_BASED" },
};

/** Changes for the second run: new rows above the bookmark, updates and a delete in the WAL. */
async function changeSource(firstId: number): Promise<void> {
  for (const table of ["incremental_rows", "logged_rows"]) {
    await insertRows(table, firstId);
    await insertBigRow(table, firstId + 500);
  }
  // Only `c` changes: the 10 MB values stay in TOAST and are left out of the WAL.
  await db.query(`UPDATE logged_rows SET c = $1 WHERE id = 1000`, [HOSTILE.join("")]);
  await db.query(`UPDATE logged_rows SET t = $1, js = $2 WHERE id = 2`, [
    `updated ${HOSTILE.join("|")}`,
    '"\\u0000"',
  ]);
  await db.query(`DELETE FROM logged_rows WHERE id = 3`);
}

/**
 * The source's rows, `key → column → text`: text columns as they are, jsonb and json as
 * PostgreSQL prints them (json keeps its text exactly), arrays as JSON. Values over 1 MB are
 * compared by md5 (done in SQL on both sides) so a failure prints something readable.
 */
async function sourceRows(table: string): Promise<Map<string, RowTexts>> {
  const rows = await postgresValues(
    db,
    `SELECT id::text AS k,
       CASE WHEN length(t) > 1000000 THEN 'md5 ' || md5(t) ELSE t END AS t,
       CASE WHEN length(j::text) > 1000000 THEN 'md5 ' || md5(j::text) ELSE j::text END AS j,
       CASE WHEN length(js::text) > 1000000 THEN 'md5 ' || md5(js::text) ELSE js::text END AS js,
       array_to_json(arr)::text AS arr, c
     FROM ${table}`,
  );
  return byColumn(rows, (column, value) => (column === "arr" ? JSON.stringify(JSON.parse(value)) : value));
}

async function warehouseRows(file: string, table: string, live: string): Promise<Map<string, RowTexts>> {
  // Each text behind a `|`: @duckdb/node-api decodes VARCHAR like TextDecoder, which drops a
  // leading byte-order mark (DuckDB itself holds it; PostgreSQL's client keeps it).
  const rows = await duckdbValues(
    file,
    `SELECT id::VARCHAR AS k,
       '|' || CASE WHEN length(t) > 1000000 THEN 'md5 ' || md5(t) ELSE t END AS t,
       '|' || CASE WHEN length(j::VARCHAR) > 1000000 THEN 'md5 ' || md5(j::VARCHAR) ELSE j::VARCHAR END AS j,
       '|' || CASE WHEN length(js::VARCHAR) > 1000000 THEN 'md5 ' || md5(js::VARCHAR) ELSE js::VARCHAR END AS js,
       '|' || to_json(arr)::VARCHAR AS arr, '|' || c AS c
     FROM public.${table} WHERE ${live}`,
  );
  return byColumn(rows, (column, prefixed) => {
    const value = prefixed.slice(1);
    return column === "arr" ? JSON.stringify(JSON.parse(value)) : value;
  });
}

/** Rows by key into one `RowTexts` per column, NULL shown as `<null>` (no text here is that). */
function byColumn(
  rows: Record<string, string | null>[],
  normalise: (column: string, value: string) => string,
): Map<string, RowTexts> {
  const columns = new Map<string, RowTexts>();
  for (const row of rows) {
    for (const [column, value] of Object.entries(row)) {
      if (column === "k") continue;
      if (!columns.has(column)) columns.set(column, new Map());
      columns.get(column)!.set(row.k!, value === null ? "<null>" : normalise(column, value));
    }
  }
  return columns;
}

function expectSame(expected: Map<string, RowTexts>, actual: Map<string, RowTexts>, table: string): void {
  expect([...actual.keys()]).toEqual([...expected.keys()]);
  for (const [column, values] of expected) {
    expect(describeDifference(values, actual.get(column)!), `${table}.${column}`).toBe("");
  }
}

/**
 * JSON text of a parsed value, keys in their order, without recursion: JSON.stringify overflows
 * the stack on the 10,000-deep document that JSON.parse reads.
 */
function canonicalJson(value: unknown): string {
  let out = "";
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    if (item instanceof Closer) {
      out += item.text;
    } else if (Array.isArray(item)) {
      out += "[";
      stack.push(new Closer("]"));
      for (let i = item.length - 1; i >= 0; i--) {
        stack.push(item[i]);
        if (i > 0) stack.push(new Closer(","));
      }
    } else if (item !== null && typeof item === "object") {
      const entries = Object.entries(item);
      out += "{";
      stack.push(new Closer("}"));
      for (let i = entries.length - 1; i >= 0; i--) {
        stack.push(entries[i]![1]);
        stack.push(new Closer(`${i > 0 ? "," : ""}${JSON.stringify(entries[i]![0])}:`));
      }
    } else {
      out += JSON.stringify(item);
    }
  }
  return out;
}

class Closer {
  constructor(readonly text: string) {}
}

/** target-jsonl's file of each table, replayed (the last line of a key wins, a delete drops it), equals the source. */
async function expectJsonlEqualsSource(workDir: string): Promise<void> {
  for (const table of TABLES) {
    // Replaying the file (the last line of a key wins, deletes drop it) gives the table.
    const replayed = new Map<string, Record<string, unknown>>();
    for (const record of jsonlRecords(workDir, `public-${table}`)) {
      if (record._sdc_deleted_at !== undefined) replayed.delete(String(record.id));
      else replayed.set(String(record.id), { ...replayed.get(String(record.id)), ...record });
    }
    const expected = await postgresValues(
      db,
      `SELECT id::text AS k, t, md5(t) AS t_md5, j::text AS j, js::text AS js, array_to_json(arr)::text AS arr, c FROM ${table}`,
    );
    const expectedRows = new Map<string, RowTexts>([
      ["t", new Map()],
      ["j", new Map()],
      ["js", new Map()],
      ["arr", new Map()],
      ["c", new Map()],
    ]);
    const actualRows = new Map<string, RowTexts>([...expectedRows.keys()].map((c) => [c, new Map()]));
    const big = (s: string): string => (s.length > 1_000_000 ? `${s.length} chars, ${s.slice(0, 20)}…` : s);
    for (const row of expected) {
      const record = replayed.get(row.k!) ?? {};
      const parsed = (v: string | null): string => (v === null ? "null" : big(canonicalJson(JSON.parse(v))));
      expectedRows.get("t")!.set(row.k!, big(JSON.stringify(row.t)));
      expectedRows.get("j")!.set(row.k!, parsed(row.j!));
      expectedRows.get("js")!.set(row.k!, parsed(row.js!));
      expectedRows.get("arr")!.set(row.k!, parsed(row.arr!));
      expectedRows.get("c")!.set(row.k!, JSON.stringify(row.c));
      for (const column of expectedRows.keys()) {
        actualRows.get(column)!.set(row.k!, big(canonicalJson(record[column] ?? null)));
      }
    }
    for (const column of expectedRows.keys()) {
      expect(
        describeDifference(expectedRows.get(column)!, actualRows.get(column)!),
        `${table}.${column}`,
      ).toBe("");
    }
    expect([...replayed.keys()].sort()).toEqual(expected.map((r) => r.k).sort());
  }
}

test("every method moves them into DuckDB and target-jsonl equal to the source, the 10 MB values included", async () => {
  const duckdbDir = tempDir("sluice-hostile-values-");
  const jsonlDir = tempDir("sluice-hostile-values-jsonl-");
  const file = path.join(duckdbDir, "warehouse.duckdb");
  const checkDuckdb = async (): Promise<void> => {
    for (const table of TABLES) {
      const live = table === "logged_rows" ? "_sdc_deleted_at IS NULL" : "true";
      expectSame(await sourceRows(table), await warehouseRows(file, table, live), table);
    }
  };
  const run = async (): Promise<void> => {
    const duckdb = await runToDuckdb({
      db,
      workDir: duckdbDir,
      streams,
      stateId: "hostile-values:duckdb",
      // The tests' usual 64MB: the loader must find the memory 20 MB rows need on its own.
      target: { add_metadata_columns: true },
    });
    expect(duckdb.status).toBe("success");
    // Its own slot (tap_id), so each loader's LOG_BASED position moves on its own.
    const jsonl = await runToJsonl({
      db,
      workDir: jsonlDir,
      streams,
      stateId: "hostile-values:jsonl",
      tap: { tap_id: "jsonl" },
    });
    expect(jsonl.status).toBe("success");
  };
  await run();
  await checkDuckdb();
  await changeSource(2000);
  await run();
  await checkDuckdb();
  await expectJsonlEqualsSource(jsonlDir);
}, 300_000);
