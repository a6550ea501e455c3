import { findMapping } from "../connectors/stream-maps/builtin-mapper.js";
import { ConfigError } from "../errors.js";
import { suggestionSuffix } from "./did-you-mean.js";
import { projectEnv, readEnvFile, type EnvSource } from "./env-file.js";
import {
  expandEnvLayers,
  expandEnvVars,
  unsetVariableProblem,
  type EnvLayer,
  type UnsetVariable,
} from "./expand-env-vars.js";
import { joinPath, ProblemList } from "./problem-list.js";
import type { ConfigMap, MapperEntry, MappingEntry, ProjectFile } from "./project-file.js";
import { secretValues } from "./redaction.js";
import { parseSettingValue, type SecretReference } from "./secret-references.js";
import { environmentMapperOverride, selectEnvironment } from "./select-environment.js";

/** Variables sluice sets itself: a path, never a secret (registered, it would blank out every path). */
const PROJECT_ROOT_VARIABLES = new Set(["SLUICE_PROJECT_ROOT", "MELTANO_PROJECT_ROOT"]);

export interface ResolveMappingConfigOptions {
  project: ProjectFile;
  projectDir: string;
  /** The mapping's name (a `run` block), as under a mapper's `mappings`; or a mapper's name (its own config). */
  name: string;
  /** As `resolvePluginConfig`'s: undefined lets the variables and `default_environment` choose. */
  environment?: string | null;
  /** The process environment; default `process.env`. Never modified. */
  env?: EnvSource;
  /** The variables of `.env`; default: read from `projectDir`. */
  dotEnv?: Readonly<Record<string, string>>;
  /** Given, problems (an unset `$VAR`) are passed here, for `config list`; else one ConfigError. */
  onProblems?: (problems: readonly string[]) => void;
}

/** A mapping's configuration as its mapper process (or the built-in stream maps) gets it. */
export interface ResolvedMapping {
  name: string;
  mapper: MapperEntry;
  /** Undefined when `name` is the mapper's: its config alone, for `sluice config <mapper>`. */
  mapping: MappingEntry | undefined;
  environment: string | undefined;
  /**
   * Later layers win, key by key at the top: the mapper's `config` < the environment's override of
   * the mapper < the mapping's `config` < the environment's override of the mapping. `$VAR`s
   * expanded; a secret reference is as written until `resolveMappingForRun` reads it.
   */
  config: Record<string, unknown>;
  /** Where each top-level key of `config` was set in the file: `plugins.mappers[0].mappings[1].config.salt`. */
  sources: Record<string, string>;
  /** Top-level keys whose value is a secret reference (`env:HASH_SALT`, `aws-sm://...`). */
  references: Record<string, SecretReference>;
  /** `env:` of the project, environment, mapper and its override, expanded: what its process gets. */
  env: Record<string, string>;
  /**
   * What must never be shown: the value of every variable the config expands (a `$HASH_SALT` is
   * why a value lives outside the file), and the values of keys whose names look secret
   * (`redaction.ts`'s rule for settings sluice has no definition of).
   */
  secrets: string[];
}

/**
 * Resolves a mapping's configuration as `resolvePluginConfig` does an extractor's: layers of the
 * file and the chosen environment, variables expanded, references found. A mapper has no setting
 * definitions, so nothing is typed or checked here (built-in stream maps are checked when compiled).
 */
export function resolveMappingConfig(options: ResolveMappingConfigOptions): ResolvedMapping {
  const { project, projectDir, name } = options;
  const found = findMapping(project, name) ?? mapperNamed(project, name);
  if (!found) {
    const names = project.plugins.mappers.flatMap((mapper) => mapper.mappings.map((m) => m.name));
    throw new ConfigError(
      `no mapping named "${name}" in plugins.mappers${suggestionSuffix(name, names)} (mappings: ${names.length === 0 ? "none" : names.join(", ")})`,
    );
  }
  const { mapper, mapping } = found;
  const processEnv = options.env ?? process.env;
  const dotEnv = options.dotEnv ?? readEnvFile(projectDir);
  const base = projectEnv({ projectDir, processEnv, dotEnv });
  const environment = selectEnvironment(project, options.environment, base);
  const mapperOverride = environmentMapperOverride(environment, mapper.name);
  const mappingOverride = mapping ? environmentMapperOverride(environment, mapping.name) : undefined;

  const unset: UnsetVariable[] = [];
  const envLayers: EnvLayer[] = [
    { vars: project.env, path: "env" },
    ...(environment ? [{ vars: environment.env, path: joinPath(environment.location, "env") }] : []),
    { vars: mapper.env, path: joinPath(mapper.location, "env") },
    ...(mapperOverride ? [{ vars: mapperOverride.env, path: joinPath(mapperOverride.location, "env") }] : []),
  ];
  const mapperEnv = expandEnvLayers(envLayers, base, unset);
  const env = projectEnv({ projectDir, processEnv, dotEnv, fileLayers: [mapperEnv] });

  const layers: { config: ConfigMap; location: string }[] = [
    { config: mapper.config, location: mapper.location },
    ...(mapperOverride ? [mapperOverride] : []),
    ...(mapping ? [{ config: mapping.config, location: mapping.location }] : []),
    ...(mappingOverride ? [mappingOverride] : []),
  ];
  const config: Record<string, unknown> = {};
  const sources: Record<string, string> = {};
  const references: Record<string, SecretReference> = {};
  const used = new Set<string>();
  const problems = new ProblemList();
  for (const layer of layers) {
    for (const [key, raw] of Object.entries(layer.config)) {
      const path = joinPath(joinPath(layer.location, "config"), key);
      let value = expandEnvVars(raw, env, path, unset, used);
      delete references[key];
      const parsed = typeof value === "string" ? parseSettingValue(value) : undefined;
      if (parsed?.kind === "invalid") problems.add(path, parsed.problem);
      else if (parsed?.kind === "reference") references[key] = parsed.reference;
      else if (parsed?.kind === "literal") value = parsed.value;
      config[key] = value;
      sources[key] = path;
    }
  }
  for (const reference of unset) problems.addAll([unsetVariableProblem(reference)]);
  if (options.onProblems && problems.size > 0) options.onProblems(problems.all);
  else problems.throwIfAny();

  const plain = Object.fromEntries(Object.entries(config).filter(([key]) => !(key in references)));
  const secrets = [
    ...[...used]
      .filter((variable) => !PROJECT_ROOT_VARIABLES.has(variable))
      .map((variable) => env[variable])
      .filter((value): value is string => value !== undefined),
    ...secretValues(plain, []),
  ];
  return {
    name,
    mapper,
    mapping,
    environment: environment?.name,
    config,
    sources,
    references,
    env: mapperEnv,
    secrets,
  };
}

function mapperNamed(
  project: ProjectFile,
  name: string,
): { mapper: MapperEntry; mapping: undefined } | undefined {
  const mapper = project.plugins.mappers.find((candidate) => candidate.name === name);
  return mapper ? { mapper, mapping: undefined } : undefined;
}
