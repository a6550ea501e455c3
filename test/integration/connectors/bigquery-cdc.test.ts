import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { BigqueryLoader } from "../../../src/connectors/target-bigquery/bigquery-loader.js";
import {
  CDC_CASE_NAMES,
  CDC_SEED,
  openCdcTable,
  runCdcLoaderCases,
  type CdcLoaderKit,
  type CdcPlace,
} from "../../support/cdc-loader-cases.js";
import {
  bigqueryConfig,
  datasetName,
  plainRows,
  startBigqueryTarget,
  type BigqueryTarget,
} from "./bigquery-harness.js";

// The change-batch cases of test/support/cdc-loader-cases.ts against target-bigquery (one
// deduplicated MERGE per batch; each case in a dataset of its own), read back through the client.

let target: BigqueryTarget;
beforeAll(async () => {
  target = await startBigqueryTarget();
});
afterAll(async () => {
  await target?.close();
});

const datasets = new Map<string, string>();
/** The place's dataset: the same one each time the place is opened. */
function datasetOf(place: CdcPlace): string {
  let dataset = datasets.get(place.id);
  if (!dataset) {
    dataset = datasetName("cdc");
    datasets.set(place.id, dataset);
  }
  return dataset;
}

async function tableColumns(place: CdcPlace): Promise<string[]> {
  const [metadata] = await target.client.dataset(datasetOf(place)).table("items").getMetadata();
  return (metadata.schema.fields as { name: string }[]).map((f) => f.name);
}

/**
 * The kit for one `cdc_method`. Storage Write API changes are applied by BigQuery's background
 * jobs (the table has `max_staleness`): the reader runs the emulator's apply first, as a reader of
 * real BigQuery would wait for it (that suite sets `max_staleness: 0`).
 */
function kitFor(cdcMethod: "storage_write" | "merge"): CdcLoaderKit {
  return {
    loader: `target-bigquery (cdc_method: ${cdcMethod})`,
    factory: (config, place) => {
      const loader = new BigqueryLoader(
        bigqueryConfig(target, datasetOf(place), {
          cdc_method: cdcMethod,
          ...(target.emulator ? {} : { max_staleness: "0" }),
          ...config,
        }),
        { projectDir: place.dir },
        { env: {} },
      );
      if (cdcMethod === "merge") return loader;
      // The stream as tap-postgres describes a REPLICA IDENTITY FULL table: its changes go to
      // the default stream (others are merged, as the merge kit covers).
      const openStream = loader.openStream.bind(loader);
      loader.openStream = (schema, options) => openStream({ ...schema, wholeRowChanges: true }, options);
      return loader;
    },
    async readTable(place, columns, orderBy) {
      await target.emulator?.storageWrite.applyPendingChanges();
      const rows = await plainRows(
        target,
        `SELECT ${columns.join(", ")} FROM \`${datasetOf(place)}.items\` ORDER BY ${orderBy}`,
      );
      // The client returns JSON as its text.
      return rows.map((r) =>
        "doc" in r && typeof r.doc === "string" ? { ...r, doc: JSON.parse(r.doc) as unknown } : r,
      );
    },
    tableColumns,
    spelling: {
      integer: (n) => n,
      json: (value) => value,
      timestamp: (text) => text.replace(" ", "T"),
      instant: (utc) => new Date(`${utc.replace(" ", "T")}Z`).toISOString(),
    },
  };
}

const kit = kitFor("merge");
const storageWriteKit = kitFor("storage_write");

/** Asserts `_sdc_deleted_at: null`, a column BigQuery's table does not have under hard_delete. */
const REINSERTED_HARD =
  "a key deleted then inserted again in one batch ends present and not deleted (hard_delete true)";

/**
 * Cases whose changes need the stored row (a field left out, a soft delete carrying only the key,
 * a truncate): on the default stream they are refused before anything is sent (an UPSERT replaces
 * the whole row, and BigQuery refuses MERGE, UPDATE and DELETE on the table), as
 * bigquery-storage-write.test.ts checks; a source with REPLICA IDENTITY FULL never sends them, and
 * streams of other sources are merged, as the merge kit below covers.
 */
const NEEDS_STORED_ROW = new Set([
  "a field the change did not carry (an unchanged TOAST value) keeps the stored value",
  "_sdc_unchanged counts positions in the batch's own column order",
  "a soft delete keeps the row's values and sets _sdc_deleted_at (no metadata columns needed)",
  "a later batch brings a soft-deleted key back",
  "truncate marks every live row deleted at the truncate's commit time, or removes them with hard_delete",
  "with add_metadata_columns, _sdc_sequence holds the batch's sequence; _sdc_unchanged is never stored",
  "a column the stream no longer has keeps its stored values through merges",
]);

runCdcLoaderCases(storageWriteKit, {
  upsertTitle: "UPSERT and DELETE on the default stream, whole rows",
  only: CDC_CASE_NAMES.filter((name) => name !== REINSERTED_HARD && !NEEDS_STORED_ROW.has(name)),
});

runCdcLoaderCases(kit, {
  upsertTitle: "one deduplicated MERGE per batch",
  only: CDC_CASE_NAMES.filter((name) => name !== REINSERTED_HARD),
  notes: { [CDC_CASE_NAMES[0]!]: "several per key: no MERGE error" },
});

describe("target-bigquery applies change batches exactly (one deduplicated MERGE per batch)", () => {
  test("with add_metadata_columns, an update that left doc out keeps it and has its own _sdc_sequence; _sdc_unchanged is never stored", async () => {
    const h = openCdcTable(kit, { add_metadata_columns: true });
    await h.write(CDC_SEED);
    await h.write([`1,renamed,,,,40,2`]);
    expect(await h.rows(["id", "name", "doc", "_sdc_sequence", "_sdc_table_version"])).toEqual([
      { id: 1, name: "renamed", doc: { v: 1 }, _sdc_sequence: 40, _sdc_table_version: 7 },
      { id: 2, name: "two", doc: { v: 2 }, _sdc_sequence: 2, _sdc_table_version: 7 },
      { id: 3, name: "three", doc: { v: 3 }, _sdc_sequence: 3, _sdc_table_version: 7 },
    ]);
    expect(await tableColumns(h.place)).not.toContain("_sdc_unchanged");
    await h.close();
  });
});
