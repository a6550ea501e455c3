import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { ConfigError } from "../../../src/errors.js";
import { findProjectFile, loadProject, readProjectFile } from "../../../src/project/project-file.js";
import { problemsOf, projectDirWith } from "./project-test-support.js";

const referenceDir = fileURLToPath(new URL("../../fixtures/project/reference", import.meta.url));

function readYaml(yaml: string) {
  const dir = projectDirWith({ "sluice.yml": yaml });
  return readProjectFile(join(dir, "sluice.yml"));
}

describe("findProjectFile", () => {
  test("prefers sluice.yml over meltano.yml", () => {
    const dir = projectDirWith({ "sluice.yml": "version: 1\n", "meltano.yml": "version: 1\n" });
    expect(findProjectFile(dir)).toBe(join(dir, "sluice.yml"));
  });

  test("falls back to meltano.yml", () => {
    const dir = projectDirWith({ "meltano.yml": "version: 1\n" });
    expect(findProjectFile(dir)).toBe(join(dir, "meltano.yml"));
  });

  test("tells to run sluice init when there is no project file", () => {
    const dir = projectDirWith({});
    const error = (() => {
      try {
        findProjectFile(dir);
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).exitCode).toBe(2);
    expect((error as ConfigError).message).toContain("sluice init");
  });
});

describe("readProjectFile on the reference architecture's meltano.yml", () => {
  const { project, path } = loadProject(referenceDir);

  test("is found as meltano.yml and reads every part", () => {
    expect(path).toBe(join(referenceDir, "meltano.yml"));
    expect(project.project_id).toBe("e96bc4d0-e673-466d-9a8a-80ae5db8fbdd");
    expect(project.send_anonymous_usage_stats).toBe(false);
    expect(project.default_environment).toBe("dev");
    expect(project.plugins.extractors.map((plugin) => plugin.name)).toEqual(["tap-postgres"]);
    expect(project.plugins.loaders.map((plugin) => plugin.name)).toEqual([
      "target-bigquery",
      "target-duckdb",
    ]);
    expect(project.environments.map((environment) => environment.name)).toEqual(["dev", "prod"]);
    expect(project.state_backend?.uri).toBe(
      "postgresql://meltano:${STATE_DB_PASSWORD}@10.20.0.3:5432/statedb",
    );
    expect(project.state_backend?.lock_timeout_seconds).toBe(60);
  });

  test("keeps the extractor's variant, pip_url, metadata and select", () => {
    const tap = project.plugins.extractors[0]!;
    expect(tap.variant).toBe("transferwise");
    expect(tap.pip_url).toBe("pipelinewise-tap-postgres");
    expect(tap.metadata).toEqual({
      "public-events": { "replication-method": "INCREMENTAL", "replication-key": "updated_at" },
    });
    expect(tap.select).toEqual(["public-events.*", "public-customers.*"]);
    expect(tap.location).toBe("plugins.extractors[0]");
  });

  test("reads environment overrides, jobs and schedules", () => {
    const prod = project.environments[1]!;
    expect(prod.config.plugins.loaders[0]).toMatchObject({
      name: "target-bigquery",
      config: { dataset_id: "orders_prod" },
    });
    expect(prod.env).toEqual({ LOG_LEVEL: "info" });
    expect(project.jobs).toEqual([
      { name: "orders-to-bigquery", tasks: [["tap-postgres", "target-bigquery"]], location: "jobs[0]" },
    ]);
    expect(project.schedules[1]).toMatchObject({
      interval: "0 2 * * *",
      extractor: "tap-postgres",
      loader: "target-duckdb",
    });
  });
});

describe("readProjectFile validation", () => {
  test("reports a YAML syntax error with its line and column", () => {
    expect(problemsOf(() => readYaml("version: 1\nplugins:\n\textractors: []\n"))).toEqual([
      "sluice.yml:3:1: invalid YAML: Tabs are not allowed as indentation",
    ]);
    expect(problemsOf(() => readYaml("plugins:\n  extractors:\n    - name: tap\n   bad: x\n"))[0]).toBe(
      "sluice.yml:4:1: invalid YAML: All mapping items must start at the same column",
    );
  });

  test("reports a duplicated key as a YAML error", () => {
    const problems = problemsOf(() => readYaml("version: 1\nversion: 1\n"));
    expect(problems[0]).toMatch(/^sluice\.yml:2:1: invalid YAML: .*unique/i);
  });

  test("reports an empty file", () => {
    expect(problemsOf(() => readYaml(""))[0]).toContain("the file is empty");
  });

  test("reports unknown keys with their path and a suggestion", () => {
    const problems = problemsOf(() =>
      readYaml(`
plugins:
  extractors:
    - name: tap-postgres
      varient: transferwise
      config: {}
schedulez: []
`),
    );
    expect(problems).toEqual([
      "schedulez: unknown key (did you mean `schedules`?)",
      "plugins.extractors[0].varient: unknown key (did you mean `variant`?)",
    ]);
  });

  test("accepts every key a real meltano.yml may hold, and ignores other plugin types", () => {
    const project = readYaml(`
version: 1
send_anonymous_usage_stats: true
project_id: abc
requires_meltano: ">=3"
include_paths: []
env: { PORT: 5432 }
venv: { backend: uv }
ff: { strict_env_var_mode: true }
cli: { log_config: logging.yaml }
elt: { buffer_size: 1024 }
annotations: { team: { owner: data } }
plugins:
  extractors:
    - name: tap-x
      label: X
      docs: https://example.com
      repo: https://example.com/repo
      logo_url: https://example.com/logo.png
      description: An extractor
      capabilities: [catalog, discover, state]
      settings: [{ name: token, kind: password, sensitive: true }]
      settings_group_validation: [[token]]
      commands: { hello: echo hello }
      requires: { utilities: [{ name: u }] }
      select_filter: [a]
      _catalog: catalog.json
      namespace: tap_x
      executable: tap-x
      builtin: false
  utilities:
    - name: sqlfluff
      anything: goes
  transformers: [{ name: dbt-postgres }]
  orchestrators: [{ name: airflow }]
  mappers: [{ name: meltano-map-transformer }]
  files: [{ name: files-airflow }]
`);
    expect(project.plugins.extractors[0]).toMatchObject({
      name: "tap-x",
      namespace: "tap_x",
      builtin: false,
      settings: [{ name: "token", kind: "password", sensitive: true }],
    });
    expect(project.env).toEqual({ PORT: "5432" });
  });

  test("reports wrong types with their path", () => {
    const problems = problemsOf(() =>
      readYaml(`
default_environment: [dev]
plugins:
  extractors:
    - name: tap-postgres
      config: host=localhost
      select: public-events.*
      builtin: "no"
      metadata:
        public-events: INCREMENTAL
  loaders: target-duckdb
environments: {}
`),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        "default_environment: expected a string, got a list",
        'plugins.extractors[0].config: expected a mapping, got "host=localhost"',
        'plugins.extractors[0].select: expected a list of strings, got "public-events.*"',
        'plugins.extractors[0].builtin: expected true or false, got "no"',
        'plugins.extractors[0].metadata.public-events: expected a mapping, got "INCREMENTAL"',
        'plugins.loaders: expected a list, got "target-duckdb"',
        "environments: expected a list, got a mapping",
      ]),
    );
    expect(problems).toHaveLength(7);
  });

  test("reports a missing name and duplicate plugin names", () => {
    const problems = problemsOf(() =>
      readYaml(`
plugins:
  extractors:
    - name: tap-postgres
    - variant: transferwise
    - name: tap-postgres
  loaders:
    - name: tap-postgres
`),
    );
    expect(problems).toEqual([
      "plugins.extractors[1].name: missing; every entry needs a `name`",
      'plugins.extractors[2].name: duplicate plugin name "tap-postgres" (already used in plugins.extractors); plugin names must be unique',
      'plugins.loaders[0].name: duplicate plugin name "tap-postgres" (already used in plugins.extractors); plugin names must be unique',
    ]);
  });

  test("checks what environments, schedules and default_environment refer to", () => {
    const problems = problemsOf(() =>
      readYaml(`
default_environment: staging
plugins:
  extractors: [{ name: tap-postgres }]
  loaders: [{ name: target-duckdb }]
environments:
  - name: dev
    config:
      plugins:
        extractors: [{ name: tap-postgress, config: { host: x } }]
jobs:
  - name: nightly
    tasks: tap-postgres target-duckdb
schedules:
  - { name: a, interval: "@daily", job: nightly-job }
  - { name: b, interval: "@hourly", extractor: tap-postgres, loader: target-duckbd }
  - { name: c, interval: "every day", job: nightly }
  - { name: d, interval: "@daily" }
`),
    );
    expect(problems).toEqual([
      'schedules[2].interval: expected a cron expression (5 fields, `0 2 * * *`) or @hourly/@daily/@weekly/@monthly/@yearly/@once, got "every day"',
      "schedules[3]: missing `job` (or `extractor` and `loader`): a schedule must say what it runs",
      'default_environment: no environment named "staging" (environments: dev)',
      'environments[0].config.plugins.extractors[0].name: no extractor named "tap-postgress" in plugins.extractors (did you mean `tap-postgres`?)',
      'schedules[0].job: no job named "nightly-job" (jobs: nightly)',
      'schedules[1].loader: no loader named "target-duckbd" in plugins.loaders (did you mean `target-duckdb`?)',
    ]);
  });

  test("normalises every shape of job tasks", () => {
    const project = readYaml(`
jobs:
  - { name: one, tasks: "tap-a target-b" }
  - { name: list, tasks: ["tap-a target-b", "tap-c  target-b"] }
  - { name: nested, tasks: [[tap-a, target-b]] }
`);
    expect(project.jobs.map((job) => job.tasks)).toEqual([
      [["tap-a", "target-b"]],
      [
        ["tap-a", "target-b"],
        ["tap-c", "target-b"],
      ],
      [["tap-a", "target-b"]],
    ]);
  });

  test("merges plugins from include_paths, reporting their problems under the included file", () => {
    const dir = projectDirWith({
      "sluice.yml": "include_paths: [extra/loaders.yml]\nplugins:\n  extractors: [{ name: tap-postgres }]\n",
    });
    mkdirSync(join(dir, "extra"));
    writeFileSync(join(dir, "extra/loaders.yml"), "plugins:\n  loaders:\n    - name: target-duckdb\n");
    expect(readProjectFile(join(dir, "sluice.yml")).plugins.loaders[0]?.location).toBe(
      "extra/loaders.yml: plugins.loaders[0]",
    );
    writeFileSync(
      join(dir, "extra/loaders.yml"),
      "plugins:\n  loaders:\n    - name: target-duckdb\n      confg: {}\n",
    );
    expect(problemsOf(() => readProjectFile(join(dir, "sluice.yml")))).toEqual([
      "extra/loaders.yml: plugins.loaders[0].confg: unknown key (did you mean `config`?)",
    ]);
  });

  test("reports many problems at once in one ConfigError", () => {
    const dir = projectDirWith({
      "sluice.yml":
        "version: 2\nplugins:\n  extractors:\n    - name: 42\n    - {}\nstate_backend: postgres\n",
    });
    let error: unknown;
    try {
      readProjectFile(join(dir, "sluice.yml"));
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const configError = error as ConfigError;
    expect(configError.problems).toEqual([
      "version: expected 1, got 2",
      "plugins.extractors[0].name: expected a string, got 42",
      "plugins.extractors[1].name: missing; every entry needs a `name`",
      'state_backend: expected a mapping, got "postgres"',
    ]);
    expect(configError.message).toMatch(/^4 problems:\n {2}- version: expected 1, got 2\n/);
  });
});
