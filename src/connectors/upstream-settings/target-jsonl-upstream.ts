import { onlyEmpty, type UpstreamInventory } from "./upstream-setting.js";

const AH = ["andyh1203"];

/** target-jsonl: andyh1203's, the settings sluice is named after. */
export const targetJsonlUpstream: UpstreamInventory = {
  plugin: "target-jsonl",
  sources: [
    {
      variant: "andyh1203",
      package: "target-jsonl",
      docs: "https://hub.meltano.com/loaders/target-jsonl--andyh1203",
    },
  ],
  settings: [
    ...["destination_path", "do_timestamp_file"].map((name) => ({
      name,
      variants: AH,
      kind: "string" as const,
      description: `target-jsonl's ${name}`,
      decision: { kind: "sluice" as const, setting: name },
    })),
    {
      name: "custom_name",
      variants: AH,
      kind: "string",
      description: "One file name for every stream instead of the stream's name",
      decision: {
        kind: "semantic",
        accepts: onlyEmpty,
        sluiceDoes: "writes each stream to a file named after it",
        instead: "remove it; each stream's file is <destination_path>/<stream>.jsonl",
      },
    },
  ],
};
