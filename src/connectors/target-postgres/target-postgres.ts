import type { LoaderDefinition } from "../connector.js";
import { targetPostgresSettings } from "./postgres-target-settings.js";

export const targetPostgres: LoaderDefinition = {
  type: "loader",
  name: "target-postgres",
  description:
    "PostgreSQL schema: COPY-loaded typed tables, INSERT ... ON CONFLICT upsert, atomic full-table replace",
  settings: targetPostgresSettings,
  create: async (config, context) =>
    new (await import("./postgres-target-loader.js")).PostgresTargetLoader(config, context.plugin),
};
