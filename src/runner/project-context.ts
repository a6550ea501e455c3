import { ConfigError } from "../errors.js";
import { findBuiltinPlugin } from "../connectors/registry.js";
import { coerceSetting } from "../project/coerce-setting.js";
import { projectEnv, type EnvSource } from "../project/env-file.js";
import { resolveMappingConfig, type ResolvedMapping } from "../project/mapping-config.js";
import { resolvePluginConfig, type ResolvedPlugin } from "../project/plugin-config.js";
import { loadProject, type LoadedProject } from "../project/project-file.js";
import { SecretRedactor, secretValues } from "../project/redaction.js";
import { SecretReferenceResolver } from "../project/secret-references.js";
import { describeSource } from "../project/setting-values.js";
import { passwordOfUri, resolveStateBackend, resolveSystemDatabase } from "../project/system-database-uri.js";
import { openStateAndRunHistory, type StateAndRunHistory } from "../state/open-system-database.js";

/**
 * A project opened for one command: its file, the variables it sees, the environment chosen,
 * and a redactor that knows every secret resolved so far (the CLI passes all output through it).
 */
export interface ProjectContext {
  loaded: LoadedProject;
  env: EnvSource;
  /** `--environment`; undefined lets the resolver pick (SLUICE_ENVIRONMENT, default_environment). */
  environment: string | undefined;
  redactor: SecretRedactor;
  /**
   * Where a resolved plugin's notices go (a setting of another variant that changes nothing):
   * each once per command, however often the plugin is resolved.
   */
  warn?: (message: string) => void;
  /** The notices already given. */
  noticed: Set<string>;
}

export function openProject(
  dir: string,
  options: { environment?: string; redactor?: SecretRedactor; warn?: (message: string) => void } = {},
): ProjectContext {
  const loaded = loadProject(dir);
  const env = projectEnv({ projectDir: loaded.dir, fileLayers: [loaded.project.env] });
  const redactor = options.redactor ?? new SecretRedactor();
  const context: ProjectContext = {
    loaded,
    env,
    environment: options.environment,
    redactor,
    noticed: new Set(),
    ...(options.warn ? { warn: options.warn } : {}),
  };
  // Passwords inside the system database URIs must never be printed either.
  for (const uri of [
    env.SLUICE_DATABASE_URI,
    env.MELTANO_DATABASE_URI,
    loaded.project.database_uri,
    loaded.project.state_backend?.uri,
  ]) {
    const password = uri ? passwordOfUri(uri) : undefined;
    if (password) redactor.add(password);
  }
  return context;
}

/**
 * Resolves a plugin's settings as written and registers its secrets with the redactor. Secret
 * references (`aws-sm://prod/rds#password`) are left as they are (`sluice config` shows them);
 * a command that connects uses `resolvePluginForRun`.
 */
export function resolvePlugin(
  context: ProjectContext,
  name: string,
  expected?: "extractor" | "loader",
  onProblems?: (problems: readonly string[]) => void,
): ResolvedPlugin {
  const declared = resolvePluginConfig({
    project: context.loaded.project,
    projectDir: context.loaded.dir,
    pluginName: name,
    ...(context.environment !== undefined ? { environment: context.environment } : {}),
    lookup: (n) => findBuiltinPlugin(n),
    ...(onProblems ? { onProblems } : {}),
  });
  // A reference is not secret (it is in the project file): registered, it would blank out messages naming it.
  const plain = Object.entries(declared.config).filter(([key]) => !(key in declared.references));
  context.redactor.addAll(secretValues(Object.fromEntries(plain), declared.definitionSettings));
  for (const notice of declared.notices) {
    if (context.noticed.has(notice)) continue;
    context.noticed.add(notice);
    context.warn?.(notice);
  }
  if (expected && declared.type !== expected) {
    throw new ConfigError(
      `${name} is ${declared.type === "extractor" ? "an extractor" : "a loader"}, not ${expected === "extractor" ? "an extractor" : "a loader"}`,
    );
  }
  return declared;
}

/**
 * `resolvePlugin`, then its secret references (`file:`, `env:`, `gcp-sm://`, `aws-sm://`) replaced
 * by their values, typed as their settings say; every value read is registered with the redactor
 * before anything can print it. Settings and variables are read before the first `await`.
 */
export async function resolvePluginForRun(
  context: ProjectContext,
  name: string,
  expected?: "extractor" | "loader",
): Promise<ResolvedPlugin> {
  const plugin = resolvePlugin(context, name, expected);
  if (Object.keys(plugin.references).length === 0) return plugin;
  const resolver = new SecretReferenceResolver({
    env: projectEnv({ projectDir: context.loaded.dir, fileLayers: [plugin.env] }),
    projectDir: context.loaded.dir,
    onSecret: (value) => context.redactor.add(value),
  });
  try {
    const config = await resolver.resolveConfig({
      config: plugin.config,
      references: plugin.references,
      settings: plugin.definitionSettings,
      describe: (setting) => describeSource(plugin.sources[setting] ?? { kind: "default" }),
      coerce: coerceSetting,
    });
    return { ...plugin, config, references: {} };
  } finally {
    await resolver.close();
  }
}

/**
 * A mapping's configuration (its mapper's, the environment's overrides, its own) as written, its
 * secrets registered with the redactor: the values of the variables it expands and of keys whose
 * names look secret. References are left as they are (`sluice config` shows them).
 */
export function resolveMapping(
  context: ProjectContext,
  name: string,
  onProblems?: (problems: readonly string[]) => void,
): ResolvedMapping {
  const resolved = resolveMappingConfig({
    project: context.loaded.project,
    projectDir: context.loaded.dir,
    name,
    ...(context.environment !== undefined ? { environment: context.environment } : {}),
    ...(onProblems ? { onProblems } : {}),
  });
  context.redactor.addAll(resolved.secrets);
  return resolved;
}

/**
 * `resolveMapping`, then its secret references read (each value registered with the redactor
 * before anything can print it), as `resolvePluginForRun` does a plugin's.
 */
export async function resolveMappingForRun(context: ProjectContext, name: string): Promise<ResolvedMapping> {
  const mapping = resolveMapping(context, name);
  if (Object.keys(mapping.references).length === 0) return mapping;
  const resolver = new SecretReferenceResolver({
    env: projectEnv({ projectDir: context.loaded.dir, fileLayers: [mapping.env] }),
    projectDir: context.loaded.dir,
    onSecret: (value) => context.redactor.add(value),
  });
  try {
    const config = { ...mapping.config };
    for (const [key, reference] of Object.entries(mapping.references)) {
      try {
        config[key] = await resolver.resolve(reference);
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        throw new ConfigError(`${mapping.sources[key] ?? key}: ${reference.text}: ${error.message}`, {
          cause: error,
        });
      }
    }
    return { ...mapping, config, references: {} };
  } finally {
    await resolver.close();
  }
}

/**
 * The project's state store and run history (`database_uri`, `state_backend`), their passwords
 * registered with the redactor. Closed by the caller.
 */
export async function openStores(context: ProjectContext): Promise<StateAndRunHistory> {
  const options = { project: context.loaded.project, projectDir: context.loaded.dir, env: context.env };
  const database = resolveSystemDatabase(options);
  const stateBackend = resolveStateBackend(options);
  // Passwords inside the (expanded) system database URIs must never be printed either.
  for (const location of [database, stateBackend]) {
    const password = location.kind === "postgres" ? passwordOfUri(location.url) : undefined;
    if (password) context.redactor.add(password);
  }
  if (database.kind === "file")
    throw new ConfigError("database_uri: the system database cannot be a file:// folder");
  return openStateAndRunHistory({ database, stateBackend });
}
