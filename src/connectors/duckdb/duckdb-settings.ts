import type { SettingDefinition } from "../connector.js";

/** Settings of target-duckdb, named as the Singer target-duckdb variants name them. */
export const targetDuckdbSettings: readonly SettingDefinition[] = [
  {
    name: "path",
    kind: "string",
    required: true,
    aliases: ["filepath"],
    description: "DuckDB database file, relative to the project folder",
  },
  {
    name: "default_target_schema",
    kind: "string",
    description: "Schema for every table; by default the source schema name (`public`)",
  },
  { name: "table_prefix", kind: "string", default: "", description: "Prepended to every table name" },
  {
    name: "add_metadata_columns",
    kind: "boolean",
    default: false,
    description: "Add _sdc_extracted_at, _sdc_received_at, _sdc_batched_at, _sdc_deleted_at, ... columns",
  },
  {
    name: "load_method",
    kind: "string",
    default: "upsert",
    choices: ["append-only", "upsert", "overwrite"],
    description:
      "How incremental batches land: merged on the key, appended (LOG_BASED: every change a row, a change log), or the table replaced each run",
  },
  {
    name: "hard_delete",
    kind: "boolean",
    default: false,
    description:
      "Delete rows whose _sdc_deleted_at is set (and all rows on a source TRUNCATE) instead of keeping them marked",
  },
  {
    name: "memory_limit",
    kind: "string",
    // NOTE: 48MB, not DuckDB's usual share of RAM: a 10M-row copy peaked 10–20 MB lower than
    // under 64MB and no slower (one batch loading needs under 24 MB; see shared-memory-limit.ts).
    default: "48MB",
    description: "DuckDB memory_limit while loading (bounds the loader's memory)",
  },
  {
    name: "threads",
    kind: "integer",
    description:
      "DuckDB threads while loading; by default one per core but one, which the extractor keeps busy (parsing COPY, and PostgreSQL itself when local)",
  },
  {
    name: "parallel_batches",
    kind: "integer",
    description:
      "Batches of one table loaded at once while it is copied whole (FULL_TABLE, a LOG_BASED initial copy, overwrite), each on a connection of its own; by default one per core but one, at most 4. They share memory_limit",
  },
];
