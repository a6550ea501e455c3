import { onlyBoolean, onlyEmpty, type UpstreamSetting } from "./upstream-setting.js";

/**
 * Settings that the PipelineWise targets share (pipelinewise-target-postgres, and jwills'
 * target-duckdb, a fork of it), named and defaulted as their READMEs document them.
 */
export function pipelinewiseTargetSettings(variant: string, warehouse: string): UpstreamSetting[] {
  const variants = [variant];
  const performance = (why: string) => ({ kind: "cosmetic" as const, why });
  return [
    {
      name: "flush_all_streams",
      variants,
      kind: "boolean",
      default: false,
      description: "Load every stream's buffer when one is full",
      decision: performance("each batch is loaded as soon as it is cut, and its state committed after it"),
    },
    {
      name: "parallelism",
      variants,
      kind: "integer",
      default: 0,
      description: "Streams loaded at once (0: one per core)",
      decision: performance(
        "sluice loads streams at once as tap-postgres max_parallel_streams says; what lands is the same",
      ),
    },
    {
      name: "parallelism_max",
      variants,
      kind: "integer",
      default: 16,
      description: "Most streams loaded at once",
      decision: performance("sluice loads streams at once as tap-postgres max_parallel_streams says"),
    },
    {
      name: "temp_dir",
      variants,
      kind: "string",
      description: "Folder of the temporary CSV files",
      decision: performance(
        "sluice spools batch files where SLUICE_SPOOL_DIR says (default: the system's temp folder)",
      ),
    },
    {
      name: "data_flattening_max_level",
      variants,
      kind: "integer",
      default: 0,
      description: "Flatten nested objects into columns this deep (0: off)",
      decision: {
        kind: "semantic",
        accepts: onlyEmpty,
        sluiceDoes: "keeps a json/jsonb value whole in one JSON column (as level 0)",
        instead: `remove it (or set 0) and unnest the JSON in ${warehouse}`,
      },
    },
    {
      name: "primary_key_required",
      variants,
      kind: "boolean",
      default: true,
      description: "Refuse to load a stream that has no primary key",
      decision: {
        kind: "semantic",
        accepts: onlyBoolean(false),
        sluiceDoes:
          "loads a stream without a key by appending its rows (a FULL_TABLE copy replaces the table)",
        instead:
          "set primary_key_required: false to accept that, and give keyless tables a key where you need merges (metadata `table-key-properties`, or `view-key-properties` for a view)",
      },
    },
    {
      name: "schema_mapping",
      variants,
      kind: "object",
      description: "Target schema (and grants, indices) per source schema",
      decision: {
        kind: "semantic",
        accepts: onlyEmpty,
        sluiceDoes: "loads every stream into default_target_schema (or the source schema's name)",
        instead:
          "remove it; to load source schemas into different target schemas, define one loader per target schema (inherit_from) with its default_target_schema, and select the streams for each in its own extractor",
      },
    },
  ];
}
