import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { ConnectionError, ResourceError, SchemaError } from "../../../src/errors.js";
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
 * target-bigquery against BigQuery's quotas (the emulator keeps production's numbers): what it
 * does stays within them, and what exceeds them is reported as the quota it is.
 * The emulator's quotas and clock are its own: these tests do not run against real BigQuery.
 */
const emulatorOnly = process.env.SLUICE_BIGQUERY_PROJECT ? describe.skip : describe;

/** Batches of the FULL_TABLE copy below: 300 by default, fewer where a CI setting asks. */
const FULL_TABLE_BATCHES = Number(process.env.SLUICE_TEST_BQ_BATCHES ?? 300);

let db: TestDatabase;
const targets: BigqueryTarget[] = [];

beforeAll(async () => {
  db = await createTestDatabase("bq_quotas");
});

afterEach(async () => {
  for (const target of targets.splice(0)) await target.close();
});

afterAll(async () => {
  await db?.drop();
});

async function target(options: Parameters<typeof startBigqueryTarget>[0] = {}): Promise<BigqueryTarget> {
  const started = await startBigqueryTarget(options);
  targets.push(started);
  return started;
}

const failureOf = (run: Promise<unknown>): Promise<Error | undefined> =>
  run.then(
    () => undefined,
    (e: unknown) => e as Error,
  );

emulatorOnly("target-bigquery within BigQuery's quotas", () => {
  test("evolution of 12 columns at once passes the metadata rate limit (5 table updates per 10 s): one ALTER TABLE", async () => {
    // Real time and no retries: a statement per column would be refused from the sixth on.
    const bq = await target({ emulator: { jobDurationMs: 0 } });
    const dataset = datasetName("evolve12");
    await db.query(`CREATE TABLE wide (id integer PRIMARY KEY, a text); INSERT INTO wide VALUES (1, 'x');`);
    const workDir = tempDir();
    const config = bigqueryConfig(bq, dataset, { max_retries: 0 });
    const streams = { "public-wide": { "replication-method": "INCREMENTAL", "replication-key": "id" } };
    await runToBigquery({ db, workDir, target: config, streams });
    const added = Array.from({ length: 12 }, (_, i) => `c${i + 1}`);
    await db.query(`
      ALTER TABLE wide ${added.map((c) => `ADD COLUMN ${c} integer`).join(", ")};
      INSERT INTO wide VALUES (2, 'y', ${added.map((_, i) => i + 1).join(", ")});
    `);
    await runToBigquery({ db, workDir, target: config, streams });
    const [metadata] = await bq.client.dataset(dataset).table("wide").getMetadata();
    expect(metadata.schema.fields.map((f: { name: string }) => f.name)).toEqual(["id", "a", ...added]);
    expect(await plainRows(bq, `SELECT id, c1, c12 FROM \`${dataset}.wide\` ORDER BY id`)).toEqual([
      { id: 1, c1: null, c12: null },
      { id: 2, c1: 1, c12: 12 },
    ]);
  });

  test(`a ${FULL_TABLE_BATCHES}-batch FULL_TABLE copy stays under the table-modification quota (1,500 per table per day)`, async () => {
    // Two seconds a job, about what a small load job takes in BigQuery.
    const bq = await target({ emulator: { jobDurationMs: 2_000 } });
    const dataset = datasetName("fullcopy");
    await db.query(
      `CREATE TABLE copied (id integer PRIMARY KEY, v text); INSERT INTO copied SELECT i, md5(i::text) FROM generate_series(1, ${FULL_TABLE_BATCHES}) i;`,
    );
    await runToBigquery({
      db,
      workDir: tempDir(),
      target: bigqueryConfig(bq, dataset),
      streams: { "public-copied": { "replication-method": "FULL_TABLE" } },
      tap: { batch_size_rows: 1 },
    });
    expect(await plainRows(bq, `SELECT count(*) AS n FROM \`${dataset}.copied\``)).toEqual([
      { n: FULL_TABLE_BATCHES },
    ]);
    // One load job per batch into the staging table, one copy onto the target.
    const quotas = bq.emulator!.quotas;
    expect(quotas.modificationsToday(`${dataset}.copied__sluice_new`)).toBe(FULL_TABLE_BATCHES);
    expect(quotas.modificationsToday(`${dataset}.copied`)).toBe(1);
    expect(FULL_TABLE_BATCHES).toBeLessThanOrEqual(quotas.limits.tableModificationsPerDay);
  });

  test("a quota exceeded is reported as the quota, not as permission denied, and is not retried in the run", async () => {
    const bq = await target({ emulator: { limits: { tableModificationsPerDay: 1 } } });
    const dataset = datasetName("quota");
    await db.query(`CREATE TABLE events (id integer, note text); INSERT INTO events VALUES (1, 'a');`);
    const workDir = tempDir();
    const retries: unknown[] = [];
    const config = bigqueryConfig(bq, dataset, { load_method: "append-only" });
    const streams = { "public-events": { "replication-method": "FULL_TABLE" } };
    const run = () =>
      runToBigquery({
        db,
        workDir,
        target: config,
        streams,
        loaderOptions: { onRetry: (error) => retries.push(error) },
      });
    // Each run loads the staging table (events__sluice_new) once: the second run is one too many.
    await run();
    const error = await failureOf(run());
    expect(error).toBeInstanceOf(ResourceError);
    expect((error as ResourceError).transient).toBe(true);
    expect(error?.message).toMatch(
      /BigQuery quota exceeded while loading public-events into test-project\.\w+\.events__sluice_new/,
    );
    expect(error?.message).toMatch(/Your table exceeded quota for imports or query appends per table/);
    expect(error?.message).not.toMatch(/permission denied/i);
    expect(retries).toEqual([]);
  });

  test("rateLimitExceeded and jobRateLimitExceeded are retried with backoff, and the run succeeds", async () => {
    const bq = await target();
    const dataset = datasetName("ratelimit");
    await db.query(`CREATE TABLE ticks (id integer PRIMARY KEY); INSERT INTO ticks VALUES (1), (2);`);
    const retries: string[] = [];
    bq.emulator!.failNext({
      pattern: /^POST \/bigquery\/v2\/projects\/[^/]+\/jobs$/,
      status: 403,
      reason: "rateLimitExceeded",
    });
    bq.emulator!.failNext({
      pattern: /^POST \/upload\/bigquery\/v2\/projects\/[^/]+\/jobs/,
      status: 403,
      reason: "jobRateLimitExceeded",
    });
    await runToBigquery({
      db,
      workDir: tempDir(),
      target: bigqueryConfig(bq, dataset),
      streams: { "public-ticks": { "replication-method": "FULL_TABLE" } },
      loaderOptions: {
        onRetry: (error) =>
          retries.push((error as { errors?: { reason: string }[] }).errors?.[0]?.reason ?? "?"),
      },
    });
    expect(retries).toEqual(expect.arrayContaining(["rateLimitExceeded", "jobRateLimitExceeded"]));
    expect(await plainRows(bq, `SELECT count(*) AS n FROM \`${dataset}.ticks\``)).toEqual([{ n: 2 }]);
  });

  test("a rate limit that outlasts the retries says so, as a transient error", async () => {
    const bq = await target();
    const dataset = datasetName("ratelimit_gone");
    await db.query(`CREATE TABLE tocks (id integer PRIMARY KEY); INSERT INTO tocks VALUES (1);`);
    bq.emulator!.failNext({ pattern: /jobs/, status: 403, reason: "rateLimitExceeded", times: 50 });
    const error = await failureOf(
      runToBigquery({
        db,
        workDir: tempDir(),
        target: bigqueryConfig(bq, dataset, { max_retries: 1 }),
        streams: { "public-tocks": { "replication-method": "FULL_TABLE" } },
      }),
    );
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as ConnectionError).transient).toBe(true);
    expect(error?.message).toMatch(/rate limit still refused .* after retries with backoff/);
  });

  test("a key BigQuery cannot merge on (FLOAT64, JSON) is refused before any table is made", async () => {
    const bq = await target();
    const dataset = datasetName("floatkey");
    await db.query(`
      CREATE TABLE readings (sensor double precision PRIMARY KEY, v integer); INSERT INTO readings VALUES (1.5, 1);
      CREATE TABLE docs (body jsonb, v integer, PRIMARY KEY (v));
    `);
    const error = await failureOf(
      runToBigquery({
        db,
        workDir: tempDir(),
        target: bigqueryConfig(bq, dataset),
        streams: { "public-readings": { "replication-method": "INCREMENTAL", "replication-key": "v" } },
      }),
    );
    expect(error).toBeInstanceOf(SchemaError);
    expect(error?.message).toMatch(
      /stream public-readings: key column "sensor" would be FLOAT64 in BigQuery, which cannot partition/,
    );
    expect(error?.message).toMatch(/load_method: append-only/);
    const [tables] = await bq.client.dataset(dataset).getTables();
    expect(tables.map((t) => t.id)).toEqual([]);
  });
});
