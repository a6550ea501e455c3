import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { classifyDuckdbError, duckdbError } from "../../../src/connectors/target-duckdb/duckdb-errors.js";
import { DuckdbLoader } from "../../../src/connectors/target-duckdb/duckdb-loader.js";
import { ConnectionError, DataError, ResourceError } from "../../../src/errors.js";
import { duckdbConfig, tempDir } from "../../support/pipeline.js";

/**
 * `classifyDuckdbError` and `duckdbError` against errors DuckDB really raises: a file locked by
 * another process (through target-duckdb itself), a write-write conflict between two
 * transactions, a value it cannot convert, a duplicate key, a statement over its memory limit.
 */

let dir: string;
let file: string;
let instance: DuckDBInstance;
let a: DuckDBConnection;
let b: DuckDBConnection;

async function failureOf(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run();
  } catch (error) {
    return error;
  }
  throw new Error("expected a failure");
}

beforeAll(async () => {
  dir = tempDir("sluice-duckdb-errors-");
  file = path.join(dir, "warehouse.duckdb");
  instance = await DuckDBInstance.create(file);
  a = await instance.connect();
  b = await instance.connect();
  await a.run("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)");
  await a.run("INSERT INTO t VALUES (1, 0)");
});

afterAll(() => {
  a?.closeSync();
  b?.closeSync();
  instance?.closeSync();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("DuckDB errors", () => {
  test("two transactions updating one row: the later one's conflict is transient", async () => {
    await a.run("BEGIN");
    await a.run("UPDATE t SET v = 1 WHERE id = 1");
    await b.run("BEGIN");
    const error = await failureOf(() => b.run("UPDATE t SET v = 2 WHERE id = 1"));
    await a.run("ROLLBACK");
    await b.run("ROLLBACK");
    expect(classifyDuckdbError(error, file)).toMatchObject({ kind: "conflict", transient: true });
    const mapped = duckdbError(error, { file, action: "loading s into main.t" });
    expect(mapped).toBeInstanceOf(ConnectionError);
    expect(mapped.exitCode).toBe(75);
    expect(mapped.message).toMatch(
      /^target-duckdb: loading s into main.t failed: TransactionContext Error: Conflict on update!; another transaction/,
    );
  });

  test("a value it cannot convert and a duplicate key are terminal DataErrors", async () => {
    const conversion = await failureOf(() => a.run("SELECT 'x'::INTEGER"));
    const mapped = duckdbError(conversion, { file, action: "loading s into main.t" });
    expect(mapped).toBeInstanceOf(DataError);
    expect(mapped.transient).toBe(false);
    // The first line only: DuckDB's SQL excerpt (`LINE 1: ...`) is not for the user.
    expect(mapped.message).toBe(
      "target-duckdb: loading s into main.t failed: Conversion Error: Could not convert string 'x' to INT32",
    );
    const duplicate = await failureOf(() => a.run("INSERT INTO t VALUES (1, 5)"));
    expect(classifyDuckdbError(duplicate, file)).toMatchObject({ kind: "data", transient: false });
  });

  test("more memory than memory_limit: a terminal ResourceError naming the setting", async () => {
    const memory = await DuckDBInstance.create(":memory:", { memory_limit: "8MB", temp_directory: "" });
    const connection = await memory.connect();
    try {
      const error = await failureOf(() =>
        connection.run(
          "SELECT range AS id, count(*), max(repeat('x', 100)) FROM range(3000000) GROUP BY range ORDER BY 2 LIMIT 1",
        ),
      );
      const mapped = duckdbError(error, { file, action: "loading s into main.t" });
      expect(mapped).toBeInstanceOf(ResourceError);
      expect(mapped.transient).toBe(false);
      expect(mapped.message).toContain("raise `memory_limit`");
    } finally {
      connection.closeSync();
      memory.closeSync();
    }
  });

  test("a file another process holds: target-duckdb says so, naming `path`; transient", async () => {
    const locked = path.join(dir, "locked.duckdb");
    const holder = holdFile(locked);
    try {
      await holder.ready;
      const loader = new DuckdbLoader(duckdbConfig(locked), { projectDir: dir });
      const error = await failureOf(() => loader.test());
      await loader.close();
      expect(error).toBeInstanceOf(ConnectionError);
      const mapped = error as ConnectionError;
      expect(mapped.transient).toBe(true);
      expect(mapped.exitCode).toBe(75);
      expect(mapped.message).toMatch(
        new RegExp(
          `^DuckDB could not open ${locked} \\(setting \`path\`\\): IO Error: Could not set lock on file`,
        ),
      );
      expect(mapped.message).toContain("another process has");
    } finally {
      holder.child.kill("SIGKILL");
    }
  });

  test("a full disk is told by its words or by the free space under the file", () => {
    const full = new Error("IO Error: Could not write file: No space left on device");
    expect(classifyDuckdbError(full, file)).toMatchObject({ kind: "disk-full", transient: false });
    expect(duckdbError(full, { file, action: "loading s" })).toBeInstanceOf(ResourceError);
  });
});

/** A node process that opens `file` with DuckDB and keeps it open (and locked) until killed. */
function holdFile(file: string): { child: ChildProcess; ready: Promise<void> } {
  const script = `
    const { DuckDBInstance } = await import("@duckdb/node-api");
    const instance = await DuckDBInstance.create(${JSON.stringify(file)});
    await (await instance.connect()).run("CREATE TABLE held (id INTEGER)");
    process.stdout.write("ready\\n");
    setInterval(() => undefined, 1000);`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
    cwd: process.cwd(),
    stdio: ["ignore", "pipe", "inherit"],
  });
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      if (chunk.toString().includes("ready")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`the holding process exited with ${code}`)));
  });
  return { child, ready };
}
