import { pipelinewiseTargetSettings } from "./pipelinewise-target-settings.js";
import { sdkTargetSettings } from "./meltano-sdk-settings.js";
import { onlyEmpty, type UpstreamInventory } from "./upstream-setting.js";

const JW = ["jwills"];

/** target-duckdb: jwills' (a fork of pipelinewise-target-postgres), the settings sluice is named after. */
export const targetDuckdbUpstream: UpstreamInventory = {
  plugin: "target-duckdb",
  sources: [
    {
      variant: "jwills",
      package: "target-duckdb",
      docs: "https://github.com/jwills/target-duckdb#configuration-settings",
    },
  ],
  settings: [
    ...[
      ["filepath", "path"],
      ["path", "path"],
      ["default_target_schema", "default_target_schema"],
      ["add_metadata_columns", "add_metadata_columns"],
      ["hard_delete", "hard_delete"],
    ].map(([name, setting]) => ({
      name: name!,
      variants: JW,
      kind: "string" as const,
      description: `target-duckdb's ${name!}`,
      decision: { kind: "sluice" as const, setting: setting! },
    })),
    ...pipelinewiseTargetSettings("jwills", "DuckDB"),
    {
      name: "token",
      variants: JW,
      kind: "string",
      description: "MotherDuck token, for an md: database",
      secret: true,
      decision: {
        kind: "semantic",
        accepts: onlyEmpty,
        sluiceDoes: "writes a local DuckDB file",
        instead: "remove it: sluice does not load into MotherDuck",
      },
    },
    ...["delimiter", "quotechar"].map((name) => ({
      name,
      variants: JW,
      kind: "string" as const,
      description: `The ${name} of its temporary CSV files`,
      decision: {
        kind: "cosmetic" as const,
        why: "sluice writes its own batch files and reads them back exactly; the characters used change nothing",
      },
    })),
    // jwills' target is not built on the SDK, but Meltano projects move between variants with
    // these spellings (add_record_metadata, load_method): read them the same way.
    ...sdkTargetSettings.filter((setting) =>
      ["add_record_metadata", "validate_records", "batch_size_rows"].includes(setting.name),
    ),
  ],
};
