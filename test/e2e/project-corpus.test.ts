import { createHash } from "node:crypto";
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parse } from "yaml";
import { createTestDatabase, type TestDatabase } from "../support/pg.js";
import { TestProject, TestProjects } from "../support/test-project.js";
import { describeResult } from "../support/run-cli.js";

/**
 * Real-world project files (test/fixtures/project-corpus: the reference architecture's
 * meltano.yml, one per upstream variant with its documented settings, one with environments and
 * inherit_from) work as they are: `sluice config` of every plugin, a dry run of each pipeline, and
 * a real run of those that load into a local file. Only where the data is comes from variables,
 * as a deployment gives them (TAP_POSTGRES_HOST, ...): the test PostgreSQL.
 */

const corpusDir = fileURLToPath(new URL("../fixtures/project-corpus", import.meta.url));
const corpus = fs.readdirSync(corpusDir).filter((name) => name.endsWith(".yml"));
let db: TestDatabase;
const projects = new TestProjects();

beforeAll(async () => {
  db = await createTestDatabase("e2e_corpus");
  await db.query(`
    CREATE TABLE events (id bigint PRIMARY KEY, kind text, updated_at timestamptz NOT NULL);
    INSERT INTO events SELECT g, 'k' || (g % 3), timestamptz '2024-01-01' + g * interval '1 hour'
      FROM generate_series(1, 20) g;
    CREATE TABLE customers (id integer PRIMARY KEY, name text);
    INSERT INTO customers VALUES (1, 'ada'), (2, 'bob');`);
});

afterAll(async () => {
  projects.removeAll();
  await db?.drop();
});

interface CorpusFile {
  plugins: { extractors: { name: string }[]; loaders: { name: string; config?: Record<string, unknown> }[] };
  jobs?: { name: string }[];
}

/** The variables that point a corpus project at the test database, for the tap and target-postgres. */
function databaseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const prefix of ["TAP_POSTGRES", "TARGET_POSTGRES"]) {
    Object.assign(env, {
      [`${prefix}_HOST`]: db.host,
      [`${prefix}_PORT`]: String(db.port),
      [`${prefix}_USER`]: db.user,
      [`${prefix}_PASSWORD`]: db.password,
      [`${prefix}_DBNAME`]: db.name,
    });
  }
  return env;
}

describe.concurrent("the project corpus", () => {
  test.each(corpus)("%s: config of every plugin, and a dry run of each pipeline", async (name) => {
    const text = fs.readFileSync(`${corpusDir}/${name}`, "utf8");
    const file = parse(text) as CorpusFile;
    const project = projects.add(new TestProject({ env: databaseEnv(), prefix: "sluice-corpus-" }));
    project.writeText(text, "meltano.yml");
    const plugins = [...file.plugins.extractors, ...file.plugins.loaders].map((plugin) => plugin.name);
    for (const plugin of plugins) {
      const config = await project.runText(["config", plugin]);
      expect(config.code, `${name}: config ${plugin}\n${describeResult(config)}`).toBe(0);
      expect(config.stderr).not.toContain("unknown setting");
    }
    const extractor = file.plugins.extractors[0]!.name;
    for (const loader of file.plugins.loaders) {
      const dryRun = await project.runText(["run", extractor, loader.name, "--dry-run"]);
      expect(dryRun.code, `${name}: dry run into ${loader.name}\n${describeResult(dryRun)}`).toBe(0);
      // Each upstream setting that changes nothing is named once, however often it is read.
      const notices = dryRun.stderr
        .split("\n")
        .filter((line) => line.includes("is accepted and changes nothing"));
      expect(new Set(notices).size).toBe(notices.length);
    }
    // A job runs its tasks, mappings between extractor and loader included.
    for (const job of file.jobs ?? []) {
      const dryRun = await project.runText(["run", job.name, "--dry-run"]);
      expect(dryRun.code, `${name}: dry run of job ${job.name}\n${describeResult(dryRun)}`).toBe(0);
    }
  });

  test("the mappers file runs its job through meltano-map-transformer's mapping, built in", async () => {
    const text = fs.readFileSync(`${corpusDir}/mappers-meltano-map-transformer.yml`, "utf8");
    const project = projects.add(new TestProject({ env: databaseEnv(), prefix: "sluice-corpus-map-" }));
    project.writeText(text, "meltano.yml");
    const run = await project.runText(["run", "load-masked"]);
    expect(run.code, describeResult(run)).toBe(0);
    const lines = (file: string): Record<string, unknown>[] =>
      fs
        .readFileSync(project.file(`output/${file}`), "utf8")
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    const events = lines("public-events.jsonl");
    const kept = await db.query<{ id: string; kind: string }>(
      "SELECT id::text AS id, kind FROM events WHERE kind <> 'k0' ORDER BY events.id",
    );
    expect(events.map((e) => [String(e.id), e.kind, e.kind_upper])).toEqual(
      kept.map((row) => [row.id, row.kind, `${row.kind}!`]),
    );
    const md5 = (value: string): string => createHash("md5").update(value, "utf8").digest("hex");
    expect(lines("public-customers.jsonl").map((c) => [c.id, c.name])).toEqual([
      [1, md5("ada")],
      [2, md5("bob")],
    ]);
  });

  test("the variants' local targets load the test database for real", async () => {
    for (const name of [
      "tap-postgres-transferwise.yml",
      "tap-postgres-meltanolabs.yml",
      "target-duckdb-jwills.yml",
    ]) {
      const text = fs.readFileSync(`${corpusDir}/${name}`, "utf8");
      const file = parse(text) as CorpusFile;
      const project = projects.add(new TestProject({ env: databaseEnv(), prefix: "sluice-corpus-run-" }));
      project.writeText(text, "meltano.yml");
      const loader = file.plugins.loaders[0]!;
      const run = await project.runText(["run", file.plugins.extractors[0]!.name, loader.name]);
      expect(run.code, `${name}\n${describeResult(run)}`).toBe(0);
      if (loader.name === "target-jsonl") {
        const lines = fs.readFileSync(project.file("output/public-events.jsonl"), "utf8").trim().split("\n");
        expect(lines, name).toHaveLength(20);
      } else {
        expect(await project.duckdb("SELECT count(*)::int AS n FROM main.events")).toEqual([{ n: 20 }]);
      }
    }
  });
});
