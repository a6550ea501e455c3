import fs from "node:fs";
import { parse } from "yaml";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/pg.js";
import { describeResult } from "../support/run-cli.js";
import { TestProject, TestProjects } from "../support/test-project.js";

/**
 * Meltano's everyday verbs, spelled as Meltano spells them, on a meltano.yml a person wrote (with
 * comments): `add`, `config <plugin> set|unset|list`, `select <extractor> <entity> <attribute>`,
 * `environment list`, `el`/`elt`, `--log-level`, `--format json`, and `runs` with its header.
 */

const MELTANO_YML = `# Our pipelines. Keep this comment.
version: 1
default_environment: dev
environments:
  - name: dev
  - name: prod # production: the replica
plugins:
  extractors:
    - name: tap-postgres # the shop database
      variant: transferwise
      pip_url: pipelinewise-tap-postgres
      config:
        host: localhost # only on a laptop
        dbname: shop
  loaders:
    - name: target-duckdb
      variant: jwills
      config:
        path: warehouse.duckdb
`;

const projects = new TestProjects();
afterAll(() => projects.removeAll());

function fresh(): TestProject {
  const project = projects.add(new TestProject({ prefix: "sluice-meltano-verbs-" }));
  project.writeText(MELTANO_YML, "meltano.yml");
  return project;
}

function fileOf(project: TestProject): string {
  return fs.readFileSync(project.file("meltano.yml"), "utf8");
}

describe("config <plugin> set | unset | list", () => {
  test("set writes the project file, keeping its comments and order; a secret goes to .env (0600)", async () => {
    const project = fresh();
    const port = await project.runText(["config", "tap-postgres", "set", "port", "6543"]);
    expect(port.code, describeResult(port)).toBe(0);
    expect(port.stdout).toContain("extractor tap-postgres setting port was set in meltano.yml: 6543");
    const password = await project.runText(["config", "tap-postgres", "set", "password", "pa'ss word"]);
    expect(password.code, describeResult(password)).toBe(0);
    expect(password.stdout).toContain("set in .env (TAP_POSTGRES_PASSWORD): ********");
    expect(password.stdout + password.stderr).not.toContain("pa'ss word");

    const text = fileOf(project);
    expect(text.startsWith("# Our pipelines. Keep this comment.\n")).toBe(true);
    expect(text).toContain("- name: prod # production: the replica");
    expect(text).toContain("host: localhost # only on a laptop");
    expect(text).not.toContain("pa'ss word");
    const file = parse(text) as { plugins: { extractors: { config: Record<string, unknown> }[] } };
    // A number, as the setting's kind says, not the text "6543".
    expect(file.plugins.extractors[0]!.config).toEqual({ host: "localhost", dbname: "shop", port: 6543 });
    expect(fs.statSync(project.file(".env")).mode & 0o777).toBe(0o600);

    // What was written is what the project now resolves to, the secret read back exactly.
    const shown = await project.run(["config", "tap-postgres", "list", "--format", "json"]);
    expect(shown.code, describeResult(shown)).toBe(0);
    const rows = JSON.parse(shown.stdout) as { name: string; value: unknown; source: string | null }[];
    expect(rows.find((r) => r.name === "port")).toMatchObject({ value: 6543 });
    expect(rows.find((r) => r.name === "password")).toMatchObject({
      value: "********",
      source: "environment variable TAP_POSTGRES_PASSWORD",
    });
    expect(shown.stdout).not.toContain("pa'ss word");
  });

  test("with --environment the value goes into that environment's override", async () => {
    const project = fresh();
    const result = await project.runText([
      "-e",
      "prod",
      "config",
      "tap-postgres",
      "set",
      "host",
      "replica.internal",
    ]);
    expect(result.code, describeResult(result)).toBe(0);
    const file = parse(fileOf(project)) as {
      environments: {
        name: string;
        config?: { plugins: { extractors: { name: string; config: unknown }[] } };
      }[];
      plugins: { extractors: { config: { host: string } }[] };
    };
    expect(file.environments[1]!.config!.plugins.extractors).toEqual([
      { name: "tap-postgres", config: { host: "replica.internal" } },
    ]);
    expect(file.plugins.extractors[0]!.config.host).toBe("localhost");
    const prod = await project.run(["-e", "prod", "config", "tap-postgres", "list", "--format", "json"]);
    const rows = JSON.parse(prod.stdout) as { name: string; value: unknown }[];
    expect(rows.find((r) => r.name === "host")!.value).toBe("replica.internal");
  });

  test("a value of the wrong kind, an unknown setting and an unknown verb change nothing", async () => {
    const project = fresh();
    const before = fileOf(project);
    const kind = await project.runText(["config", "tap-postgres", "set", "port", "lots"]);
    expect(kind.code).toBe(2);
    expect(kind.stderr).toContain('tap-postgres.port: expected integer, got "lots"');
    const unknown = await project.runText(["config", "tap-postgres", "set", "hots", "db"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('tap-postgres has no setting "hots" (did you mean `host`?)');
    const choice = await project.runText(["config", "target-duckdb", "set", "load_method", "upsrt"]);
    expect(choice.code).toBe(2);
    expect(choice.stderr).toContain("expected one of append-only, upsert, overwrite");
    const verb = await project.runText(["config", "tap-postgres", "sett", "host", "db"]);
    expect(verb.code).toBe(2);
    expect(verb.stderr).toContain('unknown action "sett"');
    expect(fileOf(project)).toBe(before);
    expect(fs.existsSync(project.file(".env"))).toBe(false);
  });

  test("unset removes the value from the file and from .env; list still lists with a required setting missing", async () => {
    const project = fresh();
    await project.runText(["config", "tap-postgres", "set", "password", "x"]);
    const unsetHost = await project.runText(["config", "tap-postgres", "unset", "host"]);
    expect(unsetHost.code, describeResult(unsetHost)).toBe(0);
    expect(fileOf(project)).not.toContain("host: localhost");
    const unsetPassword = await project.runText(["config", "tap-postgres", "unset", "password"]);
    expect(unsetPassword.stdout).toContain("was unset from .env (TAP_POSTGRES_PASSWORD)");
    expect(fs.readFileSync(project.file(".env"), "utf8")).toBe("");
    const list = await project.runText(["config", "tap-postgres", "list"]);
    expect(list.code, describeResult(list)).toBe(0);
    expect(list.stderr).toContain("required setting `user` is not set");
    expect(list.stdout).toMatch(/^user \(required\) \[env: TAP_POSTGRES_USER\] current value: \(not set\)$/m);
    expect(list.stdout).toMatch(/^dbname \(required\) \[env: TAP_POSTGRES_DBNAME\] current value: "shop"/m);
  });
});

describe("add, select, environment list", () => {
  test("add writes the plugin as meltano add does; a name the file has is refused", async () => {
    const project = fresh();
    const builtin = await project.runText(["add", "loader", "target-postgres", "--variant", "meltanolabs"]);
    expect(builtin.code, describeResult(builtin)).toBe(0);
    expect(builtin.stdout).toContain("it is built in");
    const external = await project.runText(["add", "extractor", "tap-github"]);
    expect(external.code, describeResult(external)).toBe(0);
    expect(external.stdout).toContain("`sluice install`");
    const inherited = await project.runText(["add", "extractor", "tap-postgres", "--as", "tap-replica"]);
    expect(inherited.code, describeResult(inherited)).toBe(0);
    const file = parse(fileOf(project)) as { plugins: Record<string, Record<string, unknown>[]> };
    expect(file.plugins.loaders![1]).toEqual({ name: "target-postgres", variant: "meltanolabs" });
    expect(file.plugins.extractors!.slice(1)).toEqual([
      { name: "tap-github", pip_url: "tap-github", namespace: "tap_github" },
      { name: "tap-replica", inherit_from: "tap-postgres" },
    ]);
    expect(fileOf(project)).toContain("# the shop database");
    const twice = await project.runText(["add", "extractor", "tap-github"]);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toContain("already has a plugin named tap-github");
    const wrongType = await project.runText(["add", "extractor", "target-jsonl"]);
    expect(wrongType.code).toBe(2);
    expect(wrongType.stderr).toContain("target-jsonl is a built-in loader, not an extractor");
  });

  test("select <extractor> <entity> <attribute> adds a rule; --exclude adds its negation and drops the rule", async () => {
    const project = fresh();
    const add = await project.runText(["select", "tap-postgres", "public-accounts", "email"]);
    expect(add.code, describeResult(add)).toBe(0);
    const exclude = await project.runText([
      "select",
      "tap-postgres",
      "public-accounts",
      "email",
      "--exclude",
    ]);
    expect(exclude.code, describeResult(exclude)).toBe(0);
    const events = await project.runText(["select", "tap-postgres", "public-events"]);
    expect(events.code, describeResult(events)).toBe(0);
    const again = await project.runText(["select", "tap-postgres", "public-events"]);
    expect(again.stdout).toContain("already has select rule public-events.*");
    const file = parse(fileOf(project)) as { plugins: { extractors: { select: string[] }[] } };
    expect(file.plugins.extractors[0]!.select).toEqual(["!public-accounts.email", "public-events.*"]);
  });

  test("environment list marks the default and the active environment", async () => {
    const project = fresh();
    const list = await project.runText(["environment", "list"]);
    expect(list.stdout.trim().split("\n")).toEqual(["dev (default) (active)", "prod"]);
    const prod = await project.run(["-e", "prod", "environment", "list", "--format", "json"]);
    expect(JSON.parse(prod.stdout)).toEqual([
      { name: "dev", default: true, active: false },
      { name: "prod", default: false, active: true },
    ]);
  });
});

describe("el, elt, --log-level, runs", () => {
  let db: TestDatabase;
  let project: TestProject;

  beforeAll(async () => {
    db = await createTestDatabase("verbs");
    await db.query(
      "CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items VALUES (1, 'a'), (2, 'b')",
    );
    project = projects.add(TestProject.forDatabase(db));
  });
  afterAll(() => db?.drop());

  test("el runs one pipeline under the state id given; elt refuses a transform it cannot run", async () => {
    const el = await project.runText(["el", "tap-postgres", "target-duckdb", "--state-id", "dev:my-el"]);
    expect(el.code, describeResult(el)).toBe(0);
    expect(await project.duckdb("SELECT id, name FROM public.items ORDER BY id")).toEqual([
      { id: 1, name: "a" },
      { id: 2, name: "b" },
    ]);
    expect(await project.stateIds()).toContain("dev:my-el");
    const elt = await project.runText(["elt", "tap-postgres", "target-duckdb", "--transform", "run"]);
    expect(elt.code).toBe(2);
    expect(elt.stderr).toContain("sluice runs no transformers");
  });

  test("invoke runs a built-in with the project's settings: the tap's --discover, the target on stdin", async () => {
    const discover = await project.run(["invoke", "tap-postgres", "--discover"]);
    expect(discover.code, describeResult(discover)).toBe(0);
    const catalog = JSON.parse(discover.stdout) as { streams: { tap_stream_id: string }[] };
    expect(catalog.streams.map((s) => s.tap_stream_id)).toContain("public-items");
    // The password came from TAP_POSTGRES_PASSWORD, as for a run, and is never printed.
    expect(discover.stdout + discover.stderr).not.toContain(db.password);
    const messages = [
      {
        type: "SCHEMA",
        stream: "notes",
        schema: { properties: { id: { type: "integer" } } },
        key_properties: ["id"],
      },
      { type: "RECORD", stream: "notes", record: { id: 7 } },
      { type: "STATE", value: { done: true } },
    ];
    const target = await project.run(["invoke", "target-duckdb"], {
      stdin: messages.map((m) => JSON.stringify(m)).join("\n") + "\n",
    });
    expect(target.code, describeResult(target)).toBe(0);
    expect(JSON.parse(target.stdout.trim())).toEqual({ done: true });
    // Into the project's DuckDB file (its path is relative to the project folder).
    expect(
      await project.duckdb("SELECT table_name FROM information_schema.tables WHERE table_name = 'notes'"),
    ).toEqual([{ table_name: "notes" }]);
    const wrong = await project.runText(["invoke", "tap-postgres", "--discovr"]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain("sluice invoke tap-postgres --discovr: unknown option '--discovr'");
  });

  test("--log-level warning keeps a run's info lines out; runs has a header and each run's id", async () => {
    const quiet = await project.runText(["--log-level", "warning", "el", "tap-postgres", "target-duckdb"]);
    expect(quiet.code, describeResult(quiet)).toBe(0);
    expect(quiet.stderr).toBe("");
    const runs = await project.runText(["runs"]);
    expect(runs.code, describeResult(runs)).toBe(0);
    const [header, ...lines] = runs.stdout.trim().split("\n");
    expect(header).toMatch(
      /^RUN ID\s+STARTED \(UTC\)\s+STATUS\s+STATE ID\s+DURATION\s+ROWS\s+ROWS\/S\s+STREAMS$/,
    );
    const recorded = await project.runs();
    expect(lines).toHaveLength(recorded.length);
    expect(lines[0]!.startsWith(recorded[0]!.runId)).toBe(true);
    const deprecated = await project.runText(["runs", "--json"]);
    expect(JSON.parse(deprecated.stdout)).toHaveLength(recorded.length);
    expect(deprecated.stderr).toContain("--json is deprecated: use --format json");
  });
});

const MAPPERS_YML = `${MELTANO_YML}  mappers:
    - name: meltano-map-transformer # run by Meltano's package, as Meltano runs it
      variant: meltanolabs
      pip_url: meltano-map-transformer
      builtin: false
      mappings:
        - name: hash-pii # before anything leaves the VPC
          config:
            stream_maps:
              public-users:
                email: md5(config['hash_seed'] + email)
`;

describe("config <mapper> | <mapping> set | unset | list", () => {
  function withMappers(): TestProject {
    const project = projects.add(new TestProject({ prefix: "sluice-meltano-verbs-" }));
    project.writeText(MAPPERS_YML, "meltano.yml");
    return project;
  }
  type MappersFile = {
    environments: { name: string; config?: { plugins: { mappers: unknown[] } } }[];
    plugins: {
      mappers: { config?: Record<string, unknown>; mappings: { config: Record<string, unknown> }[] }[];
    };
  };

  test("set writes a mapping's and a mapper's config, keeping comments; list and show redact what is secret", async () => {
    const project = withMappers();
    const seed = await project.runText([
      "config",
      "hash-pii",
      "set",
      "stream_map_config",
      "hash_seed",
      "$HASH_SALT",
    ]);
    expect(seed.code, describeResult(seed)).toBe(0);
    expect(seed.stdout).toContain(
      'mapping hash-pii setting stream_map_config.hash_seed was set in meltano.yml: "$HASH_SALT"',
    );
    const token = await project.runText([
      "config",
      "meltano-map-transformer",
      "set",
      "api_token",
      "tok-in-the-file",
    ]);
    expect(token.code, describeResult(token)).toBe(0);
    expect(token.stdout).toContain(
      "mapper meltano-map-transformer setting api_token was set in meltano.yml: ********",
    );
    expect(token.stderr).toContain("meltano-map-transformer.api_token looks secret");

    const text = fileOf(project);
    expect(text).toContain("- name: hash-pii # before anything leaves the VPC");
    expect(text).toContain("- name: meltano-map-transformer # run by Meltano's package, as Meltano runs it");
    const file = parse(text) as MappersFile;
    expect(file.plugins.mappers[0]!.config).toEqual({ api_token: "tok-in-the-file" });
    expect(file.plugins.mappers[0]!.mappings[0]!.config).toEqual({
      stream_maps: { "public-users": { email: "md5(config['hash_seed'] + email)" } },
      stream_map_config: { hash_seed: "$HASH_SALT" },
    });

    const env = { HASH_SALT: "salt-from-the-vault" };
    const list = await project.run(["config", "hash-pii", "list", "--format", "json"], { env });
    expect(list.code, describeResult(list)).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([
      { name: "api_token", value: "********", source: "plugins.mappers[0].config.api_token" },
      {
        name: "stream_maps",
        value: { "public-users": { email: "md5(config['hash_seed'] + email)" } },
        source: "plugins.mappers[0].mappings[0].config.stream_maps",
      },
      {
        name: "stream_map_config",
        value: { hash_seed: "********" },
        source: "plugins.mappers[0].mappings[0].config.stream_map_config",
      },
    ]);
    const shown = await project.run(["config", "hash-pii"], { env });
    expect(shown.code, describeResult(shown)).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({
      name: "hash-pii",
      type: "mapping",
      mapper: "meltano-map-transformer",
      config: { api_token: "********", stream_map_config: { hash_seed: "********" } },
    });
    for (const output of [list, shown]) {
      expect(output.stdout).not.toContain("salt-from-the-vault");
      expect(output.stdout).not.toContain("tok-in-the-file");
    }
    const mapper = await project.run(["config", "meltano-map-transformer", "list", "--format", "json"]);
    expect(JSON.parse(mapper.stdout)).toEqual([
      { name: "api_token", value: "********", source: "plugins.mappers[0].config.api_token" },
    ]);
  });

  test("with --environment into the environment's override; unset removes; --store dotenv is refused", async () => {
    const project = withMappers();
    const prod = await project.runText([
      "-e",
      "prod",
      "config",
      "hash-pii",
      "set",
      "stream_maps",
      "public-users",
      "ssn",
      "__NULL__",
    ]);
    expect(prod.code, describeResult(prod)).toBe(0);
    const file = parse(fileOf(project)) as MappersFile;
    expect(file.environments[1]!.config!.plugins.mappers).toEqual([
      { name: "hash-pii", config: { stream_maps: { "public-users": { ssn: "__NULL__" } } } },
    ]);
    expect(file.plugins.mappers[0]!.mappings[0]!.config).toEqual({
      stream_maps: { "public-users": { email: "md5(config['hash_seed'] + email)" } },
    });
    // The environment's override is what the mapping resolves to there (its stream_maps replace the mapping's).
    const shown = await project.run(["-e", "prod", "config", "hash-pii"]);
    expect(JSON.parse(shown.stdout)).toMatchObject({
      environment: "prod",
      config: { stream_maps: { "public-users": { ssn: "__NULL__" } } },
      sources: { stream_maps: "environments[1].config.plugins.mappers[0].config.stream_maps" },
    });

    const unset = await project.runText([
      "config",
      "hash-pii",
      "unset",
      "stream_maps",
      "public-users",
      "email",
    ]);
    expect(unset.code, describeResult(unset)).toBe(0);
    expect(unset.stdout).toContain(
      "mapping hash-pii setting stream_maps.public-users.email was unset from meltano.yml",
    );
    expect((parse(fileOf(project)) as MappersFile).plugins.mappers[0]!.mappings[0]!.config).toEqual({
      stream_maps: { "public-users": {} },
    });
    const before = fileOf(project);
    const dotenv = await project.runText(["config", "hash-pii", "set", "salt", "x", "--store", "dotenv"]);
    expect(dotenv.code).toBe(2);
    expect(dotenv.stderr).toContain("a mapping's settings are not read from variables");
    expect(fileOf(project)).toBe(before);
  });
});
