import type { ExtractorDefinition } from "../connector.js";
import { tapPostgresSettings } from "./postgres-settings.js";

export const tapPostgres: ExtractorDefinition = {
  type: "extractor",
  name: "tap-postgres",
  description: "PostgreSQL: FULL_TABLE and INCREMENTAL through COPY (settings of pipelinewise-tap-postgres)",
  settings: tapPostgresSettings,
  // Loaded when used: `sluice --help` and the project commands never load the driver.
  create: async (config, context) =>
    new (await import("./postgres-extractor.js")).PostgresExtractor(config, context?.plugin),
};
