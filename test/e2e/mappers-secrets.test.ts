import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/pg.js";
import { projectSpec, TestProject, type ProjectSpec } from "../support/test-project.js";
import { describeResult, type CliResult } from "../support/run-cli.js";

/**
 * A mapping's secrets are secrets too: a salt from a variable (`$HASH_SALT`, also nested under
 * meltano-map-transformer's `stream_map_config`), a value from a secret reference (`env:`), and a
 * key whose name looks secret (`api_token`) never appear in logs, errors, `sluice config` output,
 * run history or files left behind, even when the mapper process prints its whole config to
 * stderr. (redaction-all-output.test.ts does the same for an extractor's password.)
 */

const ECHO_MAPPER = fileURLToPath(new URL("../fixtures/mappers/echo-config-mapper.mjs", import.meta.url));
const tag = `${process.pid}${Math.random().toString(36).slice(2, 6)}`;
const SALT = `Salt-"q\\ 50%/a&b-é-${tag}`;
const TOKEN = `tok-${tag}-pasted-into-the-file`;
const FROM_REFERENCE = `Ref-%2F/#?-${tag}`;
const md5 = (text: string): string => createHash("md5").update(text, "utf8").digest("hex");

function formsOf(secret: string): string[] {
  const encoded = encodeURIComponent(secret);
  const jsonOnce = JSON.stringify(secret).slice(1, -1);
  return [
    secret,
    encoded,
    encoded.replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase()),
    jsonOnce,
    JSON.stringify(jsonOnce).slice(1, -1),
  ];
}
const FORMS = [SALT, TOKEN, FROM_REFERENCE].flatMap(formsOf);

let db: TestDatabase;
let project: TestProject;
const outputs: { command: string; result: CliResult }[] = [];

async function sluice(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  const result = await project.run(args, { env });
  outputs.push({ command: args.join(" "), result });
  return result;
}

beforeAll(async () => {
  db = await createTestDatabase("e2e_mapper_secrets");
  await db.query(`
    CREATE TABLE customers (id integer PRIMARY KEY, email text);
    INSERT INTO customers VALUES (1, 'ada@example.com'), (2, 'bob@example.com');`);
  const base = projectSpec(db, { select: ["public-customers"] });
  const spec: ProjectSpec = {
    ...base,
    plugins: {
      ...base.plugins,
      mappers: [
        {
          name: "meltano-map-transformer",
          variant: "meltanolabs",
          mappings: [
            {
              name: "salted",
              config: {
                stream_map_config: { hash_seed: "$HASH_SALT" },
                stream_maps: { "public-customers": { email: "md5(config['hash_seed'] + email)" } },
              },
            },
          ],
        },
        {
          name: "echo-config",
          executable: ECHO_MAPPER,
          config: { hash_salt: "$HASH_SALT" },
          mappings: [
            { name: "leak", config: { api_token: TOKEN, from_ref: "env:REF_SECRET" } },
            { name: "leak-dies", config: { api_token: TOKEN, from_ref: "env:REF_SECRET", fail: true } },
          ],
        },
      ],
    } as ProjectSpec["plugins"],
  };
  project = TestProject.forDatabase(db, spec, { localSpool: true });
  for (const dir of ["tmp"]) fs.mkdirSync(project.file(dir));
  project.env.TMPDIR = project.file("tmp");
  project.env.HASH_SALT = SALT;
  project.env.REF_SECRET = FROM_REFERENCE;
});

afterAll(async () => {
  project?.remove();
  await db?.drop();
});

test("runs through mappings with secrets, succeeding and failing, in both log formats", async () => {
  for (const format of ["text", "json"]) {
    const salted = await sluice(["--log-format", format, "run", "tap-postgres", "salted", "target-duckdb"]);
    expect(salted.code, describeResult(salted)).toBe(0);
    // The salt reached the built-in stream maps.
    expect(await project.duckdb("SELECT id, email FROM public.customers ORDER BY id")).toEqual([
      { id: 1, email: md5(`${SALT}ada@example.com`) },
      { id: 2, email: md5(`${SALT}bob@example.com`) },
    ]);
    const leak = await sluice([
      "--log-format",
      format,
      "--log-level",
      "debug",
      "run",
      "tap-postgres",
      "leak",
      "target-duckdb",
    ]);
    expect(leak.code, describeResult(leak)).toBe(0);
    const dies = await sluice(["--log-format", format, "run", "tap-postgres", "leak-dies", "target-duckdb"]);
    expect(dies.code, describeResult(dies)).toBe(1);
    // The mapper printed its config, and what sluice shows of it has the secrets replaced.
    expect(dies.stderr).toContain("giving up with config");
    expect(dies.stderr).toMatch(/hash_salt\\?":\\?"\*{8}/);
  }
  for (const args of [
    ["runs"],
    ["runs", "--json"],
    ["config", "leak"],
    ["config", "leak", "list"],
    ["config", "echo-config", "list", "--format", "json"],
    ["config", "salted"],
  ]) {
    const result = await sluice(args);
    expect(result.code, describeResult(result)).toBe(0);
  }
});

test("sluice config of a mapping shows a reference as written and the rest redacted", async () => {
  const shown = await sluice(["config", "leak"]);
  expect(shown.code, describeResult(shown)).toBe(0);
  expect(JSON.parse(shown.stdout)).toMatchObject({
    config: { hash_salt: "********", api_token: "********", from_ref: "env:REF_SECRET" },
  });
});

test("no form of any mapping secret in any output", () => {
  expect(outputs.length).toBeGreaterThan(6);
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

test("no form of any mapping secret in any file sluice wrote, and no mapper config file left behind", () => {
  // The project file holds the token pasted into it, as the user wrote it.
  const files = listFiles(project.dir).filter((file) => file !== project.file("sluice.yml"));
  const names = files.map((file) => path.relative(project.dir, file));
  expect(names).toEqual(
    expect.arrayContaining([path.join(".sluice", "sluice.db"), "output/warehouse.duckdb"]),
  );
  expect(names.filter((name) => name.endsWith("config.json"))).toEqual([]);
  for (const file of files) {
    const bytes = fs.readFileSync(file);
    for (const form of FORMS)
      expect(bytes.includes(form), `${file} holds ${JSON.stringify(form)}`).toBe(false);
  }
});

function listFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? listFiles(full) : [full];
  });
}
