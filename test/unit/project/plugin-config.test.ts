import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import type { SettingDefinition } from "../../../src/connectors/connector.js";
import { loadProject, readProjectFile } from "../../../src/project/project-file.js";
import {
  resolvePluginConfig,
  type PluginLookup,
  type ResolvePluginConfigOptions,
} from "../../../src/project/plugin-config.js";
import { selectEnvironment } from "../../../src/project/select-environment.js";
import { envPrefixOf } from "../../../src/project/setting-values.js";
import { builtinLookup, configErrorOf, problemsOf, projectDirWith } from "./project-test-support.js";

const referenceDir = fileURLToPath(new URL("../../fixtures/project/reference", import.meta.url));

/** A project from YAML text (and an optional .env), and a resolver bound to it. */
function projectOf(yaml: string, dotEnv?: string) {
  const projectDir = projectDirWith({
    "sluice.yml": yaml,
    ...(dotEnv === undefined ? {} : { ".env": dotEnv }),
  });
  const project = readProjectFile(join(projectDir, "sluice.yml"));
  const resolve = (
    pluginName: string,
    options: Partial<Omit<ResolvePluginConfigOptions, "project" | "projectDir" | "pluginName">> = {},
  ) => resolvePluginConfig({ project, projectDir, pluginName, env: {}, lookup: builtinLookup, ...options });
  return { project, projectDir, resolve };
}

const minimalTap = `
plugins:
  extractors:
    - name: tap-postgres
      config:
        user: reader
        dbname: app
`;

describe("the reference architecture's meltano.yml", () => {
  const { project, dir } = loadProject(referenceDir);
  const env = {
    TAP_POSTGRES_PASSWORD: "rds-pass-8x!Q",
    TARGET_BIGQUERY_CREDENTIALS_PATH: "/var/secrets/sa.json",
  };
  const resolve = (pluginName: string, environment?: string | null) =>
    resolvePluginConfig({
      project,
      projectDir: dir,
      pluginName,
      environment,
      env,
      dotEnv: {},
      lookup: builtinLookup,
    });

  test("resolves tap-postgres in the default environment (dev) with typed values and defaults", () => {
    const tap = resolve("tap-postgres");
    expect(tap).toMatchObject({
      name: "tap-postgres",
      type: "extractor",
      builtin: true,
      variant: "transferwise",
      pipUrl: "pipelinewise-tap-postgres",
      environment: "dev",
      location: "plugins.extractors[0]",
    });
    expect(tap.config).toMatchObject({
      host: "localhost",
      port: 5432,
      user: "meltano_reader",
      password: "rds-pass-8x!Q",
      dbname: "orders_dev",
      default_replication_method: "FULL_TABLE",
      filter_schemas: ["public"],
      ssl: false,
      itersize: 20000,
    });
    expect(tap.sources.password).toEqual({ kind: "env", variable: "TAP_POSTGRES_PASSWORD" });
    expect(tap.sources.host).toEqual({
      kind: "file",
      path: "environments[0].config.plugins.extractors[0].config.host",
    });
    expect(tap.sources.itersize).toEqual({ kind: "default" });
    expect(tap.select).toEqual(["public-events.*"]);
    expect(tap.metadata).toEqual({
      "public-events": { "replication-method": "INCREMENTAL", "replication-key": "updated_at" },
    });
    expect(tap.definitionSettings.map((setting) => setting.name)).toContain("sslmode");
  });

  test("resolves the prod environment's overrides", () => {
    const tap = resolve("tap-postgres", "prod");
    expect(tap.config).toMatchObject({
      host: "orders.cluster-abc123.eu-west-2.rds.amazonaws.com",
      dbname: "orders",
      ssl: true,
    });
    expect(tap.select).toEqual(["public-events.*", "public-customers.*"]);
    expect(tap.env).toEqual({ LOG_LEVEL: "info" });
  });

  test("returns target-bigquery, which is not built in, as raw config with builtin: false", () => {
    const target = resolve("target-bigquery", "prod");
    expect(target.builtin).toBe(false);
    expect(target.type).toBe("loader");
    expect(target.pipUrl).toBe("git+https://github.com/adswerve/target-bigquery.git@0.11.3");
    expect(target.config).toEqual({
      project_id: "analytics-prod-314159",
      dataset_id: "orders_prod",
      location: "europe-west2",
      add_metadata_columns: true,
      table_prefix: "meltano_extract_",
      credentials_path: "/var/secrets/sa.json",
    });
    expect(target.definitionSettings.map((setting) => [setting.name, setting.kind])).toEqual([
      ["credentials_path", "string"],
      ["max_cache", "integer"],
    ]);
  });

  test("types a setting an external plugin declares when it comes from an environment variable", () => {
    const target = resolvePluginConfig({
      project,
      projectDir: dir,
      pluginName: "target-bigquery",
      env: { ...env, TARGET_BIGQUERY_MAX_CACHE: "50" },
      dotEnv: {},
      lookup: builtinLookup,
    });
    expect(target.config.max_cache).toBe(50);
  });

  test("reports an unset variable of the plugin being resolved, and only of it", () => {
    const withoutCredentials = { TAP_POSTGRES_PASSWORD: "rds-pass-8x!Q" };
    const run = (pluginName: string) =>
      resolvePluginConfig({
        project,
        projectDir: dir,
        pluginName,
        env: withoutCredentials,
        dotEnv: {},
        lookup: builtinLookup,
      });
    expect(problemsOf(() => run("target-bigquery"))).toEqual([
      "plugins.loaders[0].config.credentials_path: environment variable TARGET_BIGQUERY_CREDENTIALS_PATH is not set (set it in the environment or in .env)",
    ]);
    expect(run("tap-postgres").config.dbname).toBe("orders_dev");
  });
});

describe("environment variable expansion", () => {
  test("expands $VAR and ${VAR} in strings, lists and mappings", () => {
    const { resolve } = projectOf(`
plugins:
  extractors:
    - name: tap-postgres
      config:
        user: $PG_USER
        dbname: "\${PG_DB}_replica"
        filter_schemas: [$SCHEMA_A, "\${SCHEMA_B}"]
        sslrootcert: $SLUICE_PROJECT_ROOT/certs/ca.pem
        sslcert: \${MELTANO_PROJECT_ROOT}/certs/client.pem
`);
    const { config } = resolve("tap-postgres", {
      env: { PG_USER: "reader", PG_DB: "orders", SCHEMA_A: "public", SCHEMA_B: "sales" },
    });
    expect(config.user).toBe("reader");
    expect(config.dbname).toBe("orders_replica");
    expect(config.filter_schemas).toEqual(["public", "sales"]);
    expect(config.sslrootcert).toMatch(/^\/.*sluice-project-[^/]+\/certs\/ca\.pem$/);
    expect(config.sslcert).toBe(String(config.sslrootcert).replace("ca.pem", "client.pem"));
  });

  test("reads .env, and the process environment wins over it", () => {
    const { resolve } = projectOf(
      `${minimalTap}        host: $PG_HOST\n        tap_id: $TAP_ID\n`,
      "PG_HOST=db.from-dotenv\nTAP_ID=from-dotenv\n",
    );
    const { config } = resolve("tap-postgres", { env: { TAP_ID: "from-process" } });
    expect(config.host).toBe("db.from-dotenv");
    expect(config.tap_id).toBe("from-process");
  });

  test("keeps $$ and \\$ as a literal dollar, and a $ not followed by a name", () => {
    const { resolve } = projectOf(`${minimalTap}        password: 'pa$$word\\$HOME$'\n`);
    expect(resolve("tap-postgres", { env: { HOME: "/root" } }).config.password).toBe("pa$word$HOME$");
  });

  test("uses the project's env: blocks, below the process environment", () => {
    const { resolve } = projectOf(`
env:
  PG_HOST: db.project
  PG_DB: orders
plugins:
  extractors:
    - name: tap-postgres
      env:
        PG_HOST: db.plugin
      config: { user: reader, dbname: $PG_DB, host: $PG_HOST }
`);
    expect(resolve("tap-postgres").config).toMatchObject({ host: "db.plugin", dbname: "orders" });
    expect(resolve("tap-postgres", { env: { PG_HOST: "db.process" } }).config.host).toBe("db.process");
  });

  test("reports an unset variable in an env: block with its path", () => {
    const { resolve } = projectOf(`${minimalTap}      env:\n        DBT_TARGET: $DBT_TARGET_NAME\n`);
    expect(problemsOf(() => resolve("tap-postgres"))).toEqual([
      "plugins.extractors[0].env.DBT_TARGET: environment variable DBT_TARGET_NAME is not set (set it in the environment or in .env)",
    ]);
    expect(resolve("tap-postgres", { env: { DBT_TARGET_NAME: "prod" } }).env).toEqual({ DBT_TARGET: "prod" });
  });

  test("does not report an unset variable in a value an environment variable overrides", () => {
    const { resolve } = projectOf(`${minimalTap}        password: $PG_PASSWORD\n`);
    expect(problemsOf(() => resolve("tap-postgres"))).toEqual([
      "plugins.extractors[0].config.password: environment variable PG_PASSWORD is not set (set it in the environment or in .env)",
    ]);
    expect(resolve("tap-postgres", { env: { TAP_POSTGRES_PASSWORD: "override-pw" } }).config.password).toBe(
      "override-pw",
    );
  });
});

describe("<PLUGIN_NAME>_<SETTING> overrides", () => {
  test("are named after the plugin, upper-cased with non-alphanumerics as _", () => {
    expect(envPrefixOf("tap-postgres")).toBe("TAP_POSTGRES");
    expect(envPrefixOf("target-duckdb.v2")).toBe("TARGET_DUCKDB_V2");
  });

  test("coerce strings to the setting's kind", () => {
    const { resolve } = projectOf(minimalTap);
    const { config } = resolve("tap-postgres", {
      env: {
        TAP_POSTGRES_PORT: "6543",
        TAP_POSTGRES_SSL: "1",
        TAP_POSTGRES_BREAK_AT_END_LSN: "FALSE",
        TAP_POSTGRES_USE_SECONDARY: "0",
        TAP_POSTGRES_FILTER_SCHEMAS: "public, sales,",
        TAP_POSTGRES_DEFAULT_REPLICATION_METHOD: "LOG_BASED",
      },
    });
    expect(config).toMatchObject({
      port: 6543,
      ssl: true,
      break_at_end_lsn: false,
      use_secondary: false,
      filter_schemas: ["public", "sales"],
      default_replication_method: "LOG_BASED",
    });
  });

  test("win over the environment's override, which wins over the plugin's config", () => {
    const { resolve } = projectOf(`
default_environment: prod
plugins:
  extractors:
    - name: tap-postgres
      config: { user: reader, dbname: app, host: file-host, port: 5433, tap_id: file-tap }
environments:
  - name: prod
    config:
      plugins:
        extractors:
          - name: tap-postgres
            config: { host: prod-host, tap_id: prod-tap }
`);
    const { config } = resolve("tap-postgres", { env: { TAP_POSTGRES_HOST: "env-host" } });
    expect(config).toMatchObject({ host: "env-host", tap_id: "prod-tap", port: 5433 });
    expect(resolve("tap-postgres", { environment: null }).config).toMatchObject({
      host: "file-host",
      tap_id: "file-tap",
    });
  });

  test("accept a setting's alias, and map it to the canonical name", () => {
    const { resolve } = projectOf("plugins:\n  loaders:\n    - name: target-duckdb\n");
    expect(resolve("target-duckdb", { env: { TARGET_DUCKDB_FILEPATH: "alias.duckdb" } }).config.path).toBe(
      "alias.duckdb",
    );
    const both = resolve("target-duckdb", {
      env: { TARGET_DUCKDB_FILEPATH: "alias.duckdb", TARGET_DUCKDB_PATH: "canonical.duckdb" },
    });
    expect(both.config.path).toBe("canonical.duckdb");
    expect(both.config).not.toHaveProperty("filepath");
  });

  test("are read from .env too", () => {
    const { resolve } = projectOf(minimalTap, "TAP_POSTGRES_PORT=7000\n");
    expect(resolve("tap-postgres").config.port).toBe(7000);
  });

  test("report a value of the wrong kind, naming the variable", () => {
    const { resolve } = projectOf(minimalTap);
    expect(problemsOf(() => resolve("tap-postgres", { env: { TAP_POSTGRES_PORT: "abc" } }))).toEqual([
      'environment variable TAP_POSTGRES_PORT: expected integer, got "abc"',
    ]);
  });
});

describe("inherit_from", () => {
  const yaml = `
plugins:
  extractors:
    - name: tap-postgres
      variant: transferwise
      pip_url: pipelinewise-tap-postgres
      config: { host: primary, user: reader, dbname: app, itersize: 5000 }
      select: [public-events.*]
      metadata:
        public-events: { replication-method: INCREMENTAL, replication-key: updated_at }
    - name: tap-postgres-replica
      inherit_from: tap-postgres
      config: { host: replica }
      metadata:
        public-events: { replication-key: id }
        public-users: { replication-method: FULL_TABLE }
  loaders:
    - name: warehouse-b
      inherit_from: target-duckdb
      config: { path: b.duckdb, load_mehtod: upsert }
`;

  test("inherits the parent's definition, config, select and metadata; own values win", () => {
    const { resolve } = projectOf(yaml);
    const replica = resolve("tap-postgres-replica");
    expect(replica).toMatchObject({
      name: "tap-postgres-replica",
      builtin: true,
      baseName: "tap-postgres",
      inheritFrom: "tap-postgres",
      variant: "transferwise",
      pipUrl: "pipelinewise-tap-postgres",
      select: ["public-events.*"],
    });
    expect(replica.config).toMatchObject({
      host: "replica",
      user: "reader",
      dbname: "app",
      itersize: 5000,
      port: 5432,
    });
    expect(replica.metadata).toEqual({
      "public-events": { "replication-method": "INCREMENTAL", "replication-key": "id" },
      "public-users": { "replication-method": "FULL_TABLE" },
    });
  });

  test("reads its own variables first, then the parent's", () => {
    const { resolve } = projectOf(yaml);
    const { config } = resolve("tap-postgres-replica", {
      env: {
        TAP_POSTGRES_PASSWORD: "shared-pw",
        TAP_POSTGRES_HOST: "parent-host",
        TAP_POSTGRES_REPLICA_HOST: "own-host",
      },
    });
    expect(config.password).toBe("shared-pw");
    expect(config.host).toBe("own-host");
  });

  test("validates a plugin inheriting from a built-in that the project does not list", () => {
    const { resolve } = projectOf(yaml);
    expect(problemsOf(() => resolve("warehouse-b"))).toEqual([
      "plugins.loaders[0].config.load_mehtod: unknown setting of target-duckdb (did you mean `load_method`?)",
    ]);
  });

  test("reports an inheritance cycle", () => {
    const { resolve } = projectOf(`
plugins:
  extractors:
    - { name: tap-a, inherit_from: tap-b }
    - { name: tap-b, inherit_from: tap-a }
`);
    expect(problemsOf(() => resolve("tap-a"))).toEqual([
      "plugins.extractors[1].inherit_from: inheritance cycle: tap-a → tap-b → tap-a",
    ]);
  });
});

describe("validation against the plugin's settings", () => {
  test("reports an unknown setting with a suggestion", () => {
    const { resolve } = projectOf(`${minimalTap}        hots: db\n`);
    expect(problemsOf(() => resolve("tap-postgres"))).toEqual([
      "plugins.extractors[0].config.hots: unknown setting of tap-postgres (did you mean `host`?)",
    ]);
  });

  test("accepts an alias in the file and maps it to the canonical name", () => {
    const { resolve } = projectOf(
      "plugins:\n  loaders:\n    - name: target-duckdb\n      config: { filepath: w.duckdb }\n",
    );
    const target = resolve("target-duckdb");
    expect(target.config.path).toBe("w.duckdb");
    expect(target.config).not.toHaveProperty("filepath");
  });

  test("reports a wrong type with the exact path", () => {
    const { resolve } = projectOf(`${minimalTap}        port: abc\n`);
    expect(problemsOf(() => resolve("tap-postgres"))).toEqual([
      'plugins.extractors[0].config.port: expected integer, got "abc"',
    ]);
  });

  test("accepts integer strings and boolean strings in the file (as $VAR expansion produces)", () => {
    const { resolve } = projectOf(
      `${minimalTap}        port: "6000"\n        ssl: "true"\n        filter_schemas: a,b\n`,
    );
    expect(resolve("tap-postgres").config).toMatchObject({
      port: 6000,
      ssl: true,
      filter_schemas: ["a", "b"],
    });
  });

  test("enforces choices, suggesting the nearest", () => {
    const { resolve } = projectOf(`${minimalTap}        default_replication_method: INCREMENTL\n`);
    expect(problemsOf(() => resolve("tap-postgres"))).toEqual([
      'plugins.extractors[0].config.default_replication_method: expected one of FULL_TABLE, INCREMENTAL, LOG_BASED, got "INCREMENTL" (did you mean `INCREMENTAL`?)',
    ]);
  });

  test("reports a missing required setting and how to set it", () => {
    const { resolve } = projectOf(
      "plugins:\n  extractors:\n    - name: tap-postgres\n      config: { user: reader }\n",
    );
    expect(problemsOf(() => resolve("tap-postgres"))).toEqual([
      "plugins.extractors[0].config.dbname: required setting `dbname` is not set; set it in the project file or with the environment variable TAP_POSTGRES_DBNAME",
    ]);
    expect(resolve("tap-postgres", { env: { TAP_POSTGRES_DBNAME: "app" } }).config.dbname).toBe("app");
  });

  test("treats an empty value in the file as unset, so that the default applies", () => {
    const { resolve } = projectOf(`${minimalTap}        port:\n`);
    expect(resolve("tap-postgres").config.port).toBe(5432);
  });

  test("reports every problem of the plugin and of its environment override at once", () => {
    const { resolve } = projectOf(`
default_environment: prod
plugins:
  extractors:
    - name: tap-postgres
      config:
        port: "54x2"
        ssl: maybe
        filter_schemas: { public: true }
        prot: 1
environments:
  - name: prod
    config:
      plugins:
        extractors:
          - name: tap-postgres
            config: { itersize: 1.5, sslmode: requir }
`);
    const error = configErrorOf(() => resolve("tap-postgres"));
    expect(error.problems).toEqual([
      "plugins.extractors[0].config.prot: unknown setting of tap-postgres (did you mean `port`?)",
      'plugins.extractors[0].config.port: expected integer, got "54x2"',
      'plugins.extractors[0].config.ssl: expected boolean (true or false), got "maybe"',
      "plugins.extractors[0].config.filter_schemas: expected array (a list, or a comma-separated string), got a mapping",
      "environments[0].config.plugins.extractors[0].config.itersize: expected integer, got 1.5",
      'environments[0].config.plugins.extractors[0].config.sslmode: expected one of disable, allow, prefer, require, verify-ca, verify-full, got "requir" (did you mean `require`?)',
      "plugins.extractors[0].config.user: required setting `user` is not set; set it in the project file or with the environment variable TAP_POSTGRES_USER",
      "plugins.extractors[0].config.dbname: required setting `dbname` is not set; set it in the project file or with the environment variable TAP_POSTGRES_DBNAME",
    ]);
    expect(error.exitCode).toBe(2);
    expect(error.message).toMatch(/^8 problems:/);
  });

  test("never shows a secret's value in an error", () => {
    const secretPin: SettingDefinition = {
      name: "pin",
      kind: "integer",
      secret: true,
      description: "a secret number",
    };
    const lookup: PluginLookup = (name) =>
      name === "tap-vault"
        ? { type: "extractor", settings: [...builtinLookup("tap-postgres")!.settings, secretPin] }
        : undefined;
    const { resolve } = projectOf(`
plugins:
  extractors:
    - name: tap-vault
      config:
        user: reader
        dbname: app
        password: [hunter2-in-a-list]
        pin: $VAULT_PIN
        port: not-a-port
`);
    const error = configErrorOf(() =>
      resolve("tap-vault", {
        lookup,
        env: { VAULT_PIN: "pin-s3cret-99", TAP_VAULT_SSLKEY: "sslkey-s3cret" },
      }),
    );
    expect(error.problems).toEqual([
      "plugins.extractors[0].config.password: expected string, got a list",
      "plugins.extractors[0].config.pin: expected integer, got a string",
      'plugins.extractors[0].config.port: expected integer, got "not-a-port"',
    ]);
    for (const secret of ["hunter2-in-a-list", "pin-s3cret-99", "sslkey-s3cret"]) {
      expect(error.message).not.toContain(secret);
    }
  });
});

describe("built-in or external", () => {
  test("builtin: false opts a built-in name out: raw config, no validation", () => {
    const { resolve } = projectOf(`
plugins:
  extractors:
    - name: tap-postgres
      builtin: false
      pip_url: pipelinewise-tap-postgres
      config: { port: "5432", anything: goes }
`);
    const tap = resolve("tap-postgres");
    expect(tap.builtin).toBe(false);
    expect(tap.definitionSettings).toEqual([]);
    expect(tap.config).toEqual({ port: "5432", anything: "goes" });
  });

  test("builtin: true on a name sluice does not have is an error", () => {
    const { resolve } = projectOf("plugins:\n  loaders:\n    - { name: target-bigquery, builtin: true }\n");
    expect(problemsOf(() => resolve("target-bigquery"))).toEqual([
      'plugins.loaders[0].builtin: "target-bigquery" is not a built-in plugin; remove `builtin: true` to run it as an external Singer plugin',
    ]);
  });

  test("a built-in listed under the wrong plugin type is an error", () => {
    const { resolve } = projectOf("plugins:\n  loaders:\n    - name: tap-postgres\n");
    expect(problemsOf(() => resolve("tap-postgres"))).toEqual([
      'plugins.loaders[0].name: "tap-postgres" is a built-in extractor, not a loader; move it to plugins.extractors',
    ]);
  });

  test("an unknown plugin name lists the project's plugins and suggests one", () => {
    const { resolve } = projectOf(minimalTap);
    expect(configErrorOf(() => resolve("tap-postgre")).message).toBe(
      'no plugin named "tap-postgre" in the project (did you mean `tap-postgres`?) (extractors: tap-postgres; loaders: none)',
    );
  });
});

describe("environment selection", () => {
  const { project } = projectOf(`
default_environment: dev
environments: [{ name: dev }, { name: staging }, { name: prod }]
`);
  const nameOf = (explicit: string | null | undefined, env: Record<string, string> = {}) =>
    selectEnvironment(project, explicit, env)?.name;

  test("explicit, else SLUICE_ENVIRONMENT, else MELTANO_ENVIRONMENT, else default_environment", () => {
    const env = { SLUICE_ENVIRONMENT: "staging", MELTANO_ENVIRONMENT: "prod" };
    expect(nameOf("prod", env)).toBe("prod");
    expect(nameOf(undefined, env)).toBe("staging");
    expect(nameOf(undefined, { MELTANO_ENVIRONMENT: "prod" })).toBe("prod");
    expect(nameOf(undefined)).toBe("dev");
    expect(nameOf(null, env)).toBeUndefined();
  });

  test("a name that does not exist lists the existing ones", () => {
    expect(configErrorOf(() => nameOf(undefined, { SLUICE_ENVIRONMENT: "prd" })).message).toBe(
      'environment "prd" (from SLUICE_ENVIRONMENT) does not exist (did you mean `prod`?); environments: dev, staging, prod',
    );
  });

  test("is read from .env when resolving a plugin", () => {
    const { resolve } = projectOf(
      `${minimalTap}environments:\n  - name: dev\n  - name: prod\n    config: { plugins: { extractors: [{ name: tap-postgres, config: { host: prod-db } }] } }\n`,
      "SLUICE_ENVIRONMENT=prod\n",
    );
    const tap = resolve("tap-postgres");
    expect(tap.environment).toBe("prod");
    expect(tap.config.host).toBe("prod-db");
  });
});
