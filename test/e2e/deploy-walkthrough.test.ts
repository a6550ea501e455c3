import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { BigQuery } from "@google-cloud/bigquery";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parse as parseYaml } from "yaml";
import { startBigQueryEmulator, type BigQueryEmulator } from "@sluice/emulators/bigquery";
import { createTestDatabase, type TestDatabase } from "../support/pg.js";
import { TestProject } from "../support/test-project.js";
import { describeResult, runCli, type CliResult } from "../support/run-cli.js";

/**
 * docs/deploy.md, followed as a new user would: its project file is written as it stands, and
 * every `npx sluice` command in its `sh` blocks runs in order (against the test PostgreSQL and a
 * BigQuery emulator that checks credentials) and must succeed. The doc cannot drift from what
 * the CLI does without this test failing.
 */
const DOC = fileURLToPath(new URL("../../docs/deploy.md", import.meta.url));

function walkthrough(): { projectFile: string; commands: string[][] } {
  const text = fs.readFileSync(DOC, "utf8");
  const blocks = [...text.matchAll(/```(\w+)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1], body: m[2]! }));
  const yaml = blocks.find((b) => b.lang === "yaml");
  if (!yaml) throw new Error("docs/deploy.md has no yaml block");
  const commands = blocks
    .filter((b) => b.lang === "sh")
    .flatMap((b) => b.body.split("\n"))
    .map((line) => line.replace(/\s+#.*$/, "").trim())
    .filter((line) => line.startsWith("npx sluice "))
    .map((line) => line.slice("npx sluice ".length).split(/\s+/));
  return { projectFile: yaml.body, commands };
}

let db: TestDatabase;
let emulator: BigQueryEmulator;
let project: TestProject;
let env: Record<string, string>;

beforeAll(async () => {
  db = await createTestDatabase("walkthrough");
  await db.query(`
    CREATE TABLE orders (id bigint PRIMARY KEY, amount numeric(12,2) NOT NULL, updated_at timestamptz NOT NULL);
    INSERT INTO orders SELECT g, g * 2.5, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute'
      FROM generate_series(1, 40) g;
    CREATE TABLE customers (id int PRIMARY KEY, name text);
    INSERT INTO customers VALUES (1, 'ada'), (2, 'grace');
    CREATE TABLE internal_notes (id int PRIMARY KEY, note text);`);
  emulator = await startBigQueryEmulator({ projectId: "acme-analytics", requireAuth: true });
  project = new TestProject({ prefix: "sluice-walkthrough-" });
  const keyFile = project.file("secrets/sa.json");
  fs.mkdirSync(path.dirname(keyFile), { recursive: true });
  fs.writeFileSync(keyFile, JSON.stringify(emulator.createServiceAccountKey()));
  env = {
    PG_HOST: db.host,
    PG_PORT: String(db.port),
    PG_USER: db.user,
    PG_DATABASE: db.name,
    GCP_PROJECT: emulator.projectId,
    TAP_POSTGRES_PASSWORD: db.password,
    TARGET_BIGQUERY_CREDENTIALS_PATH: keyFile,
    BIGQUERY_EMULATOR_HOST: emulator.url,
  };
});

afterAll(async () => {
  project?.remove();
  await emulator?.close();
  await db?.drop();
});

describe("docs/deploy.md", () => {
  test("every sluice command of the walkthrough runs, in order, and leaves what the doc says", async () => {
    const { projectFile, commands } = walkthrough();
    expect(commands.length).toBeGreaterThanOrEqual(10);
    // As a user types them: in the project folder, relative paths (`--out dags`) land there.
    const sluice = (args: string[]): Promise<CliResult> =>
      runCli(["--log-format", "text", ...args], { cwd: project.file("."), env, timeoutMs: 120_000 });
    const init = await sluice(["init"]);
    expect(init.code, describeResult(init)).toBe(0);
    project.writeText(projectFile, "sluice.yml");
    const outputs = new Map<string, string>();
    for (const args of commands) {
      const result = await sluice(args);
      expect(result.code, `sluice ${args.join(" ")}\n${describeResult(result)}`).toBe(0);
      outputs.set(args.slice(0, 2).join(" "), result.stdout + result.stderr);
      // No secret in anything the commands printed.
      expect(result.stdout + result.stderr).not.toContain(db.password);
    }
    expect(outputs.get("state list")).toContain("prod:tap-postgres-to-target-bigquery");
    expect(outputs.get("schedule list")).toContain("hourly-orders");

    // The runs loaded the selected tables, and only those.
    const key = JSON.parse(fs.readFileSync(env.TARGET_BIGQUERY_CREDENTIALS_PATH!, "utf8")) as Record<
      string,
      string
    >;
    const client = new BigQuery({
      projectId: emulator.projectId,
      apiEndpoint: emulator.url,
      credentials: key,
    });
    (client.authClient as unknown as { useJWTAccessWithScope: boolean }).useJWTAccessWithScope = true;
    const [tables] = await client.dataset("orders_raw").getTables();
    expect(tables.map((t) => t.id).sort()).toEqual(["customers", "orders"]);
    const [rows] = await client.query({
      query: "SELECT count(*) AS n FROM `orders_raw.orders`",
      location: "europe-west2",
    });
    expect(rows).toEqual([{ n: 40 }]);

    // The generated DAG is valid Python with the schedule, and no secret is in any generated file.
    const dags = fs.readdirSync(project.file("dags")).filter((f) => f.endsWith(".py"));
    expect(dags.length).toBe(1);
    const dag = fs.readFileSync(project.file(path.join("dags", dags[0]!)), "utf8");
    expect(dag).toContain("KubernetesPodOperator");
    expect(dag).toContain("@hourly");
    // The Airflow Variables the doc tells the user to create in Secret Manager.
    for (const variable of [
      "sluice_tap_postgres_password",
      "sluice_database_uri",
      "sluice_target_bigquery_credentials_path",
    ]) {
      expect(dag).toContain(variable);
    }
    execFileSync("python3", ["-m", "py_compile", project.file(path.join("dags", dags[0]!))]);
    // As the doc says: Airflow and the CronJob retry exit code 75 only.
    expect(dag).toContain("class SluicePodOperator(KubernetesPodOperator):");
    expect(dag).toContain("RETRY_EXIT_CODE = 75");
    expect(dag).toContain("raise AirflowFailException(");
    const [manifest] = fs.readdirSync(project.file("k8s")).filter((f) => f.endsWith(".yaml"));
    const cronJob = parseYaml(fs.readFileSync(project.file(path.join("k8s", manifest!)), "utf8")) as {
      spec: { jobTemplate: { spec: { podFailurePolicy: { rules: unknown[] } } } };
    };
    expect(cronJob.spec.jobTemplate.spec.podFailurePolicy.rules).toContainEqual({
      action: "FailJob",
      onExitCodes: { containerName: "sluice", operator: "NotIn", values: [75] },
    });
    for (const dir of ["dags", "k8s"]) {
      const files = fs
        .readdirSync(project.file(dir), { recursive: true, encoding: "utf8" })
        .map((f) => project.file(path.join(dir, f)))
        .filter((f) => fs.statSync(f).isFile());
      expect(files.length, dir).toBeGreaterThan(0);
      for (const file of files) expect(fs.readFileSync(file, "utf8"), file).not.toContain(db.password);
    }
  });
});
