import { sdkTargetSettings } from "./meltano-sdk-settings.js";
import {
  asBoolean,
  onlyBoolean,
  onlyEmpty,
  type MappedValue,
  type UpstreamInventory,
} from "./upstream-setting.js";

const AD = ["adswerve"];
const Z3 = ["z3z1ma"];

/**
 * z3z1ma's `upsert` and `overwrite` decide together what sluice's `load_method` decides: upsert
 * wins over overwrite, neither appends. A list of stream patterns (per-stream choice) has no
 * equivalent: sluice's load_method is per loader.
 */
function z3LoadMethod(
  own: "upsert" | "overwrite",
): (value: unknown, others: Record<string, unknown>) => MappedValue {
  return (value, others) => {
    if (Array.isArray(value))
      return {
        problem:
          "a list of stream patterns is not supported: sluice's load_method applies to every stream of the loader; define a second loader (inherit_from: target-bigquery) with its own load_method for those streams",
      };
    const on = asBoolean(value);
    if (on === undefined) return { problem: "must be true or false" };
    const upsert = own === "upsert" ? on : asBoolean(others.upsert) === true;
    const overwrite = own === "overwrite" ? on : asBoolean(others.overwrite) === true;
    if (own === "overwrite" && upsert) return undefined; // upsert decides
    if (upsert) return { value: "upsert" };
    if (overwrite) return { value: "overwrite" };
    return { value: "append-only" };
  };
}

/** target-bigquery: adswerve's (the settings sluice is named after) and z3z1ma's. */
export const targetBigqueryUpstream: UpstreamInventory = {
  plugin: "target-bigquery",
  sources: [
    {
      variant: "adswerve",
      package: "adswerve/target-bigquery",
      docs: "https://hub.meltano.com/loaders/target-bigquery--adswerve",
    },
    {
      variant: "z3z1ma",
      package: "z3-target-bigquery",
      docs: "https://github.com/z3z1ma/target-bigquery#configuration",
    },
  ],
  settings: [
    ...[
      "project_id",
      "dataset_id",
      "add_metadata_columns",
      "replication_method",
      "table_prefix",
      "table_suffix",
      "max_cache",
      "table_config",
    ].map((name) => ({
      name,
      variants: AD,
      kind: "string" as const,
      description: "adswerve setting of the same name",
      decision: { kind: "sluice" as const, setting: name },
    })),
    ...["location", "credentials_path"].map((name) => ({
      name,
      variants: [...AD, ...Z3],
      kind: "string" as const,
      description: "setting of the same name",
      decision: { kind: "sluice" as const, setting: name },
    })),
    {
      name: "merge_state_messages",
      variants: AD,
      kind: "boolean",
      default: false,
      description: "Merge the STATE messages of all streams into one before emitting it",
      decision: {
        kind: "cosmetic",
        why: "sluice keeps each stream's bookmark in its own state store and commits it once the stream's batch is durable",
      },
    },
    {
      name: "project",
      variants: Z3,
      kind: "string",
      description: "Google Cloud project",
      decision: { kind: "sluice", setting: "project_id" },
    },
    {
      name: "dataset",
      variants: Z3,
      kind: "string",
      description: "Dataset",
      decision: { kind: "sluice", setting: "dataset_id" },
    },
    {
      name: "credentials_json",
      variants: Z3,
      kind: "string",
      description: "The service-account key itself, as JSON text",
      secret: true,
      decision: {
        kind: "semantic",
        sluiceDoes: "reads the service-account key from a file",
        instead:
          "write the key to a file and set credentials_path to it (credentials_path may be a secret reference: file:, gcp-sm://, aws-sm://), or use application default credentials",
      },
    },
    {
      name: "method",
      variants: Z3,
      kind: "string",
      default: "storage_write_api",
      description: "How rows are written: storage_write_api, batch_job, gcs_stage or streaming_insert",
      decision: {
        kind: "semantic",
        accepts: (value) => value === "batch_job",
        sluiceDoes: "loads each batch with a load job (z3z1ma's batch_job) and merges it in one MERGE",
        instead: "remove it, or set it to batch_job",
      },
    },
    {
      name: "denormalized",
      variants: Z3,
      kind: "boolean",
      default: false,
      description: "A column per property (true) or one JSON data column (false)",
      decision: {
        kind: "semantic",
        accepts: onlyBoolean(true),
        sluiceDoes: "creates a typed column per source column",
        instead: "set it to true (or remove it): sluice has no single-JSON-column layout",
      },
    },
    {
      name: "generate_view",
      variants: Z3,
      kind: "boolean",
      default: false,
      description: "Create a typed view over the JSON data column",
      decision: {
        kind: "semantic",
        accepts: onlyBoolean(false),
        sluiceDoes: "creates typed tables, so no view is needed",
        instead: "remove it",
      },
    },
    {
      name: "upsert",
      variants: Z3,
      kind: "boolean",
      default: false,
      description: "MERGE on the key properties (true, or a list of stream patterns)",
      decision: { kind: "mapped", setting: "load_method", map: z3LoadMethod("upsert") },
    },
    {
      name: "overwrite",
      variants: Z3,
      kind: "boolean",
      default: false,
      description: "Replace the table each run (true, or a list of stream patterns)",
      decision: { kind: "mapped", setting: "load_method", map: z3LoadMethod("overwrite") },
    },
    {
      name: "dedupe_before_upsert",
      variants: Z3,
      kind: "boolean",
      default: false,
      description: "Keep one row per key of a batch before merging it",
      decision: {
        kind: "cosmetic",
        why: "sluice always reduces a batch to one row per key (the newest change wins) before it merges",
      },
    },
    {
      name: "batch_size",
      variants: Z3,
      kind: "integer",
      default: 500,
      description: "Rows per request or commit",
      decision: {
        kind: "cosmetic",
        why: "the extractor cuts batches and each is loaded whole (max_cache bounds a load job)",
      },
    },
    {
      name: "timeout",
      variants: Z3,
      kind: "integer",
      default: 600,
      description: "Seconds to wait for a load job",
      decision: {
        kind: "cosmetic",
        why: "sluice waits for its load jobs and retries transient failures (max_retries)",
      },
    },
    {
      name: "fail_fast",
      variants: Z3,
      kind: "boolean",
      default: true,
      description: "Stop at the first failed write",
      decision: {
        kind: "cosmetic",
        why: "sluice stops at the first batch that fails after its retries, and the state stays before it",
      },
    },
    {
      name: "bucket",
      variants: Z3,
      kind: "string",
      description: "GCS bucket for method gcs_stage",
      decision: { kind: "cosmetic", why: "only method gcs_stage reads it; sluice loads with load jobs" },
    },
    {
      name: "partition_granularity",
      variants: Z3,
      kind: "string",
      default: "month",
      description: "Partitioning of the tables it creates",
      decision: {
        kind: "cosmetic",
        why: "partitioning changes cost, not rows; sluice partitions and clusters as table_config says",
      },
    },
    {
      name: "cluster_on_key_properties",
      variants: Z3,
      kind: "boolean",
      default: false,
      description: "Cluster tables on the key properties",
      decision: {
        kind: "cosmetic",
        why: "clustering changes cost, not rows; sluice clusters as table_config's cluster_fields says",
      },
    },
    {
      name: "column_name_transforms",
      variants: Z3,
      kind: "object",
      description: "lower, quote, add_underscore_when_invalid, snake_case, replace_period_with_underscore",
      decision: {
        kind: "semantic",
        accepts: (value) =>
          onlyEmpty(value) ||
          (typeof value === "object" &&
            value !== null &&
            Object.values(value).every((item) => asBoolean(item) === false)),
        sluiceDoes: "names each column as the source does (invalid characters replaced by _)",
        instead: "remove it and rename columns in a view or a dbt model",
      },
    },
    {
      name: "options",
      variants: Z3,
      kind: "object",
      description: "storage_write_batch_mode, process_pool, max_workers",
      decision: { kind: "cosmetic", why: "they tune z3z1ma's worker pool; what lands is the same" },
    },
    {
      name: "schema_resolver_version",
      variants: Z3,
      kind: "integer",
      default: 1,
      description: "How JSON schema types become BigQuery types",
      decision: {
        kind: "cosmetic",
        why: "sluice maps each source column type to a BigQuery type itself, not from a Singer schema",
      },
    },
    ...sdkTargetSettings,
  ],
};
