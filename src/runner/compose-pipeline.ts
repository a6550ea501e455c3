import { ConfigError, PipelineError } from "../errors.js";
import type { Extractor, Loader, Mapper, StreamPlan } from "../connectors/connector.js";
import type { ExternalPlugin } from "../connectors/external-singer/external-plugin.js";
import type { PluginIdentity } from "../connectors/plugin-identity.js";
import { executableFor } from "../connectors/external-singer/plugin-installer.js";
import { SingerTapProcess } from "../connectors/external-singer/singer-tap-process.js";
import { SingerMapperProcess } from "../connectors/external-singer/singer-mapper-process.js";
import { SingerTargetProcess } from "../connectors/external-singer/singer-target-process.js";
import { applyStreamMaps } from "../connectors/stream-maps/apply-stream-maps.js";
import {
  BUILTIN_MAPPER,
  BUILTIN_MAPPER_PROGRAM,
  runsBuiltIn,
} from "../connectors/stream-maps/builtin-mapper.js";
import { mapExtractor, mapsOnBatches } from "../connectors/stream-maps/map-batches.js";
import { compileMapping } from "../connectors/stream-maps/stream-maps-config.js";
import { findBuiltinPlugin } from "../connectors/registry.js";
import type { Catalog } from "../protocol/catalog.js";
import type { ResolvedMapping } from "../project/mapping-config.js";
import type { ResolvedPlugin } from "../project/plugin-config.js";
import { stateIdFor } from "../project/state-id.js";
import type { StateAndRunHistory } from "../state/open-system-database.js";
import { planCatalog } from "./plan-streams.js";
import {
  openStores,
  resolveMappingForRun,
  resolvePluginForRun,
  type ProjectContext,
} from "./project-context.js";

/**
 * The composition root: where a project and the names of an extractor and a loader become the
 * objects of a run. Every connector a command uses is created here (`createExtractor`,
 * `createLoader`): a built-in from the registry, any other plugin as an external Singer process
 * run from the project's folder. A run's parts are put together by `composePipeline`.
 */

/**
 * Where a run's notes and warnings go. Without them an external Singer plugin's stderr lines are
 * kept for the message of an error only.
 */
export interface PluginOutput {
  /** Notes worth logging: the stderr lines of external Singer plugins, a `pip_url` not used. */
  log?: (message: string) => void;
  /**
   * Warnings worth showing before the run starts, odd output of an external plugin, and what a
   * built-in loader warns of (a partitioned BigQuery table whose MERGEs scan it whole).
   */
  warn?: (message: string) => void;
}

/** What a pipeline is made of: the plugins named, and what `composePipeline` should know. */
export interface ComposePipelineOptions extends PluginOutput {
  extractor: string;
  /** Mappings (names under a `mappers:` plugin's `mappings`) run between them, in order. */
  mappings?: string[];
  loader: string;
  /** `--state-id`; default `<environment>:<extractor>-to-<loader>` and the environment's suffix. */
  stateId?: string;
  /** `--select`: only the streams these patterns name, of those the project selects. */
  select?: string[];
}

/**
 * One pipeline's parts, wired from the project, nothing connected or read yet: a run (or a dry
 * run) only calls them.
 */
export interface PipelineParts {
  extractorPlugin: ResolvedPlugin;
  loaderPlugin: ResolvedPlugin;
  extractor: Extractor;
  loader: Loader;
  /** The mappings between them, in order (none: the tap's messages go to the target as they are). */
  mappers: Mapper[];
  /**
   * The mappings are applied to the batches of `extractor` (built-in mappings between a built-in
   * extractor and loader, see `map-batches.ts`): the run goes the built-in way, no Singer messages.
   */
  mapsOnBatches: boolean;
  stateId: string;
  /**
   * Discovery, the project's selection and `--select`, then the extractor's plans: the selected
   * catalog (what an external tap is given), the plans, and the LOG_BASED plans `--select` left
   * out (they share the pipeline's slot). A run calls it under the state lock.
   */
  plan(): Promise<{ catalog: Catalog; plans: StreamPlan[]; unselectedLogBased: StreamPlan[] }>;
  /** The project's state store and run history (a dry run opens none); closed by the caller. */
  openStores(): Promise<StateAndRunHistory>;
}

/**
 * Resolves both plugins and the mappings (secret references included), creates the extractor and the loader (an
 * external plugin's output going to `log` and `warn`), and says the state id. The settings and
 * variables of both plugins and the mappings are read before the first `await`, so a caller may set variables
 * around the call alone (the scheduler applies a schedule's `env:` so).
 */
export async function composePipeline(
  context: ProjectContext,
  options: ComposePipelineOptions,
): Promise<PipelineParts> {
  const [extractorPlugin, loaderPlugin, ...mappings] = await Promise.all([
    resolvePluginForRun(context, options.extractor, "extractor"),
    resolvePluginForRun(context, options.loader, "loader"),
    ...(options.mappings ?? []).map((name) => resolveMappingForRun(context, name)),
  ]);
  // An external plugin's stderr and odd output go to the run's log.
  const output = {
    ...(options.log ? { log: options.log } : {}),
    ...(options.warn ? { warn: options.warn } : {}),
  };
  const source = await createExtractor(context, extractorPlugin, output);
  const loader = await createLoader(context, loaderPlugin, output);
  const mappers = mappings.map((mapping) => createMapper(context, mapping, output));
  // Built-in mappings between built-ins: applied to the extractor's batches, each after the one
  // before, which saves the Singer messages' JSON both ways (5× a plain run's time).
  const onBatches =
    mappers.length > 0 &&
    !source.externalTap &&
    !loader.externalTarget &&
    mappers.every((mapper) => mapper.streamMaps !== undefined && mapsOnBatches(mapper.streamMaps));
  const extractor = onBatches
    ? mappers.reduce((inner, mapper) => mapExtractor(inner, mapper.streamMaps!), source)
    : source;
  noteUnusedPipUrls([extractorPlugin, loaderPlugin], options.log);
  const stateId =
    options.stateId ??
    stateIdFor(
      extractorPlugin.environment,
      extractorPlugin.name,
      loaderPlugin.name,
      extractorPlugin.stateIdSuffix,
    );
  return {
    extractorPlugin,
    loaderPlugin,
    extractor,
    loader,
    mappers,
    mapsOnBatches: onBatches,
    stateId,
    plan: () => planCatalog(extractor, extractorPlugin, options.select ?? [], options.warn),
    openStores: () => openStores(context),
  };
}

/**
 * The extractor a resolved plugin names: the built-in of its name, else (not built in, or
 * `builtin: false`) its program run as an external Singer tap. Not connected yet.
 */
export async function createExtractor(
  context: ProjectContext,
  resolved: ResolvedPlugin,
  output: PluginOutput = {},
): Promise<Extractor> {
  const definition = builtinFor(resolved);
  if (!definition) return new SingerTapProcess(externalPlugin(context, resolved, output));
  if (definition.type !== "extractor") throw new ConfigError(`${resolved.name} is not an extractor`);
  return await definition.create(resolved.config, { plugin: identityOf(resolved) });
}

/**
 * The loader a resolved plugin names: the built-in of its name (relative paths in its settings
 * taken from the project's folder), else its program run as an external Singer target.
 */
export async function createLoader(
  context: ProjectContext,
  resolved: ResolvedPlugin,
  output: PluginOutput = {},
): Promise<Loader> {
  const definition = builtinFor(resolved);
  if (!definition) return new SingerTargetProcess(externalPlugin(context, resolved, output));
  if (definition.type !== "loader") throw new ConfigError(`${resolved.name} is not a loader`);
  return await definition.create(resolved.config, {
    projectDir: context.loaded.dir,
    plugin: identityOf(resolved),
    ...(output.warn ? { warn: output.warn } : {}),
  });
}

/**
 * The mapper a mapping name stands for: meltano-map-transformer's `stream_maps` applied built in
 * (`connectors/stream-maps/`), or any other mapper (or `builtin: false`) run as an external
 * Singer process from the project's folder, with the configuration `resolveMappingForRun` gives
 * (the mapper's, the environment's overrides, the mapping's; variables and references read, every
 * secret registered with the redactor).
 */
export function createMapper(
  context: ProjectContext,
  resolved: ResolvedMapping,
  output: PluginOutput = {},
): Mapper {
  const project = context.loaded.project;
  const { name, mapper, mapping, config, env: mapperEnv } = resolved;
  if (!mapping) {
    const names = mapper.mappings.map((m) => m.name);
    throw new ConfigError(
      `"${name}" is a mapper; a run names one of its mappings (${names.length === 0 ? "it has none" : names.join(", ")})`,
    );
  }
  if (runsBuiltIn(project, mapper)) {
    const compiled = compileMapping(mapping.name, config);
    // The project check refused these already; a config from variables may still be out of the subset.
    if (!compiled.mapping) throw new ConfigError(compiled.problems);
    const stages = compiled.mapping;
    return { name, streamMaps: stages, map: (messages) => applyStreamMaps(stages, messages) };
  }
  const projectDir = context.loaded.dir;
  const baseName = mapper.inherit_from ?? mapper.name;
  return new SingerMapperProcess({
    name,
    executable: executableFor({
      projectDir,
      type: "mapper",
      name: mapper.name,
      baseName,
      // meltano-map-transformer's package installs its program under another name.
      executable: mapper.executable ?? (baseName === BUILTIN_MAPPER ? BUILTIN_MAPPER_PROGRAM : undefined),
    }),
    cwd: projectDir,
    config,
    env: mapperEnv,
    redact: (text: string) => context.redactor.redact(text),
    ...(output.log ? { log: output.log } : {}),
    ...(output.warn ? { warn: output.warn } : {}),
  });
}

/** The plugin as its connector's errors name it: its name, its own variables first. */
function identityOf(resolved: ResolvedPlugin): PluginIdentity {
  return { name: resolved.name, envPrefixes: resolved.envPrefixes };
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
 * An external Singer plugin (not built in, or `builtin: false`): its program found as
 * `executableFor` says (in the project's virtualenvs), run in the project's folder, its output
 * redacted with the project's secrets. Also what `sluice invoke` starts.
 */
export function externalPlugin(
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
