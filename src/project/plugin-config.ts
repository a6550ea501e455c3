import { isDeepStrictEqual } from "node:util";
import type { PluginConfig, SettingDefinition } from "../connectors/connector.js";
import {
  judgeUpstreamValues,
  withUpstreamAliases,
} from "../connectors/upstream-settings/upstream-decisions.js";
import { upstreamSettingsOf } from "../connectors/upstream-settings/upstream-settings.js";
import { ConfigError } from "../errors.js";
import { coerceSetting } from "./coerce-setting.js";
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
import type { ConfigMap, PluginEntry, PluginType, ProjectFile } from "./project-file.js";
import { parseSettingValue, type SecretReference } from "./secret-references.js";
import { environmentOverride, selectEnvironment } from "./select-environment.js";
import {
  declaredSettings,
  describeSource,
  envPrefixes,
  envVarName,
  SettingValues,
  type SettingSource,
} from "./setting-values.js";
import { isMapping } from "./value-reader.js";

/** What the resolver needs to know of a built-in plugin; `findBuiltinPlugin` of the registry fits. */
export type PluginLookup = (
  name: string,
) => { type: PluginType; settings: readonly SettingDefinition[] } | undefined;

export interface ResolvePluginConfigOptions {
  project: ProjectFile;
  projectDir: string;
  pluginName: string;
  /**
   * The environment to use (`--environment`). When undefined: `SLUICE_ENVIRONMENT`, else
   * `MELTANO_ENVIRONMENT`, else the file's `default_environment`. `null` means none at all
   * (Meltano's `--no-environment`).
   */
  environment?: string | null;
  /** The process environment; default `process.env`. Never modified. */
  env?: EnvSource;
  /** The variables of `.env`; default: read from `projectDir`. */
  dotEnv?: Readonly<Record<string, string>>;
  lookup: PluginLookup;
  /**
   * Given, problems with values (a missing required setting, a wrong type) are passed here and
   * the plugin is resolved as far as it can be, for `config list`, which shows what is set so that
   * the rest can be; without it they are one ConfigError.
   */
  onProblems?: (problems: readonly string[]) => void;
}

export interface ResolvedPlugin {
  name: string;
  type: PluginType;
  /** True when the plugin runs in-process; false for an external Singer executable. */
  builtin: boolean;
  /** The name of the built-in (or hub) plugin at the root of `inherit_from`, else `name`. */
  baseName: string;
  /**
   * The settings the config was checked against: the built-in's, or for an external plugin the
   * `settings:` it declares in the file (used for env overrides and redaction, not validation).
   */
  definitionSettings: readonly SettingDefinition[];
  /** Typed, defaults applied, `$VAR`s expanded, keyed by canonical setting names. */
  config: PluginConfig;
  sources: Record<string, SettingSource>;
  /**
   * Settings whose value is a secret reference (`aws-sm://prod/rds#password`), by name. Their
   * `config` value is the reference as written until `resolvePluginForRun` (runner/project-context.ts)
   * replaces it for a command that connects; `sluice config` shows the reference.
   */
  references: Record<string, SecretReference>;
  /** Selection rules; `["*.*"]` (everything) when the file sets none, as Meltano. */
  select: string[];
  metadata: Record<string, Record<string, unknown>>;
  schema: Record<string, Record<string, unknown>>;
  /** `env:` of the project, environment and plugin, expanded: variables the plugin's process gets. */
  env: Record<string, string>;
  /** The environment used, if any (part of the state id). */
  environment: string | undefined;
  /** The environment's `state_id_suffix`, if any. */
  stateIdSuffix: string | undefined;
  variant: string | undefined;
  pipUrl: string | undefined;
  executable: string | undefined;
  /** `capabilities` of the file, if it lists them (an external tap's `--properties`/`--state`). */
  capabilities: string[] | undefined;
  namespace: string | undefined;
  inheritFrom: string | undefined;
  /** Where the plugin is in the file: `plugins.extractors[0]`. */
  location: string;
  /** Prefixes of the variables that set its settings, first wins (`envPrefixes`): its own first. */
  envPrefixes: string[];
  /**
   * Warnings about settings another variant of the plugin documents that change nothing in
   * sluice, one per setting (the command prints each once).
   */
  notices: string[];
}

/**
 * Resolves one plugin's configuration for a run. Later layers win: setting defaults < the plugin's
 * `config` (after its `inherit_from` parent's) < the environment's override of the plugin <
 * `<PLUGIN_NAME>_<SETTING>` variables. Every problem (unknown setting, wrong type, missing required
 * setting, unset `$VAR`) is reported in one ConfigError with its path; secret values never appear.
 */
export function resolvePluginConfig(options: ResolvePluginConfigOptions): ResolvedPlugin {
  const { project, projectDir, pluginName, lookup } = options;
  const processEnv = options.env ?? process.env;
  const dotEnv = options.dotEnv ?? readEnvFile(projectDir);
  const environment = selectEnvironment(
    project,
    options.environment,
    projectEnv({ projectDir, processEnv, dotEnv }),
  );

  const { found, chain, baseName, builtin, settings } = pluginShape(project, pluginName, lookup);
  const child = chain[chain.length - 1]!;
  const problems = new ProblemList();

  const overrides = chain.map((entry) => environmentOverride(environment, found.type, entry.name));
  const fileEnvLayers: EnvLayer[] = [
    { vars: project.env, path: "env" },
    ...(environment ? [{ vars: environment.env, path: joinPath(environment.location, "env") }] : []),
    ...chain.flatMap((entry, index) => {
      const override = overrides[index];
      return [
        { vars: entry.env, path: joinPath(entry.location, "env") },
        ...(override ? [{ vars: override.env, path: joinPath(override.location, "env") }] : []),
      ];
    }),
  ];
  const unset: UnsetVariable[] = [];
  const pluginEnv = expandEnvLayers(fileEnvLayers, projectEnv({ projectDir, processEnv, dotEnv }), unset);
  const env = projectEnv({ projectDir, processEnv, dotEnv, fileLayers: [pluginEnv] });

  // Each file layer in order of precedence, lowest first: parent before child, file before environment.
  const fileLayers: { config: ConfigMap; path: string }[] = [];
  chain.forEach((entry, index) => {
    fileLayers.push({ config: entry.config, path: joinPath(entry.location, "config") });
    const override = overrides[index];
    if (override) fileLayers.push({ config: override.config, path: joinPath(override.location, "config") });
  });

  const values = new SettingValues(
    settings,
    builtin ? baseName : undefined,
    builtin ? upstreamSettingsOf(baseName) : [],
  );
  for (const layer of fileLayers) values.applyFileLayer(layer.config, layer.path, problems);
  const prefixes = envPrefixes(chain, baseName);
  values.applyEnvOverrides(env, prefixes);

  const config: PluginConfig = {};
  const sources: Record<string, SettingSource> = {};
  const references: Record<string, SecretReference> = {};
  for (const [name, value] of values.entries()) {
    let raw = value.value;
    if (value.source.kind === "file") raw = expandEnvVars(raw, env, value.source.path, unset);
    const parsed = typeof raw === "string" ? parseSettingValue(raw) : undefined;
    if (parsed?.kind === "invalid") {
      problems.add(describeSource(value.source), parsed.problem);
      config[name] = raw; // set, though wrong: not also "required setting is not set"
      continue;
    }
    if (parsed?.kind === "reference") {
      // Typed once resolved: `port: env:PGPORT` is an integer only then.
      config[name] = raw;
      sources[name] = value.source;
      references[name] = parsed.reference;
      continue;
    }
    if (parsed?.kind === "literal") raw = parsed.value;
    const setting = values.setting(name);
    // External plugins are not validated: only what an environment variable gave is typed.
    const typed =
      setting && (builtin || value.source.kind === "env")
        ? coerceSetting(setting, raw, describeSource(value.source), problems)
        : raw;
    if (typed !== undefined) {
      config[name] = typed;
      sources[name] = value.source;
    }
  }
  const upstream = judgeUpstreamValues(baseName, values.upstreamValues(), config);
  for (const problem of upstream.problems) problems.add(problem.path, problem.message);
  for (const mapped of upstream.mapped) {
    const setting = settings.find((candidate) => candidate.name === mapped.setting);
    if (!setting) continue;
    const typed = coerceSetting(setting, mapped.value, mapped.path, problems);
    if (typed === undefined) continue;
    if (!(mapped.setting in config)) {
      config[mapped.setting] = typed;
      sources[mapped.setting] = { kind: "file", path: mapped.path };
    } else if (!isDeepStrictEqual(config[mapped.setting], typed)) {
      const current = sources[mapped.setting];
      problems.add(
        mapped.path,
        `\`${mapped.name}\` means ${mapped.setting}${setting.secret ? "" : ` ${JSON.stringify(typed)}`}, but ${mapped.setting} is set to something else${current ? ` (${describeSource(current)})` : ""}; remove one of them`,
      );
    }
  }
  for (const reference of unset) problems.addAll([unsetVariableProblem(reference)]);
  for (const setting of settings) {
    if (setting.name in config) continue;
    if (setting.default !== undefined) {
      config[setting.name] = structuredClone(setting.default);
      sources[setting.name] = { kind: "default" };
    } else if (setting.required && builtin) {
      problems.add(
        joinPath(joinPath(child.location, "config"), setting.name),
        `required setting \`${setting.name}\` is not set; set it in the project file or with the environment variable ${envVarName(prefixes[0]!, setting.name)}`,
      );
    }
  }
  if (builtin) {
    chain.forEach((entry, index) => {
      for (const layer of [entry, overrides[index]]) {
        if (layer?.metadata)
          checkMetadataKeys(layer.metadata, joinPath(layer.location, "metadata"), problems);
      }
    });
  }
  if (options.onProblems && problems.size > 0) options.onProblems(problems.all);
  else problems.throwIfAny();

  let select: string[] | undefined;
  const metadata: Record<string, Record<string, unknown>> = {};
  const schema: Record<string, Record<string, unknown>> = {};
  for (const [index, entry] of chain.entries()) {
    for (const layer of [entry, overrides[index]]) {
      if (!layer) continue;
      if (layer.select) select = [...layer.select];
      mergeStreamMap(metadata, layer.metadata);
      mergeStreamMap(schema, layer.schema);
    }
  }

  const lastDefined = <K extends keyof PluginEntry>(key: K): PluginEntry[K] | undefined =>
    [...chain].reverse().find((entry) => entry[key] !== undefined)?.[key];
  return {
    name: child.name,
    type: found.type,
    builtin,
    baseName,
    definitionSettings: settings,
    config,
    sources,
    references,
    select: select ?? ["*.*"],
    metadata,
    schema,
    env: pluginEnv,
    environment: environment?.name,
    stateIdSuffix: environment?.state_id_suffix,
    variant: lastDefined("variant"),
    pipUrl: lastDefined("pip_url"),
    executable: lastDefined("executable"),
    capabilities: lastDefined("capabilities"),
    namespace: lastDefined("namespace"),
    inheritFrom: child.inherit_from,
    location: child.location,
    envPrefixes: prefixes,
    notices: upstream.notices,
  };
}

/** The extractor or loader named `name`; a ConfigError listing the plugins when there is none. */
/** A plugin of the project as its settings are declared: what `config set` and the resolver check against. */
export interface PluginShape {
  found: { entry: PluginEntry; type: PluginType };
  /** The plugin and the project plugins it inherits from, root first. */
  chain: PluginEntry[];
  baseName: string;
  builtin: boolean;
  settings: readonly SettingDefinition[];
}

/**
 * Finds a plugin, its `inherit_from` chain and the settings it has (the built-in's, or those an
 * external plugin declares), without reading any value: a project missing a required setting can
 * still be told about it, or have it set.
 */
export function pluginShape(project: ProjectFile, pluginName: string, lookup: PluginLookup): PluginShape {
  const found = findPlugin(project, pluginName);
  const problems = new ProblemList();
  const chain = inheritanceChain(project, found.entry, found.type, problems);
  problems.throwIfAny();
  const root = chain[0]!;
  const baseName = root.inherit_from ?? root.name;
  const definition = lookup(baseName);

  const builtinFlag = [...chain].reverse().find((entry) => entry.builtin !== undefined);
  // An `executable` names a program to run: the plugin is external even under a built-in name.
  const hasExecutable = chain.some((entry) => entry.executable !== undefined);
  const builtin = builtinFlag?.builtin ?? (definition !== undefined && !hasExecutable);
  if (builtin && definition === undefined) {
    problems.add(
      joinPath(builtinFlag!.location, "builtin"),
      `"${baseName}" is not a built-in plugin; remove \`builtin: true\` to run it as an external Singer plugin`,
    );
  } else if (builtin && definition !== undefined && definition.type !== found.type) {
    problems.add(
      joinPath(root.location, "name"),
      `"${baseName}" is a built-in ${definition.type}, not ${found.type === "extractor" ? "an" : "a"} ${found.type}; move it to plugins.${definition.type}s`,
    );
  }
  problems.throwIfAny();

  const settings: readonly SettingDefinition[] =
    builtin && definition
      ? withUpstreamAliases(definition.settings, upstreamSettingsOf(baseName))
      : declaredSettings(chain.flatMap((entry) => entry.settings ?? []));
  return { found, chain, baseName, builtin, settings };
}

export function findPlugin(project: ProjectFile, name: string): { entry: PluginEntry; type: PluginType } {
  const extractor = project.plugins.extractors.find((plugin) => plugin.name === name);
  if (extractor) return { entry: extractor, type: "extractor" };
  const loader = project.plugins.loaders.find((plugin) => plugin.name === name);
  if (loader) return { entry: loader, type: "loader" };
  const extractors = project.plugins.extractors.map((plugin) => plugin.name);
  const loaders = project.plugins.loaders.map((plugin) => plugin.name);
  throw new ConfigError(
    `no plugin named "${name}" in the project${suggestionSuffix(name, [...extractors, ...loaders])} ` +
      `(extractors: ${extractors.join(", ") || "none"}; loaders: ${loaders.join(", ") || "none"})`,
  );
}

/** The plugin and the project plugins it inherits from, root first. */
function inheritanceChain(
  project: ProjectFile,
  entry: PluginEntry,
  type: PluginType,
  problems: ProblemList,
): PluginEntry[] {
  const list = type === "extractor" ? project.plugins.extractors : project.plugins.loaders;
  const chain = [entry];
  let current = entry;
  while (current.inherit_from !== undefined && current.inherit_from !== current.name) {
    const parentName = current.inherit_from;
    const parent = list.find((plugin) => plugin.name === parentName);
    // A parent outside the project is a built-in (or hub) plugin: the chain ends there.
    if (!parent) break;
    if (chain.includes(parent)) {
      problems.add(
        joinPath(current.location, "inherit_from"),
        `inheritance cycle: ${[...chain.map((plugin) => plugin.name), parent.name].join(" → ")}`,
      );
      break;
    }
    chain.push(parent);
    current = parent;
  }
  return chain.reverse();
}

/** Singer metadata keys (the spec's, Meltano's and pipelinewise-tap-postgres's). */
const METADATA_KEYS = [
  "selected",
  "replication-method",
  "replication-key",
  "view-key-properties",
  "inclusion",
  "selected-by-default",
  "valid-replication-keys",
  "forced-replication-method",
  "table-key-properties",
  "schema-name",
  "database-name",
  "row-count",
  "is-view",
  "sql-datatype",
];

/**
 * Metadata is open-ended (any key passes through to the catalog), but a key one typo away from a
 * known one (`replication-mehtod`, `replication_key`) would be silently ignored and change what a
 * run does (FULL_TABLE instead of INCREMENTAL): those are problems. The key of a metadata value is
 * always the last dotted part of its path; mappings above it name streams and properties.
 */
function checkMetadataKeys(metadata: Record<string, ConfigMap>, path: string, problems: ProblemList): void {
  const visit = (value: unknown, keyPath: string, key: string): void => {
    if (isMapping(value)) {
      for (const [child, item] of Object.entries(value)) visit(item, joinPath(keyPath, child), child);
      return;
    }
    const metadataKey = key.split(".").pop() ?? key;
    if (METADATA_KEYS.includes(metadataKey)) return;
    const suggestion = suggestionSuffix(metadataKey, METADATA_KEYS);
    if (suggestion !== "") problems.add(keyPath, `unknown metadata key "${metadataKey}"${suggestion}`);
  };
  for (const [stream, entry] of Object.entries(metadata)) visit(entry, joinPath(path, stream), stream);
}

function mergeStreamMap(
  target: Record<string, Record<string, unknown>>,
  layer: Record<string, ConfigMap> | undefined,
): void {
  for (const [stream, entry] of Object.entries(layer ?? {})) target[stream] = { ...target[stream], ...entry };
}
