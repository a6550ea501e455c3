import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/pg.js";
import { DUCKDB_FILE, TestProject, type ProjectSpec } from "../support/test-project.js";
import { describeResult, jsonLines, runFinished } from "../support/run-cli.js";

/**
 * External Singer plugins run by `sluice run`, installed by `sluice install` from a local
 * package: a tap and a target written for these tests in Python's standard library
 * (test/fixtures/singer/singer-fixtures), in every combination with built-in connectors, and
 * taps that misbehave. The tests share one project and run in order.
 */

const FIXTURES = fileURLToPath(new URL("../fixtures/singer/singer-fixtures", import.meta.url));
const AMOUNT = (id: number): string => `12345678901234567890.1234567${String(id).padStart(2, "0")}`;

let db: TestDatabase;
let project: TestProject;

function spec(): ProjectSpec {
  return {
    default_environment: "dev",
    environments: [{ name: "dev" }],
    plugins: {
      extractors: [
        { name: "tap-fixture", pip_url: FIXTURES, config: { rows: 5, password: "s3cr3t-tap" } },
        { name: "tap-malformed", inherit_from: "tap-fixture", config: { mode: "malformed" } },
        { name: "tap-early-record", inherit_from: "tap-fixture", config: { mode: "record-before-schema" } },
        { name: "tap-exit3", inherit_from: "tap-fixture", config: { mode: "exit3" } },
        { name: "tap-big", inherit_from: "tap-fixture", config: { mode: "big", big_mb: 3, rows: 2 } },
        { name: "tap-unknown", inherit_from: "tap-fixture", config: { mode: "unknown", rows: 1 } },
        { name: "tap-batch", inherit_from: "tap-fixture", config: { mode: "batch", rows: 3 } },
        {
          name: "tap-props",
          inherit_from: "tap-fixture",
          capabilities: ["properties", "discover"],
          config: { expect_properties: true, rows: 1 },
        },
        {
          name: "tap-postgres",
          pip_url: "pipelinewise-tap-postgres",
          config: {
            host: db.host,
            port: db.port,
            user: db.user,
            dbname: db.name,
            filter_schemas: "public",
            default_replication_method: "FULL_TABLE",
          },
        },
      ],
      loaders: [
        { name: "target-duckdb", config: { path: DUCKDB_FILE } },
        { name: "target-fixture", pip_url: FIXTURES, config: { output: "output/target.jsonl" } },
        {
          name: "target-dies",
          inherit_from: "target-fixture",
          config: { output: "output/dies.jsonl", fail_after: 2 },
        },
        {
          // A built-in name with an `executable` runs that program instead of the built-in.
          name: "target-jsonl",
          executable: ".sluice/plugins/loaders/target-fixture/venv/bin/target-fixture",
          config: { output: "output/jsonl-external.jsonl" },
        },
      ],
    },
  };
}

beforeAll(async () => {
  db = await createTestDatabase("e2e_external_singer");
  await db.query(`
    CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL, price numeric(30,10));
    INSERT INTO items VALUES (1, 'one', 12345678901234567890.1234567891), (2, 'twö ✓', NULL), (3, 'three', 0.5);`);
  project = TestProject.forDatabase(db, spec());
  fs.mkdirSync(project.file("output"), { recursive: true });
});

afterAll(async () => {
  project?.remove();
  await db?.drop();
});

async function run(extractor: string, loader: string, extra: string[] = []) {
  return project.run(["--log-format", "json", "run", extractor, loader, ...extra]);
}

function targetLines(file = "output/target.jsonl"): Record<string, unknown>[] {
  return fs.existsSync(project.file(file)) ? jsonLines(fs.readFileSync(project.file(file), "utf8")) : [];
}

describe("sluice install", () => {
  test("installs each external plugin's pip_url into its own virtualenv, skipping built-ins", async () => {
    const result = await project.run(["--log-format", "text", "install"], { timeoutMs: 150_000 });
    expect(result.code, describeResult(result)).toBe(0);
    expect(result.stderr).toContain("tap-postgres: built in, nothing to install");
    // Variants that inherit the pip_url share its virtualenv, installed once.
    expect(result.stderr).toContain("tap-malformed: uses the virtualenv of tap-fixture, installed above");
    expect(fs.existsSync(project.file(".sluice/plugins/extractors/tap-malformed"))).toBe(false);
    for (const [type, name, program] of [
      ["extractors", "tap-fixture", "tap-fixture"],
      ["loaders", "target-fixture", "target-fixture"],
    ]) {
      expect(fs.existsSync(project.file(`.sluice/plugins/${type}/${name}/venv/bin/${program}`))).toBe(true);
      expect(fs.readFileSync(project.file(`.sluice/plugins/${type}/${name}/install.log`), "utf8")).toContain(
        "Successfully installed",
      );
    }
  }, 180_000);

  test("a pip_url that cannot be installed fails with the log's path and its tail", async () => {
    const other = new TestProject();
    try {
      other.write({
        plugins: {
          extractors: [{ name: "tap-missing", pip_url: "./no-such-package-dir", config: {} }],
          loaders: [],
        },
      });
      const result = await other.run(["--log-format", "text", "install", "tap-missing"], {
        timeoutMs: 90_000,
      });
      expect(result.code, describeResult(result)).toBe(1);
      const log = other.file(".sluice/plugins/extractors/tap-missing/install.log");
      expect(result.stderr).toContain(
        `tap-missing: pip install ./no-such-package-dir failed (exit status 1)`,
      );
      expect(result.stderr).toContain(`the log is ${log}`);
      expect(result.stderr).toMatch(/no-such-package-dir/);
      expect(fs.readFileSync(log, "utf8")).toMatch(/pip .*install \.\/no-such-package-dir/);
    } finally {
      other.remove();
    }
  }, 120_000);
});

describe("commands on external plugins", () => {
  test("sluice discover prints the tap's catalog", async () => {
    const result = await project.runText(["discover", "tap-fixture"]);
    expect(result.code, describeResult(result)).toBe(0);
    const catalog = JSON.parse(result.stdout) as { streams: { tap_stream_id: string }[] };
    expect(catalog.streams.map((s) => s.tap_stream_id)).toEqual(["fixture-items", "fixture-other"]);
  });

  test("sluice run --dry-run plans the selected streams from the tap's catalog", async () => {
    const result = await project.runText(["run", "tap-fixture", "target-duckdb", "--dry-run"]);
    expect(result.code, describeResult(result)).toBe(0);
    expect(result.stdout.trim().split("\n")).toEqual([
      "fixture-items\tFULL_TABLE\t4 columns",
      "fixture-other\tFULL_TABLE\t2 columns",
    ]);
  });

  test("sluice test finds an installed target, and says how to install a missing one", async () => {
    const ok = await project.runText(["test", "target-fixture"]);
    expect(ok.code, describeResult(ok)).toBe(0);
    const other = new TestProject();
    try {
      other.write({ plugins: { extractors: [], loaders: [{ name: "target-nowhere", config: {} }] } });
      const missing = await other.runText(["test", "target-nowhere"]);
      expect(missing.code, describeResult(missing)).toBe(2);
      expect(missing.stderr).toContain(
        'target-nowhere: cannot run "target-nowhere" (not found): run `sluice install target-nowhere`',
      );
    } finally {
      other.remove();
    }
  });
});

describe("an external tap into the built-in target-duckdb", () => {
  test("loads every row exactly (a decimal beyond double precision, unicode) and commits the tap's state", async () => {
    const result = await run("tap-fixture", "target-duckdb");
    expect(result.code, describeResult(result)).toBe(0);
    expect(runFinished(result.stderr).streams["fixture-items"]?.rows).toBe(5);
    const rows = await project.duckdb(
      "SELECT id, name, amount::VARCHAR AS amount, note FROM fixture.items ORDER BY id",
    );
    expect(rows).toEqual(
      [1, 2, 3, 4, 5].map((id) => ({
        id: BigInt(id),
        name: `item ${id}`,
        amount: AMOUNT(id),
        note: id === 1 ? "ünïcødé ✓ 🚀" : null,
      })),
    );
    const other = await project.duckdb("SELECT k, v FROM fixture.other ORDER BY k");
    expect(other).toEqual([
      { k: "a", v: 1n },
      { k: "b", v: 2n },
    ]);
    expect(await project.state("dev:tap-fixture-to-target-duckdb")).toEqual({
      bookmarks: {
        "fixture-items": { replication_key: "id", replication_key_value: 5 },
        "fixture-other": { version: 1 },
      },
    });
  });

  test("the next run starts from the committed state (the tap gets it with --state)", async () => {
    const result = await run("tap-fixture", "target-duckdb", ["--select", "fixture-items"]);
    expect(result.code, describeResult(result)).toBe(0);
    const ids = await project.duckdb("SELECT id FROM fixture.items ORDER BY id");
    expect(ids.map((r) => Number(r.id))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const state = (await project.state("dev:tap-fixture-to-target-duckdb")) as {
      bookmarks: Record<string, unknown>;
    };
    expect(state.bookmarks["fixture-items"]).toEqual({ replication_key: "id", replication_key_value: 10 });
  });

  test("a line of several MB is read whole", async () => {
    const result = await run("tap-big", "target-duckdb", ["--select", "fixture-items"]);
    expect(result.code, describeResult(result)).toBe(0);
    const rows = await project.duckdb(
      "SELECT length(note) AS n FROM fixture.items WHERE id = 1 AND name = 'item 1'",
    );
    expect(rows).toEqual([{ n: BigInt(3 * 1024 * 1024) }]);
  });

  test("a BATCH message's gzip JSON-lines file is loaded like RECORDs, numbers exact", async () => {
    const result = await run("tap-batch", "target-duckdb", ["--select", "fixture-items"]);
    expect(result.code, describeResult(result)).toBe(0);
    const rows = await project.duckdb(
      "SELECT id, name, amount::VARCHAR AS amount FROM fixture.items WHERE name LIKE 'batched%' ORDER BY id",
    );
    expect(rows).toEqual(
      [1, 2, 3].map((id) => ({ id: BigInt(id), name: `batched ${id}`, amount: AMOUNT(id) })),
    );
    expect(await project.state("dev:tap-batch-to-target-duckdb")).toEqual({
      bookmarks: { "fixture-items": { replication_key: "id", replication_key_value: 3 } },
    });
  });

  test("a tap declaring only the properties capability gets --properties", async () => {
    const result = await run("tap-props", "target-duckdb", ["--select", "fixture-items"]);
    expect(result.code, describeResult(result)).toBe(0);
  });

  test("an unknown message type is ignored with one warning", async () => {
    const result = await run("tap-unknown", "target-duckdb", ["--select", "fixture-items"]);
    expect(result.code, describeResult(result)).toBe(0);
    const warnings = jsonLines(result.stderr).filter((l) => String(l.message).includes('"FANCY"'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.level).toBe("warning");
  });
});

describe("a tap that misbehaves fails the run and leaves the state where it was", () => {
  const cases = [
    {
      tap: "tap-malformed",
      message: /^tap-malformed: line 4 is not valid JSON \(.*\): .*"record": \{"id": 99,, \}/,
    },
    {
      tap: "tap-early-record",
      message: /tap-early-record: line 1: RECORD for stream "fixture-items" before its SCHEMA/,
    },
    {
      tap: "tap-exit3",
      message:
        /tap-exit3 exited with status 3; its last stderr lines:\n.*password \*+\n.*something went badly wrong/,
    },
  ];
  for (const { tap, message } of cases) {
    test(tap, async () => {
      const stateId = `dev:${tap}-to-target-duckdb`;
      const result = await run(tap, "target-duckdb", ["--select", "fixture-items"]);
      expect(result.code, describeResult(result)).toBe(1);
      const finished = runFinished(result.stderr);
      expect(finished.status).toBe("failed");
      expect(finished.error).toMatch(message);
      expect(result.stderr).not.toContain("s3cr3t-tap");
      expect(await project.state(stateId)).toBeUndefined();
    });
  }
});

describe("the built-in tap-postgres into an external target", () => {
  test("the target gets standard Singer messages, and the state it prints back is committed", async () => {
    fs.rmSync(project.file("output/target.jsonl"), { force: true });
    const result = await run("tap-postgres", "target-fixture");
    expect(result.code, describeResult(result)).toBe(0);
    expect(result.stderr).toContain("tap-postgres: runs the built-in tap-postgres; its pip_url is not used");
    const lines = targetLines();
    const records = lines.filter((l) => l.type === "RECORD").map((l) => l.record);
    expect(records).toEqual([
      { id: 1, name: "one", price: Number("12345678901234567890.1234567891") },
      { id: 2, name: "twö ✓", price: null },
      { id: 3, name: "three", price: 0.5 },
    ]);
    // The exact literal travels through: JSON.parse above rounds it, the file's text does not.
    expect(fs.readFileSync(project.file("output/target.jsonl"), "utf8")).toContain(
      "12345678901234567890.1234567891",
    );
    expect(lines[0]).toMatchObject({ type: "SCHEMA", stream: "public-items", key_properties: ["id"] });
    const state = (await project.state("dev:tap-postgres-to-target-fixture")) as {
      bookmarks: Record<string, { version?: number }>;
    };
    expect(state.bookmarks["public-items"]?.version).toEqual(expect.any(Number));
  });

  test("a target that dies: its stderr tail is shown and the state is not moved", async () => {
    const result = await run("tap-postgres", "target-dies");
    expect(result.code, describeResult(result)).toBe(1);
    expect(runFinished(result.stderr).error).toMatch(
      /target-dies exited with status 4; its last stderr lines:\n.*disk full after 2 records/,
    );
    expect(await project.state("dev:tap-postgres-to-target-dies")).toBeUndefined();
  });
});

describe("a built-in name with an executable", () => {
  test("runs the executable, not the built-in", async () => {
    const result = await run("tap-fixture", "target-jsonl", ["--select", "fixture-other"]);
    expect(result.code, describeResult(result)).toBe(0);
    const lines = targetLines("output/jsonl-external.jsonl");
    expect(lines.filter((l) => l.type === "RECORD").map((l) => l.record)).toEqual([
      { k: "a", v: 1 },
      { k: "b", v: 2 },
    ]);
  });
});

describe("an external tap into an external target", () => {
  test("messages pass through unchanged and the state comes from the target", async () => {
    fs.rmSync(project.file("output/target.jsonl"), { force: true });
    const result = await run("tap-fixture", "target-fixture");
    expect(result.code, describeResult(result)).toBe(0);
    const text = fs.readFileSync(project.file("output/target.jsonl"), "utf8");
    expect(text).toContain(AMOUNT(3));
    const lines = targetLines();
    expect(lines.filter((l) => l.type === "RECORD")).toHaveLength(7);
    expect(lines.filter((l) => l.type === "STATE")).toHaveLength(2);
    expect(await project.state("dev:tap-fixture-to-target-fixture")).toEqual({
      bookmarks: {
        "fixture-items": { replication_key: "id", replication_key_value: 5 },
        "fixture-other": { version: 1 },
      },
    });
  });

  test("a failing tap stops the target, and no state is committed", async () => {
    const result = await run("tap-exit3", "target-fixture");
    expect(result.code, describeResult(result)).toBe(1);
    expect(runFinished(result.stderr).error).toMatch(/tap-exit3 exited with status 3/);
    expect(await project.state("dev:tap-exit3-to-target-fixture")).toBeUndefined();
  });
});
