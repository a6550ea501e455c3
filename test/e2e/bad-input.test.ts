import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { freePort as closedPort } from "@sluice/postgres-server/free-port";
import { createTestDatabase, type TestDatabase } from "../support/pg.js";
import { projectSpec, TestProject, TestProjects, type ProjectSpec } from "../support/test-project.js";
import { describeResult, type CliResult } from "../support/run-cli.js";

/**
 * What a user sees when something is wrong: a message naming the setting, host or stream, exit
 * code 2 for configuration and usage, 1 for a pipeline or connection failure that a retry cannot
 * mend, 75 for one it can (a server not answering), and no state written, so that the next good
 * run starts where it would have.
 */

const RUN = ["run", "tap-postgres", "target-duckdb"];
const STATE_ID = "dev:tap-postgres-to-target-duckdb";
const WRONG_PASSWORD = "Wr0ng-Passw0rd-e2e";
let db: TestDatabase;
const projects = new TestProjects();

beforeAll(async () => {
  db = await createTestDatabase("e2e_bad");
  await db.query(`
    CREATE TABLE items (id integer PRIMARY KEY, name text, updated_at timestamptz NOT NULL);
    INSERT INTO items SELECT g, 'item ' || g, now() FROM generate_series(1, 10) g;
    CREATE TABLE other (id integer PRIMARY KEY);
    INSERT INTO other VALUES (1);`);
});

afterAll(async () => {
  projects.removeAll();
  await db?.drop();
});

const INCREMENTAL_ITEMS = {
  metadata: { "public-items": { "replication-method": "INCREMENTAL", "replication-key": "updated_at" } },
};

/** A project with `edit` applied to the tap-postgres config of the standard one. */
function project(edit: (config: Record<string, unknown>, spec: ProjectSpec) => void = () => undefined) {
  const spec = projectSpec(db, INCREMENTAL_ITEMS);
  edit(spec.plugins.extractors[0]!.config, spec);
  return projects.add(TestProject.forDatabase(db, spec));
}

/**
 * Nothing in the state store nor in the warehouse after a refused run. A project whose system
 * database (the default, `.sluice/sluice.db`) was never created holds no state; otherwise
 * `sluice state list` must show none.
 */
async function expectNothingWritten(target: TestProject): Promise<void> {
  expect(fs.existsSync(target.file("output/warehouse.duckdb"))).toBe(false);
  if (fs.existsSync(target.file(".sluice/sluice.db"))) expect(await target.stateIds()).toEqual([]);
}

function expectFailure(result: CliResult, code: 1 | 2 | 75, ...fragments: (string | RegExp)[]): void {
  expect(result.code, describeResult(result)).toBe(code);
  for (const fragment of fragments) {
    if (typeof fragment === "string") expect(result.stderr).toContain(fragment);
    else expect(result.stderr).toMatch(fragment);
  }
  expect(result.stdout).toBe("");
}

describe.concurrent("a run with bad input fails clearly and writes no state", () => {
  test("wrong password: authentication failed for the user, without the password", async () => {
    const target = project();
    const result = await target.runText(RUN, { env: { TAP_POSTGRES_PASSWORD: WRONG_PASSWORD } });
    expectFailure(result, 1, `refused user "${db.user}": authentication failed`, "password");
    expect(result.stderr).not.toContain(WRONG_PASSWORD);
    await expectNothingWritten(target);
  });

  test("unknown host: names the host and the setting", async () => {
    const target = project((config) => (config.host = "no-such-host.invalid"));
    const result = await target.runText(RUN);
    expectFailure(result, 1, `"no-such-host.invalid" could not be resolved`, "`host`");
    await expectNothingWritten(target);
  });

  test("closed port: unreachable, naming host and port; exit 75, as a server that is down", async () => {
    const port = await closedPort();
    const target = project((config) => (config.port = port));
    const result = await target.runText(RUN);
    expectFailure(result, 75, `${db.host}:${port} is unreachable`, "`port`");
    await expectNothingWritten(target);
  });

  test("missing dbname: exit 2, names the setting and its variable", async () => {
    const target = project((config) => delete config.dbname);
    const result = await target.runText(RUN);
    expectFailure(result, 2, "plugins.extractors[0].config.dbname", "`dbname`", "TAP_POSTGRES_DBNAME");
    await expectNothingWritten(target);
  });

  test("a database that does not exist: names it and the setting", async () => {
    const target = project((config) => (config.dbname = "no_such_database_e2e"));
    const result = await target.runText(RUN);
    expectFailure(result, 1, `Database "no_such_database_e2e" does not exist`, "`dbname`");
    await expectNothingWritten(target);
  });

  test("a misspelled setting: exit 2, suggests the right name", async () => {
    const target = project((config) => {
      config.hots = config.host;
      delete config.host;
    });
    const result = await target.runText(RUN);
    expectFailure(result, 2, "plugins.extractors[0].config.hots", "unknown setting", "did you mean `host`?");
    await expectNothingWritten(target);
  });

  test("a wrong type: exit 2, names the setting and the value", async () => {
    const target = project((config) => (config.port = "abc"));
    const result = await target.runText(RUN);
    expectFailure(result, 2, "plugins.extractors[0].config.port", "expected integer", '"abc"');
    await expectNothingWritten(target);
  });

  test("a wrong type from the environment names the variable", async () => {
    const target = project();
    const result = await target.runText(RUN, { env: { TAP_POSTGRES_PORT: "abc" } });
    expectFailure(result, 2, "TAP_POSTGRES_PORT", "expected integer");
    await expectNothingWritten(target);
  });

  test("every problem of the file is reported at once", async () => {
    const target = project((config) => {
      config.port = "abc";
      config.hots = "x";
      config.default_replication_method = "FULL";
    });
    const result = await target.runText(RUN);
    expectFailure(result, 2, "3 problems", "config.port", "config.hots", "config.default_replication_method");
    await expectNothingWritten(target);
  });

  test("a replication key that does not exist: exit 2, names the stream and the column", async () => {
    const target = project((_config, spec) => {
      spec.plugins.extractors[0]!.metadata = {
        "public-items": { "replication-method": "INCREMENTAL", "replication-key": "updated_on" },
      };
    });
    const result = await target.runText(RUN);
    expectFailure(result, 2, "public-items", '"updated_on" does not exist', "updated_at");
    await expectNothingWritten(target);
  });

  test("a misspelled metadata key: exit 2, instead of silently running FULL_TABLE", async () => {
    const target = project((_config, spec) => {
      spec.plugins.extractors[0]!.metadata = {
        "public-items": { "replication-mehtod": "INCREMENTAL", "replication-key": "updated_at" },
      };
    });
    const result = await target.runText(RUN);
    expectFailure(
      result,
      2,
      "plugins.extractors[0].metadata.public-items.replication-mehtod",
      "did you mean `replication-method`?",
    );
    await expectNothingWritten(target);
  });

  test("--select of an unknown stream: exit 2, names it", async () => {
    const target = project();
    const result = await target.runText([...RUN, "--select", "public-nope"]);
    expectFailure(result, 2, '--select: "public-nope" matches no stream', "public-other");
    await expectNothingWritten(target);
  });

  test("an unset $VAR: exit 2, names the variable and where it is used", async () => {
    const target = project((config) => (config.user = "$E2E_UNSET_USER_VARIABLE"));
    const result = await target.runText(RUN);
    expectFailure(result, 2, "plugins.extractors[0].config.user", "E2E_UNSET_USER_VARIABLE is not set");
    await expectNothingWritten(target);
  });

  test("an unknown plugin: exit 2, lists those the project has", async () => {
    const target = project();
    const result = await target.runText(["run", "tap-postgres", "target-duckbd"]);
    expectFailure(result, 2, 'no plugin named "target-duckbd"', "target-duckdb");
    await expectNothingWritten(target);
  });

  test("invalid YAML: exit 2, names file, line and column", async () => {
    const target = project();
    target.writeText("plugins:\n  extractors:\n    - name: tap-postgres\n   config: [\n");
    const result = await target.runText(RUN);
    expectFailure(result, 2, /sluice\.yml:\d+:\d+: invalid YAML/);
    expect(fs.existsSync(target.file(".sluice"))).toBe(false);
  });

  test("an unknown environment: exit 2, lists the environments", async () => {
    const target = project();
    const result = await target.runText(["-e", "staging", ...RUN]);
    expectFailure(result, 2, 'environment "staging"', "dev, prod");
    await expectNothingWritten(target);
  });
});

describe("a failed run leaves the state of earlier runs as it was", () => {
  let target: TestProject;
  let before: unknown;

  beforeAll(async () => {
    target = project();
    const first = await target.runText(RUN);
    expect(first.code, describeResult(first)).toBe(0);
    before = await target.state(STATE_ID);
    expect(before).toMatchObject({ bookmarks: { "public-items": { replication_key: "updated_at" } } });
    // New rows a failed run must not move the bookmark past.
    await db.query("INSERT INTO items VALUES (11, 'item 11', now() + interval '1 day')");
  });

  test("wrong password, missing database, wrong type", async () => {
    for (const [env, code] of [
      [{ TAP_POSTGRES_PASSWORD: WRONG_PASSWORD }, 1],
      [{ TAP_POSTGRES_DBNAME: "no_such_database_e2e" }, 1],
      [{ TAP_POSTGRES_PORT: "abc" }, 2],
    ] as const) {
      const result = await target.runText(RUN, { env });
      expect(result.code, describeResult(result)).toBe(code);
    }
    expect(await target.state(STATE_ID)).toEqual(before);
  });

  test("--select of an unknown stream, an unknown stream in select, a bad replication key", async () => {
    const select = await target.runText([...RUN, "--select", "public-nope"]);
    expect(select.code, describeResult(select)).toBe(2);
    target.write(projectSpec(db, { ...INCREMENTAL_ITEMS, select: ["public-nope.*"] }));
    const selectInFile = await target.runText(RUN);
    expect(selectInFile.code, describeResult(selectInFile)).toBe(2);
    target.write(
      projectSpec(db, {
        metadata: { "public-items": { "replication-method": "INCREMENTAL", "replication-key": "nope" } },
      }),
    );
    const key = await target.runText(RUN);
    expect(key.code, describeResult(key)).toBe(2);
    expect(await target.state(STATE_ID)).toEqual(before);
    const runs = await target.runs();
    expect(runs.filter((run) => run.status === "success")).toHaveLength(1);
  });
});

describe("sluice test tap-postgres", () => {
  test("OK when it can connect", async () => {
    const result = await project().runText(["test", "tap-postgres"]);
    expect(result.code, describeResult(result)).toBe(0);
    expect(result.stdout.trim()).toBe("tap-postgres: OK");
  });

  test.concurrent.each([
    ["wrong password", { TAP_POSTGRES_PASSWORD: WRONG_PASSWORD }, "authentication failed"],
    [
      "unreachable host",
      { TAP_POSTGRES_HOST: "no-such-host.invalid" },
      '"no-such-host.invalid" could not be resolved',
    ],
    [
      "missing database",
      { TAP_POSTGRES_DBNAME: "no_such_database_e2e" },
      'Database "no_such_database_e2e" does not exist',
    ],
  ] as const)("%s: exit 1 and says what is wrong", async (_name, env, message) => {
    const result = await project().runText(["test", "tap-postgres"], { env });
    expectFailure(result, 1, message);
    expect(result.stderr).not.toContain(WRONG_PASSWORD);
  });

  test("closed port: exit 75, unreachable", async () => {
    const port = await closedPort();
    const result = await project().runText(["test", "tap-postgres"], {
      env: { TAP_POSTGRES_PORT: String(port) },
    });
    expectFailure(result, 75, `:${port} is unreachable`);
  });
});

describe("input Meltano accepts", () => {
  test("a select or metadata pattern that matches no stream is ignored with a warning, as Meltano does", async () => {
    const target = project((_config, spec) => {
      spec.plugins.extractors[0]!.select = ["public-items.*", "public-itmes.*"];
      spec.plugins.extractors[0]!.metadata = {
        ...INCREMENTAL_ITEMS.metadata,
        "public-gone": { "replication-method": "FULL_TABLE" },
      };
    });
    const result = await target.runText(RUN);
    expect(result.code, describeResult(result)).toBe(0);
    expect(result.stderr).toContain(
      'plugins.extractors[0].select: "public-itmes.*" matches no stream, ignored (did you mean `public-items`?)',
    );
    expect(result.stderr).toContain(
      'plugins.extractors[0].metadata: "public-gone" matches no stream, ignored',
    );
    expect(result.stderr).toContain("streams: public-items, public-other");
    expect(await target.stateIds()).toEqual([STATE_ID]);
  });
});
