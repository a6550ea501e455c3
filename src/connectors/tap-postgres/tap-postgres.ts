import type { ExtractorDefinition } from "../connector.js";
import { PostgresExtractor } from "./postgres-extractor.js";
import { tapPostgresSettings } from "./postgres-settings.js";

export const tapPostgres: ExtractorDefinition = {
  type: "extractor",
  name: "tap-postgres",
  description: "PostgreSQL: FULL_TABLE and INCREMENTAL through COPY (settings of pipelinewise-tap-postgres)",
  settings: tapPostgresSettings,
  create: (config) => new PostgresExtractor(config),
};
