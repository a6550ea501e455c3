import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/pg.js";
import { projectSpec, TestProject, TestProjects } from "../support/test-project.js";
import { describeResult } from "../support/run-cli.js";

/**
 * A connection that cannot be made says which plugin, which setting and which variable to set:
 * the variable of the plugin connecting (target-postgres's own, an inheriting plugin's own first),
 * never another plugin's; a missing secret is a configuration error (exit 2), said at once.
 */

let db: TestDatabase;
const projects = new TestProjects();

beforeAll(async () => {
  db = await createTestDatabase("e2e_conn_errors");
});

afterAll(async () => {
  projects.removeAll();
  await db?.drop();
});

describe.concurrent("a PostgreSQL plugin without its password", () => {
  test("tap-postgres: exit 2, naming the plugin, the setting and TAP_POSTGRES_PASSWORD", async () => {
    const project = projects.add(TestProject.forDatabase(db, projectSpec(db), { env: {} }));
    delete project.env.TAP_POSTGRES_PASSWORD;
    const result = await project.runText(["test", "tap-postgres"]);
    expect(result.code, describeResult(result)).toBe(2);
    expect(result.stderr).toContain(
      `tap-postgres: PostgreSQL at ${db.host}:${db.port} asks user "${db.user}"`,
    );
    expect(result.stderr).toContain("`password` (TAP_POSTGRES_PASSWORD) is not set");
    expect(result.stderr).not.toMatch(/SASL|client password must be/);
  });

  test("a plugin inheriting from tap-postgres: its own variable first, then the parent's", async () => {
    const spec = projectSpec(db);
    spec.plugins.extractors.push({ name: "tap-postgres-prod", inherit_from: "tap-postgres", config: {} });
    const project = projects.add(TestProject.forDatabase(db, spec));
    delete project.env.TAP_POSTGRES_PASSWORD;
    const result = await project.runText(["test", "tap-postgres-prod"]);
    expect(result.code, describeResult(result)).toBe(2);
    expect(result.stderr).toContain("tap-postgres-prod: PostgreSQL at");
    expect(result.stderr).toContain(
      "`password` (TAP_POSTGRES_PROD_PASSWORD or TAP_POSTGRES_PASSWORD) is not set",
    );
  });

  test("target-postgres: names TARGET_POSTGRES_PASSWORD, not the tap's variable", async () => {
    const spec = projectSpec(db);
    spec.plugins.loaders = [
      {
        name: "target-postgres",
        config: { host: db.host, port: db.port, user: db.user, dbname: db.name, default_target_schema: "x" },
      },
    ];
    const project = projects.add(TestProject.forDatabase(db, spec));
    const result = await project.runText(["test", "target-postgres"]);
    expect(result.code, describeResult(result)).toBe(2);
    expect(result.stderr).toContain("target-postgres: PostgreSQL at");
    expect(result.stderr).toContain("`password` (TARGET_POSTGRES_PASSWORD) is not set");
    expect(result.stderr).not.toContain("TAP_POSTGRES_PASSWORD");
  });

  test("a wrong password for target-postgres: exit 1, naming its user and password variables", async () => {
    const spec = projectSpec(db);
    spec.plugins.loaders = [
      {
        name: "target-postgres",
        config: { host: db.host, port: db.port, user: db.user, dbname: db.name, default_target_schema: "x" },
      },
    ];
    const project = projects.add(TestProject.forDatabase(db, spec));
    const result = await project.runText(["test", "target-postgres"], {
      env: { TARGET_POSTGRES_PASSWORD: "Wr0ng-e2e-pw" },
    });
    expect(result.code, describeResult(result)).toBe(1);
    expect(result.stderr).toContain(
      `target-postgres: PostgreSQL at ${db.host}:${db.port} refused user "${db.user}"`,
    );
    expect(result.stderr).toContain(
      "`user` (TARGET_POSTGRES_USER) and `password` (TARGET_POSTGRES_PASSWORD)",
    );
    expect(result.stderr).not.toContain("Wr0ng-e2e-pw");
  });

  test("a database that does not exist: names `dbname` and its variable", async () => {
    const project = projects.add(
      TestProject.forDatabase(db, projectSpec(db, { tap: { dbname: "no_such_db_e2e" } })),
    );
    const result = await project.runText(["test", "tap-postgres"]);
    expect(result.code, describeResult(result)).toBe(1);
    expect(result.stderr).toContain('tap-postgres: Database "no_such_db_e2e" does not exist');
    expect(result.stderr).toContain("`dbname` (TAP_POSTGRES_DBNAME)");
  });
});

describe("target-bigquery without credentials", () => {
  test("`sluice test` says so at once, naming credentials_path and its variables, without asking the metadata server", async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-no-gcloud-"));
    try {
      const spec = projectSpec(db);
      spec.plugins.loaders = [
        { name: "target-bigquery", config: { project_id: "my-project", dataset_id: "analytics" } },
      ];
      const project = projects.add(TestProject.forDatabase(db, spec));
      const started = Date.now();
      const result = await project.runText(["test", "target-bigquery"], {
        env: {
          HOME: home,
          GOOGLE_APPLICATION_CREDENTIALS: undefined,
          CLOUDSDK_CONFIG: undefined,
          BIGQUERY_EMULATOR_HOST: undefined,
          METADATA_SERVER_DETECTION: undefined,
          GCE_METADATA_HOST: undefined,
          GCE_METADATA_IP: undefined,
        },
      });
      const seconds = (Date.now() - started) / 1000;
      expect(result.code, describeResult(result)).toBe(2);
      expect(seconds).toBeLessThan(3);
      expect(result.stderr).toContain("target-bigquery: no Google Cloud credentials");
      expect(result.stderr).toContain(
        "`credentials_path` (TARGET_BIGQUERY_CREDENTIALS_PATH) or GOOGLE_APPLICATION_CREDENTIALS",
      );
      expect(result.stderr).toContain(path.join(home, ".config/gcloud/application_default_credentials.json"));
      expect(result.stderr).not.toContain("MetadataLookupWarning");
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});
