import { randomUUID } from "node:crypto";
import { ConfigError, PipelineError } from "../errors.js";
import type { Extractor, Loader, StreamPlan } from "../connectors/connector.js";
import { findBuiltinPlugin } from "../connectors/registry.js";
import type { ExternalPlugin } from "../connectors/external-singer/external-plugin.js";
import { executableFor } from "../connectors/external-singer/plugin-installer.js";
import { SingerTapProcess } from "../connectors/external-singer/singer-tap-process.js";
import { SingerTargetProcess } from "../connectors/external-singer/singer-target-process.js";
import type { Catalog } from "../protocol/catalog.js";
import { applySelection, narrowToStreams } from "../protocol/selection.js";
import { projectEnv, type EnvSource } from "../project/env-file.js";
import { coerceSetting } from "../project/coerce-setting.js";
import { resolvePluginConfig, type ResolvedPlugin } from "../project/plugin-config.js";
import { loadProject, type LoadedProject } from "../project/project-file.js";
import { SecretRedactor, secretValues } from "../project/redaction.js";
import { SecretReferenceResolver } from "../project/secret-references.js";
import { describeSource } from "../project/setting-values.js";
import { stateIdFor } from "../project/state-id.js";
import { passwordOfUri, resolveStateBackend, resolveSystemDatabase } from "../project/system-database-uri.js";
import { openStateAndRunHistory, type StateAndRunHistory } from "../state/open-system-database.js";
import { retryPolicyOf } from "./retry-policy.js";
import { runPipeline } from "./run-pipeline.js";
import { runSingerPipeline } from "./run-singer-pipeline.js";
import { spoolBase, spoolDirFor, sweepAbandonedSpoolDirs } from "./spool-dir.js";
import type { RunObserver, RunSummary } from "./run-events.js";

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
}

export function openProject(
  dir: string,
  options: { environment?: string; redactor?: SecretRedactor } = {},
): ProjectContext {
  const loaded = loadProject(dir);
  const env = projectEnv({ projectDir: loaded.dir, fileLayers: [loaded.project.env] });
  const redactor = options.redactor ?? new SecretRedactor();
  const context = { loaded, env, environment: options.environment, redactor };
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
): ResolvedPlugin {
  const declared = resolvePluginConfig({
    project: context.loaded.project,
    projectDir: context.loaded.dir,
    pluginName: name,
    ...(context.environment !== undefined ? { environment: context.environment } : {}),
    lookup: (n) => findBuiltinPlugin(n),
  });
  // A reference is not secret (it is in the project file): registered, it would blank out messages naming it.
  const plain = Object.entries(declared.config).filter(([key]) => !(key in declared.references));
  context.redactor.addAll(secretValues(Object.fromEntries(plain), declared.definitionSettings));
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

function builtinFor(resolved: ResolvedPlugin) {
  const unresolved = Object.keys(resolved.references);
  if (unresolved.length > 0) {
    // A reference handed to a connector would be used as the password itself.
    throw new PipelineError(
      `${resolved.name}: secret references of ${unresolved.join(", ")} were not resolved`,
    );
  }
  return resolved.builtin ? findBuiltinPlugin(resolved.baseName) : undefined;
}

/**
 * Where an external Singer plugin's stderr lines and the oddities of its output go (a run's log);
 * without them they are kept for the message of an error only.
 */
export interface PluginOutput {
  log?: (message: string) => void;
  warn?: (message: string) => void;
}

/**
 * An external Singer plugin (not built in, or `builtin: false`): its program found as
 * `executableFor` says (in the project's virtualenvs), run in the project's folder, its output
 * redacted with the project's secrets.
 */
function externalPlugin(
  context: ProjectContext,
  resolved: ResolvedPlugin,
  output: PluginOutput,
): ExternalPlugin {
  const projectDir = context.loaded.dir;
  return {
    name: resolved.name,
    executable: executableFor({
      projectDir,
      type: resolved.type,
      name: resolved.name,
      baseName: resolved.baseName,
      executable: resolved.executable,
    }),
    cwd: projectDir,
    config: resolved.config,
    env: resolved.env,
    ...(resolved.capabilities ? { capabilities: resolved.capabilities } : {}),
    redact: (text: string) => context.redactor.redact(text),
    ...(output.log ? { log: output.log } : {}),
    ...(output.warn ? { warn: output.warn } : {}),
  };
}

export function createExtractor(
  context: ProjectContext,
  resolved: ResolvedPlugin,
  output: PluginOutput = {},
): Extractor {
  const definition = builtinFor(resolved);
  if (!definition) return new SingerTapProcess(externalPlugin(context, resolved, output));
  if (definition.type !== "extractor") throw new ConfigError(`${resolved.name} is not an extractor`);
  return definition.create(resolved.config);
}

export function createLoader(
  context: ProjectContext,
  resolved: ResolvedPlugin,
  output: PluginOutput = {},
): Loader {
  const definition = builtinFor(resolved);
  if (!definition) return new SingerTargetProcess(externalPlugin(context, resolved, output));
  if (definition.type !== "loader") throw new ConfigError(`${resolved.name} is not a loader`);
  return definition.create(resolved.config, { projectDir: context.loaded.dir });
}

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

/**
 * Discovers the extractor's catalog and applies the project's `select`, `metadata` and `schema`
 * (and `--select`), as Meltano does. A select pattern that names no stream is an error: a typo
 * there would silently move nothing.
 */
export async function selectedCatalog(
  extractor: Extractor,
  resolved: ResolvedPlugin,
  narrow: readonly string[] = [],
): Promise<{ catalog: Catalog; warnings: string[] }> {
  const discovered = await extractor.discover();
  const result = applySelection(discovered, {
    select: resolved.select,
    metadata: resolved.metadata,
    schema: resolved.schema,
  });
  const known = discovered.streams.map((s) => s.tap_stream_id);
  const listing =
    known.length > 0 ? known.slice(0, 20).join(", ") + (known.length > 20 ? ", ..." : "") : "none";
  const problems = result.unmatchedSelect.map(
    (pattern) => `${resolved.location}.select: "${pattern}" matches no stream (streams: ${listing})`,
  );
  // A mistyped stream under `metadata` would silently run that stream FULL_TABLE.
  problems.push(
    ...result.unmatchedMetadata.map(
      (k) => `${resolved.location}.metadata: "${k}" matches no stream (streams: ${listing})`,
    ),
  );
  let catalog = result.catalog;
  if (narrow.length > 0) {
    const narrowed = narrowToStreams(catalog, narrow);
    problems.push(
      ...narrowed.unmatched.map((p) => `--select: "${p}" matches no stream (streams: ${listing})`),
    );
    catalog = narrowed.catalog;
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const warnings = [
    ...result.unmatchedProperties.map(
      (p) =>
        `${resolved.location}: "${p.rule}" names column "${p.property}" that ${p.streamId} does not have`,
    ),
  ];
  return { catalog, warnings };
}

export interface ProjectRunOptions {
  extractor: string;
  loader: string;
  fullRefresh?: boolean;
  select?: string[];
  stateId?: string;
  observer: RunObserver;
  /** Called with warnings worth showing before the run starts. */
  warn?: (message: string) => void;
  /** Called with notes worth logging (the stderr lines of external Singer plugins, ...). */
  log?: (message: string) => void;
  signal?: AbortSignal;
  /** Plan the run and stop before moving any data. */
  dryRun?: boolean;
  /** LOG_BASED: stream changes until stopped (SIGTERM) instead of stopping at the WAL end. */
  follow?: boolean;
  /** `--max-retries`: wins over the project file's `max_retries` (see `retryPolicyOf`). */
  maxRetries?: number;
}

export interface ProjectRunResult {
  summary?: RunSummary;
  plans: StreamPlan[];
  stateId: string;
  loader: Loader;
}

/** Discovers, applies the project's selection and plans the streams of a run. */
export async function planStreams(
  extractor: Extractor,
  extractorPlugin: ResolvedPlugin,
  select: string[],
  warn?: (message: string) => void,
): Promise<StreamPlan[]> {
  return (await planCatalog(extractor, extractorPlugin, select, warn)).plans;
}

/** `planStreams`, with the selected catalog the plans came from (what an external tap is given). */
export async function planCatalog(
  extractor: Extractor,
  extractorPlugin: ResolvedPlugin,
  select: string[],
  warn?: (message: string) => void,
): Promise<{ catalog: Catalog; plans: StreamPlan[] }> {
  const { catalog, warnings } = await selectedCatalog(extractor, extractorPlugin, select);
  for (const warning of warnings) warn?.(warning);
  let plans: StreamPlan[];
  try {
    plans = await extractor.plan(catalog);
  } catch (error) {
    // The extractor names metadata by stream; say where in the project file it is.
    if (error instanceof ConfigError) {
      throw new ConfigError(
        error.problems.map((p) => `${extractorPlugin.location}.${p}`),
        { cause: error },
      );
    }
    throw error;
  }
  if (plans.length === 0) {
    throw new ConfigError(
      `${extractorPlugin.location}: no stream is selected (check \`select\` and --select)`,
    );
  }
  return { catalog, plans };
}

/** `sluice run <extractor> <loader>`: resolve, then discover, select, plan and run under the state lock. */
export async function runProjectPipeline(
  context: ProjectContext,
  options: ProjectRunOptions,
): Promise<ProjectRunResult> {
  // Both started at once: each reads its settings and variables before its first `await`.
  const [extractorPlugin, loaderPlugin] = await Promise.all([
    resolvePluginForRun(context, options.extractor, "extractor"),
    resolvePluginForRun(context, options.loader, "loader"),
  ]);
  // An external plugin's stderr and odd output go to the run's log.
  const output = {
    ...(options.log ? { log: options.log } : {}),
    ...(options.warn ? { warn: options.warn } : {}),
  };
  const extractor = createExtractor(context, extractorPlugin, output);
  const loader = createLoader(context, loaderPlugin, output);
  noteUnusedPipUrls([extractorPlugin, loaderPlugin], options.log);
  // An external Singer process on either side: the run moves Singer messages, not batches.
  const external = extractor.externalTap !== undefined || loader.externalTarget !== undefined;
  const stateId =
    options.stateId ??
    stateIdFor(
      extractorPlugin.environment,
      extractorPlugin.name,
      loaderPlugin.name,
      extractorPlugin.stateIdSuffix,
    );
  const plan = (): Promise<StreamPlan[]> =>
    planStreams(extractor, extractorPlugin, options.select ?? [], options.warn);
  if (options.dryRun) {
    try {
      return { plans: await plan(), stateId, loader };
    } finally {
      await extractor.close();
    }
  }
  const stores = await openStores(context);
  const runId = randomUUID();
  const spool = spoolBase();
  sweepAbandonedSpoolDirs(spool);
  let plans: StreamPlan[] = [];
  try {
    if (external) {
      const summary = await runSingerPipeline({
        runId,
        stateId,
        extractorName: extractorPlugin.name,
        loaderName: loaderPlugin.name,
        extractor,
        loader,
        plan: async () => {
          const planned = await planCatalog(extractor, extractorPlugin, options.select ?? [], options.warn);
          plans = planned.plans;
          return planned;
        },
        stateStore: stores.stateStore,
        runHistory: stores.runHistory,
        fullRefresh: options.fullRefresh ?? false,
        spoolDir: spoolDirFor(spool, runId),
        observer: options.observer,
        redact: (text) => context.redactor.redact(text),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      return { summary, plans, stateId, loader };
    }
    const summary = await runPipeline({
      runId,
      stateId,
      extractorName: extractorPlugin.name,
      loaderName: loaderPlugin.name,
      extractor,
      loader,
      plan: async () => (plans = await plan()),
      stateStore: stores.stateStore,
      runHistory: stores.runHistory,
      fullRefresh: options.fullRefresh ?? false,
      follow: options.follow ?? false,
      spoolDir: spoolDirFor(spool, runId),
      retry: retryPolicyOf(
        context.loaded.project,
        options.maxRetries !== undefined ? { maxRetries: options.maxRetries } : {},
      ),
      observer: options.observer,
      redact: (text) => context.redactor.redact(text),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return { summary, plans, stateId, loader };
  } finally {
    await stores.close();
  }
}

/** Notes a built-in run for a plugin that carries a `pip_url` (as meltano.yml files do). */
function noteUnusedPipUrls(
  resolved: readonly ResolvedPlugin[],
  log: ((message: string) => void) | undefined,
): void {
  for (const plugin of resolved) {
    if (plugin.builtin && plugin.pipUrl) {
      log?.(
        `${plugin.name}: runs the built-in ${plugin.baseName}; its pip_url is not used (set \`builtin: false\` to run that package instead)`,
      );
    }
  }
}
