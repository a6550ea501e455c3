import path from "node:path";
import { ConfigError } from "../../errors.js";
import type { PluginConfig } from "../connector.js";
import { isLegalDatasetId } from "./bigquery-names.js";
import type { InvalidValuePolicy } from "./bigquery-types.js";
import { EXISTING_TABLES, type ExistingTables } from "../loader-core/loader-settings.js";

export type BigqueryLoadMethod = "append-only" | "upsert" | "overwrite";

export interface TableOptions {
  partitionField?: string;
  partitionType?: "DAY" | "HOUR" | "MONTH" | "YEAR";
  clusterFields?: string[];
  /**
   * `prune_merges`: true, a MERGE reads only the partitions its changes fall in (the user's word
   * that a row's `partition_field` never changes, a `created_at`); false, it scans the table.
   * Unset: pruned only when the column is one of the merge keys (`prunesMerges`).
   */
  pruneMerges?: boolean;
}

/** target-bigquery's settings after checking and resolving (paths, environment, adswerve names). */
export interface BigqueryTargetConfig {
  projectId: string;
  datasetId: string;
  location: string;
  credentialsFile?: string;
  credentialsSource?: string;
  apiEndpoint?: string;
  /** How LOG_BASED change batches land (`cdc_method`). */
  cdcMethod: "storage_write" | "merge";
  /** `merge_interval` in seconds: change batches merged at most this often; 0 merges each batch. */
  mergeIntervalSeconds: number;
  /** `max_staleness` in seconds; 0: the table gets none (every query applies every change). */
  maxStalenessSeconds: number;
  /** `maximum_bytes_billed`: every query job's cap; undefined for none. */
  maximumBytesBilled?: number;
  /** `storage_write_endpoint`: host:port, plaintext. */
  storageWriteEndpoint?: string;
  addMetadataColumns: boolean;
  tablePrefix: string;
  tableSuffix: string;
  loadMethod: BigqueryLoadMethod;
  hardDelete: boolean;
  /** `existing_tables`: what happens to a table another target created (existing-columns.ts). */
  existingTables: ExistingTables;
  maxCacheBytes: number;
  tableConfig: Record<string, TableOptions>;
  invalidValues: InvalidValuePolicy;
  maxRetries: number;
}

const REPLICATION_METHODS: Record<string, BigqueryLoadMethod> = {
  append: "append-only",
  truncate: "overwrite",
  incremental: "upsert",
};

/**
 * Resolves the settings `sluice` checked (kinds, choices, defaults) into what the loader uses.
 * Relative paths are taken from the project folder; a missing `credentials_path` falls back to
 * GOOGLE_APPLICATION_CREDENTIALS, then to application default credentials; a missing
 * `api_endpoint` to BIGQUERY_EMULATOR_HOST.
 */
export function resolveBigqueryConfig(
  config: PluginConfig,
  context: { projectDir: string; env?: NodeJS.ProcessEnv },
): BigqueryTargetConfig {
  const env = context.env ?? process.env;
  const problems: string[] = [];
  const text = (name: string): string | undefined => {
    const value = config[name];
    return typeof value === "string" && value.trim() !== "" ? value.trim() : undefined;
  };
  const projectId = text("project_id");
  if (!projectId) problems.push("project_id: required (the Google Cloud project of the dataset)");
  const datasetId = text("dataset_id") ?? text("default_target_schema");
  if (!datasetId) problems.push("dataset_id: required (the BigQuery dataset to load into)");
  else if (!isLegalDatasetId(datasetId))
    problems.push(
      `dataset_id: "${datasetId}" is not a BigQuery dataset id (letters, digits and underscores only)`,
    );

  const fromReplication = text("replication_method");
  const explicit = text("load_method") as BigqueryLoadMethod | undefined;
  const mapped = fromReplication ? REPLICATION_METHODS[fromReplication] : undefined;
  if (fromReplication && !mapped)
    problems.push(`replication_method: expected append, truncate or incremental, got "${fromReplication}"`);
  if (explicit && mapped && explicit !== mapped)
    problems.push(
      `load_method: "${explicit}" contradicts replication_method "${fromReplication}" (which means ${mapped}); set one of them`,
    );

  let credentialsFile: string | undefined;
  let credentialsSource: string | undefined;
  const credentialsPath = text("credentials_path");
  if (credentialsPath) {
    credentialsFile = path.resolve(context.projectDir, credentialsPath);
    credentialsSource = "credentials_path";
  } else if (env.GOOGLE_APPLICATION_CREDENTIALS) {
    credentialsFile = path.resolve(env.GOOGLE_APPLICATION_CREDENTIALS);
    credentialsSource = "GOOGLE_APPLICATION_CREDENTIALS";
  }

  let apiEndpoint = text("api_endpoint") ?? (env.BIGQUERY_EMULATOR_HOST || undefined);
  if (apiEndpoint && !/^https?:\/\//.test(apiEndpoint)) apiEndpoint = `http://${apiEndpoint}`;
  apiEndpoint = apiEndpoint?.replace(/\/+$/, "");

  const cdcMethod = text("cdc_method") ?? "storage_write";
  if (cdcMethod !== "storage_write" && cdcMethod !== "merge")
    problems.push(`cdc_method: expected storage_write or merge, got "${cdcMethod}"`);
  const stalenessText = text("max_staleness") ?? "15m";
  const maxStalenessSeconds = parseDuration(stalenessText);
  if (maxStalenessSeconds === undefined)
    problems.push(
      `max_staleness: expected a duration such as 30s, 15m, 1h or 0 (none), got "${stalenessText}"`,
    );
  const maximumBytesBilled = config.maximum_bytes_billed;
  if (
    maximumBytesBilled !== undefined &&
    maximumBytesBilled !== null &&
    !(
      typeof maximumBytesBilled === "number" &&
      Number.isInteger(maximumBytesBilled) &&
      maximumBytesBilled > 0
    )
  )
    problems.push(
      `maximum_bytes_billed: expected a positive number of bytes, got ${JSON.stringify(maximumBytesBilled)}`,
    );
  const intervalText = text("merge_interval") ?? "5m";
  const mergeIntervalSeconds = parseDuration(intervalText);
  if (mergeIntervalSeconds === undefined)
    problems.push(
      `merge_interval: expected a duration such as 5m, 1h or 0 (each batch), got "${intervalText}"`,
    );
  const storageWriteEndpoint = text("storage_write_endpoint");
  if (storageWriteEndpoint !== undefined && !/^[^:/\s]+:\d+$/.test(storageWriteEndpoint))
    problems.push(`storage_write_endpoint: expected host:port, got "${storageWriteEndpoint}"`);

  const maxCache = typeof config.max_cache === "number" ? config.max_cache : 50;
  if (maxCache < 1) problems.push(`max_cache: expected at least 1 (MB), got ${maxCache}`);
  const existingTables = text("existing_tables") ?? "continue";
  if (!(EXISTING_TABLES as readonly string[]).includes(existingTables))
    problems.push(`existing_tables: expected ${EXISTING_TABLES.join(" or ")}, got "${existingTables}"`);
  const tableConfig = parseTableConfig(config.table_config, problems);
  if (problems.length > 0) throw new ConfigError(problems.map((p) => `target-bigquery ${p}`));

  return {
    projectId: projectId!,
    datasetId: datasetId!,
    location: text("location") ?? "US",
    ...(credentialsFile ? { credentialsFile, credentialsSource: credentialsSource! } : {}),
    ...(apiEndpoint ? { apiEndpoint } : {}),
    cdcMethod: cdcMethod as BigqueryTargetConfig["cdcMethod"],
    maxStalenessSeconds: maxStalenessSeconds ?? 0,
    mergeIntervalSeconds: mergeIntervalSeconds ?? 0,
    ...(storageWriteEndpoint ? { storageWriteEndpoint } : {}),
    ...(typeof maximumBytesBilled === "number" ? { maximumBytesBilled } : {}),
    addMetadataColumns: config.add_metadata_columns === true,
    tablePrefix: typeof config.table_prefix === "string" ? config.table_prefix : "",
    tableSuffix: typeof config.table_suffix === "string" ? config.table_suffix : "",
    loadMethod: explicit ?? mapped ?? "upsert",
    hardDelete: config.hard_delete === true,
    existingTables: existingTables as ExistingTables,
    maxCacheBytes: Math.max(1, maxCache) * 1024 * 1024,
    tableConfig,
    invalidValues: (text("invalid_values") as InvalidValuePolicy | undefined) ?? "fail",
    maxRetries: typeof config.max_retries === "number" ? config.max_retries : 6,
  };
}

const PARTITION_TYPES = ["DAY", "HOUR", "MONTH", "YEAR"] as const;

/** `table_config`: per stream id or table name, optionally under `streams` (adswerve's file shape). */
function parseTableConfig(value: unknown, problems: string[]): Record<string, TableOptions> {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) {
    problems.push(
      "table_config: expected a mapping of stream names to {partition_field, partition_type, cluster_fields}",
    );
    return {};
  }
  const root = value as Record<string, unknown>;
  const streams = (typeof root.streams === "object" && root.streams !== null ? root.streams : root) as Record<
    string,
    unknown
  >;
  const result: Record<string, TableOptions> = {};
  for (const [stream, entry] of Object.entries(streams)) {
    const where = `table_config.${stream}`;
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      problems.push(`${where}: expected {partition_field, partition_type, cluster_fields}`);
      continue;
    }
    const e = entry as Record<string, unknown>;
    const options: TableOptions = {};
    for (const key of Object.keys(e)) {
      if (!["partition_field", "partition_type", "cluster_fields", "prune_merges"].includes(key))
        problems.push(
          `${where}.${key}: unknown (expected partition_field, partition_type, cluster_fields or prune_merges)`,
        );
    }
    if (e.prune_merges !== undefined) {
      if (typeof e.prune_merges === "boolean") options.pruneMerges = e.prune_merges;
      else problems.push(`${where}.prune_merges: expected true or false`);
    }
    if (e.partition_field !== undefined) {
      if (typeof e.partition_field === "string") options.partitionField = e.partition_field;
      else problems.push(`${where}.partition_field: expected a column name`);
    }
    if (e.partition_type !== undefined) {
      const type = String(e.partition_type).toUpperCase();
      if ((PARTITION_TYPES as readonly string[]).includes(type))
        options.partitionType = type as TableOptions["partitionType"];
      else
        problems.push(
          `${where}.partition_type: expected DAY, HOUR, MONTH or YEAR, got ${String(e.partition_type)}`,
        );
    }
    if (e.cluster_fields !== undefined) {
      const fields =
        typeof e.cluster_fields === "string"
          ? e.cluster_fields.split(",").map((f) => f.trim())
          : e.cluster_fields;
      if (Array.isArray(fields) && fields.every((f) => typeof f === "string") && fields.length <= 4)
        options.clusterFields = fields as string[];
      else problems.push(`${where}.cluster_fields: expected up to 4 column names`);
    }
    result[stream] = options;
  }
  return result;
}

/** `30s`, `15m`, `1h`, `1d`, or a number of seconds; `0` is none. Undefined when unreadable. */
function parseDuration(text: string): number | undefined {
  const match = /^\s*(\d+)\s*(s|m|h|d)?\s*$/i.exec(text);
  if (!match) return undefined;
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[(match[2] ?? "s").toLowerCase() as "s" | "m" | "h" | "d"];
  return Number(match[1]) * unit;
}
