import type { LoaderDefinition } from "../connector.js";
import { targetBigquerySettings } from "./bigquery-settings.js";

export const targetBigquery: LoaderDefinition = {
  type: "loader",
  name: "target-bigquery",
  description:
    "BigQuery through load jobs: typed tables, deduplicated MERGE on the key, atomic full-table replace",
  settings: targetBigquerySettings,
  create: async (config, context) =>
    new (await import("./bigquery-loader.js")).BigqueryLoader(config, context),
};
