import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import type { PluginConfig } from "../../../src/connectors/connector.js";
import { SLUICE_TABLE_LABEL } from "../../../src/connectors/target-bigquery/bigquery-tables.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { tempDir } from "../../support/pipeline.js";
import {
  bigqueryConfig,
  datasetName,
  plainRows,
  runToBigquery,
  startBigqueryTarget,
  type BigqueryTarget,
} from "./bigquery-harness.js";

/**
 * Switching from Meltano (issue 18, item 6) on BigQuery: sluice continues into a table adswerve's
 * target-bigquery created (its schema conversion: INTEGER, FLOAT for numbers, NUMERIC where told,
 * TIMESTAMP for every date-time, STRING for uuids and arrays it wrote as JSON text, REPEATED
 * fields for typed arrays), under FULL_TABLE, INCREMENTAL and LOG_BASED. Its column types stay,
 * the values are the source's in those types, one warning per table and run names what is lost;
 * a column that cannot hold the values refuses the stream with the table as it was; and
 * `existing_tables: rebuild` rebuilds it with sluice's types from a whole copy.
 */
let db: TestDatabase;
let target: BigqueryTarget;

beforeAll(async () => {
  db = await createTestDatabase("bq_existing");
  target = await startBigqueryTarget();
});

async function dropSlots(): Promise<void> {
  await db?.query(
    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database() AND NOT active",
  );
}

afterEach(dropSlots);

afterAll(async () => {
  await target?.close();
  await dropSlots();
  await db?.drop();
});

const SOURCE = (name: string) => `
  CREATE TABLE ${name} (id int PRIMARY KEY, ref uuid, price numeric(12,2), amount numeric, qty int,
    tags text[], codes int[], placed_at timestamptz, paid boolean, updated_at timestamp NOT NULL);
  INSERT INTO ${name} VALUES
    (1, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 12.34, 1.123456789123, 3, '{red,"large size"}', '{1,2}', '2024-01-02 03:04:05.123+02', true, '2024-01-01 00:00:00'),
    (2, NULL, 1234567890.12, NULL, NULL, '{}', NULL, NULL, false, '2024-01-01 00:00:01'),
    (3, 'b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', -0.5, -42, 7, NULL, '{7}', '1999-12-31 23:59:59+00', NULL, '2024-01-01 00:00:02');`;

const CHANGES = (name: string, deletes: boolean) => `
  UPDATE ${name} SET price = 99.99, amount = 0.0000000001, tags = '{blue}', updated_at = '2024-02-01 00:00:00' WHERE id = 1;
  INSERT INTO ${name} VALUES (4, 'c0eebc99-9c0b-4ef8-bb6d-6bb9bd380a13', 0.01, 5, 1, '{x}', '{}', '2024-03-03 12:00:00-05', true, '2024-02-01 00:00:01');
  ${deletes ? `DELETE FROM ${name} WHERE id = 2;` : ""}`;

/** The table adswerve's target-bigquery makes for that stream, with a row it loaded. */
const ADSWERVE_FIELDS = [
  { name: "id", type: "INTEGER" },
  { name: "ref", type: "STRING" },
  { name: "price", type: "FLOAT" },
  { name: "amount", type: "NUMERIC" },
  { name: "qty", type: "INTEGER" },
  { name: "tags", type: "STRING" },
  { name: "codes", type: "STRING", mode: "REPEATED" },
  { name: "placed_at", type: "TIMESTAMP" },
  { name: "paid", type: "BOOLEAN" },
  { name: "updated_at", type: "TIMESTAMP" },
];

async function createAdswerveTable(dataset: string, table: string): Promise<void> {
  await target.client.createDataset(dataset, { location: "US" }).catch(() => undefined);
  await target.client.dataset(dataset).createTable(table, {
    schema: { fields: ADSWERVE_FIELDS.map((f) => ({ mode: "NULLABLE", ...f })) },
  });
  await target.client.query({
    query: `INSERT INTO \`${dataset}.${table}\` (id, ref, price, tags, updated_at) VALUES (1, 'old', 1.5, '["old"]', TIMESTAMP '2023-01-01 00:00:00+00')`,
    location: "US",
  });
}

async function fieldsOf(dataset: string, table: string): Promise<string[]> {
  const [metadata] = await target.client.dataset(dataset).table(table).getMetadata();
  return (metadata.schema.fields as { name: string; type: string; mode?: string }[]).map(
    (f) => `${f.name} ${f.mode === "REPEATED" ? `ARRAY<${f.type}>` : f.type}`,
  );
}

async function labelsOf(dataset: string, table: string): Promise<Record<string, string>> {
  const [metadata] = await target.client.dataset(dataset).table(table).getMetadata();
  return (metadata.labels ?? {}) as Record<string, string>;
}

/** Each live source row as the kept columns hold it. */
async function expectedRows(table: string): Promise<Record<string, unknown>[]> {
  const rows = await db.query<Record<string, unknown>>(`
    SELECT id, ref::text AS ref, price::float8 AS price, trim_scale(round(amount, 9))::text AS amount, qty,
      to_json(tags)::text AS tags, coalesce(codes::text[], '{}') AS codes,
      to_char(placed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS placed_at, paid,
      to_char(updated_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS updated_at
    FROM ${table} ORDER BY id`);
  return rows;
}

async function warehouseRows(dataset: string, table: string): Promise<Record<string, unknown>[]> {
  await target.emulator?.storageWrite.applyPendingChanges();
  const fields = await fieldsOf(dataset, table);
  const live = fields.some((f) => f.startsWith("_sdc_deleted_at ")) ? "WHERE _sdc_deleted_at IS NULL" : "";
  const rows = await plainRows(
    target,
    `SELECT id, ref, price, CAST(amount AS STRING) AS amount, qty, tags, codes, placed_at, paid, updated_at FROM \`${dataset}.${table}\` ${live} ORDER BY id`,
  );
  return rows.map((r) => ({
    ...r,
    // JSON text as DuckDB writes it: compared as JSON.
    tags: r.tags === null ? null : JSON.stringify(JSON.parse(String(r.tags))),
  }));
}

const METHODS = {
  FULL_TABLE: { "replication-method": "FULL_TABLE" },
  INCREMENTAL: { "replication-method": "INCREMENTAL", "replication-key": "updated_at" },
  LOG_BASED: { "replication-method": "LOG_BASED" },
} as const;
type Method = keyof typeof METHODS;

async function run(options: {
  dataset: string;
  table: string;
  workDir: string;
  method: Method;
  extra?: PluginConfig;
  fullRefresh?: boolean;
}): Promise<{ status: string; warnings: string[]; error?: string }> {
  const warnings: string[] = [];
  const summary = await runToBigquery({
    db,
    workDir: options.workDir,
    target: bigqueryConfig(target, options.dataset, {
      cdc_method: "merge",
      merge_interval: "0",
      ...options.extra,
    }),
    streams: { [`public-${options.table}`]: METHODS[options.method] },
    observer: (e) => {
      if (e.type === "warning") warnings.push(e.message);
    },
    ...(options.fullRefresh ? { fullRefresh: true } : {}),
  }).then(
    (summary) => summary,
    (error: unknown) => ({ status: "failed", error: (error as Error).message }),
  );
  return {
    status: summary.status,
    warnings,
    ...(summary.error !== undefined ? { error: summary.error } : {}),
  };
}

const EXPECTED_FIELDS = ADSWERVE_FIELDS.map(
  (f) => `${f.name} ${f.mode === "REPEATED" ? `ARRAY<${f.type}>` : f.type}`,
);

describe("target-bigquery continues a table adswerve's target-bigquery created", () => {
  test.each([
    ["FULL_TABLE", "merge"],
    ["INCREMENTAL", "merge"],
    ["LOG_BASED", "merge"],
    ["LOG_BASED", "storage_write"],
  ] as [Method, string][])(
    "%s (cdc_method: %s): the table keeps its types, the values are the source's in them, one warning a run",
    async (method, cdcMethod) => {
      const table = `adswerve_${method.toLowerCase()}_${cdcMethod}`;
      const dataset = datasetName(`existing_${method.toLowerCase()}`);
      await db.query(SOURCE(table));
      if (method === "LOG_BASED") await db.query(`ALTER TABLE ${table} REPLICA IDENTITY FULL`);
      await createAdswerveTable(dataset, table);
      const workDir = tempDir();
      for (const round of [1, 2]) {
        if (round === 2) await db.query(CHANGES(table, method !== "INCREMENTAL"));
        const appended = target.emulator?.storageWrite.stats.rowsAppended ?? 0;
        const outcome = await run({ dataset, table, workDir, method, extra: { cdc_method: cdcMethod } });
        expect(outcome.status, outcome.error).toBe("success");
        // The changes went the way the setting says (the Storage Write API, or MERGE).
        if (target.emulator && round === 2 && method === "LOG_BASED")
          expect(target.emulator.storageWrite.stats.rowsAppended > appended).toBe(
            cdcMethod === "storage_write",
          );
        // Its columns as adswerve made them, then what sluice adds (deletes need somewhere to go).
        const fields = await fieldsOf(dataset, table);
        expect(fields.slice(0, ADSWERVE_FIELDS.length)).toEqual(EXPECTED_FIELDS);
        expect(fields.slice(ADSWERVE_FIELDS.length).every((f) => f.startsWith("_sdc_"))).toBe(true);
        const about = outcome.warnings.filter((m) => m.includes("was not created by sluice"));
        expect(about, outcome.warnings.join("\n")).toHaveLength(1);
        for (const line of [
          "price: NUMERIC(12, 2) in a FLOAT64 column: about 15 significant digits kept",
          "amount: BIGNUMERIC in a NUMERIC column: rounded to 9 fraction digits",
          "tags: ARRAY<STRING> in a STRING column: kept as JSON text",
          "codes: ARRAY<INT64> in a ARRAY<STRING> column: elements kept as their text",
          "updated_at: DATETIME in a TIMESTAMP column: read as UTC",
        ])
          expect(about[0]).toContain(line);
        expect(about[0]).not.toMatch(/- (id|ref|qty|placed_at|paid):/);
        // adswerve's row (key 1) is replaced or merged on: the rows are the source's.
        const expected = await expectedRows(table);
        const rows = await warehouseRows(dataset, table);
        expect(rows).toEqual(expected);
        // Still another target's table: never labelled as sluice's.
        expect(await labelsOf(dataset, table)).not.toHaveProperty(SLUICE_TABLE_LABEL.key);
      }
    },
    180_000,
  );

  test("a column that cannot hold the values refuses the stream: the table's schema and rows unchanged", async () => {
    const table = "adswerve_refused";
    const dataset = datasetName("existing_refused");
    await db.query(SOURCE(table));
    await createAdswerveTable(dataset, table);
    // A column adswerve made INTEGER where the source now sends text.
    await db.query(`ALTER TABLE ${table} ALTER COLUMN qty TYPE text`);
    const before = {
      fields: await fieldsOf(dataset, table),
      rows: await plainRows(target, `SELECT * FROM \`${dataset}.${table}\``),
    };
    for (const method of ["INCREMENTAL", "FULL_TABLE"] as Method[]) {
      const outcome = await run({ dataset, table, workDir: tempDir(), method });
      expect(outcome.status).not.toBe("success");
      const message = outcome.error ?? "";
      expect(message).toContain(`${dataset}.${table}`);
      expect(message).toContain("qty (INT64, sluice sends STRING)");
      expect(message).toContain("existing_tables: rebuild");
      expect(message).toContain(`--full-refresh --select public-${table}`);
      expect(await fieldsOf(dataset, table)).toEqual(before.fields);
      expect(await plainRows(target, `SELECT * FROM \`${dataset}.${table}\``)).toEqual(before.rows);
    }
  }, 120_000);

  test("existing_tables: rebuild replaces the table with sluice's types from a whole copy, labelled as sluice's", async () => {
    const table = "adswerve_rebuilt";
    const dataset = datasetName("existing_rebuild");
    await db.query(SOURCE(table));
    await createAdswerveTable(dataset, table);
    const workDir = tempDir();
    const extra = { existing_tables: "rebuild" };
    // In place, it would load into columns of the wrong types: refused, nothing changed.
    const refused = await run({ dataset, table, workDir, method: "INCREMENTAL", extra });
    expect(refused.status).not.toBe("success");
    expect(refused.error).toContain("--full-refresh --select public-adswerve_rebuilt");
    expect(await fieldsOf(dataset, table)).toEqual(EXPECTED_FIELDS);
    const rebuilt = await run({ dataset, table, workDir, method: "INCREMENTAL", extra, fullRefresh: true });
    expect(rebuilt.status, rebuilt.error).toBe("success");
    expect(rebuilt.warnings.filter((m) => m.includes("was not created by sluice"))).toEqual([]);
    expect(await fieldsOf(dataset, table)).toEqual([
      "id INTEGER",
      "ref STRING",
      "price NUMERIC",
      "amount BIGNUMERIC",
      "qty INTEGER",
      "tags ARRAY<STRING>",
      "codes ARRAY<INTEGER>",
      "placed_at TIMESTAMP",
      "paid BOOLEAN",
      "updated_at DATETIME",
    ]);
    expect(await labelsOf(dataset, table)).toMatchObject({
      [SLUICE_TABLE_LABEL.key]: SLUICE_TABLE_LABEL.value,
    });
    const rows = await plainRows(
      target,
      `SELECT id, CAST(amount AS STRING) AS amount FROM \`${dataset}.${table}\` ORDER BY id`,
    );
    const source = await db.query<{ id: number; amount: string | null }>(
      `SELECT id, trim_scale(amount)::text AS amount FROM ${table} ORDER BY id`,
    );
    expect(rows).toEqual(source);
    // sluice's own from now on: the next run continues without a word.
    const next = await run({ dataset, table, workDir, method: "INCREMENTAL", extra });
    expect(next.status, next.error).toBe("success");
    expect(next.warnings.filter((m) => m.includes("was not created by sluice"))).toEqual([]);
  }, 180_000);

  test("sluice's own tables are labelled when made; one made before the label is adopted by its next run, without a word", async () => {
    const table = "own_table";
    const dataset = datasetName("existing_own");
    await db.query(SOURCE(table));
    const workDir = tempDir();
    const first = await run({ dataset, table, workDir, method: "INCREMENTAL" });
    expect(first.status, first.error).toBe("success");
    expect(await labelsOf(dataset, table)).toMatchObject({
      [SLUICE_TABLE_LABEL.key]: SLUICE_TABLE_LABEL.value,
    });
    // As an earlier sluice left it: sluice's types, no label.
    const [metadata] = await target.client.dataset(dataset).table(table).getMetadata();
    await target.client.dataset(dataset).table(table).delete();
    await target.client.dataset(dataset).createTable(table, { schema: metadata.schema });
    expect(await labelsOf(dataset, table)).not.toHaveProperty(SLUICE_TABLE_LABEL.key);
    await db.query(CHANGES(table, false));
    const next = await run({ dataset, table, workDir, method: "INCREMENTAL" });
    expect(next.status, next.error).toBe("success");
    expect(next.warnings.filter((m) => m.includes("was not created by sluice"))).toEqual([]);
    expect(await labelsOf(dataset, table)).toMatchObject({
      [SLUICE_TABLE_LABEL.key]: SLUICE_TABLE_LABEL.value,
    });
  }, 120_000);

  test("a value a kept column cannot hold fails the batch naming the column", async () => {
    const table = "adswerve_overflow";
    const dataset = datasetName("existing_overflow");
    await db.query(SOURCE(table));
    // NUMERIC holds 29 integer digits; FLOAT64 about 1.8e308.
    await db.query(`UPDATE ${table} SET amount = 1e35 WHERE id = 1`);
    await createAdswerveTable(dataset, table);
    const outcome = await run({ dataset, table, workDir: tempDir(), method: "FULL_TABLE" });
    expect(outcome.status).not.toBe("success");
    expect(outcome.error).toContain('column "amount" (NUMERIC');
    expect(outcome.error).toContain("100000000000000000000000000000000000");
    // FULL_TABLE fills a staging table: the table itself is as adswerve left it.
    expect(await plainRows(target, `SELECT id, ref FROM \`${dataset}.${table}\``)).toEqual([
      { id: 1, ref: "old" },
    ]);
  }, 120_000);

  test("a key column kept as FLOAT64 refuses the stream before any change, naming the table, the column, the type and the rebuild", async () => {
    const table = "adswerve_float_key";
    const dataset = datasetName("existing_float_key");
    await db.query(`
      CREATE TABLE ${table} (code numeric(10,2) PRIMARY KEY, name text, updated_at timestamp NOT NULL);
      INSERT INTO ${table} VALUES (1.5, 'one', '2024-01-01 00:00:00'), (2.25, 'two', '2024-01-01 00:00:01');`);
    // adswerve makes a numeric FLOAT: a column that holds the keys, on which no MERGE can key.
    await target.client.createDataset(dataset, { location: "US" }).catch(() => undefined);
    await target.client.dataset(dataset).createTable(table, {
      schema: {
        fields: [
          { name: "code", type: "FLOAT", mode: "NULLABLE" },
          { name: "name", type: "STRING", mode: "NULLABLE" },
          { name: "updated_at", type: "TIMESTAMP", mode: "NULLABLE" },
        ],
      },
    });
    await target.client.query({
      query: `INSERT INTO \`${dataset}.${table}\` (code, name) VALUES (1.5, 'old')`,
      location: "US",
    });
    // The MERGE sluice would run: BigQuery (and the emulator) refuses a FLOAT64 window partition.
    await expect(
      target.client.query({
        query: `MERGE \`${dataset}.${table}\` T USING (SELECT * EXCEPT (r) FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY code) AS r FROM \`${dataset}.${table}\`) WHERE r = 1) S ON T.code = S.code WHEN MATCHED THEN UPDATE SET name = S.name`,
        location: "US",
      }),
    ).rejects.toThrow(/FLOAT64/);
    const before = {
      fields: await fieldsOf(dataset, table),
      rows: await plainRows(target, `SELECT * FROM \`${dataset}.${table}\``),
    };
    const workDir = tempDir();
    const outcome = await run({ dataset, table, workDir, method: "INCREMENTAL" });
    expect(outcome.status).not.toBe("success");
    const message = outcome.error ?? "";
    expect(message).toContain(`${dataset}.${table}`);
    expect(message).toContain('key column "code"');
    expect(message).toContain("is FLOAT64 there");
    expect(message).toContain("existing_tables: rebuild");
    expect(message).toContain(`--full-refresh --select public-${table}`);
    // Refused before any change: no column added, no row loaded.
    expect(await fieldsOf(dataset, table)).toEqual(before.fields);
    expect(await plainRows(target, `SELECT * FROM \`${dataset}.${table}\``)).toEqual(before.rows);
    // What the message says to do works: rebuilt with sluice's NUMERIC, then merged on.
    const extra = { existing_tables: "rebuild" };
    const rebuilt = await run({ dataset, table, workDir, method: "INCREMENTAL", extra, fullRefresh: true });
    expect(rebuilt.status, rebuilt.error).toBe("success");
    expect((await fieldsOf(dataset, table))[0]).toBe("code NUMERIC");
    await db.query(`UPDATE ${table} SET name = 'uno', updated_at = '2024-02-01 00:00:00' WHERE code = 1.5`);
    const next = await run({ dataset, table, workDir, method: "INCREMENTAL", extra });
    expect(next.status, next.error).toBe("success");
    expect(
      await plainRows(
        target,
        `SELECT CAST(code AS STRING) AS code, name FROM \`${dataset}.${table}\` ORDER BY code`,
      ),
    ).toEqual([
      { code: "1.5", name: "uno" },
      { code: "2.25", name: "two" },
    ]);
  }, 180_000);
});
