import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Catalog } from "../../../src/protocol/catalog.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { duckdbConfig, duckdbRows, selectStreams, tapConfig, tempDir } from "../../support/pipeline.js";
import { DUCKDB_FILE, projectSpec, TestProject } from "../../support/test-project.js";
import { describeFinished, runProcess, SLUICE, shellQuote, sluice } from "./singer-helpers.js";

/**
 * The built-in connectors as Singer executables: `sluice tap tap-postgres ... | sluice target
 * target-duckdb ...` over a real pipe must give the warehouse `sluice run` gives.
 */
let db: TestDatabase;
let work: string;
let tapConfigFile: string;
let project: TestProject | undefined;

const STREAMS = {
  "public-things": {},
  "public-events": { "replication-method": "INCREMENTAL", "replication-key": "updated_at" },
};

beforeAll(async () => {
  db = await createTestDatabase("singer");
  await db.query(`
    CREATE TABLE things (
      id int PRIMARY KEY, amount numeric(38,10), big bigint, at timestamptz, doc jsonb,
      note text, free numeric, flag boolean, d date);
    INSERT INTO things VALUES
      (1, 1234567890123456789012345678.0123456789, 9007199254740993, '2024-01-31 12:00:00.5+00',
       '{"a": 1, "b": [1.10, "x"], "big": 123456789012345678901234567890.5}', E'say "hi",\\nnew line\\r\\n', 3.141592653589793238462643383279, true, '2024-02-29'),
      (2, -0.0000000001, -9223372036854775808, '1999-12-31 23:59:59.999999+05:30', '"just a string"', '', NULL, false, NULL),
      (3, NULL, 9223372036854775807, NULL, NULL, NULL, 'NaN', NULL, '1970-01-01'),
      (4, 0, 0, '2024-06-01 00:00:00+00', '[]', 'unicode é ☃ 😀, "commas"', 1e-20, true, '2000-01-01');
    CREATE TABLE events (id int PRIMARY KEY, updated_at timestamptz NOT NULL, payload text);
    INSERT INTO events SELECT g, '2024-01-01'::timestamptz + g * interval '1 hour', 'event ' || g FROM generate_series(1, 7) g;
  `);
  work = tempDir("sluice-singer-");
  tapConfigFile = path.join(work, "tap.json");
  fs.writeFileSync(tapConfigFile, JSON.stringify(tapConfig(db, { batch_size_rows: 2 })));
});

afterAll(async () => {
  project?.remove();
  await db?.drop();
});

async function discover(): Promise<Catalog> {
  const result = await sluice(["tap", "tap-postgres", "--config", tapConfigFile, "--discover"]);
  expect(result.code, describeFinished(result)).toBe(0);
  return JSON.parse(result.stdout) as Catalog;
}

/** Every row of a DuckDB table as text, ordered by id. */
/** Every column as text but `_sdc_table_version`, which only a Singer target (versions) keeps. */
async function tableText(file: string, table: string): Promise<Record<string, string | null>[]> {
  return duckdbRows(
    file,
    `SELECT COLUMNS(c -> c <> '_sdc_table_version')::VARCHAR FROM ${table} ORDER BY id`,
  );
}

describe("sluice tap / sluice target", () => {
  test("--discover prints the catalog", async () => {
    const catalog = await discover();
    const things = catalog.streams.find((s) => s.tap_stream_id === "public-things");
    expect(things?.key_properties).toEqual(["id"]);
    expect(Object.keys(things?.schema.properties ?? {})).toEqual([
      "id",
      "amount",
      "big",
      "at",
      "doc",
      "note",
      "free",
      "flag",
      "d",
    ]);
    expect(catalog.streams.map((s) => s.tap_stream_id).sort()).toEqual(["public-events", "public-things"]);
  });

  test("--about lists the capabilities and settings", async () => {
    const tap = await sluice(["tap", "tap-postgres", "--about"]);
    expect(tap.code, describeFinished(tap)).toBe(0);
    const about = JSON.parse(tap.stdout) as { capabilities: string[]; settings: { name: string }[] };
    expect(about.capabilities).toEqual(
      expect.arrayContaining(["catalog", "discover", "state", "properties"]),
    );
    expect(about.settings.map((s) => s.name)).toEqual(
      expect.arrayContaining(["host", "dbname", "batch_size_mb"]),
    );
    const target = await sluice(["target", "target-duckdb", "--about"]);
    expect(JSON.parse(target.stdout)).toMatchObject({ name: "target-duckdb" });
  });

  test("an unknown setting in --config is a configuration error (exit 2)", async () => {
    const file = path.join(work, "bad-tap.json");
    fs.writeFileSync(file, JSON.stringify({ ...tapConfig(db), hots: "x" }));
    const result = await sluice(["tap", "tap-postgres", "--config", file, "--discover"]);
    expect(result.code, describeFinished(result)).toBe(2);
    expect(result.stderr).toContain("hots");
    expect(result.stderr).toContain("unknown setting of tap-postgres");
  });

  test("tap | target over a pipe gives the same tables as sluice run, and the last state", async () => {
    const catalog = selectStreams(await discover(), STREAMS);
    const catalogFile = path.join(work, "catalog.json");
    fs.writeFileSync(catalogFile, JSON.stringify(catalog));
    const pipeDir = path.join(work, "pipe");
    fs.mkdirSync(pipeDir);
    const targetConfigFile = path.join(work, "target.json");
    fs.writeFileSync(targetConfigFile, JSON.stringify(duckdbConfig(path.join(pipeDir, "warehouse.duckdb"))));
    const tapOut = path.join(work, "tap-out.jsonl");
    const command =
      `${SLUICE} tap tap-postgres --config ${shellQuote(tapConfigFile)} --catalog ${shellQuote(catalogFile)}` +
      ` | tee ${shellQuote(tapOut)} | ${SLUICE} target target-duckdb --config ${shellQuote(targetConfigFile)}`;
    const piped = await runProcess("bash", ["-o", "pipefail", "-c", command]);
    expect(piped.code, describeFinished(piped)).toBe(0);

    // The same data through `sluice run`.
    const spec = projectSpec(db, {
      select: Object.keys(STREAMS).map((s) => `${s}.*`),
      metadata: STREAMS,
      tap: { batch_size_rows: 2 },
    });
    project = TestProject.forDatabase(db, spec, { prefix: "sluice-singer-run-" });
    const run = await project.run(["run", "tap-postgres", "target-duckdb"]);
    expect(run.code, describeFinished(run)).toBe(0);

    for (const table of ["public.things", "public.events"]) {
      const expected = await tableText(project.file(DUCKDB_FILE), table);
      const actual = await tableText(path.join(pipeDir, "warehouse.duckdb"), table);
      expect(actual.length, table).toBeGreaterThan(0);
      expect(actual, table).toEqual(expected);
    }

    // Column types agree, numeric(38,10) included: its Singer schema carries pipelinewise's
    // `maximum: 1e28, exclusiveMaximum` bound, from which the target rebuilds DECIMAL(38,10).
    const typesOf = async (file: string): Promise<Record<string, string | null>[]> =>
      duckdbRows(
        file,
        "SELECT table_name, column_name, data_type FROM duckdb_columns() WHERE schema_name = 'public' ORDER BY table_name, column_index",
      );
    const runTypes = await typesOf(project.file(DUCKDB_FILE));
    const pipeTypes = await typesOf(path.join(pipeDir, "warehouse.duckdb"));
    // The tap sends table versions, so the target keeps each row's (ACTIVATE_VERSION removes the
    // rows of other versions, in a later run too): one column more, at the end of each table.
    const version = (table: string) => ({
      table_name: table,
      column_name: "_sdc_table_version",
      data_type: "BIGINT",
    });
    expect(pipeTypes).toEqual([
      ...runTypes.filter((c) => c.table_name === "events"),
      version("events"),
      ...runTypes.filter((c) => c.table_name === "things"),
      version("things"),
    ]);

    // Values that a double would have rounded arrived exactly.
    const things = await tableText(path.join(pipeDir, "warehouse.duckdb"), "public.things");
    expect(things[0]!.big).toBe("9007199254740993");
    expect(things[0]!.amount).toBe("1234567890123456789012345678.0123456789");
    expect(things[0]!.doc).toBe('{"a": 1, "b": [1.10, "x"], "big": 123456789012345678901234567890.5}');

    // The tap's messages: RECORDs are exact and RFC 3339, ACTIVATE_VERSION around FULL_TABLE.
    const lines = fs.readFileSync(tapOut, "utf8").trim().split("\n");
    const types = lines.map((l) => (JSON.parse(l) as { type: string }).type);
    expect(types.filter((t) => t === "ACTIVATE_VERSION")).toHaveLength(2);
    expect(lines.find((l) => l.includes('"id":1,') && l.includes("public-things"))).toContain(
      '"amount":1234567890123456789012345678.0123456789,"big":9007199254740993,"at":"2024-01-31T12:00:00.5+00:00"',
    );
    // The SCHEMA names each column's PostgreSQL type, and gives integers their range (bigint's
    // exact), from which other targets (pipelinewise-target-postgres) make bigint, not numeric.
    const schema = lines.find((l) => l.startsWith('{"type":"SCHEMA","stream":"public-things"'));
    expect(schema).toContain(
      '"big":{"type":["null","integer"],"minimum":-9223372036854775808,"maximum":9223372036854775807,"x-sql-datatype":"bigint"}',
    );
    expect(schema).toContain('"x-sql-datatype":"numeric(38,10)"');
    expect(schema).toContain(
      '"at":{"type":["null","string"],"format":"date-time","x-sql-datatype":"timestamp with time zone"}',
    );
    // Several STATEs: one per INCREMENTAL batch of 2 rows, and at each stream's end.
    const states = lines.filter((l) => l.startsWith('{"type":"STATE"'));
    expect(states.length).toBeGreaterThanOrEqual(5);

    // The target printed states, and its last is the tap's last, printed once all rows were in.
    const printed = piped.stdout.trim().split("\n");
    expect(printed.length).toBeGreaterThanOrEqual(2);
    const lastTapState = (JSON.parse(states.at(-1)!) as { value: unknown }).value;
    expect(JSON.parse(printed.at(-1)!)).toEqual(lastTapState);
    expect(lastTapState).toMatchObject({
      bookmarks: {
        "public-events": {
          replication_key: "updated_at",
          replication_key_value: "2024-01-01T07:00:00+00:00",
        },
        "public-things": { last_replication_method: "FULL_TABLE" },
      },
    });

    // A second run from the last state moves only the rows at or after the bookmark.
    const stateFile = path.join(work, "state.json");
    fs.writeFileSync(stateFile, printed.at(-1)!);
    const again = await sluice([
      "tap",
      "tap-postgres",
      "--config",
      tapConfigFile,
      "--catalog",
      catalogFile,
      "--state",
      stateFile,
    ]);
    expect(again.code, describeFinished(again)).toBe(0);
    const eventRecords = again.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; stream?: string; record?: { id: number } })
      .filter((m) => m.type === "RECORD" && m.stream === "public-events");
    expect(eventRecords.map((m) => m.record!.id)).toEqual([7]);
  });
});
