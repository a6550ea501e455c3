import type { LoaderDefinition } from "../connector.js";
import { targetJsonlSettings } from "./jsonl-settings.js";

export const targetJsonl: LoaderDefinition = {
  type: "loader",
  name: "target-jsonl",
  description: "One JSON-lines file per stream, for inspection",
  settings: targetJsonlSettings,
  create: async (config, context) => new (await import("./jsonl-loader.js")).JsonlLoader(config, context),
};
