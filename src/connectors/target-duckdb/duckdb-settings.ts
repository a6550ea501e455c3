import type { SettingDefinition } from "../connector.js";
import { loaderSettings } from "../loader-core/loader-settings.js";

/** Settings of target-duckdb, named as the Singer target-duckdb variants name them. */
export const targetDuckdbSettings: readonly SettingDefinition[] = [
  {
    name: "path",
    kind: "string",
    required: true,
    aliases: ["filepath"],
    localPath: true,
    description: "DuckDB database file, relative to the project folder",
  },
  {
    name: "default_target_schema",
    kind: "string",
    description: "Schema for every table; by default the source schema name (`public`)",
  },
  ...loaderSettings({}),
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
