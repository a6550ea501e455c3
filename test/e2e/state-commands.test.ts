import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/pg.js";
import { projectSpec, TestProject } from "../support/test-project.js";
import { describeResult, runFinished } from "../support/run-cli.js";

/** `sluice state list|get|set|clear`: reading and changing what the next run starts from. */

const STATE_ID = "dev:tap-postgres-to-target-duckdb";
// As pipelinewise-tap-postgres writes an INCREMENTAL bookmark (its own fields kept as they are).
const BOOKMARKS = {
  currently_syncing: null,
  bookmarks: {
    "public-items": {
      last_replication_method: "INCREMENTAL",
      replication_key: "updated_at",
      replication_key_value: "2024-01-01T03:00:00+00:00",
      version: 1700000000000,
    },
  },
};
let db: TestDatabase;
let project: TestProject;

beforeAll(async () => {
  db = await createTestDatabase("e2e_state");
  await db.query(`
    CREATE TABLE items (id integer PRIMARY KEY, updated_at timestamptz NOT NULL);
    INSERT INTO items SELECT g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 hour'
      FROM generate_series(1, 5) g;`);
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

describe("sluice state", () => {
  test("set without --force refuses (exit 2) and stores nothing", async () => {
    const result = await project.runText(["state", "set", STATE_ID, JSON.stringify(BOOKMARKS)]);
    expect(result.code, describeResult(result)).toBe(2);
    expect(result.stderr).toContain("--force");
    expect(await project.stateIds()).toEqual([]);
  });

  test("set --force stores a Singer state; get returns it; list shows the id", async () => {
    const set = await project.runText(["state", "set", STATE_ID, JSON.stringify(BOOKMARKS), "--force"]);
    expect(set.code, describeResult(set)).toBe(0);
    expect(await project.state(STATE_ID)).toEqual(BOOKMARKS);
    expect(await project.stateIds()).toEqual([STATE_ID]);
  });

  test("set accepts Meltano's {singer_state: ...} and stores the Singer state inside", async () => {
    const meltanoState = { singer_state: { bookmarks: { "public-items": { replication_key: "id" } } } };
    const set = await project.runText([
      "state",
      "set",
      "prod:from-meltano",
      JSON.stringify(meltanoState),
      "--force",
    ]);
    expect(set.code, describeResult(set)).toBe(0);
    expect(await project.state("prod:from-meltano")).toEqual(meltanoState.singer_state);

    const filtered = await project.runText(["state", "list", "prod:*"]);
    expect(
      filtered.stdout
        .trim()
        .split("\n")
        .map((line) => line.split("\t")[0]),
    ).toEqual(["prod:from-meltano"]);
  });

  test("set --input reads the state from a file", async () => {
    const file = project.file("state.json");
    fs.writeFileSync(file, JSON.stringify({ bookmarks: { "public-other": { version: 1 } } }));
    const set = await project.runText(["state", "set", "from-file", "--input", file, "--force"]);
    expect(set.code, describeResult(set)).toBe(0);
    expect(await project.state("from-file")).toEqual({ bookmarks: { "public-other": { version: 1 } } });
  });

  test("set with a value that is not a Singer state exits 2 and leaves the state as it was", async () => {
    for (const [text, message] of [
      ["{bookmarks:", "not valid JSON"],
      ["[1, 2]", "state set"],
      ['{"bookmarks": 5}', "bookmarks"],
      [["--input", project.file("no-such-file.json")], "cannot read"],
    ] as const) {
      const input = typeof text === "string" ? [text] : text;
      const result = await project.runText(["state", "set", STATE_ID, ...input, "--force"]);
      expect(result.code, describeResult(result)).toBe(2);
      expect(result.stderr).toContain(message);
    }
    expect(await project.state(STATE_ID)).toEqual(BOOKMARKS);
  });

  test("get of an unknown id exits 2 and names it", async () => {
    const result = await project.runText(["state", "get", "dev:nothing-here"]);
    expect(result.code, describeResult(result)).toBe(2);
    expect(result.stderr).toContain('"dev:nothing-here"');
  });

  test("a run continues from the state that was set", async () => {
    // The bookmark is 03:00: rows 3, 4 and 5 (key >= bookmark) are read, not 1 and 2.
    const run = await project.run(["--log-format", "json", "run", "tap-postgres", "target-duckdb"]);
    expect(run.code, describeResult(run)).toBe(0);
    const summary = runFinished(run.stderr);
    expect(summary).toMatchObject({ stateId: STATE_ID, status: "success" });
    expect(summary.streams["public-items"]!.rows).toBe(3);
    expect(await project.duckdb("SELECT id FROM public.items ORDER BY id")).toEqual([
      { id: 3 },
      { id: 4 },
      { id: 5 },
    ]);
  });

  test("clear without --force refuses (exit 2) and keeps the state", async () => {
    const result = await project.runText(["state", "clear", STATE_ID]);
    expect(result.code, describeResult(result)).toBe(2);
    expect(result.stderr).toContain("--force");
    expect(await project.state(STATE_ID)).toMatchObject({ bookmarks: { "public-items": {} } });
  });

  test("clear --force forgets the state: the next run reads everything", async () => {
    const clear = await project.runText(["state", "clear", STATE_ID, "--force"]);
    expect(clear.code, describeResult(clear)).toBe(0);
    expect(clear.stdout).toContain(`state of ${STATE_ID} cleared`);
    expect((await project.stateIds()).sort()).toEqual(["from-file", "prod:from-meltano"]);

    const run = await project.run(["--log-format", "json", "run", "tap-postgres", "target-duckdb"]);
    expect(run.code, describeResult(run)).toBe(0);
    expect(runFinished(run.stderr).streams["public-items"]!.rows).toBe(5);
  });
});

describe("sluice state merge | copy | move (Meltano's spelling)", () => {
  const LOG_BASED = {
    bookmarks: { "public-items": { lsn: 123456, version: 1 } },
    replication_slot: "sluice_shop_dev_abc_12345678",
  };

  test("merge adds the bookmark keys given and keeps the rest", async () => {
    const id = "dev:merge-target";
    await project.runText(["state", "set", id, JSON.stringify(BOOKMARKS), "--force"]);
    const extra = {
      bookmarks: {
        "public-items": { replication_key_value: "2024-02-01T00:00:00+00:00" },
        "public-other": { replication_key_value: 7 },
      },
    };
    const merged = await project.runText(["state", "merge", id, JSON.stringify(extra)]);
    expect(merged.code, describeResult(merged)).toBe(0);
    expect(await project.state(id)).toEqual({
      currently_syncing: null,
      bookmarks: {
        "public-items": {
          ...BOOKMARKS.bookmarks["public-items"],
          replication_key_value: "2024-02-01T00:00:00+00:00",
        },
        "public-other": { replication_key_value: 7 },
      },
    });
  });

  test("copy refuses a LOG_BASED state (two pipelines would share its slot); move takes the slot along", async () => {
    const from = "dev:cdc-from";
    const to = "dev:cdc-to";
    await project.runText(["state", "set", from, JSON.stringify(LOG_BASED), "--force"]);
    const copy = await project.runText(["state", "copy", from, to]);
    expect(copy.code).toBe(2);
    expect(copy.stderr).toContain(
      'holds LOG_BASED positions of replication slot "sluice_shop_dev_abc_12345678"',
    );
    expect(copy.stderr).toContain(`sluice state move ${from} ${to}`);
    expect(await project.stateIds()).not.toContain(to);
    // Merging one pipeline's positions into another is the same sharing, refused too.
    const merge = await project.runText(["state", "merge", "dev:merge-target", "--from-state-id", from]);
    expect(merge.code).toBe(2);

    const move = await project.runText(["state", "move", from, to]);
    expect(move.code, describeResult(move)).toBe(0);
    expect(await project.state(to)).toEqual(LOG_BASED);
    expect(await project.stateIds()).not.toContain(from);
  });

  test("copy of a state without positions replaces the target's; move refuses to replace one without --force", async () => {
    const copy = await project.runText(["state", "copy", "dev:merge-target", "dev:copied"]);
    expect(copy.code, describeResult(copy)).toBe(0);
    expect(await project.state("dev:copied")).toEqual(await project.state("dev:merge-target"));
    const move = await project.runText(["state", "move", "dev:copied", "dev:merge-target"]);
    expect(move.code).toBe(2);
    expect(move.stderr).toContain("dev:merge-target has a state already; add --force");
  });
});
