import type { LoaderDefinition } from "../connector.js";
import { targetDuckdbSettings } from "./duckdb-settings.js";

export const targetDuckdb: LoaderDefinition = {
  type: "loader",
  name: "target-duckdb",
  description: "DuckDB file: typed tables, upsert on the key, atomic full-table replace",
  settings: targetDuckdbSettings,
  create: async (config, context) => new (await import("./duckdb-loader.js")).DuckdbLoader(config, context),
};
