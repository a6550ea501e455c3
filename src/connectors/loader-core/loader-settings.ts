import { z } from "zod";
import type { PluginConfig, SettingDefinition } from "../connector.js";
import { parseSettings } from "../parse-settings.js";

/**
 * The settings every warehouse loader shares, declared once: how batches land (`load_method`),
 * deletes (`hard_delete`), the `_sdc_*` columns (`add_metadata_columns`), table naming
 * (`table_prefix`) and tables another target created (`existing_tables`). Each loader lists them among its own (`loaderSettings(...)`) and parses them
 * with `parseLoaderSettings`, so their names, defaults and meaning cannot drift apart.
 */

export const LOAD_METHODS = ["append-only", "upsert", "overwrite"] as const;
export type LoadMethod = (typeof LOAD_METHODS)[number];

/** What happens to a table another target created (see existing-columns.ts). */
export const EXISTING_TABLES = ["continue", "rebuild"] as const;
export type ExistingTables = (typeof EXISTING_TABLES)[number];

export interface LoaderSettings {
  tablePrefix: string;
  addMetadataColumns: boolean;
  loadMethod: LoadMethod;
  hardDelete: boolean;
  existingTables: ExistingTables;
}

/** The shared settings' definitions, with a loader's own wording or aliases where it has them. */
export function loaderSettings(options: {
  /** How `upsert` merges in this warehouse, for the description. */
  upsertBy?: string;
  addMetadataAliases?: readonly string[];
}): SettingDefinition[] {
  return [
    { name: "table_prefix", kind: "string", default: "", description: "Prepended to every table name" },
    {
      name: "add_metadata_columns",
      kind: "boolean",
      default: false,
      ...(options.addMetadataAliases ? { aliases: options.addMetadataAliases } : {}),
      description: "Add _sdc_extracted_at, _sdc_received_at, _sdc_batched_at, _sdc_deleted_at, ... columns",
    },
    {
      name: "load_method",
      kind: "string",
      default: "upsert",
      choices: LOAD_METHODS,
      description: `How incremental batches land: merged on the key${options.upsertBy ? ` (${options.upsertBy})` : ""}, appended (LOG_BASED: every change a row, a change log), or the table replaced each run`,
    },
    {
      name: "hard_delete",
      kind: "boolean",
      default: false,
      description:
        "Delete rows whose _sdc_deleted_at is set (and all rows on a source TRUNCATE) instead of keeping them marked",
    },
    {
      name: "existing_tables",
      kind: "string",
      default: "continue",
      choices: EXISTING_TABLES,
      description:
        "A table another target created (a Meltano pipeline's): continue it with its column types where they hold the values (one warning names what is lost), or rebuild it with sluice's types on --full-refresh",
    },
  ];
}

const schema = z.object({
  table_prefix: z.string().default(""),
  add_metadata_columns: z.boolean().default(false),
  load_method: z.enum(LOAD_METHODS).default("upsert"),
  hard_delete: z.boolean().default(false),
  existing_tables: z.enum(EXISTING_TABLES).default("continue"),
});

/**
 * The shared settings of `config` (already merged and typed by the project file), parsed: a value
 * of the wrong kind is a ConfigError naming the plugin and the setting, never a cast.
 */
export function parseLoaderSettings(plugin: string, config: PluginConfig): LoaderSettings {
  const { table_prefix, add_metadata_columns, load_method, hard_delete, existing_tables } = parseSettings(
    plugin,
    schema,
    config,
  );
  return {
    tablePrefix: table_prefix,
    addMetadataColumns: add_metadata_columns,
    loadMethod: load_method,
    hardDelete: hard_delete,
    existingTables: existing_tables,
  };
}
