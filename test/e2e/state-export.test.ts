import fs from "node:fs";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/pg.js";
import { projectSpec, TestProject } from "../support/test-project.js";
import { describeResult, runFinished } from "../support/run-cli.js";

/** Moving state between Meltano and sluice: `sluice state export` / `import` in Meltano's format. */

const STATE_ID = "dev:tap-postgres-to-target-duckdb";
let db: TestDatabase;
let project: TestProject;

beforeAll(async () => {
  db = await createTestDatabase("e2e_export");
  await db.query(`
    CREATE TABLE items (id integer PRIMARY KEY, updated_at timestamptz NOT NULL);
    INSERT INTO items SELECT g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 hour'
      FROM generate_series(1, 10) g;`);
  project = TestProject.forDatabase(
    db,
    projectSpec(db, {
      metadata: { "public-items": { "replication-method": "INCREMENTAL", "replication-key": "updated_at" } },
    }),
  );
});

afterAll(async () => {
  project?.remove();
  await db?.drop();
});

test("a Meltano export with completed and partial state is imported; the next run continues from it", async () => {
  // As pipelinewise-tap-postgres leaves it: the partial state (a run that failed later) is newer.
  const exported = {
    [STATE_ID]: {
      completed: {
        singer_state: {
          currently_syncing: null,
          bookmarks: {
            "public-items": {
              last_replication_method: "INCREMENTAL",
              replication_key: "updated_at",
              replication_key_value: "2024-01-01T05:00:00+00:00",
              version: 1700000000000,
            },
          },
        },
      },
      partial: {
        singer_state: {
          bookmarks: {
            "public-items": {
              last_replication_method: "INCREMENTAL",
              replication_key: "updated_at",
              replication_key_value: "2024-01-01T08:00:00+00:00",
              version: 1700000000000,
            },
          },
        },
      },
    },
  };
  fs.writeFileSync(project.file("meltano-state.json"), JSON.stringify(exported));
  const imported = await project.runText(["state", "import", project.file("meltano-state.json")]);
  expect(imported.code, describeResult(imported)).toBe(0);
  expect(await project.state(STATE_ID)).toMatchObject({
    bookmarks: {
      "public-items": { replication_key_value: "2024-01-01T08:00:00+00:00", version: 1700000000000 },
    },
  });

  // Importing over an existing state needs --force.
  const again = await project.runText(["state", "import", project.file("meltano-state.json")]);
  expect(again.code, describeResult(again)).toBe(2);
  expect(again.stderr).toContain("--force");

  // Rows 8, 9 and 10 (updated_at >= 08:00) move; nothing before the bookmark is read again.
  const run = await project.run(["--log-format", "json", "run", "tap-postgres", "target-duckdb"]);
  expect(run.code, describeResult(run)).toBe(0);
  expect(runFinished(run.stderr).streams["public-items"]!.rows).toBe(3);
  expect(await project.duckdb("SELECT id FROM public.items ORDER BY id")).toEqual([
    { id: 8 },
    { id: 9 },
    { id: 10 },
  ]);
});

test("export writes Meltano's format, and importing it elsewhere restores the same state", async () => {
  const exported = await project.runText(["state", "export"]);
  expect(exported.code, describeResult(exported)).toBe(0);
  const parsed = JSON.parse(exported.stdout) as Record<
    string,
    { completed: { singer_state: unknown }; partial: unknown }
  >;
  expect(Object.keys(parsed)).toEqual([STATE_ID]);
  expect(parsed[STATE_ID]!.partial).toEqual({});
  expect(parsed[STATE_ID]!.completed.singer_state).toEqual(await project.state(STATE_ID));

  const other = TestProject.forDatabase(db);
  try {
    fs.writeFileSync(other.file("export.json"), exported.stdout);
    const imported = await other.runText(["state", "import", other.file("export.json")]);
    expect(imported.code, describeResult(imported)).toBe(0);
    expect(await other.state(STATE_ID)).toEqual(await project.state(STATE_ID));
  } finally {
    other.remove();
  }
});

test("a malformed export is refused (exit 2) naming the state id, and nothing is stored", async () => {
  const other = TestProject.forDatabase(db);
  try {
    fs.writeFileSync(
      other.file("bad.json"),
      JSON.stringify({ "dev:x-to-y": { completed: { bookmarks: [] } } }),
    );
    const result = await other.runText(["state", "import", other.file("bad.json")]);
    expect(result.code, describeResult(result)).toBe(2);
    expect(result.stderr).toContain('state "dev:x-to-y"');
    expect(await other.stateIds()).toEqual([]);
  } finally {
    other.remove();
  }
});
