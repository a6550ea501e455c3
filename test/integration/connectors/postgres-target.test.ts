import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { PostgresTargetLoader } from "../../../src/connectors/postgres-target/postgres-target-loader.js";
import { PostgresExtractor } from "../../../src/connectors/postgres/postgres-extractor.js";
import { verifyStream } from "../../../src/verify/verify-streams.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { selectStreams, tapConfig, tempDir } from "../../support/pipeline.js";
import { postgresTargetConfig, rowTexts, runToPostgres, utcQuery } from "./postgres-target-support.js";

/**
 * tap-postgres into target-postgres, a second database on the suite's server as the warehouse:
 * full loads, three incremental runs of upserts, three LOG_BASED runs with updates and deletes,
 * and every PostgreSQL type arriving with its value and a faithful type. After each run the
 * warehouse's rows are compared with the source's as PostgreSQL prints them.
 */

let source: TestDatabase;
let warehouse: TestDatabase;
let workDir: string;

beforeAll(async () => {
  [source, warehouse] = await Promise.all([createTestDatabase("pgt_src"), createTestDatabase("pgt_wh")]);
  workDir = tempDir("sluice-pg-target-");
});

afterAll(async () => {
  await source?.query(
    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database() AND NOT active",
  );
  await Promise.all([source?.drop(), warehouse?.drop()]);
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

async function expectSameRows(
  table: string,
  key: string,
  options: { warehouseTable?: string; where?: string; columns?: string } = {},
): Promise<void> {
  const expected = await rowTexts(source, table, key, options.columns);
  const actual = await rowTexts(
    warehouse,
    `(SELECT * FROM ${options.warehouseTable ?? table}${options.where ? ` WHERE ${options.where}` : ""})`,
    key,
    options.columns,
  );
  expect(actual.size, `${table}: rows`).toBe(expected.size);
  expect(Object.fromEntries(actual)).toEqual(Object.fromEntries(expected));
}

describe("target-postgres: FULL_TABLE", () => {
  const weird = `"we""ird; tåble 名前"`;
  // 63 bytes, PostgreSQL's limit: `<table>__sluice_new` must be shortened, not cut to the table's name.
  const long = `"t${"ü".repeat(31)}"`;
  test("tables with hostile names load whole, and a full refresh replaces them atomically", async () => {
    await source.query(`
      CREATE TABLE ${weird} (${'"sel""ect; ü"'} integer PRIMARY KEY, "Value" text, value text, "drop table x;--" numeric(30,10));
      INSERT INTO ${weird} SELECT g, 'V' || g, 'v' || g, g / 7.0 FROM generate_series(1, 3000) g;
      CREATE TABLE ${long} (id int PRIMARY KEY, v text);
      INSERT INTO ${long} SELECT g, 'x' || g FROM generate_series(1, 10) g;`);
    const first = await runToPostgres({ source, warehouse, workDir, streams: "all" });
    expect(first.status, first.error).toBe("success");
    await expectSameRows(`public.${weird}`, `t.${'"sel""ect; ü"'}`);
    await expectSameRows(`public.${long}`, "t.id");
    // The warehouse table has the key as its primary key (INSERT ... ON CONFLICT needs one).
    const [pk] = await warehouse.query<{ def: string }>(
      `SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = 'public.${weird}'::regclass AND contype = 'p'`,
    );
    expect(pk?.def).toBe('PRIMARY KEY ("sel""ect; ü")');

    await source.query(
      `DELETE FROM ${weird} WHERE ${'"sel""ect; ü"'} % 3 = 0; UPDATE ${weird} SET value = 'changed' WHERE ${'"sel""ect; ü"'} = 1`,
    );
    // Readers of the old table are not blocked by the loading of the new one, and never see half.
    const second = await runToPostgres({ source, warehouse, workDir, streams: "all", fullRefresh: true });
    expect(second.status, second.error).toBe("success");
    await expectSameRows(`public.${weird}`, `t.${'"sel""ect; ü"'}`);
    await source.query(`DELETE FROM ${long} WHERE id > 5`);
    const third = await runToPostgres({ source, warehouse, workDir, streams: "all", fullRefresh: true });
    expect(third.status, third.error).toBe("success");
    await expectSameRows(`public.${long}`, "t.id");
    const leftovers = await warehouse.query(
      "SELECT relname FROM pg_class WHERE relname LIKE '%\\_\\_sluice\\_%' AND relkind = 'r'",
    );
    expect(leftovers).toEqual([]);
  });
});

describe("target-postgres: INCREMENTAL upserts over three runs", () => {
  test("updated rows replace their stored version, new rows are added, nothing twice", async () => {
    await source.query(`
      CREATE TABLE events (id bigint PRIMARY KEY, kind text, amount numeric(12,2), payload jsonb, updated_at timestamptz NOT NULL);
      INSERT INTO events SELECT g, 'k' || (g % 5), g * 1.5, jsonb_build_object('g', g),
        timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second' FROM generate_series(1, 5000) g;`);
    const streams = {
      "public-events": { "replication-method": "INCREMENTAL", "replication-key": "updated_at" },
    };
    const run = async (): Promise<void> => {
      const summary = await runToPostgres({
        source,
        warehouse,
        workDir,
        streams,
        tap: { batch_size_rows: 1000 },
        stateId: "test:incremental",
      });
      expect(summary.status, summary.error).toBe("success");
      await expectSameRows("public.events", "t.id");
    };
    await run();
    await source.query(`
      UPDATE events SET kind = 'updated', payload = payload || '{"run": 2}', updated_at = timestamptz '2025-01-01 00:00:00+00' + id * interval '1 ms'
        WHERE id % 10 = 0;
      INSERT INTO events SELECT g, 'new', g, NULL, timestamptz '2025-02-01 00:00:00+00' FROM generate_series(5001, 5500) g;`);
    await run();
    await source.query(`
      UPDATE events SET amount = -amount, updated_at = timestamptz '2025-03-01 00:00:00+00' WHERE id % 7 = 0 OR id > 5400;`);
    await run();
  });
});

describe("target-postgres: LOG_BASED over three runs", () => {
  test("inserts, updates, deletes and a TRUNCATE arrive: soft deletes kept marked, unchanged TOAST values kept", async () => {
    // ~6 kB of random hex: PostgreSQL stores it out of line, and updates not touching it leave it out of the WAL.
    const toasted = "(SELECT string_agg(md5(random()::text || g::text), '') FROM generate_series(1, 200) g)";
    await source.query(`
      CREATE TABLE accounts (id int PRIMARY KEY, name text, balance numeric(14,2), tags text[], big text);
      INSERT INTO accounts SELECT g, 'acct ' || g, g * 10, ARRAY['t' || g], CASE WHEN g <= 30 THEN ${toasted} END
        FROM generate_series(1, 2000) g;
      CREATE TABLE sessions (id int PRIMARY KEY, started timestamptz);
      INSERT INTO sessions SELECT g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 hour' FROM generate_series(1, 100) g;`);
    const streams = {
      "public-accounts": { "replication-method": "LOG_BASED" },
      "public-sessions": { "replication-method": "LOG_BASED" },
    };
    const run = async (): Promise<void> => {
      const summary = await runToPostgres({
        source,
        warehouse,
        workDir,
        streams,
        tap: { logical_poll_total_seconds: 2 },
        target: { add_metadata_columns: true },
        stateId: "test:log-based",
      });
      expect(summary.status, summary.error).toBe("success");
      await expectSameRows("public.accounts", "t.id", {
        where: "_sdc_deleted_at IS NULL",
        columns: "t.id, t.name, t.balance, t.tags, t.big",
      });
      await expectSameRows("public.sessions", "t.id", {
        where: "_sdc_deleted_at IS NULL",
        columns: "t.id, t.started",
      });
    };
    await run();
    await source.query(`
      UPDATE accounts SET balance = balance + 1 WHERE id <= 40;
      DELETE FROM accounts WHERE id BETWEEN 100 AND 149;
      INSERT INTO accounts VALUES (3001, 'late', 1, '{}', NULL);
      UPDATE accounts SET name = 'renamed' WHERE id = 3001;`);
    await run();
    await source.query(`
      INSERT INTO accounts VALUES (100, 'back again', 0, NULL, NULL);
      UPDATE accounts SET tags = tags || '{x}' WHERE id % 100 = 1;
      DELETE FROM accounts WHERE id = 1;
      UPDATE sessions SET started = started + interval '1 day' WHERE id = 5;
      TRUNCATE sessions;
      INSERT INTO sessions VALUES (1000, '2025-01-01 00:00:00+00');`);
    await run();
    // The truncate marked every row then live; the row inserted after it is live.
    const sessions = await warehouse.query<{ live: string; deleted: string }>(
      "SELECT count(*) FILTER (WHERE _sdc_deleted_at IS NULL)::text AS live, count(*) FILTER (WHERE _sdc_deleted_at IS NOT NULL)::text AS deleted FROM public.sessions",
    );
    expect(sessions).toEqual([{ live: "1", deleted: "100" }]);
    const deleted = await warehouse.query<{ n: string }>(
      "SELECT count(*)::text AS n FROM public.accounts WHERE _sdc_deleted_at IS NOT NULL",
    );
    // 100..149 deleted, 100 back again, 1 deleted.
    expect(deleted[0]?.n).toBe("50");
  });
});

/**
 * The types of type-fidelity.test.ts (its cases are not exported: a test file cannot be imported
 * without running its tests), with the type each gets in a PostgreSQL warehouse. A value must
 * arrive as the source prints it; `as` gives the source expression where the warehouse type
 * differs on purpose (hstore is jsonb, money numeric; char(n) keeps its padding, which a cast to text drops).
 */
interface Case {
  column: string;
  pgType: string;
  values: string[];
  warehouseType: string;
  as?: string;
}

const cases: Case[] = [
  { column: "c_smallint", pgType: "smallint", values: ["-32768", "32767"], warehouseType: "smallint" },
  { column: "c_integer", pgType: "integer", values: ["-2147483648", "0"], warehouseType: "integer" },
  {
    column: "c_bigint",
    pgType: "bigint",
    values: ["-9223372036854775808", "9223372036854775807"],
    warehouseType: "bigint",
  },
  {
    column: "c_numeric_38",
    pgType: "numeric(38,0)",
    values: ["99999999999999999999999999999999999999", "-12345678901234567890123456789012345678"],
    warehouseType: "numeric(38,0)",
  },
  {
    column: "c_numeric_12_2",
    pgType: "numeric(12,2)",
    values: ["1234567890.12", "0.10", "-0.01"],
    warehouseType: "numeric(12,2)",
  },
  {
    column: "c_numeric_free",
    pgType: "numeric",
    values: ["'NaN'", "3.141592653589793238462643383279502884197169399375", "1e-40", "'Infinity'"],
    warehouseType: "numeric",
  },
  { column: "c_real", pgType: "real", values: ["1.5", "'NaN'", "'-Infinity'"], warehouseType: "real" },
  {
    column: "c_double",
    pgType: "double precision",
    values: ["0.1", "'Infinity'", "1e308"],
    warehouseType: "double precision",
  },
  {
    column: "c_money",
    pgType: "money",
    values: ["'1234.56'", "'-0.99'"],
    warehouseType: "numeric(19,2)",
    as: "c_money::numeric",
  },
  { column: "c_bool", pgType: "boolean", values: ["true", "false"], warehouseType: "boolean" },
  {
    column: "c_text",
    pgType: "text",
    values: ["''", "E'line\\nbreak, \"quoted\" and ,commas'", "'ü日本語🎉'"],
    warehouseType: "text",
  },
  { column: "c_varchar", pgType: "varchar(10)", values: ["'abc'"], warehouseType: "text" },
  {
    column: "c_char",
    pgType: "char(4)",
    values: ["'ab'"],
    warehouseType: "text",
    as: "CASE WHEN c_char IS NOT NULL THEN format('%s', c_char) END",
  },
  { column: "c_citext", pgType: "citext", values: ["'MiXeD'"], warehouseType: "text" },
  {
    column: "c_uuid",
    pgType: "uuid",
    values: ["'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"],
    warehouseType: "uuid",
  },
  { column: "c_enum", pgType: "mood", values: ["'happy'", "'sad'"], warehouseType: "text" },
  { column: "c_json", pgType: "json", values: [`'{"b": 1, "a": [1, 2.50]}'`], warehouseType: "json" },
  {
    column: "c_jsonb",
    pgType: "jsonb",
    values: [
      `'{"nested": {"ü": "日本", "deep": [{"x": null}, 1e2, "\\u00e9"]}}'`,
      `'[]'`,
      `'"plain string"'`,
    ],
    warehouseType: "jsonb",
  },
  {
    column: "c_int_array",
    pgType: "integer[]",
    values: ["'{1,NULL,3}'", "'{}'"],
    warehouseType: "integer[]",
  },
  {
    column: "c_text_array",
    pgType: "text[]",
    values: [`ARRAY['a', NULL, 'NULL', 'with,comma', 'quote"d', '', 'back\\slash {}']`],
    warehouseType: "text[]",
  },
  {
    // Strings without quotes, backslashes or brackets: loaded as an array literal (the fast path).
    column: "c_varchar_array",
    pgType: "varchar[]",
    values: [`ARRAY['with,comma', 'NULL', 'null', '', ' spaced ', '{braces}', 'ü日本']`],
    warehouseType: "text[]",
  },
  {
    column: "c_numeric_array",
    pgType: "numeric(10,2)[]",
    values: ["'{1.50,-2.25}'"],
    warehouseType: "numeric(10,2)[]",
  },
  {
    column: "c_int_matrix",
    pgType: "integer[][]",
    values: ["'{{1,2},{3,NULL}}'"],
    warehouseType: "integer[]",
  },
  {
    column: "c_tstz_array",
    pgType: "timestamptz[]",
    values: ["ARRAY['2024-01-01 00:00:00+00'::timestamptz, 'infinity']"],
    warehouseType: "timestamp with time zone[]",
  },
  {
    column: "c_bytea_array",
    pgType: "bytea[]",
    values: ["ARRAY['\\x00ff'::bytea, NULL, '']"],
    warehouseType: "bytea[]",
  },
  {
    column: "c_jsonb_array",
    pgType: "jsonb[]",
    values: [`ARRAY['{"a": [1]}'::jsonb, 'null']`],
    warehouseType: "jsonb[]",
  },
  {
    column: "c_interval_array",
    pgType: "interval[]",
    values: ["ARRAY['1 mon 2 days 00:00:01.5'::interval]"],
    warehouseType: "interval[]",
  },
  {
    column: "c_date",
    pgType: "date",
    values: ["'2024-02-29'", "'infinity'", "'0044-03-15 BC'"],
    warehouseType: "date",
  },
  {
    column: "c_time",
    pgType: "time",
    values: ["'23:59:59.999999'", "'24:00:00'"],
    warehouseType: "time without time zone",
  },
  {
    column: "c_timetz",
    pgType: "time with time zone",
    values: ["'12:34:56.789+05:30'", "'00:00:00.000001-08'"],
    warehouseType: "time with time zone",
  },
  {
    column: "c_timestamp",
    pgType: "timestamp",
    values: ["'2024-01-31 12:00:00.123456'", "'-infinity'", "'0044-03-15 12:00:00 BC'"],
    warehouseType: "timestamp without time zone",
  },
  {
    column: "c_timestamptz",
    pgType: "timestamptz",
    values: ["'2024-01-31 12:00:00.5+02'", "'infinity'", "'-infinity'", "'0044-03-15 12:00:00+00 BC'"],
    warehouseType: "timestamp with time zone",
  },
  {
    column: "c_interval",
    pgType: "interval",
    values: [
      "'1 year 2 mons 3 days 04:05:06.5'",
      "'-1 days +02:00:00'",
      "'-3 mons'",
      "'100 years -0.000001 sec'",
    ],
    warehouseType: "interval",
  },
  { column: "c_bytea", pgType: "bytea", values: ["'\\x00ff10'", "''"], warehouseType: "bytea" },
  { column: "c_inet", pgType: "inet", values: ["'192.168.0.1/24'", "'::1'"], warehouseType: "inet" },
  { column: "c_cidr", pgType: "cidr", values: ["'10.0.0.0/8'"], warehouseType: "cidr" },
  { column: "c_macaddr", pgType: "macaddr", values: ["'08:00:2b:01:02:03'"], warehouseType: "macaddr" },
  {
    column: "c_hstore",
    pgType: "hstore",
    values: [`'a=>1, "b c"=>NULL'`],
    warehouseType: "jsonb",
    as: "c_hstore::jsonb",
  },
  { column: "c_bit", pgType: "bit(4)", values: ["B'1010'"], warehouseType: "bit(4)" },
  { column: "c_varbit", pgType: "varbit", values: ["B'101'"], warehouseType: "bit varying" },
  { column: "c_int4range", pgType: "int4range", values: ["'[1,10)'", "'empty'"], warehouseType: "int4range" },
  {
    column: "c_tstzrange",
    pgType: "tstzrange",
    values: ["'[2024-01-01,infinity)'"],
    warehouseType: "tstzrange",
  },
  { column: "c_point", pgType: "point", values: ["'(1.5,-2)'"], warehouseType: "point" },
  { column: "c_domain", pgType: "positive_amount", values: ["12.34"], warehouseType: "numeric(10,2)" },
];

describe("target-postgres: every PostgreSQL type arrives as the source holds it", () => {
  const rowCount = Math.max(...cases.map((c) => c.values.length)) + 1; // the last row is all NULL
  /** Read once for all cases: the warehouse's column types, and each column's texts on both sides. */
  const warehouseTypes = new Map<string, string>();
  let expectedTexts: Record<string, string | null>[] = [];
  let actualTexts: Record<string, string | null>[] = [];

  beforeAll(async () => {
    await source.query(`
      CREATE EXTENSION hstore; CREATE EXTENSION citext;
      CREATE TYPE mood AS ENUM ('happy', 'sad');
      CREATE DOMAIN positive_amount AS numeric(10,2) CHECK (VALUE > 0);
      CREATE TABLE all_types (id integer PRIMARY KEY, ${cases.map((c) => `${c.column} ${c.pgType}`).join(", ")});`);
    for (let row = 0; row < rowCount; row++) {
      const values = cases.map((c) => c.values[row] ?? "NULL");
      await source.query(`INSERT INTO all_types VALUES (${row}, ${values.join(", ")})`);
    }
    const summary = await runToPostgres({
      source,
      warehouse,
      workDir,
      streams: { "public-all_types": {} },
      stateId: "test:types",
    });
    expect(summary.status, summary.error).toBe("success");
    const types = await warehouse.query<{ name: string; type: string }>(
      "SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = 'public.all_types'::regclass AND attnum > 0",
    );
    for (const t of types) warehouseTypes.set(t.name, t.type);
    expectedTexts = await utcQuery(
      source,
      `SELECT ${cases.map((c) => `(${c.as ?? c.column})::text AS ${c.column}`).join(", ")} FROM all_types ORDER BY id`,
    );
    actualTexts = await utcQuery(
      warehouse,
      `SELECT ${cases.map((c) => `${c.column}::text AS ${c.column}`).join(", ")} FROM public.all_types ORDER BY id`,
    );
  });

  test.each(cases)("$pgType", (c) => {
    expect(warehouseTypes.get(c.column)).toBe(c.warehouseType);
    const actual = actualTexts.map((r) => r[c.column]);
    expect(actual).toEqual(expectedTexts.map((r) => r[c.column]));
    expect(actual.length).toBe(rowCount);
    expect(actual.filter((v) => v !== null).length).toBe(c.values.length);
  });

  test("`sluice verify` finds the table equal, every type hashed alike on both sides", async () => {
    const extractor = new PostgresExtractor(tapConfig(source));
    const loader = new PostgresTargetLoader(postgresTargetConfig(warehouse));
    const [plan] = await extractor.plan(
      selectStreams(await extractor.discover(), { "public-all_types": {} }),
    );
    const sourceSide = extractor.verifier();
    const warehouseSide = loader.verifier();
    try {
      const result = await verifyStream(plan!.schema, sourceSide, warehouseSide);
      expect(result).toMatchObject({ equal: true, sourceRows: rowCount, warehouseRows: rowCount });
      await warehouse.query(
        `UPDATE public.all_types SET c_interval = c_interval + interval '1 microsecond' WHERE id = 1`,
      );
      const changed = await verifyStream(plan!.schema, sourceSide, warehouseSide);
      // A new snapshot per verifier: this pair still sees the old rows; a fresh pair sees the change.
      expect(changed.equal).toBe(true);
    } finally {
      await sourceSide.close();
      await warehouseSide.close();
      await extractor.close();
    }
    const again = new PostgresTargetLoader(postgresTargetConfig(warehouse)).verifier();
    const sourceAgain = extractor.verifier();
    try {
      const result = await verifyStream(plan!.schema, sourceAgain, again);
      expect(result).toMatchObject({ equal: false, changed: [{ id: "1" }], missing: [], extra: [] });
    } finally {
      await sourceAgain.close();
      await again.close();
    }
  });
});
