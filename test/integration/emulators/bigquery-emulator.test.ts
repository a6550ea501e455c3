import { BigQuery, type Table } from "@google-cloud/bigquery";
import { JWT, OAuth2Client } from "google-auth-library";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startBigQueryEmulator, type BigQueryEmulator } from "@sluice/emulators/bigquery";

/**
 * The emulator through the official client, as the loader uses it. Every case states what
 * BigQuery does (accepts, returns or rejects) and checks the emulator does the same.
 */

const PROJECT = "emu-project";
let emulator: BigQueryEmulator;
let bq: BigQuery;
let dir: string;

// NOTE: without any credentials the client's multipart upload (table.load) throws inside
// teeny-request (no headers object to set Content-Type on), so tests give it a token; the
// emulator ignores it unless started with requireAuth.
function client(url: string, extra: Record<string, unknown> = {}): BigQuery {
  return new BigQuery({
    projectId: PROJECT,
    apiEndpoint: url,
    authClient: new OAuth2Client({ credentials: { access_token: "emulator" } }),
    ...extra,
  });
}

beforeAll(async () => {
  emulator = await startBigQueryEmulator({ projectId: PROJECT, jobDurationMs: 1000 });
  bq = client(emulator.url);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "bq-emulator-test-"));
  await bq.createDataset("main", { location: "US" });
});

afterAll(async () => {
  await emulator?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function ndjson(name: string, rows: readonly (Record<string, unknown> | string)[]): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, rows.map((r) => (typeof r === "string" ? r : JSON.stringify(r))).join("\n") + "\n");
  return file;
}

async function load(table: Table, file: string, metadata: Record<string, unknown> = {}): Promise<unknown> {
  const [job] = await table.load(file, { sourceFormat: "NEWLINE_DELIMITED_JSON", ...metadata });
  return job;
}

async function loadError(
  table: Table,
  file: string,
  metadata: Record<string, unknown> = {},
): Promise<{
  message: string;
  errors: { reason: string; message: string; location?: string }[];
}> {
  try {
    await load(table, file, metadata);
  } catch (error) {
    return error as { message: string; errors: { reason: string; message: string; location?: string }[] };
  }
  throw new Error("the load job succeeded");
}

async function queryError(
  sql: string,
): Promise<{ message: string; code: number; errors?: { reason: string }[] }> {
  try {
    await bq.query(sql);
  } catch (error) {
    return error as { message: string; code: number };
  }
  throw new Error(`the query succeeded: ${sql}`);
}

const ALL_TYPES = [
  { name: "id", type: "INT64", mode: "REQUIRED" },
  { name: "amount", type: "NUMERIC" },
  { name: "big", type: "BIGNUMERIC" },
  { name: "price", type: "NUMERIC", precision: "10", scale: "2" },
  { name: "ratio", type: "FLOAT64" },
  { name: "flag", type: "BOOL" },
  { name: "label", type: "STRING" },
  { name: "raw", type: "BYTES" },
  { name: "day", type: "DATE" },
  { name: "clock", type: "TIME" },
  { name: "local", type: "DATETIME" },
  { name: "at", type: "TIMESTAMP" },
  { name: "doc", type: "JSON" },
  { name: "tags", type: "STRING", mode: "REPEATED" },
];

describe("datasets and tables", () => {
  test("a dataset is created once, in its location; a second create is 409 Already Exists", async () => {
    const [dataset] = await bq.createDataset("located", { location: "EU" });
    const [metadata] = await dataset.getMetadata();
    expect(metadata.location).toBe("EU");
    expect(metadata.datasetReference).toEqual({ datasetId: "located", projectId: PROJECT });
    await expect(bq.createDataset("located", { location: "EU" })).rejects.toMatchObject({
      code: 409,
      message: `Already Exists: Dataset ${PROJECT}:located`,
    });
    const [exists] = await bq.dataset("nope").exists();
    expect(exists).toBe(false);
    const [datasets] = await bq.getDatasets();
    expect(datasets.map((d) => d.id)).toEqual(expect.arrayContaining(["main", "located"]));
  });

  test("a dataset with tables is deleted only with deleteContents", async () => {
    const [dataset] = await bq.createDataset("doomed");
    await dataset.createTable("t", { schema: { fields: [{ name: "a", type: "STRING" }] } });
    await expect(dataset.delete()).rejects.toMatchObject({
      code: 400,
      message: `Dataset ${PROJECT}:doomed is still in use`,
    });
    await dataset.delete({ force: true });
    expect((await dataset.exists())[0]).toBe(false);
  });

  test("a table keeps its schema, time partitioning and clustering as created", async () => {
    const [table] = await bq.dataset("main").createTable("partitioned", {
      schema: { fields: ALL_TYPES },
      timePartitioning: { type: "MONTH", field: "at" },
      clustering: { fields: ["label", "id"] },
    });
    const [metadata] = await table.getMetadata();
    expect(metadata.schema.fields[0]).toEqual({ name: "id", type: "INTEGER", mode: "REQUIRED" });
    expect(metadata.schema.fields[3]).toEqual({
      name: "price",
      type: "NUMERIC",
      mode: "NULLABLE",
      precision: "10",
      scale: "2",
    });
    expect(metadata.schema.fields.at(-1)).toEqual({ name: "tags", type: "STRING", mode: "REPEATED" });
    expect(metadata.timePartitioning).toEqual({ type: "MONTH", field: "at" });
    expect(metadata.clustering).toEqual({ fields: ["label", "id"] });
    expect(metadata.numRows).toBe("0");
  });

  test("partitioning and clustering must name a column of a suitable type", async () => {
    const main = bq.dataset("main");
    const fields = [
      { name: "label", type: "STRING" },
      { name: "ratio", type: "FLOAT64" },
      { name: "day", type: "DATE" },
    ];
    await expect(
      main.createTable("bad_part1", {
        schema: { fields },
        timePartitioning: { type: "DAY", field: "label" },
      }),
    ).rejects.toMatchObject({ code: 400, message: expect.stringContaining("The type found is: STRING") });
    await expect(
      main.createTable("bad_part2", { schema: { fields }, timePartitioning: { type: "DAY", field: "nope" } }),
    ).rejects.toMatchObject({ code: 400 });
    await expect(
      main.createTable("bad_part3", { schema: { fields }, timePartitioning: { type: "HOUR", field: "day" } }),
    ).rejects.toMatchObject({ code: 400 });
    await expect(
      main.createTable("bad_cluster", { schema: { fields }, clustering: { fields: ["ratio"] } }),
    ).rejects.toMatchObject({
      code: 400,
      message: "Field ratio is of type FLOAT which is not supported for clustering",
    });
    expect((await main.table("bad_cluster").exists())[0]).toBe(false);
  });

  test("names BigQuery refuses are refused", async () => {
    await expect(bq.createDataset("has-dash")).rejects.toMatchObject({
      code: 400,
      message: expect.stringContaining('Invalid dataset ID "has-dash"'),
    });
    const main = bq.dataset("main");
    const schema = { fields: [{ name: "a", type: "STRING" }] };
    await expect(main.createTable("has.dot", { schema })).rejects.toMatchObject({
      code: 400,
      message: expect.stringContaining('Invalid table ID "has.dot"'),
    });
    // Table names may hold Unicode letters, dashes and spaces.
    await main.createTable("Ünïcode table-1", { schema });
    for (const name of ["1abc", "has space", "_PARTITIONTIME", "_table_x", "a".repeat(301)]) {
      await expect(
        main.createTable(`cols_${crypto.randomBytes(3).toString("hex")}`, {
          schema: { fields: [{ name, type: "STRING" }] },
        }),
      ).rejects.toMatchObject({
        code: 400,
        message: expect.stringContaining(`Invalid field name "${name}"`),
      });
    }
    // Column names are case-insensitive: two that differ only in case collide.
    await expect(
      main.createTable("twins", {
        schema: {
          fields: [
            { name: "Amount", type: "STRING" },
            { name: "amount", type: "STRING" },
          ],
        },
      }),
    ).rejects.toMatchObject({
      code: 400,
      message: expect.stringContaining("Field amount already exists in schema"),
    });
    await expect(
      main.createTable("badtype", { schema: { fields: [{ name: "a", type: "VARCHAR" }] } }),
    ).rejects.toMatchObject({ code: 400, message: "Invalid value for type: VARCHAR is not a valid value" });
  });

  test("a table's schema takes new NULLABLE columns and relaxes REQUIRED, and refuses anything else", async () => {
    const [table] = await bq.dataset("main").createTable("evolving", {
      schema: {
        fields: [
          { name: "id", type: "INT64", mode: "REQUIRED" },
          { name: "name", type: "STRING" },
        ],
      },
    });
    await table.setMetadata({
      schema: {
        fields: [
          { name: "id", type: "INT64", mode: "NULLABLE" },
          { name: "name", type: "STRING" },
          { name: "added", type: "DATE" },
        ],
      },
    });
    const [metadata] = await table.getMetadata();
    expect(metadata.schema.fields).toEqual([
      { name: "id", type: "INTEGER", mode: "NULLABLE" },
      { name: "name", type: "STRING", mode: "NULLABLE" },
      { name: "added", type: "DATE", mode: "NULLABLE" },
    ]);
    const without = {
      fields: [
        { name: "id", type: "INT64" },
        { name: "name", type: "STRING" },
      ],
    };
    await expect(table.setMetadata({ schema: without })).rejects.toMatchObject({
      code: 400,
      message: expect.stringContaining("Field added is missing in new schema"),
    });
    const retyped = {
      fields: [
        { name: "id", type: "STRING" },
        { name: "name", type: "STRING" },
        { name: "added", type: "DATE" },
      ],
    };
    await expect(table.setMetadata({ schema: retyped })).rejects.toMatchObject({
      code: 400,
      message: expect.stringContaining("Field id has changed type from INTEGER to STRING"),
    });
    const required = {
      fields: [...metadata.schema.fields, { name: "must", type: "STRING", mode: "REQUIRED" }],
    };
    await expect(table.setMetadata({ schema: required })).rejects.toMatchObject({
      code: 400,
      message: expect.stringContaining("Cannot add required fields"),
    });
  });
});

describe("load jobs", () => {
  test("NDJSON values come back exactly, through queries and tabledata.list", async () => {
    const table = bq.dataset("main").table("types");
    await bq.dataset("main").createTable("types", { schema: { fields: ALL_TYPES } });
    const file = ndjson("types.json", [
      {
        id: 1,
        amount: "12345678901234567890123456789.123456789",
        big: "-12345678901234567890123456789012345678.12345678901234567890123456789012345678",
        price: "99999999.99",
        ratio: 0.1,
        flag: false,
        label: "ünï 'quoted' \"double\"",
        raw: "AAEC/w==",
        day: "0001-01-01",
        clock: "23:59:59.999999",
        local: "9999-12-31 23:59:59.999999",
        at: "2024-02-29 23:59:59.123456+00:00",
        doc: { b: [1, "x"], a: null },
        tags: ["x", "", "ü"],
      },
      // Numbers as strings, TIMESTAMP with an offset, floats BigQuery spells as strings.
      '{"id": "9223372036854775807", "amount": 0.5, "ratio": "Infinity", "flag": "true", "at": "1970-01-01T02:00:00.000001+02:00", "doc": "text", "tags": null}',
      { id: 3, ratio: "NaN", at: "0001-01-01 00:00:00+00", local: "2024-01-31T12:00:00" },
    ]);
    const job = (await load(table, file)) as { status: unknown; statistics: { load: unknown } };
    expect(job.status).toEqual({ state: "DONE" });
    expect(job.statistics.load).toMatchObject({ outputRows: "3", badRecords: "0" });

    const [rows] = await bq.query({
      query: "SELECT * FROM `emu-project.main.types` ORDER BY id",
      wrapIntegers: true,
    });
    expect(rows).toHaveLength(3);
    const first = rows[0] as Record<string, { toFixed?: () => string; value?: unknown }>;
    expect(first.id!.value).toBe("1");
    expect(first.amount!.toFixed!()).toBe("12345678901234567890123456789.123456789");
    expect(first.big!.toFixed!()).toBe(
      "-12345678901234567890123456789012345678.12345678901234567890123456789012345678",
    );
    expect(first.price!.toFixed!()).toBe("99999999.99");
    expect(rows[0].ratio).toBe(0.1);
    expect(rows[0].flag).toBe(false);
    expect(rows[0].label).toBe("ünï 'quoted' \"double\"");
    expect([...(rows[0].raw as Buffer)]).toEqual([0, 1, 2, 255]);
    expect(rows[0].day.value).toBe("0001-01-01");
    expect(rows[0].clock.value).toBe("23:59:59.999999");
    expect(rows[0].local.value).toBe("9999-12-31T23:59:59.999999");
    expect(rows[0].at.value).toBe("2024-02-29T23:59:59.123456000Z");
    expect(JSON.parse(rows[0].doc as string)).toEqual({ b: [1, "x"], a: null });
    expect(rows[0].tags).toEqual(["x", "", "ü"]);

    // Sorted by id: 1, 3, then the largest INT64.
    expect((rows[2] as { id: { value: string } }).id.value).toBe("9223372036854775807");
    expect(rows[2].amount.toFixed()).toBe("0.5");
    expect(rows[2].ratio).toBe(Infinity);
    expect(rows[2].flag).toBe(true);
    expect(rows[2].at.value).toBe("1970-01-01T00:00:00.000001000Z");
    expect(rows[2].doc).toBe('"text"');
    expect(rows[2].tags).toEqual([]);
    expect(rows[2].big).toBeNull();

    expect(rows[1].ratio).toBeNaN();
    expect(rows[1].at.value).toBe("0001-01-01T00:00:00.000Z");
    expect(rows[1].local.value).toBe("2024-01-31T12:00:00");

    // tabledata.list returns the same values.
    const [listed] = await table.getRows();
    expect(listed).toHaveLength(3);
    expect(listed[0]!.at.value).toBe("2024-02-29T23:59:59.123456000Z");
    expect(listed[0]!.big.toFixed()).toBe(
      "-12345678901234567890123456789012345678.12345678901234567890123456789012345678",
    );
    expect(listed[0]!.tags).toEqual(["x", "", "ü"]);

    // The loader used a load job, not streaming inserts.
    expect(
      emulator.requests.some((r) => r.startsWith("POST /upload/bigquery/v2/projects/emu-project/jobs")),
    ).toBe(true);
    expect(emulator.requests.some((r) => r.includes("insertAll"))).toBe(false);
  });

  test("a load of a few MB arrives whole", async () => {
    const rows = Array.from({ length: 40_000 }, (_, i) => ({
      id: i,
      name: `row-${i}-${"x".repeat(40)}`,
      amount: `${i}.${String(i % 100).padStart(2, "0")}`,
      ts: new Date(Date.UTC(2024, 0, 1) + i * 1000).toISOString(),
    }));
    const file = ndjson("big.json", rows);
    expect(fs.statSync(file).size).toBeGreaterThan(3_000_000);
    const table = bq.dataset("main").table("big");
    await load(table, file, {
      schema: {
        fields: [
          { name: "id", type: "INT64" },
          { name: "name", type: "STRING" },
          { name: "amount", type: "NUMERIC" },
          { name: "ts", type: "TIMESTAMP" },
        ],
      },
    });
    const [[result]] = await bq.query(
      "SELECT COUNT(*) AS n, SUM(amount) AS total, MAX(ts) AS latest, COUNT(DISTINCT name) AS names FROM main.big",
    );
    expect(result.n).toBe(40_000);
    const expected = rows.reduce((sum, r) => sum + BigInt(r.amount.replace(".", "")), 0n);
    expect(result.total.toFixed(2)).toBe(`${expected / 100n}.${String(expected % 100n).padStart(2, "0")}`);
    expect(result.latest.value).toBe("2024-01-01T11:06:39.000Z");
    expect(result.names).toBe(40_000);
  });

  test("a value the column type cannot hold fails the job, naming field and row, and loads nothing", async () => {
    const [table] = await bq.dataset("main").createTable("strict", {
      schema: {
        fields: [
          { name: "id", type: "INT64", mode: "REQUIRED" },
          { name: "amount", type: "INT64" },
        ],
      },
    });
    const file = ndjson("bad.json", [
      { id: 1, amount: 5 },
      { id: 2, amount: "abc" },
    ]);
    const error = await loadError(table, file);
    expect(error.errors[0]).toEqual({
      reason: "invalid",
      message:
        "Error while reading data, error message: JSON table encountered too many errors, giving up. Rows: 2; errors: 1. Please look into the errors[] collection for more details.",
    });
    expect(error.errors).toContainEqual({
      reason: "invalid",
      location: "file-00000000",
      message:
        "Error while reading data, error message: JSON parsing error in row starting at position 20: Could not convert value 'string_value: \"abc\"' to integer. Field: amount; Value: abc",
    });
    const [rows] = await table.getRows();
    expect(rows).toEqual([]);

    // NULL in a REQUIRED column.
    const nulls = await loadError(table, ndjson("null.json", [{ id: null, amount: 1 }]));
    expect(nulls.errors.map((e) => e.message)).toContainEqual(
      expect.stringContaining("Only optional fields can be set to NULL. Field: id; Value: NULL"),
    );
    // maxBadRecords lets the good rows through; the job reports the bad one and succeeds.
    await load(table, file, { maxBadRecords: 1 });
    expect((await table.getRows())[0]).toEqual([{ id: 1, amount: 5 }]);
  });

  test("values beyond BigQuery's ranges fail: NUMERIC, BIGNUMERIC, TIMESTAMP, NaN", async () => {
    const [table] = await bq.dataset("main").createTable("ranges", {
      schema: {
        fields: [
          { name: "n", type: "NUMERIC" },
          { name: "bn", type: "BIGNUMERIC" },
          { name: "ts", type: "TIMESTAMP" },
          { name: "p", type: "NUMERIC", precision: "5", scale: "2" },
        ],
      },
    });
    const cases: [Record<string, unknown>, string][] = [
      [{ n: "1".repeat(30) }, "Invalid NUMERIC value"],
      [{ n: "0.1234567891" }, "Invalid NUMERIC value"],
      [{ n: "NaN" }, "Invalid NUMERIC value"],
      [{ bn: `${"9".repeat(39)}` }, "Invalid BIGNUMERIC value"],
      [{ bn: `0.${"1".repeat(39)}` }, "Invalid BIGNUMERIC value"],
      [{ ts: "10000-01-01 00:00:00" }, "invalid timestamp"],
      [{ ts: "2024-02-30 00:00:00" }, "timestamp"],
      [{ p: "1234.5" }, "Invalid NUMERIC value"],
    ];
    for (const [row, message] of cases) {
      const error = await loadError(table, ndjson("range.json", [row]));
      expect(error.errors.map((e) => e.message).join("\n")).toContain(message);
    }
    await load(table, ndjson("ok.json", [{ n: "-99999999999999999999999999999.999999999", p: "999.99" }]));
  });

  test("a field not in the schema fails the job unless ignoreUnknownValues", async () => {
    const [table] = await bq.dataset("main").createTable("known", {
      schema: { fields: [{ name: "a", type: "STRING" }] },
    });
    const file = ndjson("unknown.json", [{ a: "x", b: 1 }]);
    const error = await loadError(table, file);
    expect(error.errors).toContainEqual({
      reason: "invalid",
      location: "file-00000000",
      message:
        "Error while reading data, error message: JSON parsing error in row starting at position 0: No such field: b.",
    });
    await load(table, file, { ignoreUnknownValues: true });
    expect((await table.getRows())[0]).toEqual([{ a: "x" }]);
  });

  test("write dispositions and schema update options behave as BigQuery's", async () => {
    const table = bq.dataset("main").table("dispositions");
    const schema = { fields: [{ name: "id", type: "INT64", mode: "REQUIRED" }] };
    await load(table, ndjson("d1.json", [{ id: 1 }]), { schema });
    await load(table, ndjson("d2.json", [{ id: 2 }]), { schema, writeDisposition: "WRITE_APPEND" });
    await expect(
      load(table, ndjson("d3.json", [{ id: 3 }]), { schema, writeDisposition: "WRITE_EMPTY" }),
    ).rejects.toMatchObject({
      message: expect.stringContaining("Already Exists: Table emu-project:main.dispositions"),
    });
    // A new column needs ALLOW_FIELD_ADDITION.
    const wider = { fields: [...schema.fields, { name: "note", type: "STRING" }] };
    await expect(
      load(table, ndjson("d4.json", [{ id: 4, note: "n" }]), { schema: wider }),
    ).rejects.toMatchObject({
      message: expect.stringContaining("Cannot add fields (field: note)"),
    });
    await load(table, ndjson("d4.json", [{ id: 4, note: "n" }]), {
      schema: wider,
      schemaUpdateOptions: ["ALLOW_FIELD_ADDITION"],
    });
    const [rows] = await bq.query("SELECT id, note FROM main.dispositions ORDER BY id");
    expect(rows).toEqual([
      { id: 1, note: null },
      { id: 2, note: null },
      { id: 4, note: "n" },
    ]);
    await load(table, ndjson("d5.json", [{ id: 5 }]), { writeDisposition: "WRITE_TRUNCATE" });
    expect((await table.getRows())[0]).toEqual([{ id: 5, note: null }]);
    await expect(
      load(bq.dataset("main").table("never"), ndjson("d6.json", [{ id: 1 }]), {
        schema,
        createDisposition: "CREATE_NEVER",
      }),
    ).rejects.toMatchObject({ message: "Not found: Table emu-project:main.never" });
  });

  test("streaming inserts check rows like loads; one bad row stops the request unless skipInvalidRows", async () => {
    const [table] = await bq.dataset("main").createTable("streamed", {
      schema: {
        fields: [
          { name: "id", type: "INT64", mode: "REQUIRED" },
          { name: "big", type: "BIGNUMERIC" },
        ],
      },
    });
    await table.insert([{ id: 1, big: "123456789012345678901234567890.5" }]);
    const failure = await table.insert([{ id: 2 }, { id: "x" }]).catch((error: unknown) => error);
    expect(failure).toMatchObject({
      name: "PartialFailureError",
      errors: [
        { row: { id: 2 }, errors: [{ reason: "stopped" }] },
        { row: { id: "x" }, errors: [{ reason: "invalid", message: expect.stringContaining("Field: id") }] },
      ],
    });
    await table.insert([{ id: 3 }, { id: null }], { skipInvalidRows: true }).catch(() => undefined);
    const [rows] = await bq.query("SELECT id, CAST(big AS STRING) AS big FROM main.streamed ORDER BY id");
    expect(rows).toEqual([
      { id: 1, big: "123456789012345678901234567890.5" },
      { id: 3, big: null },
    ]);
  });

  test("CSV loads check values like NDJSON loads", async () => {
    const table = bq.dataset("main").table("csv");
    const file = path.join(dir, "data.csv");
    fs.writeFileSync(file, 'id,name\n1,"a, b"\n2,\n');
    await table.load(file, {
      sourceFormat: "CSV",
      skipLeadingRows: 1,
      schema: {
        fields: [
          { name: "id", type: "INT64" },
          { name: "name", type: "STRING" },
        ],
      },
    });
    expect((await table.getRows())[0]).toEqual([
      { id: 1, name: "a, b" },
      { id: 2, name: null },
    ]);
    fs.writeFileSync(file, "id,name\n1,a\nabc,b\n");
    const error = await loadError(table, file, { sourceFormat: "CSV", skipLeadingRows: 1 });
    expect(error.errors.map((e) => e.message).join("\n")).toContain(
      "Could not parse 'abc' as INT64 for field id (position 0) starting at location 12  with message 'Unable to parse'",
    );
  });
});

describe("queries", () => {
  beforeAll(async () => {
    await bq.query(
      "CREATE TABLE `emu-project.main.accounts` (id INT64 NOT NULL, name STRING, balance NUMERIC(12, 2), updated_at TIMESTAMP) PARTITION BY DATE(updated_at) CLUSTER BY id",
    );
    await bq.query(
      "INSERT INTO main.accounts (id, name, balance, updated_at) VALUES (1, 'ann', 10.50, TIMESTAMP '2024-01-01 00:00:00+00'), (2, \"bob\", 20, TIMESTAMP '2024-01-02 00:00:00+00')",
    );
  });

  test("DDL creates the table BigQuery would, with partitioning and clustering", async () => {
    const [metadata] = await bq.dataset("main").table("accounts").getMetadata();
    expect(metadata.schema.fields).toEqual([
      { name: "id", type: "INTEGER", mode: "REQUIRED" },
      { name: "name", type: "STRING", mode: "NULLABLE" },
      { name: "balance", type: "NUMERIC", mode: "NULLABLE", precision: "12", scale: "2" },
      { name: "updated_at", type: "TIMESTAMP", mode: "NULLABLE" },
    ]);
    expect(metadata.timePartitioning).toEqual({ type: "DAY", field: "updated_at" });
    expect(metadata.clustering).toEqual({ fields: ["id"] });
    // A reserved keyword names a column only in backticks.
    expect((await queryError("CREATE TABLE main.kw (at TIMESTAMP)")).message).toBe(
      "Syntax error: Unexpected keyword AT at [1:23]",
    );
    await bq.query("CREATE TABLE main.kw (`at` TIMESTAMP, `end` INT64)");
    await bq.query("INSERT INTO main.kw (`at`, `end`) VALUES (TIMESTAMP '2024-01-01 00:00:00+00', 1)");
    expect((await bq.query("SELECT `end` FROM main.kw"))[0]).toEqual([{ end: 1 }]);
    // CONCAT is NULL when an argument is, as in BigQuery (DuckDB's concat() skips NULLs).
    expect((await bq.query("SELECT CONCAT('a', NULL) AS x, CONCAT('a', CONCAT('b', 'c')) AS y"))[0]).toEqual([
      { x: null, y: "abc" },
    ]);
    // Every table of a comma-separated FROM list is a table of the dataset.
    expect(
      (await bq.query("SELECT COUNT(*) AS n FROM main.kw k1, `emu-project.main.kw` k2, main.kw"))[0],
    ).toEqual([{ n: 1 }]);
  });

  test("MERGE where a target row matches two source rows fails with BigQuery's message and changes nothing", async () => {
    const error = await queryError(`
      MERGE \`emu-project.main.accounts\` T
      USING (SELECT 1 AS id, 'x' AS name UNION ALL SELECT 1, 'y') S
      ON T.id = S.id
      WHEN MATCHED THEN UPDATE SET name = S.name
      WHEN NOT MATCHED THEN INSERT (id, name) VALUES (S.id, S.name)`);
    expect(error.code).toBe(400);
    expect(error.message).toBe("UPDATE/MERGE must match at most one source row for each target row");
    const [rows] = await bq.query("SELECT name FROM main.accounts WHERE id = 1");
    expect(rows).toEqual([{ name: "ann" }]);
  });

  test("MERGE upserts and deletes, reporting the rows it changed", async () => {
    await bq.query(`
      CREATE TABLE main.stage (id INT64, name STRING, balance NUMERIC, seq INT64, deleted BOOL);
      INSERT INTO main.stage VALUES
        (1, 'ann2', NUMERIC '11.25', 1, FALSE), (2, 'bob', 0, 1, TRUE), (3, 'cy', 3.5, 1, FALSE), (3, 'cy-old', 1, 0, FALSE);`);
    const [job] = await bq.createQueryJob({
      query: `
        MERGE main.accounts T
        USING (
          SELECT id, name, balance, deleted FROM (
            SELECT *, ROW_NUMBER() OVER (PARTITION BY id ORDER BY seq DESC) AS _rank FROM \`emu-project.main.stage\`
          ) WHERE _rank = 1
        ) S
        ON T.id = S.id
        WHEN MATCHED AND S.deleted THEN DELETE
        WHEN MATCHED THEN UPDATE SET name = IF(S.name IS NULL, T.name, S.name), balance = S.balance
        WHEN NOT MATCHED AND NOT S.deleted THEN INSERT (id, name, balance) VALUES (S.id, S.name, S.balance)`,
    });
    const [metadata] = await job.getMetadata();
    expect(metadata.statistics.query.numDmlAffectedRows).toBe("3");
    const [rows] = await bq.query(
      "SELECT id, name, CAST(balance AS STRING) AS balance FROM main.accounts ORDER BY id",
    );
    expect(rows).toEqual([
      { id: 1, name: "ann2", balance: "11.25" },
      { id: 3, name: "cy", balance: "3.5" },
    ]);
  });

  test("DML and DDL statements a loader sends", async () => {
    await bq.query("ALTER TABLE `emu-project.main.accounts` ADD COLUMN IF NOT EXISTS note STRING");
    await bq.query("ALTER TABLE main.accounts ALTER COLUMN balance SET DATA TYPE NUMERIC(20, 4)");
    await bq.query("ALTER TABLE main.accounts ALTER COLUMN id SET DATA TYPE BIGNUMERIC");
    const [metadata] = await bq.dataset("main").table("accounts").getMetadata();
    expect(metadata.schema.fields.map((f: { name: string; type: string }) => `${f.name}:${f.type}`)).toEqual([
      "id:BIGNUMERIC",
      "name:STRING",
      "balance:NUMERIC",
      "updated_at:TIMESTAMP",
      "note:STRING",
    ]);
    expect(metadata.schema.fields[2]).toMatchObject({ precision: "20", scale: "4" });
    const narrowing = await queryError("ALTER TABLE main.accounts ALTER COLUMN name SET DATA TYPE INT64");
    expect(narrowing.message).toContain(
      "existing column type (STRING) is assignable to the new type (INTEGER)",
    );

    const [updateJob] = await bq.createQueryJob({
      query:
        "UPDATE main.accounts SET note = 'seen', updated_at = TIMESTAMP '2024-05-01 10:00:00.5+00' WHERE note IS NULL",
    });
    expect((await updateJob.getMetadata())[0].statistics.query.numDmlAffectedRows).toBe("2");
    const [rows] = await bq.query("SELECT id, note, updated_at FROM main.accounts ORDER BY id");
    expect(rows.map((r) => [r.id.toFixed(), r.note, r.updated_at.value])).toEqual([
      ["1", "seen", "2024-05-01T10:00:00.500Z"],
      ["3", "seen", "2024-05-01T10:00:00.500Z"],
    ]);
    expect((await queryError("DELETE FROM main.accounts")).message).toContain(
      "DELETE must have a WHERE clause",
    );
    expect((await queryError("SELECT CAST(1 AS INTEGERX)")).message).toContain("Type not found: INTEGERX");
    expect((await queryError("SELECT 1 FROM main.missing")).message).toBe(
      "Not found: Table emu-project:main.missing was not found in location US",
    );
    await bq.query(`
      BEGIN TRANSACTION;
      CREATE TABLE main.copy_of AS SELECT id, name FROM main.accounts;
      DELETE FROM main.accounts WHERE TRUE;
      COMMIT TRANSACTION;`);
    expect((await bq.query("SELECT COUNT(*) AS n FROM main.accounts"))[0]).toEqual([{ n: 0 }]);
    expect((await bq.query("SELECT COUNT(*) AS n FROM main.copy_of"))[0]).toEqual([{ n: 2 }]);
    await bq.query("TRUNCATE TABLE main.copy_of");
    await bq.query("DROP TABLE IF EXISTS main.copy_of");
    expect((await bq.dataset("main").table("copy_of").exists())[0]).toBe(false);
  });

  test("DML writing a value of the wrong type is refused, as BigQuery does not cast implicitly", async () => {
    await bq.query("CREATE TABLE main.typed (n INT64, amount NUMERIC, ts TIMESTAMP, label STRING)");
    const insert = await queryError("INSERT INTO main.typed (n, label) VALUES ('5', 'x')");
    expect(insert.message).toBe(
      "Query column 1 has type STRING which cannot be inserted into column n, which has type INT64",
    );
    const update = await queryError("UPDATE main.typed SET label = n WHERE TRUE");
    expect(update.message).toBe("Value of type INT64 cannot be assigned to label, which has type STRING");
    const merge = await queryError(`
      MERGE main.typed T USING (SELECT 1.5 AS n, 'x' AS label) S ON T.label = S.label
      WHEN NOT MATCHED THEN INSERT (n, label) VALUES (S.n, S.label)`);
    expect(merge.message).toContain("cannot be inserted into column n, which has type INT64");
    // What BigQuery coerces: INT64 into NUMERIC and FLOAT64, a string literal into TIMESTAMP, NULL anywhere.
    await bq.query(
      "INSERT INTO main.typed (n, amount, ts, label) VALUES (1, 2, '2024-01-01 00:00:00+00', NULL), (NULL, 2.5, NULL, 'y')",
    );
    await bq.query("UPDATE main.typed SET amount = n WHERE n IS NOT NULL");
    // UPDATE ... FROM is held to MERGE's rule: one source row per target row.
    const twice = await queryError(
      "UPDATE main.typed t SET label = s.label FROM (SELECT 1 AS n, 'a' AS label UNION ALL SELECT 1, 'b') s WHERE t.n = s.n",
    );
    expect(twice.message).toBe("UPDATE/MERGE must match at most one source row for each target row");
    await bq.query(
      "UPDATE main.typed t SET label = s.label FROM (SELECT 1 AS n, 'a' AS label) s WHERE t.n = s.n",
    );
    expect((await bq.query("SELECT COUNT(*) AS n FROM main.typed"))[0]).toEqual([{ n: 2 }]);
    // FROM inside EXTRACT and IS DISTINCT FROM takes a value, not a table.
    const [[found]] = await bq.query(
      "SELECT COUNT(*) AS n FROM main.typed t WHERE EXTRACT(YEAR FROM t.ts) = 2024 AND t.label IS DISTINCT FROM 'zzz'",
    );
    expect(found).toEqual({ n: 1 });
  });

  test("GoogleSQL functions whose DuckDB counterparts differ give BigQuery's answers", async () => {
    const [[row]] = await bq.query(`
      SELECT
        TIMESTAMP_TRUNC(TIMESTAMP '2024-05-17 10:11:12.5+00', DAY) AS day_start,
        DATE_TRUNC(DATE '2024-05-17', MONTH) AS month_start,
        DATE_DIFF(DATE '2024-05-17', DATE '2024-05-01', DAY) AS days,
        TIMESTAMP_DIFF(TIMESTAMP '2024-05-17 10:00:00+00', TIMESTAMP '2024-05-17 08:30:00+00', HOUR) AS hours,
        TIMESTAMP_ADD(TIMESTAMP '2024-05-17 10:00:00+00', INTERVAL 90 MINUTE) AS later,
        DATE_SUB(DATE '2024-03-01', INTERVAL 1 DAY) AS leap_day,
        DATE(2024, 2, 29) AS made,
        FORMAT_TIMESTAMP('%Y-%m-%d %H:%M', TIMESTAMP '2024-05-17 10:11:12+00') AS formatted,
        GENERATE_ARRAY(1, 3) AS numbers,
        SPLIT('a,b') AS parts,
        JSON_VALUE(JSON '{"a": {"b": 1}}', '$.a.b') AS scalar,
        TO_JSON_STRING(STRUCT(1 AS a)) AS json_text,
        SAFE_CAST('x' AS INT64) AS not_a_number,
        SAFE_DIVIDE(1, 0) AS no_division,
        (SELECT STRING_AGG(x, ',') FROM UNNEST(['a', 'b']) AS x) AS joined`);
    expect(row.day_start.value).toBe("2024-05-17T00:00:00.000Z");
    expect(row.month_start.value).toBe("2024-05-01");
    expect([row.days, row.hours]).toEqual([16, 1]);
    expect(row.later.value).toBe("2024-05-17T11:30:00.000Z");
    expect(row.leap_day.value).toBe("2024-02-29");
    expect(row.made.value).toBe("2024-02-29");
    expect(row.formatted).toBe("2024-05-17 10:11");
    expect(row.numbers).toEqual([1, 2, 3]);
    expect(row.parts).toEqual(["a", "b"]);
    expect(row.scalar).toBe("1");
    expect(row.json_text).toBe('{"a":1}');
    expect([row.not_a_number, row.no_division]).toEqual([null, null]);
    expect(row.joined).toBe("a,b");
  });

  test("a copy job replaces the destination whole", async () => {
    const main = bq.dataset("main");
    await load(main.table("copy_src"), ndjson("c1.json", [{ k: 1 }, { k: 2 }]), {
      schema: { fields: [{ name: "k", type: "INT64" }] },
    });
    await load(main.table("copy_dst"), ndjson("c2.json", [{ k: 9 }]), {
      schema: { fields: [{ name: "k", type: "INT64" }] },
    });
    await main.table("copy_src").copy(main.table("copy_dst"), { writeDisposition: "WRITE_TRUNCATE" });
    expect((await main.table("copy_dst").getRows())[0]).toEqual([{ k: 1 }, { k: 2 }]);
    await main.table("copy_src").copy(main.table("copy_dst"), { writeDisposition: "WRITE_APPEND" });
    expect((await main.table("copy_dst").getRows())[0]).toHaveLength(4);
  });
});

describe("more of the REST API", () => {
  test("a query runs in the location of its datasets; named elsewhere, they are not found", async () => {
    const [eu] = await bq.createDataset("in_eu", { location: "EU" });
    await eu.createTable("t", { schema: { fields: [{ name: "a", type: "STRING" }] } });
    const [job] = await bq.createQueryJob({ query: "SELECT a FROM in_eu.t" });
    expect(job.location).toBe("EU");
    await expect(bq.job(job.id!, { location: "US" }).getMetadata()).rejects.toMatchObject({ code: 404 });
    expect((await bq.job(job.id!, { location: "EU" }).getMetadata())[0].status.state).toBe("DONE");
    await expect(bq.query({ query: "SELECT a FROM in_eu.t", location: "US" })).rejects.toMatchObject({
      code: 404,
      message: "Not found: Dataset emu-project:in_eu was not found in location US",
    });
  });

  test("a resumable upload may come in chunks", async () => {
    const base = `${emulator.url}/upload/bigquery/v2/projects/${PROJECT}/jobs`;
    const job = {
      configuration: {
        load: {
          sourceFormat: "NEWLINE_DELIMITED_JSON",
          destinationTable: { projectId: PROJECT, datasetId: "main", tableId: "resumable" },
          schema: { fields: [{ name: "n", type: "INT64" }] },
        },
      },
    };
    const start = await fetch(`${base}?uploadType=resumable`, { method: "POST", body: JSON.stringify(job) });
    expect(start.status).toBe(200);
    const session = start.headers.get("location")!;
    const data = Buffer.from('{"n": 1}\n{"n": 2}\n');
    const first = await fetch(session, {
      method: "PUT",
      headers: { "Content-Range": `bytes 0-9/*` },
      body: data.subarray(0, 10),
    });
    expect(first.status).toBe(308);
    expect(first.headers.get("range")).toBe("bytes=0-9");
    const last = await fetch(session, {
      method: "PUT",
      headers: { "Content-Range": `bytes 10-${data.length - 1}/${data.length}` },
      body: data.subarray(10),
    });
    expect(last.status).toBe(200);
    expect(await last.json()).toMatchObject({
      status: { state: "DONE" },
      statistics: { load: { outputRows: "2" } },
    });
    expect((await bq.dataset("main").table("resumable").getRows())[0]).toEqual([{ n: 1 }, { n: 2 }]);
  });

  test("rows are paged in tabledata.list and getQueryResults", async () => {
    const table = bq.dataset("main").table("paged");
    await load(
      table,
      ndjson(
        "paged.json",
        Array.from({ length: 25 }, (_, n) => ({ n })),
      ),
      {
        schema: { fields: [{ name: "n", type: "INT64" }] },
      },
    );
    const [page, next] = await table.getRows({ maxResults: 10, autoPaginate: false });
    expect(page.map((r) => r.n)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(next).toMatchObject({ pageToken: "10" });
    const [second] = await table.getRows({ ...next, autoPaginate: false });
    expect(second.map((r) => r.n)).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    const [job] = await bq.createQueryJob({ query: "SELECT n FROM main.paged ORDER BY n DESC" });
    const [rows, nextQuery] = await job.getQueryResults({ maxResults: 7, autoPaginate: false });
    expect(rows.map((r) => r.n)).toEqual([24, 23, 22, 21, 20, 19, 18]);
    const [rest] = await job.getQueryResults({ ...nextQuery, maxResults: 100, autoPaginate: false });
    expect(rest.map((r) => r.n)).toEqual(Array.from({ length: 18 }, (_, i) => 17 - i));
  });

  test("a table past its expirationTime is gone, as BigQuery deletes it", async () => {
    const [table] = await bq.dataset("main").createTable("short_lived", {
      schema: { fields: [{ name: "a", type: "STRING" }] },
      // The emulator's clock (jobs move it a second each), which BigQuery's server time stands for.
      expirationTime: String(emulator.clock.now() + 300),
    });
    expect((await table.exists())[0]).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect((await table.exists())[0]).toBe(false);
    await bq
      .dataset("main")
      .createTable("short_lived", { schema: { fields: [{ name: "b", type: "INT64" }] } });
  });

  test("query parameters, named and positional, keep their types", async () => {
    const [rows] = await bq.query({
      query: "SELECT @n + 1 AS n, @s AS s, @ts AS ts, @amount AS amount, ARRAY_LENGTH(@list) AS k",
      params: {
        n: 41,
        s: "it's",
        ts: BigQuery.timestamp("2024-01-02T03:04:05.678901Z"),
        amount: "12.5",
        list: ["a", "b"],
      },
      types: { n: "INT64", s: "STRING", ts: "TIMESTAMP", amount: "NUMERIC", list: ["STRING"] },
    });
    expect(rows[0].n).toBe(42);
    expect(rows[0].s).toBe("it's");
    expect(rows[0].ts.value).toBe("2024-01-02T03:04:05.678901000Z");
    expect(rows[0].amount.toFixed()).toBe("12.5");
    expect(rows[0].k).toBe(2);
    const [positional] = await bq.query({ query: "SELECT ? AS a, ? AS b", params: [true, 2.5] });
    expect(positional).toEqual([{ a: true, b: 2.5 }]);
  });

  test("a dry run checks a statement and changes nothing", async () => {
    const [table] = await bq
      .dataset("main")
      .createTable("dry", { schema: { fields: [{ name: "a", type: "INT64" }] } });
    await bq.query("INSERT INTO main.dry (a) VALUES (1)");
    const [job] = await bq.createQueryJob({ query: "DELETE FROM main.dry WHERE TRUE", dryRun: true });
    expect(job.metadata.statistics.query.statementType).toBe("DELETE");
    expect((await table.getRows())[0]).toEqual([{ a: 1 }]);
    await expect(
      bq.createQueryJob({ query: "DELETE FROM main.dry WHERE nope = 1", dryRun: true }),
    ).rejects.toMatchObject({
      message: "Unrecognized name: nope",
    });
  });

  test("BIGQUERY_EMULATOR_HOST works in place of apiEndpoint (paths without /bigquery/v2)", async () => {
    const previous = process.env.BIGQUERY_EMULATOR_HOST;
    process.env.BIGQUERY_EMULATOR_HOST = emulator.url;
    try {
      const viaEnv = new BigQuery({
        projectId: PROJECT,
        authClient: new OAuth2Client({ credentials: { access_token: "emulator" } }),
      });
      const [rows] = await viaEnv.query("SELECT 25 AS n");
      expect(rows).toEqual([{ n: 25 }]);
      expect((await viaEnv.dataset("main").getMetadata())[0].location).toBe("US");
      expect(emulator.requests.some((r) => r.startsWith(`POST /projects/${PROJECT}/queries`))).toBe(true);
    } finally {
      if (previous === undefined) delete process.env.BIGQUERY_EMULATOR_HOST;
      else process.env.BIGQUERY_EMULATOR_HOST = previous;
    }
  });

  test("with a data file, datasets and rows outlive a restart", async () => {
    const dataFile = path.join(dir, "emulator.duckdb");
    const first = await startBigQueryEmulator({ projectId: PROJECT, dataFile });
    const one = client(first.url);
    await one.createDataset("kept", { location: "EU" });
    await load(one.dataset("kept").table("t"), ndjson("kept.json", [{ big: "1.5" }]), {
      schema: { fields: [{ name: "big", type: "BIGNUMERIC", mode: "REQUIRED" }] },
    });
    await first.close();
    const second = await startBigQueryEmulator({ projectId: PROJECT, dataFile });
    try {
      const two = client(second.url);
      const [metadata] = await two.dataset("kept").table("t").getMetadata();
      expect(metadata.schema.fields).toEqual([{ name: "big", type: "BIGNUMERIC", mode: "REQUIRED" }]);
      const [rows] = await two.query("SELECT big FROM kept.t");
      expect(rows[0].big.toFixed()).toBe("1.5");
    } finally {
      await second.close();
    }
  });
});

describe("failures injected with failNext", () => {
  test("GET requests and job inserts are retried by the client; uploads are not", async () => {
    const retrying = client(emulator.url, {
      retryOptions: { maxRetries: 2, retryDelayMultiplier: 1.1, maxRetryDelay: 0.2 },
    });
    const before = emulator.requests.length;
    emulator.failNext({ pattern: /^GET .*\/datasets\/main$/, status: 503 });
    const [metadata] = await retrying.dataset("main").getMetadata();
    expect(metadata.id).toBe(`${PROJECT}:main`);
    expect(
      emulator.requests
        .slice(before)
        .filter((r) => r.startsWith("GET /bigquery/v2/projects/emu-project/datasets/main?")),
    ).toHaveLength(2);

    emulator.failNext({ pattern: /^POST .*\/queries$/, status: 429 });
    const [rows] = await retrying.query("SELECT 1 AS one");
    expect(rows).toEqual([{ one: 1 }]);

    // The upload is sent once (a stream cannot be replayed): the 503 reaches the caller, as an
    // error the client itself classes as retryable.
    emulator.failNext({ pattern: /^POST \/upload\//, status: 503 });
    const error = await loadError(
      retrying.dataset("main").table("known"),
      ndjson("retry.json", [{ a: "y" }]),
    );
    expect(error).toMatchObject({ code: 503, errors: [{ reason: "backendError" }] });
    const { util } = await import("@google-cloud/common");
    expect(util.shouldRetryRequest(error as never)).toBe(true);

    // More failures than retries: the last one surfaces.
    emulator.failNext({ pattern: /^GET .*\/datasets\/main$/, status: 503, times: 3 });
    await expect(retrying.dataset("main").getMetadata()).rejects.toMatchObject({ code: 503 });
  });
});

describe("authentication", () => {
  let secured: BigQueryEmulator;
  beforeAll(async () => {
    secured = await startBigQueryEmulator({ projectId: PROJECT, requireAuth: true });
  });
  afterAll(async () => secured?.close());

  function jwtClient(key: Record<string, string>): JWT {
    return new JWT({
      email: key.client_email!,
      key: key.private_key!,
      keyId: key.private_key_id!,
      scopes: ["https://www.googleapis.com/auth/bigquery"],
    });
  }

  /** google-auth-library posts to Google's token URL whatever the key says; send it to token_uri. */
  function viaTokenUri(jwt: JWT, tokenUri: string): JWT {
    jwt.transporter.interceptors.request.add({
      resolved: async (config) => {
        if (String(config.url) === "https://oauth2.googleapis.com/token") config.url = new URL(tokenUri);
        return config;
      },
    });
    return jwt;
  }

  test("a request without a token is 401 in Google's shape", async () => {
    const response = await fetch(`${secured.url}/bigquery/v2/projects/${PROJECT}/datasets`);
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({
      error: {
        code: 401,
        status: "UNAUTHENTICATED",
        errors: [{ reason: "required", location: "Authorization" }],
      },
    });
  });

  test("a service-account key works through the token endpoint and as a self-signed JWT", async () => {
    const key = secured.createServiceAccountKey();
    expect(key.token_uri).toBe(`${secured.url}/token`);
    const exchanged = new BigQuery({
      projectId: PROJECT,
      apiEndpoint: secured.url,
      authClient: viaTokenUri(jwtClient(key), key.token_uri!),
    });
    await exchanged.createDataset("secure");
    expect(secured.requests).toContain("POST /token");
    const selfSigned = jwtClient(key);
    selfSigned.useJWTAccessWithScope = true;
    const direct = new BigQuery({ projectId: PROJECT, apiEndpoint: secured.url, authClient: selfSigned });
    const [datasets] = await direct.getDatasets();
    expect(datasets.map((d) => d.id)).toEqual(["secure"]);
  });

  test("a key with the wrong private key is refused: 400 invalid_grant at /token, 401 as a bearer JWT", async () => {
    const key = secured.createServiceAccountKey();
    const forged = {
      ...key,
      private_key: crypto
        .generateKeyPairSync("rsa", { modulusLength: 2048 })
        .privateKey.export({ type: "pkcs8", format: "pem" })
        .toString(),
    };
    const exchanged = new BigQuery({
      projectId: PROJECT,
      apiEndpoint: secured.url,
      authClient: viaTokenUri(jwtClient(forged), key.token_uri!),
    });
    await expect(exchanged.getDatasets()).rejects.toMatchObject({
      message: "invalid_grant: Invalid JWT Signature.",
      status: 400,
    });
    const selfSigned = jwtClient(forged);
    selfSigned.useJWTAccessWithScope = true;
    const direct = new BigQuery({ projectId: PROJECT, apiEndpoint: secured.url, authClient: selfSigned });
    await expect(direct.getDatasets()).rejects.toMatchObject({ code: 401 });
  });
});
