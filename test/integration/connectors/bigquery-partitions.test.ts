import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { PluginConfig } from "../../../src/connectors/connector.js";
import { BigqueryLoader } from "../../../src/connectors/target-bigquery/bigquery-loader.js";
import { CDC_SCHEMA, cdcBatch, PLAIN_COLUMNS } from "../../support/cdc-loader-cases.js";
import { tempDir } from "../../support/pipeline.js";
import {
  bigqueryConfig,
  datasetName,
  plainRows,
  startBigqueryTarget,
  type BigqueryTarget,
} from "./bigquery-harness.js";

// Partitioned and clustered targets on every path of target-bigquery, against the emulator's
// billing and partition limits (its job statistics and counters: not run against real BigQuery).
const emulatorOnly = process.env.SLUICE_BIGQUERY_PROJECT ? describe.skip : describe;

let target: BigqueryTarget;

beforeAll(async () => {
  target = await startBigqueryTarget({ emulator: { jobDurationMs: 0 } });
});

afterAll(async () => {
  await target?.close();
});

/** `items` partitioned by day of `changed_at` (a DATETIME) and clustered on `name`. */
function partitioned(dataset: string, extra: PluginConfig = {}, unit = "DAY"): PluginConfig {
  return bigqueryConfig(target, dataset, {
    table_config: {
      "public-items": { partition_field: "changed_at", partition_type: unit, cluster_fields: ["name"] },
    },
    ...extra,
  });
}

interface QueryJob {
  id: string;
  query: string;
  processed: number;
  billed: number;
}

/** Query jobs that name `dataset`, oldest first. */
async function queryJobs(dataset: string): Promise<QueryJob[]> {
  const [jobs] = await target.client.getJobs();
  return jobs
    .map((j) => {
      const metadata = j.metadata as {
        id?: string;
        configuration?: { query?: { query?: string } };
        statistics?: {
          creationTime?: string;
          query?: { totalBytesProcessed?: string; totalBytesBilled?: string };
        };
      };
      return {
        id: j.id ?? metadata.id ?? "",
        query: metadata.configuration?.query?.query ?? "",
        processed: Number(metadata.statistics?.query?.totalBytesProcessed ?? 0),
        billed: Number(metadata.statistics?.query?.totalBytesBilled ?? 0),
        created: Number(metadata.statistics?.creationTime ?? 0),
      };
    })
    .filter((j) => j.query.includes(dataset))
    .sort((a, b) => a.created - b.created);
}

async function expectLayout(dataset: string, unit = "DAY"): Promise<void> {
  const [metadata] = await target.client.dataset(dataset).table("items").getMetadata();
  expect(metadata.timePartitioning).toMatchObject({ type: unit, field: "changed_at" });
  expect(metadata.clustering).toEqual({ fields: ["name"] });
}

const day = (d: number): string => `2024-01-${String(d).padStart(2, "0")}`;

emulatorOnly("target-bigquery into partitioned tables", () => {
  test("a MERGE scans only the partitions the changes touch: one day of thirty bills that day, not the table", async () => {
    const dir = tempDir();
    const dataset = datasetName("prune");
    const loader = new BigqueryLoader(
      partitioned(dataset, { cdc_method: "merge", merge_interval: "0" }),
      { projectDir: dir },
      { env: {} },
    );
    const writer = await loader.openStream(structuredClone(CDC_SCHEMA), {
      mode: "incremental",
      version: 1,
      distinctKeys: false,
    });
    // 30 days of 100 rows of about 1 KB each.
    const payload = "x".repeat(1000);
    const seed = Array.from({ length: 3000 }, (_, i) => {
      const d = Math.floor(i / 100) + 1;
      return `${i + 1},${payload},,${day(d)} 10:00:00,,${i + 1},`;
    });
    await writer.write(cdcBatch(dir, seed));
    const before = new Set((await queryJobs(dataset)).map((j) => j.id));
    // Day 5 holds ids 401..500: two updates and a new row on that day.
    await writer.write(
      cdcBatch(dir, [
        `401,changed,,${day(5)} 10:00:00,,4001,`,
        `450,changed,,${day(5)} 11:00:00,,4002,`,
        `9001,new,,${day(5)} 12:00:00,,4003,`,
      ]),
    );
    await writer.finish();
    await loader.close();
    const merges = (await queryJobs(dataset)).filter((j) => !before.has(j.id) && j.query.startsWith("MERGE"));
    expect(merges).toHaveLength(1);
    const [merge] = merges;
    // One day of the target is ~100 KB (of ~3 MB); the staged changes are a few hundred bytes.
    const oneDay = 100 * (1000 + 2 + 8 + 8);
    expect(merge!.processed).toBeGreaterThan(oneDay);
    expect(merge!.processed).toBeLessThan(oneDay * 1.2);
    expect(merge!.query).toMatch(
      /ON T\.`id` = S\.`id` AND \(T\.`changed_at` >= DATETIME '2024-01-05 00:00:00'/,
    );
    expect(
      await plainRows(
        target,
        `SELECT count(*) AS n, countif(name = 'changed') AS changed, countif(id = 9001) AS added FROM \`${dataset}.items\``,
      ),
    ).toEqual([{ n: 3001, changed: 2, added: 1 }]);
    await expectLayout(dataset);
  });

  test("a change that leaves the partition column out (a delete carrying only the key) merges unpruned, and lands", async () => {
    const dir = tempDir();
    const dataset = datasetName("prune_del");
    const loader = new BigqueryLoader(
      partitioned(dataset, { cdc_method: "merge", merge_interval: "0", hard_delete: true }),
      { projectDir: dir },
      { env: {} },
    );
    const writer = await loader.openStream(structuredClone(CDC_SCHEMA), {
      mode: "incremental",
      version: 1,
      distinctKeys: false,
    });
    await writer.write(cdcBatch(dir, [`1,a,,${day(1)} 10:00:00,,1,`, `2,b,,${day(2)} 10:00:00,,2,`]));
    await writer.write(cdcBatch(dir, [`2,,,,2024-06-01 00:00:00+00,3,"1,2,3"`]));
    await writer.finish();
    await loader.close();
    const merges = (await queryJobs(dataset)).filter((j) => j.query.startsWith("MERGE"));
    expect(merges.at(-1)!.query).not.toContain("T.`changed_at` >=");
    expect(await plainRows(target, `SELECT id FROM \`${dataset}.items\` ORDER BY id`)).toEqual([{ id: 1 }]);
  });

  test("prune_merges: false (a partition_field that changes): a row moving to another day is updated, not inserted beside itself", async () => {
    const dir = tempDir();
    const dataset = datasetName("prune_off");
    const config = (prune: boolean): PluginConfig =>
      bigqueryConfig(target, dataset, {
        cdc_method: "merge",
        merge_interval: "0",
        table_config: {
          "public-items": { partition_field: "changed_at", partition_type: "DAY", prune_merges: prune },
        },
      });
    const loader = new BigqueryLoader(config(false), { projectDir: dir }, { env: {} });
    const writer = await loader.openStream(structuredClone(CDC_SCHEMA), {
      mode: "incremental",
      version: 1,
      distinctKeys: false,
    });
    await writer.write(cdcBatch(dir, [`1,a,,${day(1)} 10:00:00,,1,`, `2,b,,${day(2)} 10:00:00,,2,`]));
    await writer.write(cdcBatch(dir, [`1,moved,,${day(9)} 10:00:00,,3,`]));
    await writer.finish();
    await loader.close();
    const merges = (await queryJobs(dataset)).filter((j) => j.query.startsWith("MERGE"));
    expect(merges.at(-1)!.query).not.toContain("T.`changed_at` >=");
    expect(
      await plainRows(
        target,
        `SELECT id, name, CAST(changed_at AS STRING) AS at FROM \`${dataset}.items\` ORDER BY id`,
      ),
    ).toEqual([
      { id: 1, name: "moved", at: "2024-01-09 10:00:00" },
      { id: 2, name: "b", at: "2024-01-02 10:00:00" },
    ]);
  });

  test("append: one load job, and a batch past max_cache staged in a table partitioned and clustered as the target, then copied", async () => {
    const dir = tempDir();
    const dataset = datasetName("part_append");
    const loader = new BigqueryLoader(
      partitioned(dataset, { load_method: "append-only", max_cache: 1 }),
      { projectDir: dir },
      { env: {} },
    );
    const schema = structuredClone(CDC_SCHEMA);
    const writer = await loader.openStream(schema, { mode: "incremental", version: 1, distinctKeys: false });
    await writer.write(cdcBatch(dir, [`1,a,,${day(1)} 10:00:00`], { columns: PLAIN_COLUMNS }));
    const big = Array.from(
      { length: 3000 },
      (_, i) => `${i + 2},${"y".repeat(500)},,${day((i % 20) + 1)} 00:00:00`,
    );
    const requests = target.emulator!.requests.length;
    await writer.write(cdcBatch(dir, big, { columns: PLAIN_COLUMNS }));
    await writer.finish();
    await loader.close();
    const uploads = target.emulator!.requests.slice(requests).filter((r) => r.startsWith("POST /upload/"));
    expect(uploads.length).toBeGreaterThanOrEqual(2);
    expect(
      await plainRows(
        target,
        `SELECT count(*) AS n, count(DISTINCT changed_at) AS days FROM \`${dataset}.items\``,
      ),
    ).toEqual([{ n: 3001, days: 21 }]);
    await expectLayout(dataset);
  });

  test("upsert and replace (FULL_TABLE through __sluice_new and a copy) keep the partitioning and clustering", async () => {
    const dir = tempDir();
    const dataset = datasetName("part_upsert");
    const config = partitioned(dataset);
    const rows = [`1,a,,${day(1)} 10:00:00`, `2,b,,${day(2)} 10:00:00`];
    for (const mode of ["replace", "incremental", "incremental"] as const) {
      const loader = new BigqueryLoader(config, { projectDir: dir }, { env: {} });
      const writer = await loader.openStream(structuredClone(CDC_SCHEMA), {
        mode,
        version: 1,
        distinctKeys: true,
      });
      await writer.write(
        cdcBatch(dir, mode === "replace" ? rows : [`2,b2,,${day(2)} 10:00:00`, `3,c,,${day(3)} 10:00:00`], {
          columns: PLAIN_COLUMNS,
        }),
      );
      await writer.finish();
      await loader.close();
      await expectLayout(dataset);
    }
    expect(await plainRows(target, `SELECT id, name FROM \`${dataset}.items\` ORDER BY id`)).toEqual([
      { id: 1, name: "a" },
      { id: 2, name: "b2" },
      { id: 3, name: "c" },
    ]);
    // The upserts merged the one or two days they touched.
    const merges = (await queryJobs(dataset)).filter((j) => j.query.startsWith("MERGE"));
    expect(merges.length).toBeGreaterThanOrEqual(1);
    for (const merge of merges)
      expect(merge.query).toContain("T.`changed_at` >= DATETIME '2024-01-02 00:00:00'");
  });

  test("Storage Write API: changes into a partitioned, clustered table", async () => {
    const dir = tempDir();
    const dataset = datasetName("part_sw");
    const loader = new BigqueryLoader(partitioned(dataset), { projectDir: dir }, { env: {} });
    const writer = await loader.openStream(structuredClone(CDC_SCHEMA), {
      mode: "incremental",
      version: 1,
      distinctKeys: false,
    });
    await writer.write(cdcBatch(dir, [`1,a,,${day(1)} 10:00:00,,1,`, `2,b,,${day(2)} 10:00:00,,2,`]));
    await writer.write(cdcBatch(dir, [`1,a2,,${day(1)} 10:00:00,,3,`]));
    await writer.finish();
    await loader.close();
    await target.emulator!.storageWrite.applyPendingChanges();
    expect(await plainRows(target, `SELECT id, name FROM \`${dataset}.items\` ORDER BY id`)).toEqual([
      { id: 1, name: "a2" },
      { id: 2, name: "b" },
    ]);
    await expectLayout(dataset);
  });

  test("a batch over more than 4,000 partitions: appended in jobs of at most 4,000, merged in MERGEs of at most 4,000, replaced by a rename", async () => {
    const dir = tempDir();
    // 4,100 hours: 4,100 HOUR partitions.
    const hour = (i: number): string =>
      new Date(Date.UTC(2024, 0, 1) + i * 3_600_000).toISOString().slice(0, 19).replace("T", " ");
    const rows = Array.from({ length: 4100 }, (_, i) => `${i + 1},r,,${hour(i)}`);
    const appendSet = datasetName("part_many");
    const appender = new BigqueryLoader(
      partitioned(appendSet, { load_method: "append-only" }, "HOUR"),
      { projectDir: dir },
      { env: {} },
    );
    const writer = await appender.openStream(structuredClone(CDC_SCHEMA), {
      mode: "incremental",
      version: 1,
      distinctKeys: false,
    });
    await writer.write(cdcBatch(dir, rows, { columns: PLAIN_COLUMNS }));
    await writer.finish();
    await appender.close();
    expect(await plainRows(target, `SELECT count(*) AS n FROM \`${appendSet}.items\``)).toEqual([
      { n: 4100 },
    ]);

    const mergeSet = datasetName("part_many_merge");
    const merger = new BigqueryLoader(
      partitioned(mergeSet, { cdc_method: "merge", merge_interval: "0" }, "HOUR"),
      { projectDir: dir },
      { env: {} },
    );
    const changes = await merger.openStream(structuredClone(CDC_SCHEMA), {
      mode: "incremental",
      version: 1,
      distinctKeys: false,
    });
    await changes.write(
      cdcBatch(
        dir,
        rows.map((r, i) => `${r},,${i + 1},`),
      ),
    );
    await changes.finish();
    await merger.close();
    expect(await plainRows(target, `SELECT count(*) AS n FROM \`${mergeSet}.items\``)).toEqual([{ n: 4100 }]);
    expect((await queryJobs(mergeSet)).filter((j) => j.query.startsWith("MERGE"))).toHaveLength(2);

    // A replace (FULL_TABLE): loaded into __sluice_new in jobs of at most 4,000 partitions, which
    // then takes the table's name (a copy would modify them all in one job), without expiration.
    const replaceSet = datasetName("part_many_replace");
    for (const run of [rows, rows.slice(0, 4050)]) {
      const replacer = new BigqueryLoader(
        partitioned(replaceSet, {}, "HOUR"),
        { projectDir: dir },
        { env: {} },
      );
      const replacing = await replacer.openStream(structuredClone(CDC_SCHEMA), {
        mode: "replace",
        version: 1,
        distinctKeys: true,
      });
      await replacing.write(cdcBatch(dir, run, { columns: PLAIN_COLUMNS }));
      await replacing.finish();
      await replacer.close();
      expect(await plainRows(target, `SELECT count(*) AS n FROM \`${replaceSet}.items\``)).toEqual([
        { n: run.length },
      ]);
      const [metadata] = await target.client.dataset(replaceSet).table("items").getMetadata();
      expect(metadata.expirationTime).toBeUndefined();
    }
    await expectLayout(replaceSet, "HOUR");
  });

  test("a batch over more partitions than a table may hold (10,000) is refused before any job, naming the table, column and remedy", async () => {
    const dir = tempDir();
    const dataset = datasetName("part_refused");
    const loader = new BigqueryLoader(
      partitioned(dataset, { load_method: "append-only" }),
      { projectDir: dir },
      { env: {} },
    );
    const writer = await loader.openStream(structuredClone(CDC_SCHEMA), {
      mode: "incremental",
      version: 1,
      distinctKeys: false,
    });
    const days = Array.from({ length: 10_001 }, (_, i) => {
      const d = new Date(Date.UTC(1990, 0, 1) + i * 86_400_000).toISOString().slice(0, 10);
      return `${i + 1},r,,${d} 00:00:00`;
    });
    const uploads = target.emulator!.requests.filter((r) => r.startsWith("POST /upload/")).length;
    await expect(writer.write(cdcBatch(dir, days, { columns: PLAIN_COLUMNS }))).rejects.toThrow(
      /spans 10001 DAY partitions of .*part_refused.*items \(column changed_at\).*10000 partitions per table.*partition_type to MONTH/,
    );
    expect(target.emulator!.requests.filter((r) => r.startsWith("POST /upload/")).length).toBe(uploads);
    await writer.abort();
    await loader.close();
  });

  test("a job BigQuery refuses for the partitions a table may hold stops the run with the table, the column and the remedy", async () => {
    // An emulator whose tables hold 5 partitions at most (BigQuery: 10,000).
    const small = await startBigqueryTarget({
      emulator: { jobDurationMs: 0, limits: { partitionsPerTable: 5 } },
    });
    try {
      const dir = tempDir();
      const dataset = datasetName("part_full");
      const config = {
        ...partitioned(dataset, { load_method: "append-only" }),
        ...small.config,
      };
      const loader = new BigqueryLoader(config, { projectDir: dir }, { env: {} });
      const writer = await loader.openStream(structuredClone(CDC_SCHEMA), {
        mode: "incremental",
        version: 1,
        distinctKeys: false,
      });
      const rows = (from: number, to: number): string[] =>
        Array.from({ length: to - from + 1 }, (_, i) => `${from + i},r,,${day(from + i)} 00:00:00`);
      await writer.write(cdcBatch(dir, rows(1, 4), { columns: PLAIN_COLUMNS }));
      await expect(writer.write(cdcBatch(dir, rows(5, 6), { columns: PLAIN_COLUMNS }))).rejects.toThrow(
        /part_full.*items is partitioned by DAY on changed_at.*partition limits.*set table_config's partition_type to MONTH.*BigQuery said: Too many partitions/,
      );
      await writer.abort();
      await loader.close();
    } finally {
      await small.close();
    }
  });

  test("opening an upsert stream runs no query: a table it makes is empty, one tables.get counts rows in is not (free); its MERGEs run on a table clustered on the key", async () => {
    const dir = tempDir();
    const dataset = datasetName("open_free");
    const config = bigqueryConfig(target, dataset);
    const first = new BigqueryLoader(config, { projectDir: dir }, { env: {} });
    const writer = await first.openStream(structuredClone(CDC_SCHEMA), {
      mode: "incremental",
      version: 1,
      distinctKeys: true,
    });
    // A table the stream just made needs no query to be known empty.
    expect(await queryJobs(dataset)).toHaveLength(0);
    await writer.write(cdcBatch(dir, [`1,a,,${day(1)} 10:00:00`], { columns: PLAIN_COLUMNS }));
    await writer.finish();
    await first.close();
    const queries = (await queryJobs(dataset)).length;
    const again = new BigqueryLoader(config, { projectDir: dir }, { env: {} });
    const reopened = await again.openStream(structuredClone(CDC_SCHEMA), {
      mode: "incremental",
      version: 1,
      distinctKeys: true,
    });
    expect(await queryJobs(dataset)).toHaveLength(queries);
    // The stream merges (the table is not empty): a second row with key 1 is not appended.
    await reopened.write(cdcBatch(dir, [`1,b,,${day(1)} 10:00:00`], { columns: PLAIN_COLUMNS }));
    await reopened.finish();
    await again.close();
    expect(await plainRows(target, `SELECT id, name FROM \`${dataset}.items\``)).toEqual([
      { id: 1, name: "b" },
    ]);
    // An upsert's MERGE, like a change batch's, runs on a table clustered on the key.
    const [metadata] = await target.client.dataset(dataset).table("items").getMetadata();
    expect(metadata.clustering).toEqual({ fields: ["id"] });
  });
});
