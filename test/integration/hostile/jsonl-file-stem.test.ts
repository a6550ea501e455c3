import { expect, test } from "vitest";
import { jsonlFileStem } from "../../../src/connectors/target-jsonl/jsonl-loader.js";

test("stream ids map to distinct file names that a file system accepts", () => {
  expect(jsonlFileStem("public-order_items")).toBe("public-order_items");
  expect(jsonlFileStem(`x"; DROP TABLE victim; -- 日本`)).toBe(`x"; DROP TABLE victim; -- 日本`);
  const ids = ["x/y-z", "x_y-z", "x%2Fy-z", "x\\y-z", "x\0y-z", "a%-b"];
  const stems = ids.map(jsonlFileStem);
  expect(new Set(stems).size).toBe(ids.length);
  for (const stem of stems) expect(stem).not.toMatch(/[/\\\0]/);
  // 63 slashes on each side: 379 bytes once encoded, beyond the 255 a file name may have.
  const long = [
    `${"/".repeat(63)}-${"/".repeat(63)}`,
    `${"/".repeat(63)}-${"/".repeat(62)}`,
    "日".repeat(130),
  ];
  const longStems = long.map(jsonlFileStem);
  expect(new Set(longStems).size).toBe(long.length);
  for (const stem of longStems) expect(Buffer.byteLength(stem)).toBeLessThanOrEqual(200);
});
