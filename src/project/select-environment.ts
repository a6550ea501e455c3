import { ConfigError } from "../errors.js";
import { suggestionSuffix } from "./did-you-mean.js";
import type { EnvSource } from "./env-file.js";
import type {
  EnvironmentEntry,
  EnvironmentMapperOverride,
  EnvironmentPluginOverride,
  PluginType,
  ProjectFile,
} from "./project-file.js";

/**
 * The environment a command runs in: `explicit` (`--environment`), else `SLUICE_ENVIRONMENT`, else
 * `MELTANO_ENVIRONMENT`, else `default_environment`; none when none of these is set or `explicit`
 * is null. A name that the file does not define is a ConfigError listing those it does.
 */
export function selectEnvironment(
  project: ProjectFile,
  explicit: string | null | undefined,
  env: EnvSource,
): EnvironmentEntry | undefined {
  if (explicit === null) return undefined;
  const candidates: [string | undefined, string][] = [
    [explicit, "--environment"],
    [env.SLUICE_ENVIRONMENT, "SLUICE_ENVIRONMENT"],
    [env.MELTANO_ENVIRONMENT, "MELTANO_ENVIRONMENT"],
    [project.default_environment, "default_environment"],
  ];
  const chosen = candidates.find(([name]) => name !== undefined && name !== "");
  if (!chosen) return undefined;
  const [name, from] = chosen as [string, string];
  const environment = project.environments.find((candidate) => candidate.name === name);
  if (environment) return environment;
  const names = project.environments.map((candidate) => candidate.name);
  throw new ConfigError(
    `environment "${name}" (from ${from}) does not exist${suggestionSuffix(name, names)}; ` +
      (names.length === 0 ? "the project defines no environments" : `environments: ${names.join(", ")}`),
  );
}

/** The environment's override of the plugin named `name`, if it has one. */
export function environmentOverride(
  environment: EnvironmentEntry | undefined,
  type: PluginType,
  name: string,
): EnvironmentPluginOverride | undefined {
  const list =
    type === "extractor" ? environment?.config.plugins.extractors : environment?.config.plugins.loaders;
  return list?.find((override) => override.name === name);
}

/** The environment's override of the mapper or mapping named `name` (`config.plugins.mappers[]`), if any. */
export function environmentMapperOverride(
  environment: EnvironmentEntry | undefined,
  name: string,
): EnvironmentMapperOverride | undefined {
  return environment?.config.plugins.mappers.find((override) => override.name === name);
}
