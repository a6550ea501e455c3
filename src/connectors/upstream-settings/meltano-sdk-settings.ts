import { onlyBoolean, onlyEmpty, type UpstreamSetting } from "./upstream-setting.js";

/**
 * The settings the Meltano Singer SDK adds to every tap or target built with it (meltanolabs'
 * tap-postgres and target-postgres, z3z1ma's target-bigquery), as its documentation lists them:
 * https://sdk.meltano.com/en/latest/implementation/cli.html and .../stream_maps.html.
 */
const SDK = ["meltano-sdk"];

const streamMaps: UpstreamSetting[] = [
  {
    name: "stream_maps",
    variants: SDK,
    kind: "object",
    description: "Inline stream maps: rename, filter, hash or add properties and streams",
    decision: {
      kind: "semantic",
      accepts: onlyEmpty,
      sluiceDoes: "loads each selected stream's columns as the source has them",
      instead:
        "remove it; choose columns with `select` (`schema.table.column`, `!` to exclude) and transform in the warehouse (dbt), or run a Meltano mapper as an external plugin",
    },
  },
  {
    name: "stream_map_config",
    variants: SDK,
    kind: "object",
    description: "Values that stream_maps expressions may use",
    decision: {
      kind: "cosmetic",
      why: "it is only read by stream_maps expressions, which sluice does not run",
    },
  },
  {
    name: "faker_config",
    variants: SDK,
    kind: "object",
    description: "Seed and locales of the `fake` object in stream_maps expressions",
    decision: {
      kind: "cosmetic",
      why: "it is only read by stream_maps expressions, which sluice does not run",
    },
  },
  {
    name: "flattening_enabled",
    variants: SDK,
    kind: "boolean",
    description: "Flatten nested objects into columns",
    decision: {
      kind: "semantic",
      accepts: onlyBoolean(false),
      sluiceDoes: "keeps a json/jsonb value whole in one JSON column",
      instead: "remove it (or set it to false) and unnest the JSON in the warehouse",
    },
  },
  {
    name: "flattening_max_depth",
    variants: SDK,
    kind: "integer",
    description: "How deep flattening_enabled flattens",
    decision: {
      kind: "cosmetic",
      why: "it is only read when flattening_enabled is true, which sluice refuses",
    },
  },
  {
    name: "batch_config",
    variants: SDK,
    kind: "object",
    description: "Exchange BATCH messages (files of records) instead of RECORD messages",
    decision: {
      kind: "cosmetic",
      why: "built-in plugins hand each other batch files in-process already; what lands is the same",
    },
  },
];

/** The SDK's settings of every tap. */
export const sdkTapSettings: readonly UpstreamSetting[] = streamMaps;

/** The SDK's settings of every target (its SQL targets add `hard_delete` and `load_method`). */
export const sdkTargetSettings: readonly UpstreamSetting[] = [
  ...streamMaps,
  {
    name: "add_record_metadata",
    variants: SDK,
    kind: "boolean",
    description: "Add the _sdc_* metadata columns",
    decision: { kind: "sluice", setting: "add_metadata_columns" },
  },
  {
    name: "validate_records",
    variants: [...SDK, "transferwise", "adswerve", "jwills"],
    kind: "boolean",
    description: "Check every record against its stream's JSON schema before loading it",
    decision: {
      kind: "cosmetic",
      why: "sluice types every value from the source's column types before it loads it; a value that does not fit fails the batch either way",
    },
  },
  {
    name: "batch_size_rows",
    variants: [...SDK, "transferwise", "jwills"],
    kind: "integer",
    description: "Rows a target buffers before it loads them",
    decision: {
      kind: "cosmetic",
      why: "the extractor cuts batches (tap-postgres batch_size_rows and batch_size_mb) and each is loaded whole; the state moves only after a batch is durable",
    },
  },
  {
    name: "process_activate_version_messages",
    variants: SDK,
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
];
