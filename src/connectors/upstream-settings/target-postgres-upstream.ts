import { sdkTargetSettings } from "./meltano-sdk-settings.js";
import { meltanolabsPostgresConnection } from "./meltanolabs-postgres-connection.js";
import { pipelinewiseTargetSettings } from "./pipelinewise-target-settings.js";
import { onlyBoolean, onlyEmpty, type UpstreamInventory } from "./upstream-setting.js";

const TW = ["transferwise"];
const ML = ["meltanolabs"];
const BOTH = ["transferwise", "meltanolabs"];

/** target-postgres: pipelinewise-target-postgres (the settings sluice is named after) and meltanolabs'. */
export const targetPostgresUpstream: UpstreamInventory = {
  plugin: "target-postgres",
  sources: [
    {
      variant: "transferwise",
      package: "pipelinewise-target-postgres",
      docs: "https://github.com/transferwise/pipelinewise-target-postgres#configuration-settings",
    },
    {
      variant: "meltanolabs",
      package: "meltanolabs-target-postgres",
      docs: "https://github.com/MeltanoLabs/target-postgres#settings",
    },
  ],
  settings: [
    ...["host", "port", "user", "password", "default_target_schema", "hard_delete"].map((name) => ({
      name,
      variants: BOTH,
      kind: "string" as const,
      description: "setting of the same name",
      decision: { kind: "sluice" as const, setting: name },
    })),
    ...["dbname", "ssl", "add_metadata_columns"].map((name) => ({
      name,
      variants: TW,
      kind: "string" as const,
      description: "pipelinewise-target-postgres setting of the same name",
      decision: { kind: "sluice" as const, setting: name },
    })),
    {
      name: "database",
      variants: ML,
      kind: "string",
      description: "Database name",
      decision: { kind: "sluice", setting: "dbname" },
    },
    {
      name: "load_method",
      variants: ML,
      kind: "string",
      default: "append-only",
      description: "append-only, upsert or overwrite",
      decision: { kind: "sluice", setting: "load_method" },
    },
    {
      name: "batch_size",
      variants: TW,
      kind: "integer",
      default: 100000,
      description: "Rows per batch (older releases' name of batch_size_rows)",
      decision: {
        kind: "cosmetic",
        why: "the extractor cuts batches (tap-postgres batch_size_rows and batch_size_mb) and each is loaded whole",
      },
    },
    {
      name: "default_target_schema_select_permission",
      variants: TW,
      kind: "string",
      description: "Grant USAGE and SELECT on created schemas and tables to these roles",
      decision: {
        kind: "semantic",
        accepts: onlyEmpty,
        sluiceDoes: "grants nothing: tables belong to the loading user",
        instead:
          "grant once in the warehouse: ALTER DEFAULT PRIVILEGES IN SCHEMA <schema> GRANT SELECT ON TABLES TO <role> (and GRANT USAGE ON SCHEMA)",
      },
    },
    ...pipelinewiseTargetSettings("transferwise", "PostgreSQL"),
    {
      name: "dialect+driver",
      variants: ML,
      kind: "string",
      default: "postgresql+psycopg2",
      description: "SQLAlchemy dialect and driver",
      decision: {
        kind: "cosmetic",
        why: "sluice speaks PostgreSQL's protocol itself; there is no driver to choose",
      },
    },
    {
      name: "activate_version",
      variants: ML,
      kind: "boolean",
      default: true,
      description: "Handle ACTIVATE_VERSION messages (delete rows a full-table copy did not carry)",
      decision: {
        kind: "semantic",
        accepts: onlyBoolean(true),
        sluiceDoes:
          "replaces a FULL_TABLE stream's table atomically at the end of its copy: rows the copy did not carry are gone",
        instead: "remove it; to keep rows the source deleted, replicate the table INCREMENTAL or LOG_BASED",
      },
    },
    {
      name: "interpret_content_encoding",
      variants: ML,
      kind: "boolean",
      default: false,
      description: "Store base16-encoded strings (contentEncoding) as bytea",
      decision: {
        kind: "semantic",
        accepts: onlyBoolean(false),
        sluiceDoes: "stores each column in the type the source column has (bytea stays bytea)",
        instead: "remove it",
      },
    },
    {
      name: "sanitize_null_text_characters",
      variants: ML,
      kind: "boolean",
      default: false,
      description: "Replace NUL characters in text with the replacement character",
      decision: {
        kind: "cosmetic",
        why: "a PostgreSQL source cannot hold a NUL character in text, so there is none to replace",
      },
    },
    ...meltanolabsPostgresConnection,
    ...sdkTargetSettings,
  ],
};
