import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { duckdbRows, runToDuckdb, tempDir } from "../../support/pipeline.js";

// Two streams of one run that would land in one warehouse table are refused before anything is
// written (issue 16 item 7), naming both streams and what to change.
let db: TestDatabase;
let workDir: string;

beforeAll(async () => {
  db = await createTestDatabase("collisions");
  workDir = tempDir("sluice-collisions-");
  await db.query(`
    CREATE SCHEMA s1; CREATE SCHEMA s2;
    CREATE TABLE s1.orders (id int PRIMARY KEY, v text); INSERT INTO s1.orders VALUES (1, 'one');
    CREATE TABLE s2.orders (id int PRIMARY KEY, v text); INSERT INTO s2.orders VALUES (2, 'two');`);
});

afterAll(async () => {
  await db?.drop();
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

test("s1.orders and s2.orders into one default_target_schema: refused before a row is written", async () => {
  const run = runToDuckdb({
    db,
    workDir,
    streams: { "s1-orders": {}, "s2-orders": {} },
    target: { default_target_schema: "analytics" },
  });
  await expect(run).rejects.toThrow(
    /target-duckdb: streams s1-orders and s2-orders would both be loaded into analytics\.orders.*deselect one/,
  );
  expect(fs.existsSync(path.join(workDir, "warehouse.duckdb"))).toBe(false);
});

test("without default_target_schema each goes to its own schema", async () => {
  await runToDuckdb({ db, workDir, streams: { "s1-orders": {}, "s2-orders": {} } });
  expect(
    await duckdbRows(
      path.join(workDir, "warehouse.duckdb"),
      "SELECT (SELECT v FROM s1.orders) AS s1, (SELECT v FROM s2.orders) AS s2",
    ),
  ).toEqual([{ s1: "one", s2: "two" }]);
});
