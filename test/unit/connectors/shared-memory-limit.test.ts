import { DuckDBInstance } from "@duckdb/node-api";
import { expect, test } from "vitest";
import {
  batchMemoryExtra,
  csvBufferBytes,
  SharedMemoryLimit,
} from "../../../src/connectors/duckdb/shared-memory-limit.js";

const MB = 1024 * 1024;
const columns = (n: number): string[] => Array.from({ length: n }, (_, i) => `c${i}`);

test("the CSV buffer is 4 MB for ordinary rows and a power of two above a huge one", () => {
  expect(csvBufferBytes({ maxRowBytes: 900 })).toBe(4 * MB);
  expect(csvBufferBytes({ maxRowBytes: 10 * MB })).toBe(16 * MB);
});

test("appends of ordinary rows never raise a small limit; huge rows and wide tables do", () => {
  const ordinary = { maxRowBytes: 2_000, columns: columns(12) };
  expect(batchMemoryExtra(ordinary, 64 * MB, false)).toBe(0);
  expect(batchMemoryExtra(ordinary, 16 * MB, false)).toBe(0);
  // A 10 MB jsonb: a 16 MB buffer, 12 MB more than an ordinary one, eight times over.
  expect(batchMemoryExtra({ maxRowBytes: 10 * MB, columns: columns(12) }, 64 * MB, false)).toBe(96 * MB);
  expect(batchMemoryExtra({ maxRowBytes: 2_000, columns: columns(1_000) }, 64 * MB, false)).toBe(225 * MB);
});

test("a merge is raised to all a batch takes, and a generous limit is never raised", () => {
  const ordinary = { maxRowBytes: 2_000, columns: columns(12) };
  expect(batchMemoryExtra(ordinary, 64 * MB, true)).toBe(32 * MB);
  expect(batchMemoryExtra(ordinary, 1024 * MB, true)).toBe(0);
  expect(batchMemoryExtra({ maxRowBytes: 10 * MB, columns: columns(12) }, 1024 * MB, false)).toBe(0);
  // An unreadable configured limit is never raised.
  expect(batchMemoryExtra(ordinary, Number.POSITIVE_INFINITY, true)).toBe(0);
});

test("raises add up while batches overlap and the configured limit returns after the last", async () => {
  const instance = await DuckDBInstance.create(":memory:", { memory_limit: "64MB" });
  const connection = await instance.connect();
  const setting = async (): Promise<string> =>
    String(
      (await connection.runAndReadAll("SELECT current_setting('memory_limit') AS v")).getRowObjectsJS()[0]!.v,
    );
  try {
    const limit = new SharedMemoryLimit("64MB");
    await limit.read(connection);
    const configured = await setting();
    let releaseFirst!: () => void;
    const firstHeld = new Promise<void>((resolve) => (releaseFirst = resolve));
    const seen: string[] = [];
    const first = limit.raised(connection, 100 * MB, async () => {
      seen.push(await setting());
      await firstHeld;
    });
    // Let the first raise land before the second.
    while (seen.length === 0) await new Promise((r) => setTimeout(r, 5));
    await limit.raised(connection, 36 * MB, async () => {
      seen.push(await setting());
    });
    seen.push(await setting());
    releaseFirst();
    await first;
    seen.push(await setting());
    const mib = (text: string): number => Math.round(Number.parseFloat(text));
    expect(seen.map(mib)).toEqual([
      mib(configured) + 100,
      mib(configured) + 136,
      mib(configured) + 100,
      mib(configured),
    ]);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
});
