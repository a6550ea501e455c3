import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { BigqueryLoader } from "../../../src/connectors/target-bigquery/bigquery-loader.js";
import type { StreamSchema } from "../../../src/connectors/column-type.js";
import type { PluginConfig } from "../../../src/connectors/connector.js";
import { DuckdbLoader } from "../../../src/connectors/target-duckdb/duckdb-loader.js";
import { PostgresTargetLoader } from "../../../src/connectors/target-postgres/postgres-target-loader.js";
import {
  CDC_COLUMNS,
  CDC_SCHEMA,
  CDC_SEED,
  DELETE_UNCHANGED,
  PLAIN_COLUMNS,
  openCdcTable,
  type CdcLoaderFactory,
} from "../../support/cdc-loader-cases.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";
import { duckdbConfig, tempDir } from "../../support/pipeline.js";
import { recordSql, type SqlRecorder } from "../../support/sql-recorder.js";
import { bigqueryConfig, datasetName, startBigqueryTarget, type BigqueryTarget } from "./bigquery-harness.js";
import { postgresTargetConfig } from "./postgres-target-support.js";

/**
 * The SQL each loader renders for the same scenarios, kept as snapshots beside this file
 * (`__snapshots__/loader-sql/<loader>.sql`): the change-data rules (newest `_sdc_sequence` wins,
 * uncarried fields keep the stored value, soft and hard deletes), the table lifecycle (create,
 * evolve, stage, swap, truncate) and metadata columns. What the statements do is asserted by the
 * change-batch kit (cdc-loader-cases.ts) per loader; this file makes any change to their text
 * visible as a diff (`npx vitest run -u` rewrites the snapshots: review the diff before committing).
 */

let warehouse: TestDatabase;
let bigquery: BigqueryTarget;
let recorder: SqlRecorder;
const dirs: string[] = [];

beforeAll(async () => {
  warehouse = await createTestDatabase("loader_sql");
  bigquery = await startBigqueryTarget();
  recorder = recordSql();
});

afterAll(async () => {
  recorder?.stop();
  await bigquery?.close();
  await warehouse?.drop();
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

interface Scenario {
  name: string;
  config: PluginConfig;
  mode?: "replace" | "incremental";
  batches: { rows: string[]; columns?: string[] }[];
  truncateAt?: Date;
  /** Opened again after the batches, with this schema, for one more batch. */
  reopen?: "same" | "column added";
  /**
   * Singer table versions: opened by ACTIVATE_VERSION(7) (staged: the table is new), then again
   * with version 8 for one more batch, whose ACTIVATE_VERSION removes version 7's rows.
   */
  versions?: boolean;
}

const UPDATES = [
  `1,renamed,,2024-02-01 00:00:00,,10,2`,
  `2,,,,2024-05-01 10:00:00.5+00,11,${DELETE_UNCHANGED}`,
  `4,four,"{""v"":4}",,,12,`,
];

const SCENARIOS: Scenario[] = [
  {
    name: "full table, replaced at finish",
    config: {},
    mode: "replace",
    batches: [{ rows: CDC_SEED.map(plain), columns: PLAIN_COLUMNS }],
  },
  {
    name: "full table with metadata columns",
    config: { add_metadata_columns: true },
    mode: "replace",
    batches: [{ rows: CDC_SEED.map(plain), columns: PLAIN_COLUMNS }],
  },
  {
    name: "upsert of plain batches (INCREMENTAL)",
    config: {},
    batches: [
      { rows: CDC_SEED.map(plain), columns: PLAIN_COLUMNS },
      { rows: [`1,again,,`], columns: PLAIN_COLUMNS },
    ],
  },
  {
    name: "change batches, soft deletes, truncate",
    config: {},
    batches: [{ rows: CDC_SEED }, { rows: UPDATES }],
    truncateAt: new Date("2024-06-02T00:00:00Z"),
  },
  {
    name: "change batches, hard deletes, truncate",
    config: { hard_delete: true },
    batches: [{ rows: CDC_SEED }, { rows: UPDATES }],
    truncateAt: new Date("2024-06-02T00:00:00Z"),
  },
  {
    name: "change batches with metadata columns",
    config: { add_metadata_columns: true },
    batches: [{ rows: CDC_SEED }, { rows: UPDATES }],
  },
  {
    name: "change batches, append-only",
    config: { load_method: "append-only" },
    batches: [{ rows: CDC_SEED }, { rows: UPDATES }],
  },
  { name: "a column added at the source", config: {}, batches: [{ rows: CDC_SEED }], reopen: "column added" },
  {
    name: "Singer table versions: a first version staged, a later one activated in place",
    config: {},
    batches: [{ rows: CDC_SEED.map(plain), columns: PLAIN_COLUMNS }],
    versions: true,
  },
  {
    name: "a second run into a table with metadata columns (nothing to alter)",
    config: { add_metadata_columns: true },
    batches: [{ rows: CDC_SEED }],
    reopen: "same",
  },
];

/** A CDC seed row without its three bookkeeping fields. */
function plain(row: string): string {
  return row.split(",").slice(0, -3).join(",");
}

const EVOLVED: StreamSchema = {
  ...CDC_SCHEMA,
  columns: [
    ...CDC_SCHEMA.columns,
    { name: "added", type: { kind: "string", sqlType: "text" }, nullable: true },
  ],
};

const LOADERS: { name: string; factory: () => CdcLoaderFactory }[] = [
  {
    name: "duckdb",
    factory: () => (config, place) =>
      new DuckdbLoader(duckdbConfig("warehouse.duckdb", config), { projectDir: place.dir }),
  },
  {
    name: "postgres",
    factory: () => (config, place) =>
      new PostgresTargetLoader(
        postgresTargetConfig(warehouse, { default_target_schema: place.id, ...config }),
      ),
  },
  {
    name: "bigquery",
    factory: () => {
      const datasets = new Map<string, string>();
      return (config, place) => {
        if (!datasets.has(place.id)) datasets.set(place.id, datasetName("sql"));
        return new BigqueryLoader(
          // The merge path's SQL, a MERGE per batch (merge_interval 0); storage_write sends rows, no SQL.
          bigqueryConfig(bigquery, datasets.get(place.id)!, {
            cdc_method: "merge",
            merge_interval: "0",
            ...config,
          }),
          { projectDir: place.dir },
          { env: {} },
        );
      };
    },
  },
];

/** Replaces what differs between runs (places, files, clocks, generated names) with a label. */
function normalise(statements: string[], placeId: string, dir: string): string {
  const today = new Date().toISOString().slice(0, 10);
  return statements
    .map((s) =>
      s
        .replaceAll(dir, "<dir>")
        .replaceAll(placeId, "<place>")
        .replace(/sluice_sql_[a-z0-9]+/g, "<dataset>")
        .replace(/__sluice_batch_[a-z0-9]+/g, "__sluice_batch_<id>")
        .replace(new RegExp(`${today}[T ][0-9:.]+(Z|\\+00(:00)?)?`, "g"), "<now>")
        .replace(/batch-\d+\.csv/g, "batch-<n>.csv")
        .replace(/\s+/g, " ")
        .trim(),
    )
    .join(";\n");
}

describe.each(LOADERS)("the SQL target-$name renders", ({ name, factory }) => {
  test("matches its snapshot for every scenario", async () => {
    const sections: string[] = [];
    const make = factory();
    for (const scenario of SCENARIOS) {
      const dir = tempDir("sluice-sql-");
      dirs.push(dir);
      const place = { dir, id: `sql_${name}_${sections.length}` };
      const kit = { factory: make, readTable: () => Promise.resolve([]) };
      recorder.take();
      const table = openCdcTable(kit, scenario.config, {
        place,
        ...(scenario.mode ? { mode: scenario.mode } : {}),
        ...(scenario.versions ? { tableVersion: "activate" as const } : {}),
      });
      for (const batch of scenario.batches) {
        await table.write(batch.rows, batch.columns ? { columns: batch.columns } : {});
      }
      if (scenario.truncateAt) await table.truncate(scenario.truncateAt);
      await table.close();
      if (scenario.reopen) {
        const added = scenario.reopen === "column added";
        const again = openCdcTable(kit, scenario.config, { place, schema: added ? EVOLVED : CDC_SCHEMA });
        await again.write([`5,five,,,,20,${added ? ",added" : ""}`], {
          columns: [...CDC_COLUMNS, ...(added ? ["added"] : [])],
        });
        await again.close();
      }
      if (scenario.versions) {
        const later = openCdcTable(kit, scenario.config, { place, tableVersion: "record", version: 8 });
        await later.write([`5,five,,`], { columns: PLAIN_COLUMNS });
        await later.activateVersion();
        await later.close();
      }
      sections.push(`-- ${scenario.name}\n${normalise(recorder.take(), place.id, dir)};`);
    }
    await expect(sections.join("\n\n") + "\n").toMatchFileSnapshot(
      path.join("__snapshots__", "loader-sql", `${name}.sql`),
    );
  }, 120_000);
});
