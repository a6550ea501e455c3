import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/pg.js";
import { DUCKDB_FILE, projectSpec, TestProject } from "../support/test-project.js";
import { describeResult, jsonLines, runFinished } from "../support/run-cli.js";

/**
 * `sluice run tap-postgres target-duckdb` as a user runs it, from an empty warehouse to
 * incremental runs, with the commands that show what happened. The tests run in order on one
 * project: each starts from the state the previous one left.
 */

const STATE_ID = "dev:tap-postgres-to-target-duckdb";
let db: TestDatabase;
let project: TestProject;

beforeAll(async () => {
  db = await createTestDatabase("e2e_happy");
  await db.query(`
    CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL, updated_at timestamptz NOT NULL);
    INSERT INTO items SELECT g, 'item ' || g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 hour'
      FROM generate_series(1, 5) g;
    CREATE TABLE other (id integer PRIMARY KEY, v text);
    INSERT INTO other VALUES (1, 'a'), (2, 'b');`);
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

async function sourceItems(): Promise<{ id: number; name: string; updated_at: string }[]> {
  const rows = await db.query<{ id: number; name: string; updated_at: Date }>(
    "SELECT id, name, updated_at FROM items ORDER BY id",
  );
  return rows.map((r) => ({ id: r.id, name: r.name, updated_at: r.updated_at.toISOString() }));
}

async function warehouseItems(): Promise<{ id: number; name: string; updated_at: string }[]> {
  const rows = await project.duckdb("SELECT id, name, updated_at FROM public.items ORDER BY id");
  return rows.map((r) => ({
    id: r.id as number,
    name: r.name as string,
    updated_at: (r.updated_at as Date).toISOString(),
  }));
}

describe("sluice run tap-postgres target-duckdb", () => {
  test("--dry-run prints the plan and moves nothing", async () => {
    const result = await project.runText(["run", "tap-postgres", "target-duckdb", "--dry-run"]);
    expect(result.code, describeResult(result)).toBe(0);
    const plan = result.stdout.trim().split("\n");
    expect(plan).toContainEqual(
      expect.stringMatching(/^public-items\tINCREMENTAL by updated_at\t3 columns$/),
    );
    expect(plan).toContainEqual(expect.stringMatching(/^public-other\tFULL_TABLE\t2 columns$/));
    expect(fs.existsSync(project.file(DUCKDB_FILE))).toBe(false);
    expect(await project.stateIds()).toEqual([]);
  });

  test("a first run loads every selected table and exits 0", async () => {
    const result = await project.runText(["run", "tap-postgres", "target-duckdb"]);
    expect(result.code, describeResult(result)).toBe(0);
    expect(result.stderr).toMatch(/run succeeded: 7 rows/);
    expect(await warehouseItems()).toEqual(await sourceItems());
    expect(await project.duckdb("SELECT id, v FROM public.other ORDER BY id")).toEqual([
      { id: 1, v: "a" },
      { id: 2, v: "b" },
    ]);
  });

  test("sluice runs shows the run with rows per stream", async () => {
    const text = await project.runText(["runs"]);
    expect(text.code, describeResult(text)).toBe(0);
    const [header, ...lines] = text.stdout.trim().split("\n");
    expect(header).toMatch(
      /^RUN ID\s+STARTED \(UTC\)\s+STATUS\s+STATE ID\s+DURATION\s+ROWS\s+ROWS\/S\s+STREAMS$/,
    );
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/\bsuccess\b/);
    expect(lines[0]).toContain(STATE_ID);
    expect(lines[0]).toMatch(/\b7\b/);
    expect(lines[0]).toContain("public-items=5");
    expect(lines[0]).toContain("public-other=2");

    const runs = await project.runs();
    expect(runs).toHaveLength(1);
    const badLimit = await project.runText(["runs", "--limit", "abc"]);
    expect(badLimit.code, describeResult(badLimit)).toBe(2);
    expect(badLimit.stderr).toContain('--limit: expected a whole number >= 1, got "abc"');
    expect(runs[0]).toMatchObject({
      stateId: STATE_ID,
      status: "success",
      streams: { "public-items": { rows: 5 }, "public-other": { rows: 2 } },
    });
  });

  test("the state id is <environment>:<extractor>-to-<loader> and holds the Singer bookmark", async () => {
    expect(await project.stateIds()).toEqual([STATE_ID]);
    const state = (await project.state(STATE_ID)) as { bookmarks: Record<string, Record<string, unknown>> };
    expect(state.bookmarks["public-items"]).toMatchObject({ replication_key: "updated_at" });
    const value = state.bookmarks["public-items"]!.replication_key_value;
    expect(new Date(String(value)).toISOString()).toBe("2024-01-01T05:00:00.000Z");
    expect(state.bookmarks["public-other"]).toBeDefined();
    expect(state.bookmarks["public-other"]!.replication_key_value).toBeUndefined();
  });

  test("a second run reads only what changed, and logs JSON lines with --log-format json", async () => {
    await db.query(`
      UPDATE items SET name = 'item 2 renamed', updated_at = timestamptz '2024-01-02 00:00:00+00' WHERE id = 2;
      INSERT INTO items VALUES (6, 'item 6', timestamptz '2024-01-02 00:00:00+00');`);
    const result = await project.run(["--log-format", "json", "run", "tap-postgres", "target-duckdb"]);
    expect(result.code, describeResult(result)).toBe(0);
    const events = jsonLines(result.stderr);
    expect(events.length).toBeGreaterThan(0);
    for (const event of events) {
      expect(event).toMatchObject({ level: expect.any(String), message: expect.any(String) });
      expect(Number.isNaN(Date.parse(String(event.timestamp)))).toBe(false);
    }
    const finished = events.find((e) => e.event === "run-finished");
    expect(finished).toMatchObject({ status: "success", stateId: STATE_ID });
    // key >= bookmark: the row at the bookmark (id 5) is read again, with the two changed rows.
    const streams = finished!.streams as Record<string, { rows: number }>;
    expect(streams["public-items"]!.rows).toBe(3);
    expect(result.stdout).toBe("");

    expect(await warehouseItems()).toEqual(await sourceItems());
    const state = (await project.state(STATE_ID)) as { bookmarks: Record<string, Record<string, unknown>> };
    expect(new Date(String(state.bookmarks["public-items"]!.replication_key_value)).toISOString()).toBe(
      "2024-01-02T00:00:00.000Z",
    );
  });

  test("--full-refresh reloads what an incremental run cannot see", async () => {
    // A change that does not move the replication key is invisible to INCREMENTAL.
    await db.query("UPDATE items SET name = 'item 1 quietly renamed' WHERE id = 1");
    const incremental = await project.runText(["run", "tap-postgres", "target-duckdb"]);
    expect(incremental.code, describeResult(incremental)).toBe(0);
    expect((await warehouseItems())[0]!.name).toBe("item 1");

    const full = await project.run([
      "--log-format",
      "json",
      "run",
      "tap-postgres",
      "target-duckdb",
      "--full-refresh",
    ]);
    expect(full.code, describeResult(full)).toBe(0);
    expect(await warehouseItems()).toEqual(await sourceItems());
    expect(runFinished(full.stderr).streams["public-items"]!.rows).toBe(6);
  });

  test("--select narrows the run to the streams named", async () => {
    await db.query("INSERT INTO other VALUES (3, 'c')");
    const result = await project.run([
      "--log-format",
      "json",
      "run",
      "tap-postgres",
      "target-duckdb",
      "--select",
      "public-other",
    ]);
    expect(result.code, describeResult(result)).toBe(0);
    const summary = runFinished(result.stderr);
    expect(Object.keys(summary.streams)).toEqual(["public-other"]);
    expect(summary.streams["public-other"]!.rows).toBe(3);
    expect(await project.duckdb("SELECT count(*)::INTEGER AS n FROM public.other")).toEqual([{ n: 3 }]);
  });

  test("--state-id and --environment change the state id the run uses", async () => {
    const custom = await project.run([
      "--log-format",
      "json",
      "run",
      "tap-postgres",
      "target-duckdb",
      "--select",
      "public-items",
      "--state-id",
      "nightly-items",
    ]);
    expect(custom.code, describeResult(custom)).toBe(0);
    const prod = await project.runText([
      "-e",
      "prod",
      "run",
      "tap-postgres",
      "target-duckdb",
      "--select",
      "public-other",
    ]);
    expect(prod.code, describeResult(prod)).toBe(0);

    expect((await project.stateIds()).sort()).toEqual(
      ["nightly-items", "prod:tap-postgres-to-target-duckdb", STATE_ID].sort(),
    );
    // A new state id starts from nothing: every row of the incremental stream is read.
    const nightly = runFinished(custom.stderr);
    expect(nightly.stateId).toBe("nightly-items");
    expect(nightly.streams["public-items"]?.rows).toBe(6);
    const state = (await project.state("nightly-items")) as { bookmarks: Record<string, unknown> };
    expect(Object.keys(state.bookmarks)).toEqual(["public-items"]);
  });
});

describe("project files", () => {
  test("meltano.yml is read when there is no sluice.yml", async () => {
    const meltano = new TestProject({ env: { TAP_POSTGRES_PASSWORD: db.password } });
    try {
      meltano.write(projectSpec(db, { select: ["public-other.*"] }), "meltano.yml");
      const result = await meltano.runText(["run", "tap-postgres", "target-duckdb"]);
      expect(result.code, describeResult(result)).toBe(0);
      expect(await meltano.duckdb("SELECT count(*)::INTEGER AS n FROM public.other")).toEqual([{ n: 3 }]);
      expect(await meltano.stateIds()).toEqual([STATE_ID]);
    } finally {
      meltano.remove();
    }
  });
});
