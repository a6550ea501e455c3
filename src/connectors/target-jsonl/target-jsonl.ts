import type { LoaderDefinition } from "../connector.js";
import { JsonlLoader } from "./jsonl-loader.js";
import { targetJsonlSettings } from "./jsonl-settings.js";

export const targetJsonl: LoaderDefinition = {
  type: "loader",
  name: "target-jsonl",
  description: "One JSON-lines file per stream, for inspection",
  settings: targetJsonlSettings,
  create: (config, context) => new JsonlLoader(config, context),
};
