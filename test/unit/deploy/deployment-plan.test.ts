import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { airflowDag, kubernetesName, py } from "../../../src/deploy/airflow-dag.js";
import { planDeployments } from "../../../src/deploy/deployment-plan.js";
import { isGenerated } from "../../../src/deploy/generated-files.js";
import { scheduleSteps } from "../../../src/deploy/schedule-steps.js";
import { ConfigError } from "../../../src/errors.js";
import { loadProject, readProjectFile } from "../../../src/project/project-file.js";

const REPO = fileURLToPath(new URL("../../..", import.meta.url));

function projectWith(yaml: string) {
  const dir = fs.mkdtempSync(`${fs.realpathSync(process.env.TMPDIR ?? "/tmp")}/sluice-plan-`);
  fs.writeFileSync(`${dir}/sluice.yml`, yaml);
  try {
    return readProjectFile(`${dir}/sluice.yml`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const PLUGINS = `
plugins:
  extractors:
    - { name: tap-postgres, config: { host: db, user: etl, dbname: shop } }
  loaders:
    - { name: target-duckdb, config: { path: w.duckdb } }
    - { name: target-jsonl, config: {} }
`;

describe("scheduleSteps", () => {
  it("reads a task of several pairs as consecutive runs", () => {
    const project = projectWith(`${PLUGINS}
jobs: [{ name: j, tasks: ["tap-postgres target-duckdb tap-postgres target-jsonl"] }]
schedules: [{ name: s, interval: "@daily", job: j }]`);
    expect(scheduleSteps(project, project.schedules[0]!).steps).toEqual([
      { extractor: "tap-postgres", loader: "target-duckdb" },
      { extractor: "tap-postgres", loader: "target-jsonl" },
    ]);
  });

  it("refuses a task that is not extractor → loader pairs, naming the task", () => {
    const project = projectWith(`${PLUGINS}
jobs: [{ name: j, tasks: [[tap-postgres], [target-duckdb, tap-postgres]] }]
schedules: [{ name: s, interval: "@daily", job: j }]`);
    expect(() => scheduleSteps(project, project.schedules[0]!)).toThrow(ConfigError);
    try {
      scheduleSteps(project, project.schedules[0]!);
    } catch (error) {
      expect((error as ConfigError).problems).toEqual([
        'jobs[0].tasks[0]: "tap-postgres" is not an extractor followed by a loader of plugins.extractors and plugins.loaders (with mapping names of plugins.mappers between)',
        'jobs[0].tasks[1]: "target-duckdb tap-postgres" is not an extractor followed by a loader of plugins.extractors and plugins.loaders (with mapping names of plugins.mappers between)',
      ]);
    }
  });

  it("reads mapping names between an extractor and a loader, in order", () => {
    const project = projectWith(`${PLUGINS}
  mappers:
    - name: meltano-map-transformer
      mappings:
        - { name: hash-pii, config: { stream_maps: { public-users: { email: md5(email) } } } }
        - { name: drop-audit, config: { stream_maps: { public-audit: __NULL__ } } }
jobs: [{ name: j, tasks: ["tap-postgres hash-pii drop-audit target-duckdb tap-postgres target-duckdb"] }]
schedules: [{ name: s, interval: "@daily", job: j }]`);
    expect(scheduleSteps(project, project.schedules[0]!).steps).toEqual([
      { extractor: "tap-postgres", mappings: ["hash-pii", "drop-audit"], loader: "target-duckdb" },
      { extractor: "tap-postgres", loader: "target-duckdb" },
    ]);
  });
});

describe("planDeployments", () => {
  it("names secret variables, not values, and flags a secret written in the file", () => {
    const project = projectWith(`
plugins:
  extractors:
    - { name: tap-postgres, config: { host: db, user: etl, dbname: shop, password: hunter2 } }
  loaders:
    - { name: target-duckdb, config: { path: w.duckdb } }
schedules: [{ name: s, interval: "0 * * * *", extractor: tap-postgres, loader: target-duckdb }]`);
    const { plans, warnings } = planDeployments(project, { environment: "prod" });
    expect(plans[0]!.secretEnv.map((s) => [s.envVar, s.airflowVariable])).toEqual([
      ["SLUICE_DATABASE_URI", "sluice_database_uri"],
      ["TAP_POSTGRES_PASSWORD", "sluice_tap_postgres_password"],
    ]);
    expect(plans[0]!.env).toEqual({ SLUICE_ENVIRONMENT: "prod" });
    expect(warnings).toEqual([
      "plugins.extractors[0].config.password: a secret written in the project file goes into the image; use $TAP_POSTGRES_PASSWORD instead",
      'plugins.loaders[0].config.path: "w.duckdb" is on the pod\'s own disk, which is gone when the pod ends (schedule "s"); mount a persistent volume there, or load into a warehouse that outlives the pod',
    ]);
    const dag = airflowDag(plans[0]!, { image: "i" });
    expect(dag).not.toContain("hunter2");
  });

  it("leaves secret references to the pod: no variable overrides them, env:NAME needs NAME", () => {
    const project = projectWith(`
plugins:
  extractors:
    - name: tap-postgres
      config: { host: db, user: etl, dbname: shop, password: "aws-sm://prod/rds/sluice#password" }
    - { name: tap-replica, inherit_from: tap-postgres, config: { password: "env:REPLICA_PW" } }
  loaders:
    - { name: target-duckdb, config: { path: "md:shop" } }
schedules:
  - { name: s, interval: "@daily", extractor: tap-postgres, loader: target-duckdb }
  - { name: r, interval: "@daily", extractor: tap-replica, loader: target-duckdb }`);
    const { plans, warnings } = planDeployments(project);
    expect(plans.map((plan) => plan.secretEnv.map((s) => s.envVar))).toEqual([
      ["SLUICE_DATABASE_URI"],
      ["SLUICE_DATABASE_URI", "REPLICA_PW"],
    ]);
    // A MotherDuck database (md:) is not on the pod's disk: no warning.
    expect(warnings).toEqual([]);
  });

  it("refuses an interval the orchestrators cannot read, with its path", () => {
    const project = projectWith(`${PLUGINS}
schedules: [{ name: s, interval: "0 25 * * *", extractor: tap-postgres, loader: target-duckdb }]`);
    expect(() => planDeployments(project)).toThrow(
      'schedules[0].interval: cron expression "0 25 * * *": hour field "25": 25 is outside 0-23',
    );
  });

  it("refuses two schedules that would get one DAG id", () => {
    const project = projectWith(`${PLUGINS}
schedules:
  - { name: a-b, interval: "@daily", extractor: tap-postgres, loader: target-duckdb }
  - { name: a_b, interval: "@daily", extractor: tap-postgres, loader: target-jsonl }`);
    expect(() => planDeployments(project)).toThrow('schedules "a-b" and "a_b" both become sluice_a_b');
  });

  it("deploys the example project of the image", () => {
    const { plans } = planDeployments(loadProject(`${REPO}deploy/example-project`).project);
    expect(plans.map((p) => [p.id, p.steps.length])).toEqual([
      ["sluice_hourly_orders", 1],
      ["sluice_nightly_all", 2],
    ]);
  });
});

describe("helpers", () => {
  it("writes Python literals", () => {
    expect(py({ a: [true, null, 1, 'x"y\n'] })).toBe('{"a": [True, None, 1, "x\\"y\\n"]}');
  });

  it("makes DNS-1123 names", () => {
    expect(kubernetesName("Sluice_Daily Load!")).toBe("sluice-daily-load");
    expect(kubernetesName("x".repeat(70))).toHaveLength(63);
  });

  it("recognises generated files by their header comment only", () => {
    expect(isGenerated("# Generated by sluice deploy airflow from sluice.yml\nx = 1\n")).toBe(true);
    expect(isGenerated('x = "Generated by sluice deploy"\n')).toBe(false);
    expect(isGenerated("# my DAG\n")).toBe(false);
  });
});

describe("Dockerfile", () => {
  const dockerfile = fs.readFileSync(`${REPO}Dockerfile`, "utf8");
  const instructions = dockerfile
    .replace(/\\\n/g, " ")
    .split("\n")
    .filter((line) => line.trim() !== "" && !line.startsWith("#"));

  it("builds in stages from node:20-bookworm-slim and runs as a non-root user with entrypoint sluice", () => {
    expect(instructions.filter((line) => line.startsWith("FROM "))).toEqual([
      "FROM ${NODE_IMAGE} AS build",
      "FROM ${NODE_IMAGE} AS deps",
      "FROM ${NODE_IMAGE} AS runtime",
    ]);
    expect(dockerfile).toContain("ARG NODE_IMAGE=node:20-bookworm-slim");
    expect(instructions.some((line) => /npm ci --omit=dev/.test(line))).toBe(true);
    const runtime = instructions.slice(instructions.indexOf("FROM ${NODE_IMAGE} AS runtime"));
    expect(runtime.filter((line) => line.startsWith("USER "))).toEqual(["USER node"]);
    expect(runtime).toContain("WORKDIR /project");
    expect(runtime.at(-2)).toBe('ENTRYPOINT ["sluice"]');
    // The bin the entrypoint runs is the package's.
    const pkg = JSON.parse(fs.readFileSync(`${REPO}package.json`, "utf8")) as { bin: Record<string, string> };
    expect(dockerfile).toContain(`ln -s /opt/sluice/${pkg.bin.sluice} /usr/local/bin/sluice`);
  });

  it("keeps secrets and local state out of the build context", () => {
    const ignored = fs.readFileSync(`${REPO}.dockerignore`, "utf8").split("\n");
    expect(ignored).toEqual(expect.arrayContaining(["**/.env", "**/.sluice", "**/node_modules"]));
  });
});
