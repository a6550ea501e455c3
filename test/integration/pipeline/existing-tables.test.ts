import fs from "node:fs";
import path from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import type { PluginConfig } from "../../../src/connectors/connector.js";
import type { RunEvent, RunSummary } from "../../../src/runner/run-events.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { runToDuckdb, tempDir, type TestRunOptions } from "../../support/pipeline.js";
import { describeDifference, duckdbRowTexts, sourceRowTexts } from "../../support/table-diff.js";
import { SqliteSystemDatabase } from "../../../src/state/sqlite-system-database.js";
import { runToPostgres, utcQuery } from "../connectors/postgres-target-support.js";

/**
 * Switching from Meltano (issue 18, item 6): sluice continues into tables another target created,
 * as pipelinewise target-postgres and jwills target-duckdb create them (their documented type
 * mappings: arrays as jsonb/JSON, numbers as double precision/DOUBLE, uuids as varchar, date-times
 * without their offset), under FULL_TABLE, INCREMENTAL and LOG_BASED. Their column types stay; the
 * values are the source's in those types; one warning per table and run names what is lost. A
 * column that cannot hold the values refuses the stream with the table exactly as it was, and
 * `existing_tables: rebuild` rebuilds it with sluice's types only from a whole copy.
 */
let source: TestDatabase;
let warehouse: TestDatabase;
let root: string;

const SOURCE_TABLE = (name: string) => `
  CREATE TABLE ${name} (id int PRIMARY KEY, ref uuid, price numeric(12,2), qty int, tags text[],
    placed_at timestamptz, note text, paid boolean, updated_at timestamptz NOT NULL);
  INSERT INTO ${name} VALUES
    (1, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 12.34, 3, '{red,"large size"}', '2024-01-02 03:04:05.123+02', 'first', true, '2024-01-01 00:00:00+00'),
    (2, NULL, 1234567890.12, NULL, '{}', NULL, NULL, false, '2024-01-01 00:00:01+00'),
    (3, 'b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', -0.5, 7, NULL, '1999-12-31 23:59:59+00', 'three', NULL, '2024-01-01 00:00:02+00');`;

/** A later change at the source: one row updated, one inserted, one deleted (not INCREMENTAL: it cannot see deletes). */
const CHANGES = (name: string, deletes = true) => `
  UPDATE ${name} SET price = 99.99, tags = '{blue}', note = 'changed', updated_at = '2024-02-01 00:00:00+00' WHERE id = 1;
  INSERT INTO ${name} VALUES (4, 'c0eebc99-9c0b-4ef8-bb6d-6bb9bd380a13', 0.01, 1, '{x}', '2024-03-03 12:00:00-05', 'four', true, '2024-02-01 00:00:01+00');
  ${deletes ? `DELETE FROM ${name} WHERE id = 2;` : ""}`;

/**
 * The table pipelinewise target-postgres creates for that stream (`column_type` of its db_sync.py:
 * an integer with a maximum by its range, number double precision, array jsonb, date-time
 * timestamp without time zone, any other string character varying; `_sdc_deleted_at` a string),
 * holding a row it loaded.
 */
const PIPELINEWISE_TABLE = (schema: string, name: string) => `
  CREATE SCHEMA IF NOT EXISTS ${schema};
  CREATE TABLE ${schema}.${name} (id integer, ref character varying, price double precision, qty integer,
    tags jsonb, placed_at timestamp without time zone, note character varying, paid boolean,
    updated_at timestamp without time zone, _sdc_extracted_at timestamp without time zone,
    _sdc_batched_at timestamp without time zone, _sdc_deleted_at character varying, PRIMARY KEY (id));
  INSERT INTO ${schema}.${name} (id, ref, price, qty, tags, placed_at, note, paid, updated_at)
    VALUES (1, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 1.5, 1, '["old"]', '2023-01-01 00:00:00', 'old', false, '2023-01-01 00:00:00');`;

/** The same as jwills target-duckdb creates it (its `column_type`: json, timestamp, double, varchar). */
const JWILLS_TABLE = (schema: string, name: string) => `
  CREATE SCHEMA IF NOT EXISTS ${schema};
  CREATE TABLE ${schema}.${name} (id INTEGER, ref VARCHAR, price DOUBLE, qty INTEGER, tags JSON,
    placed_at TIMESTAMP, note VARCHAR, paid BOOLEAN, updated_at TIMESTAMP, _sdc_extracted_at TIMESTAMP,
    _sdc_batched_at TIMESTAMP, _sdc_deleted_at VARCHAR, PRIMARY KEY (id));
  INSERT INTO ${schema}.${name} (id, ref, price, qty, tags, placed_at, note, paid, updated_at)
    VALUES (1, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 1.5, 1, '["old"]', '2023-01-01 00:00:00', 'old', false, '2023-01-01 00:00:00');`;

/**
 * Each source row in the representation the kept columns hold, as text; the warehouse's rows are
 * read into the same text. `json` is how the warehouse prints a JSON array.
 */
const EXPECTED = (json: "jsonb" | "json") => `concat_ws('|', ref::text, price::float8::text, qty::text,
  to_${json}(tags)::text, (placed_at AT TIME ZONE 'UTC')::text, note, paid::text, (updated_at AT TIME ZONE 'UTC')::text)`;
const PG_ROW = `concat_ws('|', ref, price::text, qty::text, tags::text, placed_at::text, note, paid::text, updated_at::text)`;
const DUCKDB_ROW = `concat_ws('|', ref, price::VARCHAR, qty::VARCHAR, tags::VARCHAR, placed_at::VARCHAR, note, paid::VARCHAR, updated_at::VARCHAR)`;

const METHODS = {
  FULL_TABLE: { "replication-method": "FULL_TABLE" },
  INCREMENTAL: { "replication-method": "INCREMENTAL", "replication-key": "updated_at" },
  LOG_BASED: { "replication-method": "LOG_BASED" },
} as const;
type Method = keyof typeof METHODS;

beforeAll(async () => {
  source = await createTestDatabase("existing_src");
  warehouse = await createTestDatabase("existing_wh");
  root = tempDir("sluice-existing-tables-");
});

async function dropSlots(): Promise<void> {
  await source?.query(
    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database() AND NOT active",
  );
}

afterEach(dropSlots);

afterAll(async () => {
  await dropSlots();
  await source?.drop();
  await warehouse?.drop();
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

async function duckdb(file: string, sql: string): Promise<Record<string, unknown>[]> {
  const instance = await DuckDBInstance.create(file);
  try {
    const connection = await instance.connect();
    try {
      return (await connection.runAndReadAll(sql)).getRowObjectsJS();
    } finally {
      connection.closeSync();
    }
  } finally {
    instance.closeSync();
  }
}

/** One warehouse: how its other-target tables are made, read and run into. */
interface Warehouse {
  name: "postgres" | "duckdb";
  /** Creates the other target's table `schema.table` with its row. */
  create(schema: string, table: string): Promise<void>;
  /** The table's columns and types, in order. */
  columns(schema: string, table: string): Promise<string[]>;
  /** Where a run keeps its state (`.sluice/sluice.db`). */
  workDir(schema: string): string;
  /** The table's comment (sluice's mark on its own tables). */
  comment(schema: string, table: string): Promise<string | null>;
  /** Runs SQL in the warehouse. */
  exec(sql: string): Promise<void>;
  /** Every row, as text, in key order. */
  dump(schema: string, table: string): Promise<string[]>;
  /** Live rows as key → text (see `EXPECTED`). */
  rows(schema: string, table: string): Promise<Map<string, string>>;
  expected: string;
  run(options: {
    name: string;
    schema: string;
    streams: Record<string, unknown>;
    target?: PluginConfig;
    fullRefresh?: boolean;
    observer: (e: RunEvent) => void;
  }): Promise<RunSummary>;
}

function postgresWarehouse(): Warehouse {
  return {
    name: "postgres",
    workDir: (schema) => path.join(root, schema),
    create: async (schema, table) => {
      await utcQuery(warehouse, PIPELINEWISE_TABLE(schema, table));
    },
    columns: async (schema, table) =>
      (
        await utcQuery<{ c: string }>(
          warehouse,
          `SELECT a.attname || ' ' || format_type(a.atttypid, a.atttypmod) AS c FROM pg_attribute a
            WHERE a.attrelid = '${schema}.${table}'::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
        )
      ).map((r) => r.c),
    comment: async (schema, table) =>
      (
        await utcQuery<{ c: string | null }>(
          warehouse,
          `SELECT obj_description('${schema}.${table}'::regclass, 'pg_class') AS c`,
        )
      )[0]!.c,
    exec: async (sql) => {
      await utcQuery(warehouse, sql);
    },
    dump: async (schema, table) =>
      (
        await utcQuery<{ t: string }>(warehouse, `SELECT t::text AS t FROM ${schema}.${table} t ORDER BY id`)
      ).map((r) => r.t),
    rows: async (schema, table) => {
      const rows = await utcQuery<{ k: string; v: string }>(
        warehouse,
        `SELECT id::text AS k, ${PG_ROW} AS v FROM ${schema}.${table} WHERE _sdc_deleted_at IS NULL`,
      );
      return new Map(rows.map((r) => [r.k, r.v]));
    },
    expected: EXPECTED("jsonb"),
    run: (options) =>
      runToPostgres({
        ...common(options),
        source,
        warehouse,
        target: { default_target_schema: options.schema, ...options.target },
      }),
  };
}

function duckdbWarehouse(): Warehouse {
  const file = (): string => path.join(root, "duckdb", "warehouse.duckdb");
  return {
    name: "duckdb",
    workDir: () => path.join(root, "duckdb"),
    create: async (schema, table) => {
      fs.mkdirSync(path.dirname(file()), { recursive: true });
      await duckdb(file(), JWILLS_TABLE(schema, table));
    },
    columns: async (schema, table) =>
      (
        await duckdb(
          file(),
          `SELECT column_name || ' ' || data_type AS c FROM duckdb_columns() WHERE schema_name = '${schema}' AND table_name = '${table}' ORDER BY column_index`,
        )
      ).map((r) => String(r.c)),
    comment: async (schema, table) => {
      const rows = await duckdb(
        file(),
        `SELECT comment FROM duckdb_tables() WHERE schema_name = '${schema}' AND table_name = '${table}'`,
      );
      return (rows[0]?.comment as string | null | undefined) ?? null;
    },
    exec: async (sql) => {
      fs.mkdirSync(path.dirname(file()), { recursive: true });
      await duckdb(file(), sql);
    },
    dump: async (schema, table) =>
      (await duckdb(file(), `SELECT CAST(t AS VARCHAR) AS t FROM ${schema}.${table} t ORDER BY id`)).map(
        (r) => String(r.t),
      ),
    rows: async (schema, table) => {
      const result = await duckdbRowTexts(
        file(),
        `SELECT id::VARCHAR AS k, ${DUCKDB_ROW} AS v FROM ${schema}.${table} WHERE _sdc_deleted_at IS NULL`,
      );
      expect(result.duplicates).toEqual([]);
      return result.rows;
    },
    expected: EXPECTED("json"),
    run: (options) =>
      runToDuckdb({
        ...common(options),
        db: source,
        workDir: path.join(root, "duckdb"),
        target: { default_target_schema: options.schema, ...options.target },
      }),
  };
}

/** The run options both warehouses share: the stream of `public.<name>`, a slot and state of its own. */
function common(options: {
  name: string;
  schema: string;
  streams: Record<string, unknown>;
  fullRefresh?: boolean;
  observer: (e: RunEvent) => void;
}): Omit<TestRunOptions, "db"> {
  const dir = path.join(root, options.schema);
  fs.mkdirSync(dir, { recursive: true });
  return {
    workDir: dir,
    streams: { [`public-${options.name}`]: options.streams },
    stateId: `test:${options.schema}:${options.name}`,
    tap: { tap_id: `${options.schema}_${options.name}`, logical_poll_total_seconds: 1 },
    observer: options.observer,
    ...(options.fullRefresh ? { fullRefresh: true } : {}),
  };
}

/** Runs once; the run must fail: its error. */
async function runError(
  w: Warehouse,
  options: Omit<Parameters<Warehouse["run"]>[0], "observer">,
): Promise<string> {
  const outcome = await w.run({ ...options, observer: () => undefined }).then(
    (summary) => summary.error ?? `the run ended ${summary.status}`,
    (error: unknown) => (error as Error).message,
  );
  return outcome;
}

/** Runs once; the run must succeed; returns its warnings. */
async function runOk(
  w: Warehouse,
  options: Omit<Parameters<Warehouse["run"]>[0], "observer">,
): Promise<string[]> {
  const warnings: string[] = [];
  const summary = await w.run({
    ...options,
    observer: (e) => e.type === "warning" && warnings.push(e.message),
  });
  expect(summary.status, summary.error ?? "").toBe("success");
  return warnings;
}

async function expectSourceRows(w: Warehouse, schema: string, table: string): Promise<void> {
  const expected = await sourceRowTexts(source, `SELECT id::text AS k, ${w.expected} AS v FROM ${table}`);
  expect(describeDifference(expected, await w.rows(schema, table)), `${w.name} ${schema}.${table}`).toBe("");
}

describe.each([postgresWarehouse(), duckdbWarehouse()])("$name: another target's tables", (w) => {
  const schema = `${w.name === "postgres" ? "pw" : "jw"}`;

  test.each(["FULL_TABLE", "INCREMENTAL", "LOG_BASED"] as Method[])(
    "%s continues into the table as it is, one warning a run naming the fidelity lost",
    async (method) => {
      const table = `${method.toLowerCase()}_${w.name}`;
      await source.query(SOURCE_TABLE(table));
      await w.create(schema, table);
      const shape = await w.columns(schema, table);
      for (const round of [1, 2]) {
        if (round === 2) await source.query(CHANGES(table, method !== "INCREMENTAL"));
        // LOG_BASED with sluice's metadata columns: the other target's `_sdc_*` are kept too.
        const target = method === "LOG_BASED" ? { add_metadata_columns: true } : {};
        const warnings = await runOk(w, { name: table, schema, streams: METHODS[method], target });
        // Its types as the other target made them, the source's values in them.
        const columns = await w.columns(schema, table);
        expect(columns.slice(0, shape.length)).toEqual(shape);
        // Only sluice's metadata columns the other target did not have are added.
        expect(columns.slice(shape.length).map((c) => c.split(" ")[0])).toEqual(
          method === "LOG_BASED" ? ["_sdc_received_at", "_sdc_sequence", "_sdc_table_version"] : [],
        );
        await expectSourceRows(w, schema, table);
        const about = warnings.filter((m) => m.includes(`${schema}.${table} was not created by sluice`));
        expect(about, warnings.join("\n")).toHaveLength(1);
        expect(about[0]).toMatch(
          /price: numeric\(12,2\) in a double precision column: about 15 significant digits kept|price: DECIMAL\(12,2\) in a DOUBLE column: about 15 significant digits kept/,
        );
        expect(about[0]).toMatch(/tags: .+ in a (jsonb|JSON) column: kept as a JSON array/);
        expect(about[0]).toMatch(
          /placed_at: .+ in a (timestamp without time zone|TIMESTAMP) column: the offset is not kept/,
        );
        expect(about[0]).toMatch(
          /ref: (uuid|UUID) in a (character varying|VARCHAR) column: kept as its text/,
        );
        expect(about[0]).not.toMatch(/- (id|qty|paid):/);
        if (method === "LOG_BASED") {
          expect(about[0]).toMatch(
            /_sdc_deleted_at: .+ in a (character varying|VARCHAR) column: kept as its text/,
          );
          expect(about[0]).toMatch(/_sdc_batched_at: .+ in a (timestamp without time zone|TIMESTAMP) column/);
        }
        expect(about[0]).toContain("existing_tables: rebuild");
      }
    },
  );

  test.each(["FULL_TABLE", "INCREMENTAL", "LOG_BASED"] as Method[])(
    "%s: a column that cannot hold the values refuses the stream and leaves the table exactly as it was",
    async (method) => {
      const table = `refused_${method.toLowerCase()}_${w.name}`;
      await source.query(SOURCE_TABLE(table));
      // The source's `qty` is text now; the other target's column an integer (text into integer).
      await source.query(`ALTER TABLE ${table} ALTER COLUMN qty TYPE text`);
      await w.create(schema, table);
      const before = { columns: await w.columns(schema, table), rows: await w.dump(schema, table) };
      const error = await runError(w, { name: table, schema, streams: METHODS[method] });
      expect(error).toContain(`${schema}.${table} was not created by sluice`);
      expect(error).toMatch(/- qty \((integer|INTEGER), sluice sends (text|VARCHAR)\)/);
      expect(error).toContain("existing_tables: rebuild");
      expect(error).toContain(`--full-refresh --select public-${table}`);
      expect(error).not.toMatch(/- (price|tags|ref)/);
      expect(await w.columns(schema, table)).toEqual(before.columns);
      expect(await w.dump(schema, table)).toEqual(before.rows);
    },
  );

  test("existing_tables: rebuild refuses without --full-refresh, and with it rebuilds the table with sluice's types", async () => {
    const table = `rebuilt_${w.name}`;
    await source.query(SOURCE_TABLE(table));
    await w.create(schema, table);
    const before = { columns: await w.columns(schema, table), rows: await w.dump(schema, table) };
    const target = { existing_tables: "rebuild" };
    const refused = await runError(w, { name: table, schema, streams: METHODS.INCREMENTAL, target });
    expect(refused).toContain("with `existing_tables: rebuild` it is rebuilt only from a whole copy");
    expect(refused).toContain(`--full-refresh --select public-${table}`);
    expect(await w.columns(schema, table)).toEqual(before.columns);
    expect(await w.dump(schema, table)).toEqual(before.rows);

    const warnings = await runOk(w, {
      name: table,
      schema,
      streams: METHODS.INCREMENTAL,
      target,
      fullRefresh: true,
    });
    expect(warnings.filter((m) => m.includes("was not created by sluice"))).toEqual([]);
    const columns = await w.columns(schema, table);
    expect(columns).toContain(w.name === "postgres" ? "price numeric(12,2)" : "price DECIMAL(12,2)");
    expect(columns).toContain(w.name === "postgres" ? "tags text[]" : "tags VARCHAR[]");
    expect(columns).toContain(w.name === "postgres" ? "ref uuid" : "ref UUID");
    // The rebuilt table is sluice's: the next run continues it without a word.
    await source.query(CHANGES(table, false));
    expect(
      (await runOk(w, { name: table, schema, streams: METHODS.INCREMENTAL, target })).filter((m) =>
        m.includes("was not created by sluice"),
      ),
    ).toEqual([]);
    const rows = await w.dump(schema, table);
    expect(rows).toHaveLength(4);
    expect(rows[0]).toContain("99.99");
  });

  test("a table with sluice's own types and no comment (an earlier sluice's) is adopted as sluice's", async () => {
    const table = `adopted_${w.name}`;
    await source.query(`CREATE TABLE ${table} (id int PRIMARY KEY, name text, updated_at timestamptz NOT NULL);
      INSERT INTO ${table} VALUES (1, 'one', now())`);
    const types =
      w.name === "postgres"
        ? ["integer", "text", "timestamp with time zone"]
        : ["INTEGER", "VARCHAR", "TIMESTAMPTZ"];
    await w.exec(
      `CREATE SCHEMA IF NOT EXISTS ${schema}; CREATE TABLE ${schema}.${table} (id ${types[0]} PRIMARY KEY, name ${types[1]}, updated_at ${types[2]})`,
    );
    expect(await w.comment(schema, table)).toBeNull();
    const warnings = await runOk(w, { name: table, schema, streams: METHODS.INCREMENTAL });
    expect(warnings.filter((m) => m.includes("was not created by sluice"))).toEqual([]);
    expect(await w.comment(schema, table)).toBe("sluice: created with sluice's column types");
  });

  test("INCREMENTAL from a state imported from pipelinewise: its rows stay, the rest arrive, none lost", async () => {
    const table = `imported_${w.name}`;
    await source.query(SOURCE_TABLE(table));
    // Row 1 as pipelinewise loaded it (the fixture's row), before its bookmark; rows 2 and 3 after.
    await source.query(
      `UPDATE ${table} SET price = 1.5, qty = 1, tags = '{old}', placed_at = '2023-01-01 00:00:00+00', note = 'old',
         paid = false, updated_at = '2023-01-01 00:00:00+00' WHERE id = 1`,
    );
    await w.create(schema, table);
    // The state pipelinewise-tap-postgres left, as `sluice state import` stores it.
    const options = common({ name: table, schema, streams: METHODS.INCREMENTAL, observer: () => undefined });
    const system = await SqliteSystemDatabase.open({
      path: path.join(w.workDir(schema), ".sluice", "sluice.db"),
    });
    try {
      await system.stateStore.set(options.stateId!, {
        bookmarks: {
          [`public-${table}`]: {
            last_replication_method: "INCREMENTAL",
            replication_key: "updated_at",
            replication_key_value: "2023-06-01T00:00:00+00:00",
            version: 1700000000000,
          },
        },
      });
    } finally {
      await system.close();
    }
    const warnings: string[] = [];
    let loaded = 0;
    const summary = await w.run({
      name: table,
      schema,
      streams: METHODS.INCREMENTAL,
      observer: (e) => {
        if (e.type === "warning") warnings.push(e.message);
        if (e.type === "batch-loaded") loaded += e.rows;
      },
    });
    expect(summary.status, summary.error ?? "").toBe("success");
    // From the bookmark on: rows 2 and 3, into the table as pipelinewise made it.
    expect(loaded).toBe(2);
    expect(warnings.filter((m) => m.includes("was not created by sluice"))).toHaveLength(1);
    await expectSourceRows(w, schema, table);
  });

  test("a value the kept column cannot hold (a numeric beyond double precision) fails the run naming the column", async () => {
    const table = `overflow_${w.name}`;
    await source.query(SOURCE_TABLE(table));
    await source.query(
      `ALTER TABLE ${table} ALTER COLUMN price TYPE numeric; UPDATE ${table} SET price = 1e400 WHERE id = 3`,
    );
    await w.create(schema, table);
    const before = await w.dump(schema, table);
    const error = await runError(w, { name: table, schema, streams: METHODS.INCREMENTAL });
    expect(error).toMatch(/price \(double precision\)|column "price" \(DOUBLE\) cannot hold the value 1000/);
    expect(error).toContain(`public-${table}`);
    // The batch is one transaction: nothing of it landed.
    expect(await w.dump(schema, table)).toEqual(before);
  });
});
