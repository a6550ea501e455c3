import type { SettingDefinition } from "../connector.js";
import { loaderSettings } from "../loader-core/loader-settings.js";

/**
 * Settings of target-bigquery, named as the adswerve variant names them (so a Meltano project's
 * `config:` block works unchanged), plus sluice's own `load_method`, `hard_delete`,
 * `existing_tables` (the loaders' shared definition) and `invalid_values`.
 */
export const targetBigquerySettings: readonly SettingDefinition[] = [
  { name: "project_id", kind: "string", required: true, description: "Google Cloud project of the dataset" },
  {
    name: "dataset_id",
    kind: "string",
    required: true,
    aliases: ["default_target_schema"],
    description: "Dataset every table goes to (letters, digits, underscores); created if missing",
  },
  {
    name: "location",
    kind: "string",
    default: "US",
    description: "Where the dataset is created and the jobs run (US, EU, europe-west2, ...)",
  },
  {
    name: "credentials_path",
    kind: "string",
    description:
      "Service-account key file (JSON), relative to the project folder; by default GOOGLE_APPLICATION_CREDENTIALS, then application default credentials",
  },
  {
    name: "add_metadata_columns",
    kind: "boolean",
    default: false,
    description: "Add _sdc_extracted_at, _sdc_received_at, _sdc_batched_at, _sdc_deleted_at, ... columns",
  },
  { name: "table_prefix", kind: "string", default: "", description: "Prepended to every table name" },
  { name: "table_suffix", kind: "string", default: "", description: "Appended to every table name" },
  {
    name: "replication_method",
    kind: "string",
    choices: ["append", "truncate", "incremental"],
    description:
      "adswerve's name for load_method: append = append-only, truncate = overwrite, incremental = upsert",
  },
  {
    name: "load_method",
    kind: "string",
    choices: ["append-only", "upsert", "overwrite"],
    description:
      "How incremental batches land: merged on the key (upsert, the default), appended, or the table replaced each run",
  },
  {
    name: "hard_delete",
    kind: "boolean",
    default: false,
    description: "Delete rows whose _sdc_deleted_at is set instead of keeping them marked",
  },
  loaderSettings({}).find((s) => s.name === "existing_tables")!,
  {
    name: "max_cache",
    kind: "integer",
    default: 50,
    description:
      "Largest load job, in MB of NDJSON: a bigger batch is sent as several jobs (applied at once)",
  },
  {
    name: "table_config",
    kind: "object",
    default: {},
    description:
      'Per stream or table: {"public-events": {"partition_field": "created_at", "partition_type": "DAY", "cluster_fields": ["account_id"]}}; a MERGE reads only the partitions its changes fall in when partition_field is a key column; otherwise it scans the whole table unless you add "prune_merges": true, saying the column never changes for a row (a created_at: a row that moves partitions would then be inserted beside its old one); "prune_merges": false never prunes',
  },
  {
    name: "invalid_values",
    kind: "string",
    default: "fail",
    choices: ["fail", "null", "clamp"],
    description:
      "Values BigQuery cannot hold (infinity dates, NaN numeric, >38 fraction digits, NULL array elements): fail the batch, load NULL, or the nearest value BigQuery holds",
  },
  {
    name: "max_retries",
    kind: "integer",
    default: 6,
    description: "Retries of a request or job that failed transiently (429, 5xx, backendError), with backoff",
  },
  {
    name: "cdc_method",
    kind: "string",
    default: "storage_write",
    choices: ["storage_write", "merge"],
    description:
      "How change data capture lands: storage_write = UPSERT/DELETE rows on the table's default stream (Storage Write API, BigQuery applies them; priced per byte sent) for source tables whose changes carry whole rows (PostgreSQL REPLICA IDENTITY FULL), other tables merged; merge = a load job and a MERGE per batch (priced per byte the MERGE scans)",
  },
  {
    name: "max_staleness",
    kind: "string",
    default: "15m",
    description:
      "cdc_method storage_write: the table's max_staleness (30s, 15m, 1h, 0 = none): how old a query's view of the changes may be; longer means fewer, cheaper background apply jobs",
  },
  {
    name: "merge_interval",
    kind: "string",
    default: "5m",
    description:
      "Change batches that are merged (cdc_method merge, or a source table without REPLICA IDENTITY FULL) are loaded into a changes table and merged at most this often (5m: under 300 MERGEs per table per day, each billed on what it reads), and when the stream ends; 0 merges each batch",
  },
  {
    name: "maximum_bytes_billed",
    kind: "integer",
    description:
      "Every query sluice runs (MERGE, ALTER, ...) fails instead of billing more than this many bytes (BigQuery's maximumBytesBilled); none by default",
  },
  {
    name: "storage_write_endpoint",
    kind: "string",
    description:
      "host:port of the Storage Write API (gRPC) when api_endpoint is an emulator that does not say where it is; plaintext",
  },
  {
    name: "api_endpoint",
    kind: "string",
    description:
      "BigQuery API root (an emulator: http://localhost:9050); BIGQUERY_EMULATOR_HOST also sets it",
  },
];
