import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ConfigError, ConnectionError, DataError } from "../../../src/errors.js";
import type { RunEvent } from "../../../src/runner/run-events.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { tempDir } from "../../support/pipeline.js";
import {
  bigqueryConfig,
  committedState,
  datasetName,
  plainRows,
  runToBigquery,
  startBigqueryTarget,
  type BigqueryTarget,
} from "./bigquery-harness.js";

/** Failure injection needs the emulator: these tests do not run against real BigQuery. */
const emulatorOnly = process.env.SLUICE_BIGQUERY_PROJECT ? describe.skip : describe;

let db: TestDatabase;
let target: BigqueryTarget;

beforeAll(async () => {
  db = await createTestDatabase("bq_failures");
  target = await startBigqueryTarget();
  await db.query(`
    CREATE TABLE people (id integer PRIMARY KEY, name text, updated_at timestamptz NOT NULL);
    INSERT INTO people VALUES (1, 'ada', '2024-01-01 00:00:00+00'), (2, NULL, '2024-01-02 00:00:00+00'),
      (3, 'cy', '2024-01-03 00:00:00+00');
  `);
});

afterAll(async () => {
  await target?.close();
  await db?.drop();
});

const streams = { "public-people": { "replication-method": "INCREMENTAL", "replication-key": "updated_at" } };

emulatorOnly("target-bigquery failures", () => {
  test("a load job BigQuery fails (a NULL for a REQUIRED column) names table, column and row; state stays", async () => {
    const dataset = datasetName("badrow");
    await target.client.createDataset(dataset, { location: "US" });
    // A table the data team made, with a column they declared REQUIRED.
    await target.client.dataset(dataset).createTable("people", {
      schema: {
        fields: [
          { name: "id", type: "INTEGER", mode: "REQUIRED" },
          { name: "name", type: "STRING", mode: "REQUIRED" },
          { name: "updated_at", type: "TIMESTAMP" },
        ],
      },
    });
    const workDir = tempDir();
    const error = await runToBigquery({ db, workDir, target: bigqueryConfig(target, dataset), streams }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(DataError);
    expect(error?.message).toMatch(
      /load job \S+ into test-project\.\w+\.people failed \(public-people, column name/,
    );
    expect(error?.message).toMatch(/batch row 2: \{"id":2,"name":null/);
    expect((await committedState(workDir))?.bookmarks["public-people"]).toBeUndefined();
    expect(await plainRows(target, `SELECT count(*) AS n FROM \`${dataset}.people\``)).toEqual([{ n: 0 }]);
  });

  test("a 503 or 429 from the API is retried with backoff, and the run succeeds", async () => {
    const dataset = datasetName("retry");
    const retries: string[] = [];
    target.emulator!.failNext({
      pattern: /^POST \/upload\/bigquery\/v2\/projects\/[^/]+\/jobs/,
      status: 503,
      times: 2,
    });
    target.emulator!.failNext({
      pattern: /^POST \/bigquery\/v2\/projects\/[^/]+\/datasets$/,
      status: 429,
      times: 1,
    });
    const workDir = tempDir();
    const summary = await runToBigquery({
      db,
      workDir,
      target: bigqueryConfig(target, dataset),
      streams,
      loaderOptions: {
        retryBaseDelayMs: 10,
        onRetry: (e) => retries.push((e as { code?: number }).code?.toString() ?? "?"),
      },
    });
    expect(summary.status).toBe("success");
    expect(retries).toEqual(expect.arrayContaining(["503", "429"]));
    expect(await plainRows(target, `SELECT id FROM \`${dataset}.people\` ORDER BY id`)).toEqual([
      { id: 1 },
      { id: 2 },
      { id: 3 },
    ]);
    expect((await committedState(workDir))?.bookmarks["public-people"]).toBeDefined();
  });

  test("a load job's status unreadable past the client's retries: the runner writes the batch again, and the job that ran is found by its id, not run twice", async () => {
    const dataset = datasetName("rewrite");
    const events: RunEvent[] = [];
    // The load job runs, then every status request fails: 4 is all the client tries (max_retries
    // 1, for the poll and for the job), so the batch's write fails, transiently, after its rows
    // were loaded. The 5th and 6th fail the runner's second write's first poll and its retry.
    target.emulator!.failNext({
      pattern: /^GET \/bigquery\/v2\/projects\/[^/]+\/jobs\/sluice_/,
      status: 503,
      times: 6,
    });
    const summary = await runToBigquery({
      db,
      workDir: tempDir(),
      target: bigqueryConfig(target, dataset, { max_retries: 1 }),
      streams: { "public-people": { "replication-method": "FULL_TABLE" } },
      retry: { maxRetries: 2, firstDelayMs: 10, maxDelayMs: 100 },
      observer: (event) => events.push(event),
    });
    expect(summary.status).toBe("success");
    const retries = events.filter((e) => e.type === "retrying");
    expect(retries).toEqual([
      expect.objectContaining({ scope: "batch", streamIds: ["public-people"], retry: 1, maxRetries: 2 }),
    ]);
    expect(await plainRows(target, `SELECT id FROM \`${dataset}.people\` ORDER BY id`)).toEqual([
      { id: 1 },
      { id: 2 },
      { id: 3 },
    ]);
    const loads = target.emulator!.requests.filter((r) => r.startsWith("POST /upload/"));
    expect(loads.filter((r) => !r.includes("upload_id")).length, loads.join("\n")).toBeGreaterThanOrEqual(2);
  });

  test("a 503 that does not go away fails the run after max_retries, saying so", async () => {
    const dataset = datasetName("retry_out");
    target.emulator!.failNext({ pattern: /^POST \/upload\//, status: 503, times: 10 });
    const error = await runToBigquery({
      db,
      workDir: tempDir(),
      target: bigqueryConfig(target, dataset, { max_retries: 2 }),
      streams,
    }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error?.message).toMatch(
      /BigQuery failed while loading public-people into .*people \(HTTP 503\), after retries/,
    );
    target.emulator!.failNext({ pattern: /^POST \/upload\//, status: 503, times: 0 });
  });
});

test("a dataset in another location than the setting says is a ConfigError naming location", async () => {
  const dataset = datasetName("where");
  await target.client.createDataset(dataset, { location: "EU" });
  const error = await runToBigquery({
    db,
    workDir: tempDir(),
    target: bigqueryConfig(target, dataset, { location: "US" }),
    streams,
  }).then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  expect(error).toBeInstanceOf(ConfigError);
  expect(error?.message).toMatch(/location: dataset \S+ is in EU, not US; set location: EU/);
});

emulatorOnly("target-bigquery credentials", () => {
  let secured: BigqueryTarget;
  let keys: string;
  beforeAll(async () => {
    secured = await startBigqueryTarget({ requireAuth: true });
    keys = tempDir();
  });
  afterAll(async () => {
    await secured?.close();
  });

  test("a key file the emulator issued works (credentials_path relative to the project folder)", async () => {
    fs.writeFileSync(path.join(keys, "sa.json"), JSON.stringify(secured.emulator!.createServiceAccountKey()));
    const summary = await runToBigquery({
      db,
      workDir: keys,
      target: bigqueryConfig(secured, datasetName("auth"), { credentials_path: "sa.json" }),
      streams,
    });
    expect(summary.status).toBe("success");
  });

  test("a key BigQuery does not know is refused with a message naming the key file and the setting", async () => {
    const stranger = secured.emulator!.createServiceAccountKey();
    const { privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
    stranger.private_key = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    fs.writeFileSync(path.join(keys, "wrong.json"), JSON.stringify(stranger));
    const error = await runToBigquery({
      db,
      workDir: keys,
      target: bigqueryConfig(secured, datasetName("auth"), { credentials_path: "wrong.json" }),
      streams,
    }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error?.message).toMatch(
      /BigQuery refused the credentials from .*wrong\.json \(credentials_path\)/,
    );
    expect(error?.message).toMatch(/Check setting credentials_path/);
  });

  test("no credentials at all against a BigQuery that wants them: refused, clearly", async () => {
    const error = await runToBigquery({
      db,
      workDir: keys,
      target: bigqueryConfig(secured, datasetName("auth")),
      streams,
    }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error?.message).toMatch(/BigQuery refused the credentials from application default credentials/);
  });

  test("a missing key file is a ConfigError naming credentials_path, before any request", async () => {
    const before = secured.emulator!.requests.length;
    const error = await runToBigquery({
      db,
      workDir: keys,
      target: bigqueryConfig(secured, datasetName("auth"), { credentials_path: "missing.json" }),
      streams,
    }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect(error?.message).toMatch(
      /credentials_path: cannot read the credentials file .*missing\.json: ENOENT/,
    );
    expect(secured.emulator!.requests.length).toBe(before);
  });
});
