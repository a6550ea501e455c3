import fs from "node:fs";
import path from "node:path";
import { expect, test } from "vitest";
import type { RecordBatch } from "../../../src/connectors/batch.js";
import { batchRowsAsJson } from "../../../src/connectors/batch-rows.js";
import type { ColumnType } from "../../../src/connectors/column-type.js";
import { tempDir } from "../../support/pipeline.js";

// Source columns named like the CDC metadata (`_sdc_deleted_at`, `_sdc_sequence`,
// `_sdc_unchanged`) once took the metadata's encoding: `"_sdc_sequence":b` (not JSON) and the
// source's `_sdc_unchanged` dropped.
const text: ColumnType = { kind: "string", sqlType: "text" };
const types = new Map<string, ColumnType>([
  ["id", { kind: "integer", bits: 32, sqlType: "integer" }],
  ["_sdc_deleted_at", text],
  ["_sdc_sequence", text],
  ["_sdc_unchanged", text],
]);

async function records(columns: string[], lines: string[]): Promise<unknown[]> {
  const file = path.join(tempDir("sluice-batch-names-"), "batch.csv");
  fs.writeFileSync(file, lines.join("\n") + "\n");
  const batch: RecordBatch = {
    streamId: "public-t",
    path: file,
    columns,
    rowCount: lines.length,
    byteCount: 0,
    maxRowBytes: 0,
    extractedAt: new Date(),
    sequenceBase: 0,
  };
  const out: unknown[] = [];
  for await (const json of batchRowsAsJson(batch, types)) out.push(JSON.parse(json));
  return out;
}

test("a full-table batch encodes source columns named like the metadata by their own type", async () => {
  expect(await records([...types.keys()], ["1,a,b,c"])).toEqual([
    { id: 1, _sdc_deleted_at: "a", _sdc_sequence: "b", _sdc_unchanged: "c" },
  ]);
});

test("a CDC batch tells the source's columns from the metadata by position", async () => {
  const columns = [...types.keys(), "_sdc_deleted_at", "_sdc_sequence", "_sdc_unchanged"];
  const lines = ["1,a,b,c,,17,", '2,,,,2024-01-31 12:00:00+00,18,"1,2,3"'];
  const texts: string[] = [];
  const file = path.join(tempDir("sluice-batch-names-"), "batch.csv");
  fs.writeFileSync(file, lines.join("\n") + "\n");
  const batch: RecordBatch = {
    streamId: "public-t",
    path: file,
    columns,
    rowCount: 2,
    byteCount: 0,
    maxRowBytes: 0,
    extractedAt: new Date(),
    sequenceBase: 0,
  };
  for await (const json of batchRowsAsJson(batch, types)) texts.push(json);
  // JSON allows a key twice; the metadata comes last, so a reader keeping the last one gets it.
  expect(texts).toEqual([
    '{"id":1,"_sdc_deleted_at":"a","_sdc_sequence":"b","_sdc_unchanged":"c","_sdc_sequence":17}',
    '{"id":2,"_sdc_deleted_at":"2024-01-31T12:00:00+00:00","_sdc_sequence":18}',
  ]);
  expect(await records(columns, lines)).toHaveLength(2);
});
