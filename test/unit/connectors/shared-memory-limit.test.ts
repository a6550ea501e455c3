import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { expect, test } from "vitest";
import {
  batchMemoryExtra,
  connectionMemory,
  csvBufferBytes,
  SharedMemoryLimit,
} from "../../../src/connectors/target-duckdb/shared-memory-limit.js";

const MB = 1024 * 1024;
const columns = (n: number): string[] => Array.from({ length: n }, (_, i) => `c${i}`);
const ordinary = { maxRowBytes: 2_000, columns: columns(12) };

test("the CSV buffer is 4 MB for ordinary rows and a power of two above a huge one", () => {
  expect(csvBufferBytes({ maxRowBytes: 900 })).toBe(4 * MB);
  expect(csvBufferBytes({ maxRowBytes: 10 * MB })).toBe(16 * MB);
});

test("an ordinary batch takes nothing beyond its connection's share; huge rows and wide tables do", () => {
  expect(batchMemoryExtra(ordinary, false)).toBe(0);
  expect(batchMemoryExtra(ordinary, true)).toBe(0);
  // A merge's connection holds what an ordinary batch takes (eight 4 MB CSV buffers and 64 MB),
  // an append's only 32 MB.
  expect(connectionMemory(true)).toBe(8 * 4 * MB + 64 * MB);
  expect(connectionMemory(false)).toBe(32 * MB);
  // A 10 MB jsonb: eight 16 MB CSV buffers and the insert's 64 MB.
  const huge = { maxRowBytes: 10 * MB, columns: columns(12) };
  expect(batchMemoryExtra(huge, false)).toBe(8 * 16 * MB + 64 * MB - 32 * MB);
  expect(batchMemoryExtra(huge, true)).toBe(8 * 16 * MB - 8 * 4 * MB);
  expect(batchMemoryExtra({ maxRowBytes: 2_000, columns: columns(1_000) }, true)).toBe(225 * MB);
});

async function withDuckdb(memoryLimit: string, body: (connection: DuckDBConnection) => Promise<void>) {
  const instance = await DuckDBInstance.create(":memory:", { memory_limit: memoryLimit });
  const connection = await instance.connect();
  try {
    await body(connection);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

async function limitMiB(connection: DuckDBConnection): Promise<number> {
  const reader = await connection.runAndReadAll("SELECT current_setting('memory_limit') AS v");
  return Math.round(Number.parseFloat(String(reader.getRowObjectsJS()[0]!.v)));
}

test("holds within the configured limit leave it alone; beyond it the limit is their sum until released", async () => {
  await withDuckdb("64MB", async (connection) => {
    const limit = new SharedMemoryLimit("64MB");
    await limit.read(connection);
    const configured = await limitMiB(connection);
    const first = await limit.hold(connection, 20 * MB);
    const second = await limit.hold(connection, 20 * MB);
    expect(await limitMiB(connection)).toBe(configured);
    const seen: number[] = [];
    await limit.raised(connection, 100 * MB, async () => {
      seen.push(await limitMiB(connection));
    });
    seen.push(await limitMiB(connection));
    const third = await limit.hold(connection, 40 * MB);
    seen.push(await limitMiB(connection));
    await first(connection);
    await first(connection); // a second release changes nothing
    seen.push(await limitMiB(connection));
    await second(connection);
    await third(connection);
    seen.push(await limitMiB(connection));
    expect(seen).toEqual([140, configured, 80, configured, configured]);
  });
});

test("a generous configured limit is never lowered by holds", async () => {
  await withDuckdb("1GB", async (connection) => {
    const limit = new SharedMemoryLimit("1GB");
    await limit.read(connection);
    const configured = await limitMiB(connection);
    await limit.raised(connection, 300 * MB, async () => {
      expect(await limitMiB(connection)).toBe(configured);
    });
    expect(await limitMiB(connection)).toBe(configured);
  });
});
