import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { PostgresTargetLoader } from "../../../src/connectors/target-postgres/postgres-target-loader.js";
import { PostgresExtractor } from "../../../src/connectors/tap-postgres/postgres-extractor.js";
import { verifyStream } from "../../../src/verify/verify-streams.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { runThroughSinger, selectStreams, tapConfig, tempDir } from "../../support/pipeline.js";
import { postgresTargetConfig, rowTexts, runToPostgres, utcQuery } from "./postgres-target-support.js";
import {
  typeFidelityCases,
  typeFidelityInserts,
  typeFidelityRowCount,
  typeFidelitySchemaSql,
  withExpectations,
} from "../../support/type-fidelity-cases.js";

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

describe("target-postgres: a full refresh keeps what was added to the table by hand", () => {
  test("privileges granted on it and its indexes survive the swap", async () => {
    const reader = `pgt_reader_${process.pid}`;
    await source.query(`
      CREATE TABLE kept (id int PRIMARY KEY, label text);
      INSERT INTO kept SELECT g, 'l' || g FROM generate_series(1, 100) g;`);
    const streams = { "public-kept": { "replication-method": "FULL_TABLE" } };
    const first = await runToPostgres({ source, warehouse, workDir, streams });
    expect(first.status, first.error).toBe("success");
    await warehouse.query(`
      CREATE ROLE ${reader};
      GRANT SELECT ON public.kept TO ${reader};
      GRANT SELECT, INSERT ON public.kept TO PUBLIC;
      CREATE INDEX "kept label; idx" ON public.kept (label) WHERE label IS NOT NULL;`);
    try {
      await source.query("UPDATE kept SET label = 'changed' WHERE id = 1");
      const second = await runToPostgres({ source, warehouse, workDir, streams, fullRefresh: true });
      expect(second.status, second.error).toBe("success");
      await expectSameRows("public.kept", "t.id");
      const [privileges] = await warehouse.query<{ reader: boolean; readerUpdate: boolean; public: string }>(
        `SELECT has_table_privilege('${reader}', 'public.kept', 'SELECT') AS reader,
                has_table_privilege('${reader}', 'public.kept', 'UPDATE') AS "readerUpdate",
                (SELECT string_agg(a.privilege_type, ',' ORDER BY a.privilege_type)
                   FROM pg_class c, aclexplode(c.relacl) a
                  WHERE c.oid = 'public.kept'::regclass AND a.grantee = 0) AS public`,
      );
      expect(privileges).toEqual({ reader: true, readerUpdate: false, public: "INSERT,SELECT" });
      const indexes = await warehouse.query<{ def: string }>(
        "SELECT pg_get_indexdef(indexrelid) AS def FROM pg_index WHERE indrelid = 'public.kept'::regclass ORDER BY 1",
      );
      expect(indexes.map((i) => i.def)).toContainEqual(
        'CREATE INDEX "kept label; idx" ON public.kept USING btree (label) WHERE (label IS NOT NULL)',
      );
      // The key's index is the new table's own, not a copy.
      expect(indexes).toHaveLength(2);
    } finally {
      await warehouse.query(`DROP OWNED BY ${reader}; DROP ROLE ${reader}`);
    }
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
 * The types of the type-fidelity set (test/support/type-fidelity-cases.ts, with a few more values
 * and columns here), with the type each gets in a PostgreSQL warehouse. A value must
 * arrive as the source prints it; `as` gives the source expression where the warehouse type
 * differs on purpose (hstore is jsonb, money numeric; char(n) keeps its padding, which a cast to text drops).
 */
interface WarehouseExpectation {
  warehouseType: string;
  as?: string;
  /** The source's value as it arrives through Singer, where that differs (`as` otherwise). */
  singerAs?: string;
}

/** What the warehouse must hold, per column of the type-fidelity set. */
const expectations: Record<string, WarehouseExpectation> = {
  c_smallint: { warehouseType: "smallint" },
  c_integer: { warehouseType: "integer" },
  c_bigint: { warehouseType: "bigint" },
  c_numeric_38: { warehouseType: "numeric(38,0)" },
  c_numeric_12_2: { warehouseType: "numeric(12,2)" },
  c_numeric_free: { warehouseType: "numeric" },
  c_real: { warehouseType: "real" },
  c_double: { warehouseType: "double precision" },
  c_money: { warehouseType: "numeric(19,2)", as: "c_money::numeric" },
  c_bool: { warehouseType: "boolean" },
  c_text: { warehouseType: "text" },
  c_varchar: { warehouseType: "text" },
  c_char: { warehouseType: "text", as: "CASE WHEN c_char IS NOT NULL THEN format('%s', c_char) END" },
  c_citext: { warehouseType: "text" },
  c_uuid: { warehouseType: "uuid" },
  c_enum: { warehouseType: "text" },
  c_json: { warehouseType: "json" },
  c_jsonb: { warehouseType: "jsonb" },
  c_int_array: { warehouseType: "integer[]" },
  c_text_array: { warehouseType: "text[]" },
  // Strings without quotes, backslashes or brackets: loaded as an array literal (the fast path).
  c_varchar_array: { warehouseType: "text[]" },
  c_numeric_array: { warehouseType: "numeric(10,2)[]" },
  c_int_matrix: { warehouseType: "integer[]" },
  c_tstz_array: { warehouseType: "timestamp with time zone[]" },
  c_bytea_array: { warehouseType: "bytea[]" },
  c_jsonb_array: {
    warehouseType: "jsonb[]",
    // Singer has one null: a json document `null` (here an element) arrives as SQL NULL.
    singerAs:
      "CASE WHEN c_jsonb_array IS NOT NULL THEN array(SELECT nullif(e, 'null'::jsonb) FROM unnest(c_jsonb_array) AS e) END",
  },
  c_interval_array: { warehouseType: "interval[]" },
  c_date: { warehouseType: "date" },
  c_time: { warehouseType: "time without time zone" },
  c_timetz: { warehouseType: "time with time zone" },
  c_timestamp: { warehouseType: "timestamp without time zone" },
  c_timestamptz: { warehouseType: "timestamp with time zone" },
  c_interval: { warehouseType: "interval" },
  c_bytea: { warehouseType: "bytea" },
  c_inet: { warehouseType: "inet" },
  c_cidr: { warehouseType: "cidr" },
  c_macaddr: { warehouseType: "macaddr" },
  c_hstore: { warehouseType: "jsonb", as: "c_hstore::jsonb" },
  c_bit: { warehouseType: "bit(4)" },
  c_varbit: { warehouseType: "bit varying" },
  c_int4range: { warehouseType: "int4range" },
  c_tstzrange: { warehouseType: "tstzrange" },
  c_point: { warehouseType: "point" },
  c_domain: { warehouseType: "numeric(10,2)" },
};

const cases = withExpectations(
  typeFidelityCases({
    moreValues: {
      c_numeric_free: ["'Infinity'"],
      c_time: ["'24:00:00'"],
      c_interval: ["'100 years -0.000001 sec'"],
    },
    values: {
      c_text_array: ["ARRAY['a', NULL, 'NULL', 'with,comma', 'quote\"d', '', 'back\\slash {}']"],
      c_bytea_array: ["ARRAY['\\x00ff'::bytea, NULL, '']"],
    },
    moreColumns: {
      c_text_array: [
        {
          column: "c_varchar_array",
          pgType: "varchar[]",
          values: ["ARRAY['with,comma', 'NULL', 'null', '', ' spaced ', '{braces}', 'ü日本']"],
        },
      ],
      c_bytea_array: [
        { column: "c_jsonb_array", pgType: "jsonb[]", values: ["ARRAY['{\"a\": [1]}'::jsonb, 'null']"] },
        {
          column: "c_interval_array",
          pgType: "interval[]",
          values: ["ARRAY['1 mon 2 days 00:00:01.5'::interval]"],
        },
      ],
    },
  }),
  expectations,
);

describe("target-postgres: every PostgreSQL type arrives as the source holds it", () => {
  const rowCount = typeFidelityRowCount(cases); // the last row is all NULL
  /** Read once for all cases: the warehouse's column types, and each column's texts on both sides. */
  const warehouseTypes = new Map<string, string>();
  let expectedTexts: Record<string, string | null>[] = [];
  let actualTexts: Record<string, string | null>[] = [];

  beforeAll(async () => {
    await source.query(typeFidelitySchemaSql(cases));
    for (const insert of typeFidelityInserts(cases)) await source.query(insert);
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

describe("target-postgres through Singer (sluice tap | sluice target): every type lands as sluice run lands it", () => {
  let singerWarehouse: TestDatabase;
  const types = new Map<string, string>();
  let expectedTexts: Record<string, string | null>[] = [];
  let actualTexts: Record<string, string | null>[] = [];

  beforeAll(async () => {
    // The source's all_types was made by the describe above (vitest runs describes in order).
    singerWarehouse = await createTestDatabase("pgt_singer");
    await runThroughSinger({
      db: source,
      workDir,
      streams: { "public-all_types": {} },
      loader: new PostgresTargetLoader(postgresTargetConfig(singerWarehouse)),
    });
    const columns = await singerWarehouse.query<{ name: string; type: string }>(
      "SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = 'public.all_types'::regclass AND attnum > 0",
    );
    for (const t of columns) types.set(t.name, t.type);
    // As the run's test compares: with the source (the run's warehouse is changed by `verify`'s test).
    expectedTexts = await utcQuery(
      source,
      `SELECT ${cases.map((c) => `(${c.singerAs ?? c.as ?? c.column})::text AS ${c.column}`).join(", ")} FROM all_types ORDER BY id`,
    );
    actualTexts = await utcQuery(
      singerWarehouse,
      `SELECT ${cases.map((c) => `${c.column}::text AS ${c.column}`).join(", ")} FROM public.all_types ORDER BY id`,
    );
  });

  afterAll(async () => {
    await singerWarehouse?.drop();
  });

  test.each(cases)("$pgType", (c) => {
    expect(types.get(c.column)).toBe(c.warehouseType);
    const actual = actualTexts.map((r) => r[c.column]);
    expect(actual.length).toBe(typeFidelityRowCount(cases));
    expect(actual).toEqual(expectedTexts.map((r) => r[c.column]));
  });
});
