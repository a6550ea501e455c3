import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { describeResult } from "../../support/run-cli.js";
import { PROJECT_STATE_ID, projectSpec, TestProject } from "../../support/test-project.js";
import { describeDifference, duckdbRowTexts, sourceRowTexts } from "../../support/table-diff.js";
import { RUN_ARGS, errorMessages, logLines } from "./fault-support.js";

/**
 * The disk under the DuckDB file fills up mid-run: the file lives on a tmpfs of 4 MB of its own
 * (`mount -t tmpfs`, which needs root, as CI runs; without it the test fails saying so rather than
 * being skipped, since a skipped fault test proves nothing). The run fails with exit 1 and a
 * message naming the file and saying the disk is full; the state stays where it was; once the
 * tmpfs is grown (`mount -o remount,size=...`), a rerun ends with DuckDB equal to the source.
 */
const ROWS = 80_000;

let db: TestDatabase;
let project: TestProject;
let mountPoint: string;
let mounted = false;

beforeAll(async () => {
  db = await createTestDatabase("diskfull");
  project = new TestProject({
    prefix: "sluice-disk-full-",
    env: { TAP_POSTGRES_PASSWORD: db.password },
    localSpool: true,
  });
  mountPoint = project.file("small-disk");
  fs.mkdirSync(mountPoint);
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", mountPoint], { stdio: "pipe" });
    mounted = true;
  } catch (error) {
    const stderr = String((error as { stderr?: Buffer }).stderr ?? "").trim();
    throw new Error(
      `the disk-full test needs a small filesystem of its own: \`mount -t tmpfs\` failed (${stderr || (error as Error).message}). ` +
        "Run the tests as root (CI does), or in a container with CAP_SYS_ADMIN.",
    );
  }
  await db.query("CREATE TABLE big (id bigint PRIMARY KEY, body text NOT NULL)");
  await db.query("INSERT INTO big SELECT i, md5(i::text) FROM generate_series(1, 1000) i");
});

afterAll(async () => {
  if (mounted) execFileSync("umount", [mountPoint]);
  await db?.drop();
  project?.remove();
});

const sourceSql = "SELECT id::text AS k, body AS v FROM big";
const duckdbSql = "SELECT CAST(id AS VARCHAR) AS k, body AS v FROM public.big";

describe("the disk under the DuckDB file is full", () => {
  test("the run fails naming the file and the full disk, state unmoved; with space back a rerun recovers", async () => {
    const file = path.join(mountPoint, "warehouse.duckdb");
    project.write(
      projectSpec(db, {
        select: ["public-big.*"],
        metadata: { "public-big": { "replication-method": "INCREMENTAL", "replication-key": "id" } },
        // One batch for the whole table: the failing run commits nothing, so the state must not move.
        tap: { batch_size_rows: 1_000_000, batch_size_mb: 256 },
        target: { path: file },
      }),
    );
    const first = await project.run(RUN_ARGS);
    expect(first.code, describeResult(first)).toBe(0);
    const stateBefore = project.storedState(PROJECT_STATE_ID);
    expect(stateBefore?.bookmarks["public-big"]?.replication_key_value).toBe("1000");

    // Random text does not compress: far more than 4 MB in DuckDB.
    await db.query(
      `INSERT INTO big SELECT i, repeat(md5(random()::text), 4) FROM generate_series(1001, ${ROWS}) i`,
    );
    const failed = await project.run(RUN_ARGS, { timeoutMs: 90_000 });
    expect(failed.code, describeResult(failed)).toBe(1);
    const message = errorMessages(failed.stderr);
    expect(message, failed.stderr).toContain(file);
    expect(message, failed.stderr).toMatch(/disk .*full|no space left/i);
    expect(logLines(failed.stderr).find((l) => l.level === "error" && l.event === undefined)?.error).toBe(
      "ResourceError",
    );
    expect(project.storedState(PROJECT_STATE_ID)).toEqual(stateBefore);
    expect(project.storedRuns().map((r) => r.status)).toEqual(["success", "failed"]);

    execFileSync("mount", ["-o", "remount,size=256m", mountPoint]);
    const rerun = await project.run(RUN_ARGS, { timeoutMs: 90_000 });
    expect(rerun.code, describeResult(rerun)).toBe(0);
    const loaded = await duckdbRowTexts(file, duckdbSql);
    expect(loaded.duplicates).toEqual([]);
    expect(describeDifference(await sourceRowTexts(db, sourceSql), loaded.rows)).toBe("");
    expect(project.storedState(PROJECT_STATE_ID)?.bookmarks["public-big"]?.replication_key_value).toBe(
      String(ROWS),
    );
  });
});
