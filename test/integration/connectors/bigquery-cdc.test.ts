import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { RecordBatch } from "../../../src/connectors/batch.js";
import type { StreamSchema } from "../../../src/connectors/column-type.js";
import type { PluginConfig, StreamWriter } from "../../../src/connectors/connector.js";
import { BigqueryLoader } from "../../../src/connectors/bigquery/bigquery-loader.js";
import { tempDir } from "../../support/pipeline.js";
import {
  bigqueryConfig,
  datasetName,
  plainRows,
  startBigqueryTarget,
  type BigqueryTarget,
} from "./bigquery-harness.js";

// Change batches as tap-postgres's LOG_BASED reader writes them (batch.ts): every column of the
// stream, then `_sdc_deleted_at`, `_sdc_sequence` and `_sdc_unchanged`, written by hand so each
// case says exactly which rows arrive in which file order (the cases of target-duckdb's CDC test).

const schema: StreamSchema = {
  streamId: "public-items",
  sourceSchema: "public",
  sourceTable: "items",
  columns: [
    { name: "id", type: { kind: "integer", bits: 64, sqlType: "bigint" }, nullable: false },
    { name: "name", type: { kind: "string", sqlType: "text" }, nullable: true },
    { name: "doc", type: { kind: "json", sqlType: "jsonb" }, nullable: true },
    {
      name: "changed_at",
      type: { kind: "timestamp", sqlType: "timestamp without time zone" },
      nullable: true,
    },
  ],
  keyProperties: ["id"],
};
const CDC_COLUMNS = ["id", "name", "doc", "changed_at", "_sdc_deleted_at", "_sdc_sequence", "_sdc_unchanged"];
/** `_sdc_unchanged` of a delete: every field but the key (index 0). */
const DELETE_UNCHANGED = '"1,2,3"';

let target: BigqueryTarget;
beforeAll(async () => {
  target = await startBigqueryTarget();
});
afterAll(async () => {
  await target?.close();
});

let fileCounter = 0;

/** A stream writer into a fresh dataset, and the table's rows read back through the client. */
async function open(config: PluginConfig = {}) {
  const dir = tempDir("sluice-bq-cdc-");
  const dataset = datasetName("cdc");
  const loader = new BigqueryLoader(
    bigqueryConfig(target, dataset, config),
    { projectDir: dir },
    { env: {} },
  );
  const writer: StreamWriter = await loader.openStream(structuredClone(schema), {
    mode: "incremental",
    version: 7,
    distinctKeys: false,
  });
  return {
    dataset,
    async write(rows: string[], options: { columns?: string[]; sequenceBase?: number } = {}) {
      const p = path.join(dir, `batch-${++fileCounter}.csv`);
      fs.writeFileSync(p, rows.join("\n") + "\n");
      const batch: RecordBatch = {
        streamId: schema.streamId,
        path: p,
        columns: options.columns ?? CDC_COLUMNS,
        rowCount: rows.length,
        byteCount: fs.statSync(p).size,
        maxRowBytes: Math.max(...rows.map((r) => Buffer.byteLength(r))),
        extractedAt: new Date("2024-06-01T00:00:00Z"),
        sequenceBase: options.sequenceBase ?? 0,
      };
      await writer.write(batch);
    },
    truncate: (at: Date) => writer.truncate!(at),
    async rows(columns = "id, name, doc, _sdc_deleted_at") {
      const rows = await plainRows(target, `SELECT ${columns} FROM \`${dataset}.items\` ORDER BY id`);
      return rows.map((r) =>
        "doc" in r && typeof r.doc === "string" ? { ...r, doc: JSON.parse(r.doc) as unknown } : r,
      );
    },
    close: () => loader.close(),
  };
}

const seed = [
  `1,one,"{""v"":1}",2024-01-01 00:00:00,,1,`,
  `2,two,"{""v"":2}",2024-01-02 00:00:00,,2,`,
  `3,three,"{""v"":3}",2024-01-03 00:00:00,,3,`,
];

describe("target-bigquery applies change batches exactly (one deduplicated MERGE per batch)", () => {
  test("the row with the highest _sdc_sequence wins, whatever the file order (several per key: no MERGE error)", async () => {
    const h = await open();
    await h.write(seed);
    await h.write([
      `1,newest,"{""v"":13}",,,13,`,
      `2,b-last,"{""v"":22}",,,22,`,
      `1,older,"{""v"":11}",,,11,`,
      `2,b-first,"{""v"":20}",,,20,`,
      `1,middle,"{""v"":12}",,,12,`,
    ]);
    expect(await h.rows()).toEqual([
      { id: 1, name: "newest", doc: { v: 13 }, _sdc_deleted_at: null },
      { id: 2, name: "b-last", doc: { v: 22 }, _sdc_deleted_at: null },
      { id: 3, name: "three", doc: { v: 3 }, _sdc_deleted_at: null },
    ]);
    await h.close();
  });

  test("a field the change did not carry (an unchanged TOAST value) keeps the stored value", async () => {
    const h = await open();
    await h.write(seed);
    await h.write([`1,renamed,,2024-02-01 00:00:00,,10,2`, `2,,,,,11,"1,2"`]);
    expect(await h.rows("id, name, doc, changed_at")).toEqual([
      { id: 1, name: "renamed", doc: { v: 1 }, changed_at: "2024-02-01T00:00:00" },
      { id: 2, name: "two", doc: { v: 2 }, changed_at: null },
      { id: 3, name: "three", doc: { v: 3 }, changed_at: "2024-01-03T00:00:00" },
    ]);
    await h.close();
  });

  test("an uncarried field takes the key's latest earlier carried value in the batch, even NULL", async () => {
    const h = await open();
    await h.write(seed);
    await h.write([
      `4,four-updated,,,,21,2`,
      `4,four,"{""v"":4}",,,20,`,
      `1,one-b,,,,31,2`,
      `1,one-a,,,,30,`,
      `2,two-c,,,,42,2`,
      `2,two-a,"{""v"":40}",,,40,`,
      `2,two-b,,,,41,2`,
    ]);
    expect(await h.rows()).toEqual([
      { id: 1, name: "one-b", doc: null, _sdc_deleted_at: null },
      { id: 2, name: "two-c", doc: { v: 40 }, _sdc_deleted_at: null },
      { id: 3, name: "three", doc: { v: 3 }, _sdc_deleted_at: null },
      { id: 4, name: "four-updated", doc: { v: 4 }, _sdc_deleted_at: null },
    ]);
    await h.close();
  });

  test("a soft delete keeps the row's values and sets _sdc_deleted_at (no metadata columns needed)", async () => {
    const h = await open({ add_metadata_columns: false, hard_delete: false });
    await h.write(seed);
    await h.write([
      `2,,,,2024-05-01 10:00:00.5+00,50,${DELETE_UNCHANGED}`,
      `3,three-updated,,,,51,2`,
      `3,,,,2024-05-01 11:00:00+00,52,${DELETE_UNCHANGED}`,
    ]);
    expect(await h.rows()).toEqual([
      { id: 1, name: "one", doc: { v: 1 }, _sdc_deleted_at: null },
      { id: 2, name: "two", doc: { v: 2 }, _sdc_deleted_at: "2024-05-01T10:00:00.500Z" },
      { id: 3, name: "three-updated", doc: { v: 3 }, _sdc_deleted_at: "2024-05-01T11:00:00.000Z" },
    ]);
    const [metadata] = await target.client.dataset(h.dataset).table("items").getMetadata();
    expect((metadata.schema.fields as { name: string }[]).map((f) => f.name)).toEqual([
      "id",
      "name",
      "doc",
      "changed_at",
      "_sdc_deleted_at",
    ]);
    await h.close();
  });

  test("hard_delete removes a key whose latest change is a delete; one inserted and deleted never appears", async () => {
    const h = await open({ hard_delete: true });
    await h.write(seed);
    await h.write([
      `2,,,,2024-05-01 10:00:00+00,50,${DELETE_UNCHANGED}`,
      `9,nine,,,,51,`,
      `9,,,,2024-05-01 10:00:01+00,52,${DELETE_UNCHANGED}`,
    ]);
    expect((await h.rows("id")).map((r) => r.id)).toEqual([1, 3]);
    await h.close();
  });

  test("a later batch brings a soft-deleted key back", async () => {
    const h = await open();
    await h.write(seed);
    await h.write([`1,,,,2024-05-01 10:00:00+00,10,${DELETE_UNCHANGED}`]);
    await h.write([`1,back,"{""v"":5}",,,11,`]);
    expect((await h.rows())[0]).toEqual({ id: 1, name: "back", doc: { v: 5 }, _sdc_deleted_at: null });
    await h.close();
  });

  test("truncate marks every live row deleted at the truncate's commit time, or removes them with hard_delete", async () => {
    const soft = await open();
    await soft.write(seed);
    await soft.write([`1,,,,2024-05-01 09:00:00+00,10,${DELETE_UNCHANGED}`]);
    await soft.truncate(new Date("2024-05-02T00:00:00Z"));
    await soft.write([`3,after,"{""v"":30}",,,20,`]);
    expect(await soft.rows()).toEqual([
      { id: 1, name: "one", doc: { v: 1 }, _sdc_deleted_at: "2024-05-01T09:00:00.000Z" },
      { id: 2, name: "two", doc: { v: 2 }, _sdc_deleted_at: "2024-05-02T00:00:00.000Z" },
      { id: 3, name: "after", doc: { v: 30 }, _sdc_deleted_at: null },
    ]);
    await soft.close();

    const hard = await open({ hard_delete: true });
    await hard.write(seed);
    await hard.truncate(new Date("2024-05-02T00:00:00Z"));
    await hard.write([`3,after,"{""v"":30}",,,20,`]);
    expect((await hard.rows("id, name")).map((r) => [r.id, r.name])).toEqual([[3, "after"]]);
    await hard.close();
  });

  test("with add_metadata_columns, _sdc_sequence holds the batch's sequence; _sdc_unchanged is never stored", async () => {
    const h = await open({ add_metadata_columns: true });
    await h.write(seed);
    await h.write([`1,renamed,,,,40,2`]);
    expect(await h.rows("id, name, doc, _sdc_sequence, _sdc_table_version")).toEqual([
      { id: 1, name: "renamed", doc: { v: 1 }, _sdc_sequence: 40, _sdc_table_version: 7 },
      { id: 2, name: "two", doc: { v: 2 }, _sdc_sequence: 2, _sdc_table_version: 7 },
      { id: 3, name: "three", doc: { v: 3 }, _sdc_sequence: 3, _sdc_table_version: 7 },
    ]);
    const [metadata] = await target.client.dataset(h.dataset).table("items").getMetadata();
    expect((metadata.schema.fields as { name: string }[]).map((f) => f.name)).not.toContain("_sdc_unchanged");
    await h.close();
  });
});
