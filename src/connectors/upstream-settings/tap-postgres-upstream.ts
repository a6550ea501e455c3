import { sdkTapSettings } from "./meltano-sdk-settings.js";
import { meltanolabsPostgresConnection } from "./meltanolabs-postgres-connection.js";
import { onlyBoolean, onlyEmpty, type UpstreamInventory } from "./upstream-setting.js";

const TW = ["transferwise"];
const ML = ["meltanolabs"];
const BOTH = ["transferwise", "meltanolabs"];

/** tap-postgres: pipelinewise-tap-postgres (the settings sluice is named after) and meltanolabs'. */
export const tapPostgresUpstream: UpstreamInventory = {
  plugin: "tap-postgres",
  sources: [
    {
      variant: "transferwise",
      package: "pipelinewise-tap-postgres",
      docs: "https://github.com/transferwise/pipelinewise-tap-postgres#create-a-configjson",
    },
    {
      variant: "meltanolabs",
      package: "meltanolabs-tap-postgres",
      docs: "https://github.com/MeltanoLabs/tap-postgres#settings",
    },
  ],
  settings: [
    ...["host", "port", "user", "password"].map((name) => ({
      name,
      variants: BOTH,
      kind: name === "port" ? ("integer" as const) : ("string" as const),
      ...(name === "port" ? { default: 5432 } : {}),
      description: `PostgreSQL ${name}`,
      decision: { kind: "sluice" as const, setting: name },
    })),
    {
      name: "dbname",
      variants: TW,
      kind: "string",
      description: "Database name",
      decision: { kind: "sluice", setting: "dbname" },
    },
    {
      name: "database",
      variants: ML,
      kind: "string",
      description: "Database name",
      decision: { kind: "sluice", setting: "dbname" },
    },
    {
      name: "filter_schemas",
      variants: BOTH,
      kind: "array",
      description: "Only these schemas (comma-separated in transferwise's, a list in meltanolabs')",
      decision: { kind: "sluice", setting: "filter_schemas" },
    },
    {
      name: "default_replication_method",
      variants: BOTH,
      kind: "string",
      description: "Replication method of streams whose metadata sets none",
      decision: { kind: "sluice", setting: "default_replication_method" },
    },
    ...[
      "ssl",
      "logical_poll_total_seconds",
      "break_at_end_lsn",
      "max_run_seconds",
      "tap_id",
      "itersize",
      "use_secondary",
      "secondary_host",
      "secondary_port",
    ].map((name) => ({
      name,
      variants: TW,
      kind: "string" as const,
      description: "pipelinewise-tap-postgres setting of the same name",
      decision: { kind: "sluice" as const, setting: name },
    })),
    {
      name: "debug_lsn",
      variants: TW,
      kind: "boolean",
      description: "Add an _sdc_lsn property to every record",
      decision: {
        kind: "semantic",
        accepts: onlyBoolean(false),
        sluiceDoes: "orders changes with _sdc_sequence (add_metadata_columns) and adds no _sdc_lsn column",
        instead: "remove it; set add_metadata_columns on the loader to keep each change's _sdc_sequence",
      },
    },
    {
      name: "wal2json_message_format",
      variants: TW,
      kind: "integer",
      default: 1,
      description: "Which wal2json format to decode",
      decision: {
        kind: "cosmetic",
        why: "sluice decodes the built-in pgoutput plugin, not wal2json; the changes are the same",
      },
    },
    {
      name: "replication_slot_name",
      variants: ML,
      kind: "string",
      default: "tappostgres",
      description: "Name of the logical replication slot",
      decision: { kind: "sluice", setting: "logical_slot_name" },
    },
    {
      name: "dates_as_string",
      variants: ML,
      kind: "boolean",
      default: false,
      description: "Emit date and timestamp columns as strings",
      decision: {
        kind: "semantic",
        accepts: onlyBoolean(false),
        sluiceDoes: "loads dates and timestamps as the warehouse's DATE and TIMESTAMP types",
        instead:
          "remove it; values a warehouse cannot hold (infinity, year 0) are handled by the loader's settings",
      },
    },
    {
      name: "json_as_object",
      variants: ML,
      kind: "boolean",
      default: false,
      description: "Emit json and jsonb columns as objects rather than strings",
      decision: {
        kind: "cosmetic",
        why: "sluice loads json and jsonb into the warehouse's JSON type whichever way the Singer schema would say it",
      },
    },
    {
      name: "max_record_count",
      variants: ML,
      kind: "integer",
      description: "Stop each stream after this many records",
      decision: {
        kind: "semantic",
        accepts: onlyEmpty,
        sluiceDoes: "copies every row of a selected stream",
        instead: "remove it; to move fewer rows, select fewer streams or replicate INCREMENTAL",
      },
    },
    ...meltanolabsPostgresConnection,
    ...sdkTapSettings,
  ],
};
