import fs from "node:fs";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startEmbeddedPostgres, type EmbeddedServer } from "@sluice/postgres-server";
import { freePort } from "@sluice/postgres-server/free-port";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { tempDir } from "../../support/pipeline.js";
import { projectSpec, TestProject } from "../../support/test-project.js";
import { describeDifference, sourceRowTexts, type RowTexts } from "../../support/table-diff.js";
import { logLines, waitFor } from "./fault-support.js";

/**
 * The warehouse of target-postgres (a server of this test's own, with a persistent data folder)
 * restarts while a run loads into it. target-postgres does not write a batch again in place (its
 * connection is what broke), so the run starts the streams that had not finished again from
 * their committed state, with new connections: the INCREMENTAL table from its bookmark, merged
 * on its key; the FULL_TABLE one copied again into a new staging table. The run succeeds, each
 * table equal to the source.
 */
const ROWS = 40_000;
const STATE_ID = "dev:tap-postgres-to-target-postgres";

let db: TestDatabase;
let warehouse: EmbeddedServer | undefined;
let dataDir: string;
let port: number;
let project: TestProject | undefined;

async function warehouseQuery<R extends pg.QueryResultRow>(sql: string): Promise<R[]> {
  const client = new pg.Client({ connectionString: warehouse!.url("postgres") });
  await client.connect();
  try {
    return (await client.query<R>(sql)).rows;
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  db = await createTestDatabase("whrestart");
  for (const table of ["big", "big_full"]) {
    await db.query(`CREATE TABLE ${table} (id bigint PRIMARY KEY, body text NOT NULL)`);
    await db.query(
      `INSERT INTO ${table} SELECT i, repeat(md5(i::text), 4) FROM generate_series(1, ${ROWS}) i`,
    );
  }
  dataDir = tempDir("sluice-warehouse-pg-");
  port = await freePort();
  warehouse = await startEmbeddedPostgres({ dataDir, port });
});

afterAll(async () => {
  await warehouse?.stop();
  await db?.drop();
  fs.rmSync(dataDir, { recursive: true, force: true });
  project?.remove();
});

describe("the target-postgres warehouse restarts mid-run", () => {
  test("the unfinished streams start again with new connections; the run succeeds, each table exact", async () => {
    const spec = projectSpec(db, {
      select: ["public-big.*", "public-big_full.*"],
      metadata: {
        "public-big": { "replication-method": "INCREMENTAL", "replication-key": "id" },
        "public-big_full": { "replication-method": "FULL_TABLE" },
      },
      tap: { batch_size_rows: 500, max_parallel_streams: 2 },
    });
    spec.plugins.loaders = [
      {
        name: "target-postgres",
        config: {
          host: warehouse!.host,
          port,
          user: warehouse!.user,
          password: warehouse!.password,
          dbname: "postgres",
          default_target_schema: "raw",
        },
      },
    ];
    project = TestProject.forDatabase(
      db,
      { ...spec, max_retries: 6, retry_delay_seconds: 0.5 },
      { prefix: "sluice-warehouse-restart-", localSpool: true },
    );
    const run = project.start(["--log-format", "json", "run", "tap-postgres", "target-postgres"]);
    await waitFor(
      run,
      "three state commits",
      () => (run.output().stderr.match(/"event":"state-committed"/g) ?? []).length >= 3,
    );
    await warehouse!.stop();
    warehouse = await startEmbeddedPostgres({ dataDir, port });
    const ended = await run.done;
    expect(ended.code, ended.stderr).toBe(0);

    const retries = logLines(ended.stderr).filter((l) => l.event === "retrying");
    expect(retries.length, ended.stderr).toBeGreaterThanOrEqual(1);
    // Not a batch written again in place: target-postgres's connection is what broke.
    expect(
      retries.every((r) => r.scope === "streams"),
      ended.stderr,
    ).toBe(true);
    for (const table of ["big", "big_full"]) {
      const rows = await warehouseQuery<{ k: string; v: string }>(
        `SELECT id::text AS k, body AS v FROM raw.${table}`,
      );
      const loaded: RowTexts = new Map(rows.map((r) => [r.k, r.v]));
      expect(loaded.size, `${table}: no key twice`).toBe(rows.length);
      expect(
        describeDifference(await sourceRowTexts(db, `SELECT id::text AS k, body AS v FROM ${table}`), loaded),
        table,
      ).toBe("");
    }
    expect(await warehouseQuery("SELECT 1 FROM pg_tables WHERE tablename LIKE '%sluice_new'")).toEqual([]);
    expect(Number(project.storedState(STATE_ID)?.bookmarks["public-big"]?.replication_key_value)).toBe(ROWS);
  });
});
