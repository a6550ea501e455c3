import fs from "node:fs";
import path from "node:path";
import { BigQuery } from "@google-cloud/bigquery";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startBigQueryEmulator, type BigQueryEmulator } from "@sluice/emulators/bigquery";
import { createTestDatabase, type TestDatabase } from "../support/pg.js";
import { TestProject } from "../support/test-project.js";
import { describeResult } from "../support/run-cli.js";

/**
 * The reference architecture's meltano.yml (the blog post in ../shared/reference), exactly as
 * written there, with its TODOs filled for the test database and the emulator: tap-postgres
 * (transferwise) into target-bigquery (adswerve), the password and the key file path from
 * TAP_POSTGRES_PASSWORD and TARGET_BIGQUERY_CREDENTIALS_PATH, as the Airflow DAG hands them to the
 * pod. The only other variable is BIGQUERY_EMULATOR_HOST, which points the client at the emulator.
 */
function referenceMeltanoYml(db: TestDatabase, projectId: string): string {
  return `version: 1
send_anonymous_usage_stats: false
project_id: e96bc4d0-e673-466d-9a8a-80ae5db8fbdd
plugins:
  extractors:
  - name: tap-postgres
    variant: transferwise
    pip_url: pipelinewise-tap-postgres
    config:
      host: ${db.host}
      port: ${db.port}
      user: ${db.user}
      dbname: ${db.name}
      default_replication_method: FULL_TABLE
    metadata:
      public-events:
        replication-method: INCREMENTAL
        replication-key: updated_at
  loaders:
  - name: target-bigquery
    variant: adswerve
    pip_url: git+https://github.com/adswerve/target-bigquery.git
    config:
      project_id: ${projectId}
      dataset_id: orders_raw
      location: europe-west2
      add_metadata_columns: true
      table_prefix: meltano_extract_
`;
}

let db: TestDatabase;
let emulator: BigQueryEmulator;
let project: TestProject;
let client: BigQuery;
let env: Record<string, string>;

beforeAll(async () => {
  db = await createTestDatabase("e2e_bq");
  await db.query(`
    CREATE TABLE events (id bigint PRIMARY KEY, kind text NOT NULL, amount numeric(12,2), payload jsonb,
      updated_at timestamptz NOT NULL);
    INSERT INTO events SELECT g, 'kind ' || (g % 3), g * 1.25, jsonb_build_object('n', g),
      timestamptz '2024-01-01 00:00:00+00' + g * interval '1 hour' FROM generate_series(1, 50) g;
    CREATE TABLE customers (id integer PRIMARY KEY, name text);
    INSERT INTO customers VALUES (1, 'ada'), (2, 'bob');`);
  // BigQuery that checks credentials, as Google's does: the key file is the only way in.
  emulator = await startBigQueryEmulator({ projectId: "analytics-test-314159", requireAuth: true });
  project = new TestProject({ env: { TAP_POSTGRES_PASSWORD: db.password }, prefix: "sluice-e2e-bq-" });
  project.writeText(referenceMeltanoYml(db, emulator.projectId), "meltano.yml");
  const keyFile = project.file("secrets/service-account.json");
  fs.mkdirSync(path.dirname(keyFile), { recursive: true });
  const key = emulator.createServiceAccountKey();
  fs.writeFileSync(keyFile, JSON.stringify(key));
  env = { TARGET_BIGQUERY_CREDENTIALS_PATH: keyFile, BIGQUERY_EMULATOR_HOST: emulator.url };
  client = new BigQuery({ projectId: emulator.projectId, apiEndpoint: emulator.url, credentials: key });
  (client.authClient as unknown as { useJWTAccessWithScope: boolean }).useJWTAccessWithScope = true;
});

afterAll(async () => {
  project?.remove();
  await emulator?.close();
  await db?.drop();
});

async function rows(sql: string): Promise<Record<string, unknown>[]> {
  const [result] = await client.query({ query: sql, location: "europe-west2" });
  return result as Record<string, unknown>[];
}

describe("the reference meltano.yml with `sluice run tap-postgres target-bigquery`", () => {
  test("sluice test target-bigquery checks the credentials", async () => {
    const result = await project.runText(["test", "target-bigquery"], { env });
    expect(result.code, describeResult(result)).toBe(0);
    expect(result.stdout).toMatch(/target-bigquery: OK/);
  });

  test("a first run loads every table into orders_raw (europe-west2) with the prefix and metadata columns", async () => {
    const result = await project.runText(["run", "tap-postgres", "target-bigquery"], { env });
    expect(result.code, describeResult(result)).toBe(0);
    const [dataset] = await client.dataset("orders_raw").getMetadata();
    expect(dataset.location).toBe("europe-west2");
    expect(
      await rows(
        "SELECT count(*) AS n, sum(amount) AS total, countif(_sdc_extracted_at IS NULL) AS unstamped FROM `orders_raw.meltano_extract_events`",
      ).then((r) => r.map((x) => ({ n: x.n, total: String(x.total), unstamped: x.unstamped }))),
    ).toEqual([{ n: 50, total: "1593.75", unstamped: 0 }]);
    expect(await rows("SELECT id, name FROM `orders_raw.meltano_extract_customers` ORDER BY id")).toEqual([
      { id: 1, name: "ada" },
      { id: 2, name: "bob" },
    ]);
    expect(emulator.requests.some((r) => r.includes("insertAll"))).toBe(false);
  });

  test("the next run merges changed rows on the key: no duplicates, updates applied", async () => {
    await db.query(`
      UPDATE events SET kind = 'changed', updated_at = '2024-06-01 00:00:00+00' WHERE id IN (3, 7);
      INSERT INTO events VALUES (51, 'new', 1.00, '{}', '2024-06-01 00:00:00+00');`);
    const result = await project.runText(["run", "tap-postgres", "target-bigquery"], { env });
    expect(result.code, describeResult(result)).toBe(0);
    expect(
      await rows(
        "SELECT count(*) AS n, count(DISTINCT id) AS k, countif(kind = 'changed') AS changed FROM `orders_raw.meltano_extract_events`",
      ),
    ).toEqual([{ n: 51, k: 51, changed: 2 }]);
  });

  test("without the key file's variable, BigQuery refuses the run and says why", async () => {
    const result = await project.runText(["run", "tap-postgres", "target-bigquery"], {
      env: { ...env, TARGET_BIGQUERY_CREDENTIALS_PATH: project.file("secrets/nope.json") },
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/credentials_path: cannot read the credentials file .*nope\.json/);
  });
});
