import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/pg.js";
import { projectSpec, TestProject } from "../support/test-project.js";
import { describeResult, jsonLines, type CliResult } from "../support/run-cli.js";

/**
 * A password given to sluice never comes out again: not in any command's output, failing or not,
 * in either log format, and not in any file sluice writes (system database, warehouse, spool).
 */

const SECRET = "S3cr3t-Pa55-xyz";
const role = `e2e_secret_${process.pid}_${Math.random().toString(36).slice(2, 6)}`;
let db: TestDatabase;
let project: TestProject;
const outputs: { command: string; result: CliResult }[] = [];

async function sluice(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const result = await project.run(args, { env });
  outputs.push({ command: args.join(" "), result });
  return result;
}

beforeAll(async () => {
  db = await createTestDatabase("e2e_secret");
  await db.query(`
    CREATE ROLE ${role} LOGIN PASSWORD '${SECRET}';
    CREATE TABLE accounts (id integer PRIMARY KEY, email text, updated_at timestamptz NOT NULL);
    INSERT INTO accounts SELECT g, 'user' || g || '@example.com', now() FROM generate_series(1, 20) g;
    CREATE TABLE bad_values (id integer PRIMARY KEY, amount numeric(12,2));
    INSERT INTO bad_values VALUES (1, 'NaN');
    GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role};`);
  const spec = projectSpec(db, {
    metadata: { "public-accounts": { "replication-method": "INCREMENTAL", "replication-key": "updated_at" } },
  });
  spec.plugins.extractors[0]!.config.user = role;
  // Spool files are written in the project too, so that the scan below covers them.
  project = new TestProject({ env: { TAP_POSTGRES_PASSWORD: SECRET }, localSpool: true });
  project.write(spec);
});

afterAll(async () => {
  project?.remove();
  if (db) {
    await db.query(`DROP OWNED BY ${role}; DROP ROLE ${role}`);
    await db.drop();
  }
});

test("sluice config shows the password as ******** and where it came from", async () => {
  const result = await sluice(["config", "tap-postgres"]);
  expect(result.code, describeResult(result)).toBe(0);
  const shown = JSON.parse(result.stdout) as {
    config: Record<string, unknown>;
    sources: Record<string, unknown>;
  };
  expect(shown.config.password).toBe("********");
  expect(shown.config.user).toBe(role);
  expect(shown.sources.password).toEqual({ kind: "env", variable: "TAP_POSTGRES_PASSWORD" });
});

test("failing runs, in text and JSON logs", async () => {
  const missing = await sluice(["--log-format", "text", "run", "tap-postgres", "target-duckdb"], {
    TAP_POSTGRES_DBNAME: "no_such_database_e2e",
  });
  expect(missing.code, describeResult(missing)).toBe(1);
  expect(missing.stderr).toContain("no_such_database_e2e");
  // A failure inside the run, recorded in the run history with its message.
  const nan = await sluice([
    "--log-format",
    "json",
    "run",
    "tap-postgres",
    "target-duckdb",
    "--select",
    "public-bad_values",
  ]);
  expect(nan.code, describeResult(nan)).toBe(1);
  const events = jsonLines(nan.stderr);
  expect(events.find((e) => e.event === "run-finished")).toMatchObject({ status: "failed" });
  const last = events[events.length - 1]!;
  expect(last, nan.stderr).toMatchObject({ level: "error", message: expect.stringContaining("NaN") });
});

test("successful runs, run history, state, discovery and connection test", async () => {
  for (const format of ["text", "json"]) {
    const run = await sluice([
      "--log-format",
      format,
      "run",
      "tap-postgres",
      "target-duckdb",
      "--select",
      "public-accounts",
    ]);
    expect(run.code, describeResult(run)).toBe(0);
  }
  const runs = await sluice(["runs", "--format", "json"]);
  expect(runs.code, describeResult(runs)).toBe(0);
  const history = JSON.parse(runs.stdout) as { status: string; error?: string }[];
  // Both failures are recorded: the unreachable database and the value DuckDB refused.
  expect(history.map((r) => r.status).sort()).toEqual(["failed", "failed", "success", "success"]);
  const errors = history.filter((r) => r.status === "failed").map((r) => r.error ?? "");
  expect(errors.some((e) => e.includes("NaN"))).toBe(true);
  expect(errors.some((e) => e.includes("no_such_database_e2e"))).toBe(true);
  for (const args of [
    ["runs"],
    ["state", "list"],
    ["state", "get", "dev:tap-postgres-to-target-duckdb"],
    ["discover", "tap-postgres"],
    ["--log-format", "json", "test", "tap-postgres"],
  ]) {
    const result = await sluice(args);
    expect(result.code, describeResult(result)).toBe(0);
  }
});

test("the password is in no output", () => {
  expect(outputs.length).toBeGreaterThan(10);
  for (const { command, result } of outputs) {
    expect(result.stdout, `stdout of sluice ${command}`).not.toContain(SECRET);
    expect(result.stderr, `stderr of sluice ${command}`).not.toContain(SECRET);
  }
});

test("the password is in no file sluice wrote: system database, its WAL, the warehouse, spool", () => {
  const files = listFiles(project.dir);
  const names = files.map((file) => path.relative(project.dir, file));
  expect(names).toEqual(
    expect.arrayContaining([path.join(".sluice", "sluice.db"), "output/warehouse.duckdb"]),
  );
  for (const file of files) {
    const bytes = fs.readFileSync(file);
    expect(bytes.includes(SECRET), `${file} holds the password`).toBe(false);
    expect(bytes.includes(Buffer.from(SECRET, "utf16le")), `${file} holds the password (UTF-16)`).toBe(false);
  }
});

function listFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? listFiles(full) : [full];
  });
}
