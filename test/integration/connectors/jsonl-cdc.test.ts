import fs from "node:fs";
import path from "node:path";
import { expect, test } from "vitest";
import type { RecordBatch } from "../../../src/connectors/batch.js";
import type { StreamSchema } from "../../../src/connectors/column-type.js";
import { JsonlLoader } from "../../../src/connectors/target-jsonl/jsonl-loader.js";
import { CDC_COLUMNS, CDC_SCHEMA, cdcBatch } from "../../support/cdc-loader-cases.js";
import { tempDir } from "../../support/pipeline.js";

// target-jsonl writes change batches as a change log: one line per change, in file order.

/** The kit's stream without `changed_at`. */
const schema: StreamSchema = { ...CDC_SCHEMA, columns: CDC_SCHEMA.columns.slice(0, 3) };
const COLUMNS = CDC_COLUMNS.filter((c) => c !== "changed_at");

function batchFile(dir: string, rows: string[]): RecordBatch {
  return cdcBatch(dir, rows, { columns: COLUMNS });
}

async function writeChanges(
  metadata: boolean,
  apply: (writer: Awaited<ReturnType<JsonlLoader["openStream"]>>, dir: string) => Promise<void>,
): Promise<unknown[]> {
  const dir = tempDir("sluice-jsonl-cdc-");
  const loader = new JsonlLoader(
    { destination_path: "out", do_timestamp_file: false, add_metadata_columns: metadata },
    { projectDir: dir },
  );
  const writer = await loader.openStream(schema, { mode: "incremental", version: 3, distinctKeys: false });
  await apply(writer, dir);
  await writer.finish();
  await loader.close();
  const text = fs.readFileSync(path.join(dir, "out", "public-items.jsonl"), "utf8");
  return text
    .trimEnd()
    .split("\n")
    .map((line) => JSON.parse(line) as unknown);
}

test("a change is a record with _sdc_sequence, _sdc_deleted_at when deleted, and without the fields it did not carry", async () => {
  const records = await writeChanges(false, async (writer, dir) => {
    await writer.write(
      batchFile(dir, [
        `1,one,"{""v"":1}",,10,`,
        // An update that left doc (index 2) out of the WAL, and one that set it to NULL.
        `1,renamed,,,11,2`,
        `1,again,,,12,`,
        // A delete carries only the key.
        `1,,,2024-05-01 10:00:00.5+00,13,"1,2"`,
      ]),
    );
  });
  expect(records).toEqual([
    { id: 1, name: "one", doc: { v: 1 }, _sdc_sequence: 10 },
    { id: 1, name: "renamed", _sdc_sequence: 11 },
    { id: 1, name: "again", doc: null, _sdc_sequence: 12 },
    { id: 1, _sdc_deleted_at: "2024-05-01T10:00:00.5+00:00", _sdc_sequence: 13 },
  ]);
});

test("with metadata columns, _sdc_sequence is the change's own, written once", async () => {
  const records = (await writeChanges(true, async (writer, dir) => {
    await writer.write(batchFile(dir, [`2,two,,,42,2`]));
  })) as Record<string, unknown>[];
  expect(records).toHaveLength(1);
  expect(records[0]).toMatchObject({ id: 2, name: "two", _sdc_sequence: 42, _sdc_table_version: 3 });
  expect(records[0]).not.toHaveProperty("doc");
  expect(records[0]).not.toHaveProperty("_sdc_unchanged");
});

test("a truncate is a line of its own with the truncate's commit time, between the changes around it", async () => {
  const records = await writeChanges(false, async (writer, dir) => {
    await writer.write(batchFile(dir, [`1,one,,,10,`]));
    expect(writer.truncate).toBeDefined();
    await writer.truncate!(new Date("2024-05-02T00:00:00Z"));
    await writer.write(batchFile(dir, [`2,two,,,11,`]));
  });
  expect(records).toEqual([
    { id: 1, name: "one", doc: null, _sdc_sequence: 10 },
    { _sdc_truncated_at: "2024-05-02T00:00:00.000Z" },
    { id: 2, name: "two", doc: null, _sdc_sequence: 11 },
  ]);
});
