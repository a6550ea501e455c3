import fs from "node:fs";
import path from "node:path";
import { BigQuery } from "@google-cloud/bigquery";
import {
  startBigQueryEmulator,
  type BigQueryEmulator,
  type BigQueryEmulatorOptions,
} from "@sluice/emulators/bigquery";
import type { PluginConfig } from "../../../src/connectors/connector.js";
import {
  BigqueryLoader,
  type BigqueryLoaderOptions,
} from "../../../src/connectors/target-bigquery/bigquery-loader.js";
import type { RetryPolicy } from "../../../src/runner/retry-policy.js";
import type { RunEvent, RunSummary } from "../../../src/runner/run-events.js";
import { SqliteSystemDatabase } from "../../../src/state/sqlite-system-database.js";
import type { SingerState } from "../../../src/protocol/state.js";
import type { TestDatabase } from "../../support/pg.js";
import { runFromPostgres } from "../../support/pipeline.js";

/**
 * Where target-bigquery tests load: the local emulator by default, or real BigQuery when
 * SLUICE_BIGQUERY_PROJECT is set (with GOOGLE_APPLICATION_CREDENTIALS or application default
 * credentials): the same tests, an opt-in suite (README "BigQuery").
 */
export interface BigqueryTarget {
  projectId: string;
  /** The emulator, when the tests run against it (failure injection needs it). */
  emulator?: BigQueryEmulator;
  /** Settings pointing target-bigquery at this target. */
  config: PluginConfig;
  /** A client for assertions. */
  client: BigQuery;
  close(): Promise<void>;
}

export async function startBigqueryTarget(
  options: { requireAuth?: boolean; emulator?: BigQueryEmulatorOptions } = {},
): Promise<BigqueryTarget> {
  const real = process.env.SLUICE_BIGQUERY_PROJECT;
  if (real) {
    const client = new BigQuery({ projectId: real });
    return {
      projectId: real,
      config: { project_id: real, location: process.env.SLUICE_BIGQUERY_LOCATION ?? "US" },
      client,
      // Real datasets cost money and clutter a project: every one a test named goes.
      close: async () => {
        for (const name of createdDatasets.splice(0))
          await client
            .dataset(name)
            .delete({ force: true })
            .catch(() => undefined);
      },
    };
  }
  // Jobs "take" a second on the emulator's clock, as the fastest BigQuery jobs do: rate limits
  // (5 table updates per 10 s) then refuse what production would refuse, no more.
  const emulator = await startBigQueryEmulator({
    jobDurationMs: 1000,
    ...(options.requireAuth ? { requireAuth: true } : {}),
    ...options.emulator,
  });
  return {
    projectId: emulator.projectId,
    emulator,
    config: { project_id: emulator.projectId, api_endpoint: emulator.url },
    client: new BigQuery({ projectId: emulator.projectId, apiEndpoint: emulator.url, apiKey: "test" }),
    close: () => emulator.close(),
  };
}

/** A dataset name unique to a test, so files can share a real project. */
export function datasetName(prefix: string): string {
  const name = `sluice_${prefix}_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  createdDatasets.push(name);
  return name;
}

const createdDatasets: string[] = [];

/** target-bigquery settings with the defaults the project file would add. */
export function bigqueryConfig(
  target: BigqueryTarget,
  dataset: string,
  extra: PluginConfig = {},
): PluginConfig {
  return {
    ...target.config,
    dataset_id: dataset,
    location: target.config.location ?? "US",
    add_metadata_columns: false,
    table_prefix: "",
    table_suffix: "",
    hard_delete: false,
    max_cache: 50,
    table_config: {},
    invalid_values: "fail",
    max_retries: 6,
    ...extra,
  };
}

/** Runs tap-postgres into target-bigquery in-process, with a SQLite state database in `workDir`. */
export async function runToBigquery(options: {
  db: TestDatabase;
  workDir: string;
  target: PluginConfig;
  streams: Record<string, Record<string, unknown>> | "all";
  tap?: PluginConfig;
  fullRefresh?: boolean;
  loaderOptions?: BigqueryLoaderOptions;
  observer?: (event: RunEvent) => void;
  retry?: RetryPolicy;
}): Promise<RunSummary> {
  const loader = new BigqueryLoader(
    options.target,
    { projectDir: options.workDir },
    {
      env: {},
      retryBaseDelayMs: 20,
      ...options.loaderOptions,
    },
  );
  return runFromPostgres({ ...options, loader, loaderName: "target-bigquery", stateId: STATE_ID });
}

export const STATE_ID = "test:tap-postgres-to-target-bigquery";

/** The state the runs in `workDir` committed. */
export async function committedState(workDir: string): Promise<SingerState | undefined> {
  const file = path.join(workDir, ".sluice", "sluice.db");
  if (!fs.existsSync(file)) return undefined;
  const system = await SqliteSystemDatabase.open({ path: file });
  try {
    return await system.stateStore.get(STATE_ID);
  } finally {
    await system.close();
  }
}

/** Rows of a query through the official client, values as the client returns them. */
export async function bigqueryRows(
  target: BigqueryTarget,
  sql: string,
  location = String(target.config.location ?? "US"),
): Promise<Record<string, unknown>[]> {
  const [rows] = await target.client.query({ query: sql, location, wrapIntegers: true });
  return rows as Record<string, unknown>[];
}

/** A value as the client returns it, made comparable: wrappers unwrapped, NUMERIC as text. */
export function plain(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (Array.isArray(value)) return value.map(plain);
  if (Buffer.isBuffer(value)) return `\\x${value.toString("hex")}`;
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  if (typeof value === "object") {
    const object = value as Record<string, unknown>;
    // DATE, TIME, DATETIME, TIMESTAMP wrappers; INT64 with `wrapIntegers` ({type: "BigQueryInt", value}).
    if (object.type === "BigQueryInt") {
      const n = Number(object.value);
      return Number.isSafeInteger(n) ? n : String(object.value);
    }
    if ("value" in object && Object.keys(object).length === 1) return object.value;
    // big.js (NUMERIC, BIGNUMERIC): `c` digits, `e` exponent, `s` sign; toFixed() prints every digit.
    if ("c" in object && "e" in object && "s" in object) return (value as { toFixed(): string }).toFixed();
    return value;
  }
  return value;
}

/** Rows with every value through `plain`. */
export async function plainRows(target: BigqueryTarget, sql: string): Promise<Record<string, unknown>[]> {
  return (await bigqueryRows(target, sql)).map((row) =>
    Object.fromEntries(Object.entries(row).map(([k, v]) => [k, plain(v)])),
  );
}
