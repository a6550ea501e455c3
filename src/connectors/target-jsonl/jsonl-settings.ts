import type { SettingDefinition } from "../connector.js";

/** Settings of target-jsonl (as the andyh1203 variant, plus sluice's metadata columns). */
export const targetJsonlSettings: readonly SettingDefinition[] = [
  {
    name: "destination_path",
    kind: "string",
    default: "output",
    localPath: true,
    description: "Folder for the files, relative to the project folder",
  },
  {
    name: "do_timestamp_file",
    kind: "boolean",
    default: false,
    description: "Add the run's start time to each file name",
  },
  { name: "add_metadata_columns", kind: "boolean", default: false, description: "Add the _sdc_* columns" },
];
