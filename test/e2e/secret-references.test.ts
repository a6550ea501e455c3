import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import {
  startAwsSecretsManagerEmulator,
  type AwsSecretsManagerEmulator,
} from "@sluice/emulators/aws-secrets-manager";
import {
  startGcpSecretManagerEmulator,
  type GcpSecretManagerEmulator,
} from "@sluice/emulators/gcp-secret-manager";
import { createTestDatabase, type TestDatabase } from "../support/pg.js";
import { projectSpec, TestProject, type ProjectSpec } from "../support/test-project.js";
import { describeResult, jsonLines, type CliResult } from "../support/run-cli.js";

/**
 * `sluice run tap-postgres target-duckdb` with the database password given by each kind of
 * reference (a mounted file, a variable, AWS Secrets Manager with a JSON key as RDS keeps it, GCP
 * Secret Manager), the secret managers being local emulators spoken to by the official clients.
 * Each run uses another password (the role's is changed in between), and afterwards no byte of any
 * output, state, run history, `sluice config`, generated deploy file or other file sluice wrote
 * holds any of them.
 */

const tag = `${process.pid}${Math.random().toString(36).slice(2, 6)}`;
const role = `e2e_ref_${tag}`;
const PASSWORDS = {
  file: `file-Pw-${tag}-a1`,
  env: `env-Pw-${tag}-b2`,
  aws: `aws-Pw-${tag}-c3`,
  gcp: `gcp-Pw-${tag}-d4`,
};
const RDS_SECRET = JSON.stringify({
  username: role,
  password: PASSWORDS.aws,
  engine: "postgres",
  host: "sluice-e2e.cluster-xyz.eu-west-1.rds.amazonaws.com",
  port: 5432,
});
const SECRETS = [...Object.values(PASSWORDS), RDS_SECRET];

let db: TestDatabase;
let project: TestProject;
let aws: AwsSecretsManagerEmulator;
let gcp: GcpSecretManagerEmulator;
let spec: ProjectSpec;
const outputs: { command: string; result: CliResult }[] = [];

async function sluice(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  const result = await project.run(args, { env });
  outputs.push({ command: args.join(" "), result });
  return result;
}

function writePassword(password: string): void {
  spec.plugins.extractors[0]!.config.password = password;
  project.write(spec);
}

beforeAll(async () => {
  [db, aws, gcp] = await Promise.all([
    createTestDatabase("e2e_secret_ref"),
    startAwsSecretsManagerEmulator({ region: "eu-west-1" }),
    startGcpSecretManagerEmulator(),
  ]);
  await db.query(`
    CREATE ROLE ${role} LOGIN PASSWORD '${PASSWORDS.file}';
    CREATE TABLE accounts (id integer PRIMARY KEY, email text);
    INSERT INTO accounts SELECT g, 'user' || g || '@example.com' FROM generate_series(1, 10) g;
    GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role};`);
  aws.putSecret("prod/rds/sluice", RDS_SECRET);
  gcp.addVersion("acme-data", "pg-password", "an-older-version");
  // As `gcloud secrets versions add --data-file` stores a file written by an editor.
  gcp.addVersion("acme-data", "pg-password", `${PASSWORDS.gcp}\n`);

  project = new TestProject({
    prefix: "sluice-e2e-ref-",
    localSpool: true,
    env: {
      ...aws.clientEnv(),
      SLUICE_GCP_SECRET_MANAGER_ENDPOINT: gcp.endpoint,
      // What a developer's shell or CI may hold must not reach the emulators.
      AWS_PROFILE: undefined,
      AWS_ENDPOINT_URL: undefined,
      GOOGLE_APPLICATION_CREDENTIALS: undefined,
    },
  });
  fs.mkdirSync(project.file("mounted"));
  // A Kubernetes Secret mounted as a volume: one file per key, the value with a newline from `echo`.
  fs.writeFileSync(project.file("mounted/pg-password"), `${PASSWORDS.file}\n`);
  spec = projectSpec(db);
  spec.plugins.extractors[0]!.config.user = role;
  spec.schedules = [
    { name: "nightly", interval: "@daily", extractor: "tap-postgres", loader: "target-duckdb" },
  ];
});

afterAll(async () => {
  project?.remove();
  await Promise.all([aws?.close(), gcp?.close()]);
  if (db) {
    await db.query(`DROP OWNED BY ${role}; DROP ROLE ${role}`);
    await db.drop();
  }
});

async function setRolePassword(password: string): Promise<void> {
  await db.query(`ALTER ROLE ${role} PASSWORD '${password}'`);
}

test("file: a mounted Kubernetes Secret, text logs", async () => {
  writePassword(`file:${project.file("mounted/pg-password")}`);
  const run = await sluice(["--log-format", "text", "run", "tap-postgres", "target-duckdb"]);
  expect(run.code, describeResult(run)).toBe(0);
  expect(await project.duckdb("SELECT count(*)::int AS n FROM public.accounts")).toEqual([{ n: 10 }]);
});

test("env: a variable set by Airflow, the reference itself given as TAP_POSTGRES_PASSWORD; JSON logs", async () => {
  await setRolePassword(PASSWORDS.env);
  const run = await sluice(["--log-format", "json", "run", "tap-postgres", "target-duckdb"], {
    TAP_POSTGRES_PASSWORD: "env:AIRFLOW_VAR_PG_PASSWORD",
    AIRFLOW_VAR_PG_PASSWORD: PASSWORDS.env,
  });
  expect(run.code, describeResult(run)).toBe(0);
  expect(jsonLines(run.stderr).find((e) => e.event === "run-finished")).toMatchObject({ status: "success" });
});

test("aws-sm:// with #password: RDS credentials in AWS Secrets Manager; text and JSON logs, sluice test", async () => {
  await setRolePassword(PASSWORDS.aws);
  writePassword("aws-sm://prod/rds/sluice#password");
  for (const format of ["text", "json"]) {
    const run = await sluice(["--log-format", format, "run", "tap-postgres", "target-duckdb"]);
    expect(run.code, describeResult(run)).toBe(0);
    // The clients stay quiet: no SDK or metadata-server warning in a user's logs.
    expect(run.stderr).not.toMatch(/warning/i);
  }
  const check = await sluice(["--log-format", "json", "test", "tap-postgres"]);
  expect(check.code, describeResult(check)).toBe(0);
  expect(aws.requests.filter((r) => r === "GetSecretValue prod/rds/sluice")).toHaveLength(3);
});

test("gcp-sm://, latest version, given through TAP_POSTGRES_PASSWORD; text and JSON logs", async () => {
  await setRolePassword(PASSWORDS.gcp);
  const reference = "gcp-sm://projects/acme-data/secrets/pg-password/versions/latest";
  for (const format of ["text", "json"]) {
    const run = await sluice(["--log-format", format, "run", "tap-postgres", "target-duckdb"], {
      TAP_POSTGRES_PASSWORD: reference,
    });
    expect(run.code, describeResult(run)).toBe(0);
    expect(run.stderr).not.toMatch(/warning/i);
  }
  const discover = await sluice(["discover", "tap-postgres"], { TAP_POSTGRES_PASSWORD: reference });
  expect(discover.code, describeResult(discover)).toBe(0);
  expect(gcp.requests).toContain("projects/acme-data/secrets/pg-password/versions/latest");
});

test("a reference that cannot be resolved: exit 2, naming the setting and the reference", async () => {
  writePassword("aws-sm://prod/rds/nope#password");
  const missingAws = await sluice(["--log-format", "text", "run", "tap-postgres", "target-duckdb"]);
  expect(missingAws.code, describeResult(missingAws)).toBe(2);
  expect(missingAws.stderr).toContain(
    "plugins.extractors[0].config.password (aws-sm://prod/rds/nope#password): secret not found",
  );
  const missingGcp = await sluice(["--log-format", "json", "run", "tap-postgres", "target-duckdb"], {
    TAP_POSTGRES_PASSWORD: "gcp-sm://projects/acme-data/secrets/no-such-secret",
  });
  expect(missingGcp.code, describeResult(missingGcp)).toBe(2);
  expect(missingGcp.stderr).toContain(
    "environment variable TAP_POSTGRES_PASSWORD (gcp-sm://projects/acme-data/secrets/no-such-secret): secret not found (GCP Secret Manager NOT_FOUND",
  );
  const missingFile = await sluice(["--log-format", "text", "test", "tap-postgres"], {
    TAP_POSTGRES_PASSWORD: "file:/var/secrets/sluice/absent",
  });
  expect(missingFile.code, describeResult(missingFile)).toBe(2);
  expect(missingFile.stderr).toContain(
    "environment variable TAP_POSTGRES_PASSWORD (file:/var/secrets/sluice/absent): cannot read /var/secrets/sluice/absent: no such file",
  );
  const unsetVariable = await sluice(["--log-format", "text", "run", "tap-postgres", "target-duckdb"], {
    TAP_POSTGRES_PASSWORD: "env:NOT_SET_BY_AIRFLOW",
  });
  expect(unsetVariable.code, describeResult(unsetVariable)).toBe(2);
  expect(unsetVariable.stderr).toContain("environment variable NOT_SET_BY_AIRFLOW is not set");
  writePassword("aws-sm://prod/rds/sluice#password");
});

test("state, run history, sluice config and the generated deploy files", async () => {
  const commands = [
    ["state", "get", "dev:tap-postgres-to-target-duckdb"],
    ["runs", "--json"],
    ["runs"],
    ["deploy", "airflow", "--image", "example.com/sluice:1", "--out", project.file("deploy/airflow")],
    ["deploy", "kubernetes", "--image", "example.com/sluice:1", "--out", project.file("deploy/kubernetes")],
  ];
  for (const args of commands) {
    const result = await sluice(args);
    expect(result.code, `${args.join(" ")}\n${describeResult(result)}`).toBe(0);
  }
  const runs = JSON.parse(outputs.find((o) => o.command === "runs --json")!.result.stdout) as {
    status: string;
  }[];
  expect(runs.filter((r) => r.status === "success")).toHaveLength(6);
  // `sluice config` shows where the password is, not what it is.
  const config = await sluice(["config", "tap-postgres"]);
  expect(config.code, describeResult(config)).toBe(0);
  expect((JSON.parse(config.stdout) as { config: Record<string, unknown> }).config.password).toBe(
    "aws-sm://prod/rds/sluice#password",
  );
  const viaEnv = await sluice(["config", "tap-postgres"], {
    TAP_POSTGRES_PASSWORD: "env:AIRFLOW_VAR_PG_PASSWORD",
  });
  expect((JSON.parse(viaEnv.stdout) as { config: Record<string, unknown> }).config.password).toBe(
    "env:AIRFLOW_VAR_PG_PASSWORD",
  );
  expect(listFiles(project.file("deploy")).length).toBeGreaterThanOrEqual(2);
});

test("no secret value in any output", () => {
  expect(outputs.length).toBeGreaterThan(15);
  for (const { command, result } of outputs) {
    for (const secret of SECRETS) {
      expect(result.stdout, `stdout of sluice ${command}`).not.toContain(secret);
      expect(result.stderr, `stderr of sluice ${command}`).not.toContain(secret);
    }
  }
});

test("no secret value in any file sluice wrote: system database, warehouse, spool, deploy files", () => {
  const files = listFiles(project.dir).filter((file) => !file.startsWith(project.file("mounted")));
  const names = files.map((file) => path.relative(project.dir, file));
  expect(names).toEqual(
    expect.arrayContaining([path.join(".sluice", "sluice.db"), "output/warehouse.duckdb"]),
  );
  expect(names.some((name) => name.startsWith("deploy/airflow/"))).toBe(true);
  for (const file of files) {
    const bytes = fs.readFileSync(file);
    for (const secret of SECRETS) {
      expect(bytes.includes(secret), `${file} holds a secret`).toBe(false);
      expect(bytes.includes(Buffer.from(secret, "utf16le")), `${file} holds a secret (UTF-16)`).toBe(false);
    }
  }
});

function listFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? listFiles(full) : [full];
  });
}
