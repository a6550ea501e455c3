import type { LoaderDefinition } from "../connector.js";
import { DuckdbLoader } from "./duckdb-loader.js";
import { targetDuckdbSettings } from "./duckdb-settings.js";

export const targetDuckdb: LoaderDefinition = {
  type: "loader",
  name: "target-duckdb",
  description: "DuckDB file: typed tables, upsert on the key, atomic full-table replace",
  settings: targetDuckdbSettings,
  create: (config, context) => new DuckdbLoader(config, context),
};
