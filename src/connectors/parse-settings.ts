import type { z } from "zod";
import { ConfigError } from "../errors.js";
import type { PluginConfig } from "./connector.js";

/**
 * Parses a plugin's settings with `schema` where they enter the connector: a value of the wrong
 * kind is a ConfigError naming the plugin and each setting at once, never a cast. (The project
 * file checked kinds and added defaults already; this also covers connectors built in code.)
 */
export function parseSettings<S extends z.ZodType>(
  plugin: string,
  schema: S,
  config: PluginConfig,
): z.infer<S> {
  const parsed = schema.safeParse(config);
  if (parsed.success) return parsed.data;
  throw new ConfigError(
    parsed.error.issues.map((issue) => `${plugin}: setting \`${issue.path.join(".")}\`: ${issue.message}`),
  );
}
