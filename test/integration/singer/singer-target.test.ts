import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";
import { describe, expect, test } from "vitest";
import { DuckdbLoader } from "../../../src/connectors/target-duckdb/duckdb-loader.js";
import { runSingerTarget } from "../../../src/connectors/singer/singer-target.js";
import { readSingerMessages, type ReadMessage } from "../../../src/protocol/singer-reader.js";
import { CLI_PATH, cliEnv } from "../../support/run-cli.js";
import { duckdbConfig, duckdbRows, tempDir } from "../../support/pipeline.js";
import { describeFinished, sluice } from "./singer-helpers.js";

const schema = (stream: string, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({
    type: "SCHEMA",
    stream,
    schema: {
      type: "object",
      properties: {
        id: { type: "integer" },
        v: { type: ["null", "string"] },
        n: { type: ["null", "number"], multipleOf: 0.01 },
        at: { type: ["null", "string"], format: "date-time" },
      },
    },
    key_properties: ["id"],
    ...extra,
  });
const record = (stream: string, id: number, v: string, more = ""): string =>
  `{"type":"RECORD","stream":"${stream}","record":{"id":${id},"v":${JSON.stringify(v)}${more}}}`;
const state = (n: number): string => `{"type":"STATE","value":{"bookmarks":{"s":{"n":${n}}}}}`;
const activate = (stream: string, version: number): string =>
  JSON.stringify({ type: "ACTIVATE_VERSION", stream, version });

function targetConfig(dir: string): string {
  const file = path.join(dir, "target.json");
  fs.writeFileSync(file, JSON.stringify(duckdbConfig(path.join(dir, "warehouse.duckdb"))));
  return file;
}

/**
 * Runs the target in-process over `lines`; before line i is handed over (every earlier line has
 * then been fully processed), `before(i, printed)` may check what was printed so far.
 */
async function runTarget(
  dir: string,
  lines: string[],
  before: (index: number, printed: string[]) => void = () => undefined,
): Promise<string[]> {
  const printed: string[] = [];
  async function* messages(): AsyncGenerator<ReadMessage> {
    for (const [index, line] of lines.entries()) {
      before(index, printed);
      for await (const m of readSingerMessages([line], { pluginName: "test" }))
        yield { ...m, line: index + 1 };
    }
    before(lines.length, printed);
  }
  const loader = new DuckdbLoader(duckdbConfig("warehouse.duckdb"), { projectDir: dir });
  const spoolDir = path.join(dir, "spool");
  fs.mkdirSync(spoolDir, { recursive: true });
  try {
    await runSingerTarget(messages(), {
      loader,
      inputName: "test",
      spoolDir,
      emitState: async (json) => {
        printed.push(json);
      },
      maxBatchRows: 1000,
      maxBatchBytes: 1024 * 1024,
    });
  } finally {
    await loader.close();
  }
  return printed;
}

describe("sluice target target-duckdb", () => {
  test("a state is printed only once the rows before it are durable: they survive a SIGKILL right after", async () => {
    const dir = tempDir("sluice-target-kill-");
    const child = spawn(
      process.execPath,
      [CLI_PATH, "target", "target-duckdb", "--config", targetConfig(dir)],
      {
        env: cliEnv(),
        stdio: ["pipe", "pipe", "pipe"],
      },
    );
    let stdout = "";
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    const firstLine = new Promise<void>((resolve) => {
      child.stdout.setEncoding("utf8").on("data", (c: string) => {
        stdout += c;
        if (stdout.includes("\n")) resolve();
      });
    });
    const closed = new Promise<void>((resolve) => child.on("close", () => resolve()));
    const rows = Array.from({ length: 500 }, (_, i) => record("public-items", i + 1, `row ${i + 1}`));
    child.stdin.write([schema("public-items"), ...rows, state(1), ""].join("\n"));
    // The input stays open: the target can only have printed the state because of the STATE line.
    await Promise.race([firstLine, closed]);
    child.kill("SIGKILL");
    await closed;
    expect(stdout.trim(), stderr).toBe('{"bookmarks":{"s":{"n":1}}}');
    const count = await duckdbRows(
      path.join(dir, "warehouse.duckdb"),
      "SELECT count(*) AS n FROM public.items",
    );
    expect(count[0]!.n).toBe("500");
  });

  test("inside an ACTIVATE_VERSION (replace) stream states wait until the table is swapped in", async () => {
    const dir = tempDir("sluice-target-replace-");
    const lines = [
      schema("public-t"),
      activate("public-t", 100),
      record("public-t", 1, "a"),
      state(1),
      record("public-t", 2, "b"),
      activate("public-t", 100),
      state(2),
    ];
    const seen: Record<number, string[]> = {};
    const printed = await runTarget(dir, lines, (index, out) => (seen[index] = [...out]));
    expect(seen[4]).toEqual([]); // state 1 was held: the staging table is not visible yet
    expect(seen[6]).toEqual(['{"bookmarks":{"s":{"n":1}}}']); // printed once swapped in
    expect(printed).toEqual(['{"bookmarks":{"s":{"n":1}}}', '{"bookmarks":{"s":{"n":2}}}']);
    const rows = await duckdbRows(
      path.join(dir, "warehouse.duckdb"),
      "SELECT id, v FROM public.t ORDER BY id",
    );
    expect(rows).toEqual([
      { id: "1", v: "a" },
      { id: "2", v: "b" },
    ]);

    // A second full load replaces the table: rows it does not send are gone.
    await runTarget(dir, [
      schema("public-t"),
      activate("public-t", 200),
      record("public-t", 2, "c"),
      activate("public-t", 200),
    ]);
    expect(
      await duckdbRows(path.join(dir, "warehouse.duckdb"), "SELECT id, v FROM public.t ORDER BY id"),
    ).toEqual([{ id: "2", v: "c" }]);
  });

  test("a SCHEMA change inside a full load keeps every row, and its closing ACTIVATE_VERSION starts nothing", async () => {
    const dir = tempDir("sluice-target-schema-change-");
    await runTarget(dir, [schema("public-c"), record("public-c", 9, "stale")]);
    const wider = JSON.stringify({
      type: "SCHEMA",
      stream: "public-c",
      schema: {
        properties: { id: { type: "integer" }, v: { type: "string" }, w: { type: ["null", "boolean"] } },
      },
      key_properties: ["id"],
    });
    const printed = await runTarget(dir, [
      schema("public-c"),
      activate("public-c", 300),
      record("public-c", 1, "a"),
      wider,
      record("public-c", 2, "b", ',"w":true'),
      // Another change with no record after it: the closing ACTIVATE_VERSION then finds no open load.
      wider.replace('"w"', '"x":{"type":["null","integer"]},"w"'),
      activate("public-c", 300),
      state(3),
    ]);
    expect(printed).toEqual(['{"bookmarks":{"s":{"n":3}}}']);
    expect(
      await duckdbRows(
        path.join(dir, "warehouse.duckdb"),
        "SELECT id, v, w::VARCHAR AS w FROM public.c ORDER BY id",
      ),
    ).toEqual([
      { id: "1", v: "a", w: null },
      { id: "2", v: "b", w: "true" },
    ]);
  });

  test("target-jsonl reads the same messages; numbers stay exact", async () => {
    const dir = tempDir("sluice-target-jsonl-");
    const config = path.join(dir, "jsonl.json");
    fs.writeFileSync(config, JSON.stringify({ destination_path: path.join(dir, "out") }));
    const input = [
      schema("public-j"),
      record("public-j", 1, "x", ',"n":12345678901234567890.25,"at":"2024-01-31T12:00:00.5+00:00"'),
      state(1),
    ];
    const result = await sluice(["--log-format", "text", "target", "target-jsonl", "--config", config], {
      stdin: input.join("\n") + "\n",
    });
    expect(result.code, describeFinished(result)).toBe(0);
    expect(result.stdout).toBe('{"bookmarks":{"s":{"n":1}}}\n');
    const written = fs.readFileSync(path.join(dir, "out", "public-j.jsonl"), "utf8");
    expect(written).toContain('"n":12345678901234567890.25');
    expect(written).toContain('"at":"2024-01-31T12:00:00.5+00:00"');
  });

  test("BATCH messages: jsonl files, gzip or not, are loaded as their records", async () => {
    const dir = tempDir("sluice-target-batch-");
    const plain = path.join(dir, "part-1.jsonl");
    fs.writeFileSync(plain, '{"id":1,"v":"one"}\n{"id":2,"v":"two","n":12345678901234567890.12}\n');
    const gz = path.join(dir, "part-2.jsonl.gz");
    fs.writeFileSync(gz, gzipSync('{"id":3,"v":"three"}\n{"id":1,"v":"one again"}\n'));
    const batch = (file: string, compression: string): string =>
      JSON.stringify({
        type: "BATCH",
        stream: "public-bt",
        encoding: { format: "jsonl", compression },
        manifest: [pathToFileURL(file).href],
      });
    const printed = await runTarget(dir, [
      schema("public-bt"),
      batch(plain, "none"),
      batch(gz, "gzip"),
      state(1),
    ]);
    expect(printed).toEqual(['{"bookmarks":{"s":{"n":1}}}']);
    expect(
      await duckdbRows(
        path.join(dir, "warehouse.duckdb"),
        "SELECT id, v, n::VARCHAR AS n FROM public.bt ORDER BY id",
      ),
    ).toEqual([
      { id: "1", v: "one again", n: null },
      { id: "2", v: "two", n: "12345678901234567890.12" },
      { id: "3", v: "three", n: null },
    ]);
  });

  test("repeated keys without ACTIVATE_VERSION: the last record of each key wins, within a batch too", async () => {
    const dir = tempDir("sluice-target-dup-");
    const first = [schema("public-u"), record("public-u", 1, "old"), record("public-u", 2, "two"), state(1)];
    await runTarget(dir, first);
    const lines = [schema("public-u")];
    // Key 1 many times in what would be one batch, with other keys between.
    for (let i = 1; i <= 30; i++)
      lines.push(record("public-u", 1, `v${i}`), record("public-u", 100 + i, "x"));
    lines.push(
      record("public-u", 2, "new", ',"n":12345678901234567890.12,"at":"2024-01-31T12:00:00Z"'),
      state(2),
    );
    const printed = await runTarget(dir, lines);
    expect(printed).toEqual(['{"bookmarks":{"s":{"n":2}}}']);
    const rows = await duckdbRows(
      path.join(dir, "warehouse.duckdb"),
      `SELECT id, v, n::VARCHAR AS n, "at"::VARCHAR AS "at" FROM public.u WHERE id <= 2 ORDER BY id`,
    );
    expect(rows[0]).toMatchObject({ id: "1", v: "v30" });
    expect(rows[1]).toMatchObject({ id: "2", v: "new", n: "12345678901234567890.12" });
    expect(rows[1]!.at).toMatch(/^2024-01-31 \d\d:00:00/);
    const count = await duckdbRows(path.join(dir, "warehouse.duckdb"), "SELECT count(*) AS n FROM public.u");
    expect(count[0]!.n).toBe("32");
  });

  test("a RECORD before its SCHEMA fails naming the stream and line, with no state printed after it", async () => {
    const dir = tempDir("sluice-target-noschema-");
    const input = [
      schema("public-a"),
      record("public-a", 1, "x"),
      state(1),
      record("public-b", 1, "y"),
      state(2),
    ];
    const result = await sluice(
      ["--log-format", "text", "target", "target-duckdb", "--config", targetConfig(dir)],
      {
        stdin: input.join("\n") + "\n",
      },
    );
    expect(result.code, describeFinished(result)).toBe(1);
    expect(result.stderr).toContain('line 4: RECORD for stream "public-b" before its SCHEMA message');
    expect(result.stdout.trim().split("\n")).toEqual(['{"bookmarks":{"s":{"n":1}}}']);
  });

  test("two streams that would land in one table are refused at the second's SCHEMA, naming both", async () => {
    const dir = tempDir("sluice-target-collision-");
    const config = path.join(dir, "target.json");
    fs.writeFileSync(
      config,
      JSON.stringify(
        duckdbConfig(path.join(dir, "warehouse.duckdb"), { default_target_schema: "analytics" }),
      ),
    );
    const input = [
      schema("s1-orders"),
      record("s1-orders", 1, "one"),
      state(1),
      schema("s2-orders"),
      record("s2-orders", 2, "two"),
    ];
    const result = await sluice(["--log-format", "text", "target", "target-duckdb", "--config", config], {
      stdin: input.join("\n") + "\n",
    });
    expect(result.code, describeFinished(result)).toBe(2);
    expect(result.stderr).toMatch(
      /streams s1-orders and s2-orders would both be loaded into analytics\.orders/,
    );
    // The first stream's rows are there; the second's never replaced or merged into them.
    expect(
      await duckdbRows(path.join(dir, "warehouse.duckdb"), "SELECT id, v FROM analytics.orders"),
    ).toEqual([{ id: "1", v: "one" }]);
  });

  test("a malformed line fails with its number and an excerpt, with no state printed after it", async () => {
    const dir = tempDir("sluice-target-malformed-");
    const input = [
      schema("public-a"),
      record("public-a", 1, "x"),
      state(1),
      '{"type":"RECORD","stream":"public-a","record":{"id":2,"v":"oops}}',
      state(2),
    ];
    const result = await sluice(
      ["--log-format", "text", "target", "target-duckdb", "--config", targetConfig(dir)],
      {
        stdin: input.join("\n") + "\n",
      },
    );
    expect(result.code, describeFinished(result)).toBe(1);
    expect(result.stderr).toMatch(
      /target-duckdb \(stdin\): line 4 is not valid JSON \(unterminated string.*"v":"oops}}/,
    );
    expect(result.stdout.trim().split("\n")).toEqual(['{"bookmarks":{"s":{"n":1}}}']);
  });

  test("a value that does not fit its column names the stream, column and line", async () => {
    const dir = tempDir("sluice-target-badvalue-");
    const input = [schema("public-a"), record("public-a", 1, "x", ',"n":"abc"'), state(1)];
    const result = await sluice(
      ["--log-format", "text", "target", "target-duckdb", "--config", targetConfig(dir)],
      {
        stdin: input.join("\n") + "\n",
      },
    );
    expect(result.code, describeFinished(result)).toBe(1);
    expect(result.stderr).toContain('line 2: stream "public-a": column "n"');
    expect(result.stdout).toBe("");
  });
});

describe("target-duckdb's merge, as the Singer target relies on it", () => {
  // The Singer target cuts a batch where a key repeats, so it does not depend on this; the check
  // is here because `distinctKeys: false` promises it and DuckDB runs with
  // preserve_insertion_order=false: a multi-buffer batch, several threads, one key many times.
  test("a merged batch whose keys repeat keeps the last row of each key, with the highest _sdc_sequence", async () => {
    const dir = tempDir("sluice-merge-order-");
    const loader = new DuckdbLoader(
      duckdbConfig("warehouse.duckdb", { add_metadata_columns: true, threads: 4, memory_limit: "256MB" }),
      { projectDir: dir },
    );
    const schemaOf = {
      streamId: "public-m",
      sourceSchema: "public",
      sourceTable: "m",
      columns: [
        { name: "id", type: { kind: "integer", bits: 64, sqlType: "bigint" }, nullable: false },
        { name: "v", type: { kind: "integer", bits: 64, sqlType: "bigint" }, nullable: true },
        { name: "pad", type: { kind: "string", sqlType: "text" }, nullable: true },
      ],
      keyProperties: ["id"],
    } as const;
    const file = (name: string, rows: string[]): string => {
      const p = path.join(dir, name);
      fs.writeFileSync(p, rows.join("\n") + "\n");
      return p;
    };
    const batchOf = (p: string, rows: number) => ({
      streamId: "public-m",
      path: p,
      columns: ["id", "v", "pad"],
      rowCount: rows,
      byteCount: fs.statSync(p).size,
      maxRowBytes: 64,
      extractedAt: new Date(),
      sequenceBase: 1000,
    });
    const n = 600_000;
    try {
      const writer = await loader.openStream(structuredClone(schemaOf) as never, {
        mode: "incremental",
        version: 1,
        distinctKeys: false,
      });
      // The table is not empty, so the batch is merged rather than appended.
      await writer.write(batchOf(file("a.csv", ["0,-1,x"]), 1));
      const rows = Array.from({ length: n }, (_, i) => `${i % 7},${i},${"p".repeat(40)}`);
      await writer.write(batchOf(file("b.csv", rows), n));
      await writer.finish();
    } finally {
      await loader.close();
    }
    const result = await duckdbRows(
      path.join(dir, "warehouse.duckdb"),
      "SELECT id, v, _sdc_sequence FROM public.m ORDER BY id",
    );
    // The last row of key k is the largest i < n with i % 7 === k.
    const last = Array.from({ length: 7 }, (_, k) => n - 1 - ((n - 1 - k) % 7));
    expect(result.map((r) => Number(r.v))).toEqual(last);
    expect(result.map((r) => Number(r._sdc_sequence))).toEqual(last.map((i) => 1000 + i));
  });
});
