import type { LoaderDefinition } from "../connector.js";
import { PostgresTargetLoader } from "./postgres-target-loader.js";
import { targetPostgresSettings } from "./postgres-target-settings.js";

export const targetPostgres: LoaderDefinition = {
  type: "loader",
  name: "target-postgres",
  description:
    "PostgreSQL schema: COPY-loaded typed tables, INSERT ... ON CONFLICT upsert, atomic full-table replace",
  settings: targetPostgresSettings,
  create: (config) => new PostgresTargetLoader(config),
};
