import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { JsonlLoader } from "../../../src/connectors/target-jsonl/jsonl-loader.js";
import { PostgresExtractor } from "../../../src/connectors/tap-postgres/postgres-extractor.js";
import { runPipeline } from "../../../src/runner/run-pipeline.js";
import { SqliteSystemDatabase } from "../../../src/state/sqlite-system-database.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { selectStreams, tapConfig, tempDir } from "../../support/pipeline.js";

let db: TestDatabase;
let workDir: string;

beforeAll(async () => {
  db = await createTestDatabase("jsonl");
  workDir = tempDir();
  await db.query(`
    CREATE TABLE items (
      id bigint PRIMARY KEY, price numeric(38,10), ratio double precision, big numeric,
      name text, note text, active boolean, tags text[], matrix int[][], doc jsonb,
      at timestamptz, day date, span interval, raw bytea);
    INSERT INTO items VALUES
      (9007199254740993, 12345678901234567890.0123456789, 0.1, 'NaN', 'ü "q", x', '', true,
       '{a,NULL,"b,c"}', '{{1,2},{3,4}}', '{"k": [1, {"n": null}], "big": 123456789012345678901234567890}',
       '2024-01-31 12:00:00.25+02', '2024-02-29', '1 year 2 mons 3 days 04:05:06.5', '\\x0a0b'),
      (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
  `);
  const extractor = new PostgresExtractor(tapConfig(db));
  const plans = await extractor.plan(selectStreams(await extractor.discover(), { "public-items": {} }));
  const system = await SqliteSystemDatabase.open({ path: path.join(workDir, "sluice.db") });
  try {
    await runPipeline({
      runId: "jsonl-run",
      stateId: "test:tap-postgres-to-target-jsonl",
      extractorName: "tap-postgres",
      loaderName: "target-jsonl",
      extractor,
      loader: new JsonlLoader(
        { destination_path: "out", do_timestamp_file: false, add_metadata_columns: false },
        { projectDir: workDir },
      ),
      plan: async () => plans,
      stateStore: system.stateStore,
      runHistory: system.runHistory,
      fullRefresh: false,
      spoolDir: path.join(workDir, "spool"),
      observer: () => undefined,
    });
  } finally {
    await system.close();
  }
});

afterAll(async () => {
  await db?.drop();
});

test("target-jsonl writes one file per stream with Singer's JSON value forms, numbers exact", () => {
  const text = fs.readFileSync(path.join(workDir, "out", "public-items.jsonl"), "utf8");
  const lines = text.trimEnd().split("\n");
  expect(lines).toHaveLength(2);
  // Exactness is checked on the text: JSON.parse would round these numbers.
  const first = lines.find((l) => l.startsWith('{"id":9007199254740993'))!;
  expect(first).toContain('"price":12345678901234567890.0123456789');
  expect(first).toContain('"ratio":0.1');
  expect(first).toContain('"big":"NaN"');
  expect(first).toContain('"big": 123456789012345678901234567890}');
  const record = JSON.parse(first) as Record<string, unknown>;
  expect(record).toMatchObject({
    name: 'ü "q", x',
    note: "",
    active: true,
    tags: ["a", null, "b,c"],
    matrix: [
      [1, 2],
      [3, 4],
    ],
    doc: { k: [1, { n: null }] },
    at: "2024-01-31T10:00:00.25+00:00",
    day: "2024-02-29",
    span: "P1Y2M3DT4H5M6.5S",
    raw: "0a0b",
  });
  const empty = JSON.parse(lines.find((l) => l.startsWith('{"id":2'))!) as Record<string, unknown>;
  expect(Object.values(empty).filter((v) => v !== null)).toEqual([2]);
});
