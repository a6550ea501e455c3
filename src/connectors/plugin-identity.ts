import { envPrefixOf, envVarName } from "../project/setting-values.js";

/**
 * Which plugin of the project a connector runs as. Its errors name the plugin and, for each
 * setting to fix, the variables that set it: a project's `tap-postgres-prod` (inheriting from
 * tap-postgres) is told about TAP_POSTGRES_PROD_PASSWORD, target-postgres about
 * TARGET_POSTGRES_PASSWORD, never another plugin's.
 */
export interface PluginIdentity {
  /** The plugin's name in the project: `tap-postgres`, or `tap-postgres-prod` inheriting from it. */
  name: string;
  /**
   * Prefixes of the variables that set its settings, first wins: the plugin's own, then its
   * namespace's and its parents' (`envPrefixes`). Empty where no variable sets a setting
   * (`sluice tap --config`, whose settings come from the file alone).
   */
  envPrefixes: readonly string[];
}

/** A built-in used under its own name: `tap-postgres`, set by TAP_POSTGRES_<SETTING>. */
export function builtinIdentity(name: string): PluginIdentity {
  return { name, envPrefixes: [envPrefixOf(name)] };
}

/** `` `password` (TAP_POSTGRES_PROD_PASSWORD or TAP_POSTGRES_PASSWORD) ``: a setting as a message names it. */
export function describeSetting(plugin: PluginIdentity, setting: string): string {
  const variables = plugin.envPrefixes.map((prefix) => envVarName(prefix, setting));
  return variables.length === 0 ? `\`${setting}\`` : `\`${setting}\` (${variables.join(" or ")})`;
}

/** Several settings, `and` before the last: `` `host` (TAP_POSTGRES_HOST) and `port` (TAP_POSTGRES_PORT) ``. */
export function describeSettings(plugin: PluginIdentity, settings: readonly string[]): string {
  const described = settings.map((setting) => describeSetting(plugin, setting));
  if (described.length <= 1) return described.join("");
  return `${described.slice(0, -1).join(", ")} and ${described[described.length - 1]!}`;
}
