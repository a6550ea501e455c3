import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/pg.js";
import { projectSpec, TestProject, type ProjectSpec } from "../support/test-project.js";
import { describeResult, jsonLines, type CliResult } from "../support/run-cli.js";

/**
 * Product description, part 7: secret values never appear in logs, error messages, `sluice
 * config` output, run history or state. This test gives sluice secrets that are awkward to
 * scrub (quotes, a backslash, `%`, `/`, `&`, a non-ASCII letter, so that their URL-encoded and
 * JSON-escaped forms differ from them), by every route (the password in an environment
 * variable, through an `env:` and a `file:` reference, inside the system database URI, pasted
 * into `host` by mistake), runs the main commands in both log formats, succeeding and failing,
 * and then searches every byte sluice printed or wrote for any form of any secret.
 * (secrets.test.ts and secret-references.test.ts check plain passwords and each kind of
 * reference; this one checks the forms and the routes.)
 */

const tag = `${process.pid}${Math.random().toString(36).slice(2, 6)}`;
const role = `e2e_redact_${tag}`;
/** The database password, and the password of the PostgreSQL system database in `database_uri`. */
const PASSWORD = `Pw-"q\\ 100%/a&b-é-${tag}`;
const STATE_PASSWORD = `St-'x' %2F/#?-${tag}`;
/** What no output may hold: each secret, and a distinctive part of it. */
const CORES = [`-é-${tag}`, `%2F/#?-${tag}`];

let db: TestDatabase;
let project: TestProject;
let spec: ProjectSpec;
const outputs: { command: string; result: CliResult }[] = [];

async function sluice(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  const result = await project.run(args, { env });
  outputs.push({ command: args.join(" "), result });
  return result;
}

/** Every form a secret could take in text: as is, URL-encoded (either case of hex), JSON-escaped (once, twice). */
function formsOf(secret: string): string[] {
  const encoded = encodeURIComponent(secret);
  const jsonOnce = JSON.stringify(secret).slice(1, -1);
  return [
    secret,
    encoded,
    encoded.replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase()),
    encoded.replace(/%20/g, "+"),
    jsonOnce,
    JSON.stringify(jsonOnce).slice(1, -1),
    ...CORES.filter((core) => secret.includes(core)),
  ];
}

const FORMS = [...formsOf(PASSWORD), ...formsOf(STATE_PASSWORD)];

beforeAll(async () => {
  db = await createTestDatabase("e2e_redact");
  await db.query(`
    CREATE ROLE ${role} LOGIN PASSWORD '${PASSWORD.replaceAll("'", "''")}';
    CREATE TABLE accounts (id integer PRIMARY KEY, email text, updated_at timestamptz NOT NULL);
    INSERT INTO accounts SELECT g, 'user' || g || '@example.com', now() FROM generate_series(1, 20) g;
    GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role};`);
  spec = projectSpec(db, {
    metadata: { "public-accounts": { "replication-method": "INCREMENTAL", "replication-key": "updated_at" } },
  });
  spec.plugins.extractors[0]!.config.user = role;
  // Temporary and spool files go inside the project, so that the scan below covers them too.
  project = new TestProject({
    prefix: "sluice-e2e-redact-",
    env: { TAP_POSTGRES_PASSWORD: PASSWORD },
    localSpool: true,
  });
  for (const dir of ["tmp", "mounted"]) fs.mkdirSync(project.file(dir));
  project.env.TMPDIR = project.file("tmp");
  fs.writeFileSync(project.file("mounted/pg-password"), `${PASSWORD}\n`);
  project.write(spec);
});

afterAll(async () => {
  project?.remove();
  if (db) {
    await db.query(`DROP OWNED BY ${role}; DROP ROLE ${role}`);
    await db.drop();
  }
});

test("config, test, discover and successful runs, the password in a variable and in env:/file: references", async () => {
  const config = await sluice(["config", "tap-postgres"]);
  expect(config.code, describeResult(config)).toBe(0);
  expect((JSON.parse(config.stdout) as { config: Record<string, unknown> }).config.password).toBe("********");
  for (const format of ["text", "json"]) {
    const check = await sluice(["--log-format", format, "test", "tap-postgres"]);
    expect(check.code, describeResult(check)).toBe(0);
    const run = await sluice(["--log-format", format, "run", "tap-postgres", "target-duckdb"]);
    expect(run.code, describeResult(run)).toBe(0);
  }
  const viaEnv = {
    TAP_POSTGRES_PASSWORD: "env:PG_PASSWORD_FROM_AIRFLOW",
    PG_PASSWORD_FROM_AIRFLOW: PASSWORD,
  };
  const viaFile = { TAP_POSTGRES_PASSWORD: `file:${project.file("mounted/pg-password")}` };
  for (const env of [viaEnv, viaFile]) {
    const run = await sluice(["--log-format", "json", "run", "tap-postgres", "target-duckdb"], env);
    expect(run.code, describeResult(run)).toBe(0);
  }
  expect(await sluice(["--log-format", "text", "test", "tap-postgres"], viaFile)).toMatchObject({ code: 0 });
});

test("failing runs: a wrong password, a URL with the password pasted into host, an unknown host", async () => {
  const failures: Record<string, string | undefined>[] = [
    // The server rejects a password that differs from the real one by a suffix.
    { TAP_POSTGRES_PASSWORD: `${PASSWORD}-old` },
    // A connection URL (as a DBA hands it over) pasted into host: the resolver echoes it back.
    { TAP_POSTGRES_HOST: `postgresql://${role}:${encodeURIComponent(PASSWORD)}@db.example.invalid:5432/app` },
    { TAP_POSTGRES_HOST: `postgresql://${role}:${PASSWORD}@db.example.invalid/app` },
    { TAP_POSTGRES_HOST: "db.example.invalid", TAP_POSTGRES_PASSWORD: "env:PG_PW", PG_PW: PASSWORD },
  ];
  for (const [index, env] of failures.entries()) {
    // Each failure once as a run and once as a connection test, in alternating log formats.
    const [runFormat, testFormat] = index % 2 === 0 ? ["text", "json"] : ["json", "text"];
    const run = await sluice(["--log-format", runFormat!, "run", "tap-postgres", "target-duckdb"], env);
    expect(run.code, describeResult(run)).toBe(1);
    const check = await sluice(["--log-format", testFormat!, "test", "tap-postgres"], env);
    expect(check.code, describeResult(check)).toBe(1);
  }
  // `sluice config` prints host as it is (not a secret setting), with the password inside replaced.
  const config = await sluice(["config", "tap-postgres"], failures[1]);
  expect((JSON.parse(config.stdout) as { config: Record<string, unknown> }).config.host).toBe(
    `postgresql://${role}:********@db.example.invalid:5432/app`,
  );
  // The message still says what is wrong, with the password replaced.
  const pasted = outputs.find(
    (o) =>
      o.command.endsWith("run tap-postgres target-duckdb") && o.result.stderr.includes("db.example.invalid"),
  );
  const message = jsonLines(pasted!.result.stderr).at(-1)?.message;
  expect(message).toMatch(/could not be resolved/);
  expect(message).toContain("********@db.example.invalid");
});

test("a PostgreSQL system database whose password is in database_uri: unreachable, then failing commands", async () => {
  const encoded = encodeURIComponent(STATE_PASSWORD).replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase());
  const uris = [
    `postgresql://sluice:${encodeURIComponent(STATE_PASSWORD)}@127.0.0.1:1/sluice_state`,
    `postgresql://sluice:${encoded}@state.example.invalid/sluice_state`,
  ];
  for (const [uri, args] of [
    [uris[0]!, ["--log-format", "json", "run", "tap-postgres", "target-duckdb"]],
    [uris[1]!, ["--log-format", "text", "run", "tap-postgres", "target-duckdb"]],
    [uris[0]!, ["runs"]],
    [uris[1]!, ["--log-format", "json", "state", "get", "dev:tap-postgres-to-target-duckdb"]],
  ] as const) {
    const result = await sluice([...args], { SLUICE_DATABASE_URI: uri });
    expect(result.code, `${args.join(" ")}\n${describeResult(result)}`).not.toBe(0);
  }
});

test("run history and state, read back through the CLI and from the SQLite system database", async () => {
  for (const args of [
    ["runs"],
    ["runs", "--json"],
    ["state", "list"],
    ["state", "get", "dev:tap-postgres-to-target-duckdb"],
  ]) {
    const result = await sluice(args);
    expect(result.code, `${args.join(" ")}\n${describeResult(result)}`).toBe(0);
  }
  const system = new Database(project.file(".sluice/sluice.db"), { readonly: true });
  try {
    const tables = system
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
      .all()
      .map((row) => (row as { name: string }).name);
    const texts = tables.flatMap((table) =>
      system
        .prepare(`SELECT * FROM "${table}"`)
        .all()
        .map((row) => JSON.stringify(row)),
    );
    const all = texts.join("\n");
    // The history holds the failures (so the search below has something to look through)...
    expect(all).toContain("db.example.invalid");
    expect(all).toContain("replication_key_value");
    // ...and no form of any secret.
    for (const form of FORMS)
      expect(all, `the system database holds ${JSON.stringify(form)}`).not.toContain(form);
  } finally {
    system.close();
  }
});

test("no form of any secret in any output", () => {
  expect(outputs.length).toBeGreaterThan(20);
  const leaks = outputs.flatMap(({ command, result }) =>
    FORMS.flatMap((form) =>
      [
        ["stdout", result.stdout],
        ["stderr", result.stderr],
      ]
        .filter(([, text]) => text!.includes(form))
        .map(([stream, text]) => `${stream} of sluice ${command} holds ${JSON.stringify(form)}:\n${text}`),
    ),
  );
  expect(leaks).toEqual([]);
});

test("no form of any secret in any file sluice wrote: system database and its WAL, warehouse, spool, temporary files", () => {
  const files = listFiles(project.dir).filter((file) => !file.startsWith(project.file("mounted")));
  const names = files.map((file) => path.relative(project.dir, file));
  expect(names).toEqual(
    expect.arrayContaining([path.join(".sluice", "sluice.db"), "output/warehouse.duckdb"]),
  );
  for (const file of files) {
    const bytes = fs.readFileSync(file);
    for (const form of FORMS) {
      expect(bytes.includes(form), `${file} holds ${JSON.stringify(form)}`).toBe(false);
      expect(
        bytes.includes(Buffer.from(form, "utf16le")),
        `${file} holds ${JSON.stringify(form)} (UTF-16)`,
      ).toBe(false);
    }
  }
});

function listFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? listFiles(full) : [full];
  });
}
