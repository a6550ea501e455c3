import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { ConfigError } from "../errors.js";
import { checkReferences } from "./check-references.js";
import { parseProjectText } from "./parse-project-text.js";
import { joinPath, ProblemList } from "./problem-list.js";

/**
 * The project file (`sluice.yml`, or a Meltano project's `meltano.yml`) as typed data. Keys keep
 * the spelling of the file (`pip_url`, `inherit_from`) so that a reader of the file and of the
 * code use the same names. Setting values in `config` are not typed here: that needs the plugin's
 * setting definitions, and happens in `resolvePluginConfig`.
 */

export type PluginType = "extractor" | "loader";
export type ConfigMap = Record<string, unknown>;

/** A setting a custom (not built-in) plugin declares in the file, as Meltano's `settings:` list. */
export interface DeclaredSetting {
  name: string;
  kind?: string;
  /** Meltano's word for secret. */
  sensitive?: boolean;
  aliases?: string[];
  value?: unknown;
}

export interface PluginEntry {
  name: string;
  variant?: string;
  pip_url?: string;
  namespace?: string;
  executable?: string;
  inherit_from?: string;
  /** `false` runs `pip_url`/`executable` as an external Singer process even for a built-in name. */
  builtin?: boolean;
  /** An external tap's Singer capabilities (`catalog`, `properties`, `state`, `discover`, ...). */
  capabilities?: string[];
  config: ConfigMap;
  select?: string[];
  metadata?: Record<string, ConfigMap>;
  schema?: Record<string, ConfigMap>;
  env: Record<string, string>;
  settings?: DeclaredSetting[];
  /** Where the entry is in the file, for messages: `plugins.extractors[0]`. Not a key of the file. */
  location: string;
}

/**
 * One mapping of a mapper plugin (Meltano's `mappings:`): `sluice run tap <mapping> target` runs
 * it between the two, its `config` over the mapper's (for meltano-map-transformer: `stream_maps`).
 */
export interface MappingEntry {
  name: string;
  config: ConfigMap;
  location: string;
}

/**
 * A `mappers:` plugin. meltano-map-transformer's mappings run built in when their `stream_maps`
 * stay inside sluice's subset (`connectors/stream-maps/`); any other mapper, or one with
 * `builtin: false`, runs as an external Singer process between tap and target.
 */
export interface MapperEntry {
  name: string;
  variant?: string;
  pip_url?: string;
  namespace?: string;
  executable?: string;
  inherit_from?: string;
  builtin?: boolean;
  config: ConfigMap;
  env: Record<string, string>;
  mappings: MappingEntry[];
  location: string;
}

/** A plugin's override inside `environments[].config.plugins.<type>[]`. */
export interface EnvironmentPluginOverride {
  name: string;
  config: ConfigMap;
  select?: string[];
  metadata?: Record<string, ConfigMap>;
  schema?: Record<string, ConfigMap>;
  env: Record<string, string>;
  location: string;
}

/**
 * A mapper's override inside `environments[].config.plugins.mappers[]`, named after the mapper
 * (its `config` and `env` over the mapper's) or after one of its mappings (its `config` over the
 * mapping's).
 */
export type EnvironmentMapperOverride = Pick<
  EnvironmentPluginOverride,
  "name" | "config" | "env" | "location"
>;

export interface EnvironmentEntry {
  name: string;
  config: {
    plugins: {
      extractors: EnvironmentPluginOverride[];
      loaders: EnvironmentPluginOverride[];
      mappers: EnvironmentMapperOverride[];
    };
  };
  env: Record<string, string>;
  /** Meltano appends it to state ids of runs in this environment. */
  state_id_suffix?: string;
  location: string;
}

export interface StateBackend {
  uri?: string;
  /** Other keys (`lock_timeout_seconds`, `gcs`, `s3`, ...) are kept as they are. */
  [key: string]: unknown;
}

export interface JobEntry {
  name: string;
  /**
   * Each task is a list of blocks run as one pipeline: `tasks: "tap-a target-b"`,
   * `tasks: ["tap-a target-b", "tap-c target-b"]` and `tasks: [[tap-a, target-b]]` all normalise
   * to this shape.
   */
  tasks: string[][];
  location: string;
}

export interface ScheduleEntry {
  name: string;
  /** A cron expression (5 or 6 fields) or `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`, `@once`. */
  interval: string;
  job?: string;
  extractor?: string;
  loader?: string;
  transform?: string;
  start_date?: string;
  env: Record<string, string>;
  location: string;
}

export interface ProjectFile {
  version?: number;
  project_id?: string;
  send_anonymous_usage_stats?: boolean;
  default_environment?: string;
  plugins: { extractors: PluginEntry[]; loaders: PluginEntry[]; mappers: MapperEntry[] };
  environments: EnvironmentEntry[];
  schedules: ScheduleEntry[];
  jobs: JobEntry[];
  state_backend?: StateBackend;
  database_uri?: string;
  /**
   * sluice's own: how many times a run tries again, after a transient failure (a server restarting,
   * a lost connection), a batch that failed to load, or the streams that had not finished when
   * their source connection broke (see `runner/retry-policy.ts`). Default 5; 0 turns it off.
   */
  max_retries?: number;
  /** sluice's own: the wait before the first such retry, doubled for each next one. Default 5. */
  retry_delay_seconds?: number;
  env: Record<string, string>;
  include_paths: string[];
}

export const PROJECT_FILE_NAMES = ["sluice.yml", "meltano.yml"] as const;

/**
 * The project file of `dir`: `sluice.yml` when present, else `meltano.yml`, so that a Meltano
 * project runs unchanged and a project can move to sluice's name when it likes.
 */
export function findProjectFile(dir: string): string {
  for (const name of PROJECT_FILE_NAMES) {
    const path = join(dir, name);
    if (existsSync(path)) return path;
  }
  throw new ConfigError(
    `no sluice.yml or meltano.yml in ${resolve(dir)}: run \`sluice init\` to create a project, or run sluice from a project folder`,
  );
}

/** The project of `dir`: its folder, the file read and its content. */
export interface LoadedProject {
  dir: string;
  path: string;
  project: ProjectFile;
}

export function loadProject(dir: string): LoadedProject {
  const path = findProjectFile(dir);
  return { dir: resolve(dir), path, project: readProjectFile(path) };
}

/**
 * Reads and validates a project file, and the files its `include_paths` name. Throws one
 * ConfigError listing every problem found, each prefixed by its path in the file.
 */
export function readProjectFile(path: string): ProjectFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(`cannot read the project file ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const problems = new ProblemList();
  const project = parseProjectText(text, { fileName: basename(path), problems });
  if (project) {
    for (const [index, includePath] of project.include_paths.entries()) {
      const where = joinPath("include_paths", index);
      if (/[*?[]/.test(includePath)) {
        problems.add(where, `glob patterns are not supported yet; list each file (${includePath})`);
        continue;
      }
      const includedFile = resolve(dirname(path), includePath);
      let includedText: string;
      try {
        includedText = readFileSync(includedFile, "utf8");
      } catch (error) {
        problems.add(where, `cannot read ${includePath}: ${(error as Error).message}`);
        continue;
      }
      const included = parseProjectText(includedText, {
        fileName: includePath,
        problems,
        locationPrefix: `${includePath}: `,
      });
      if (included) mergeIncluded(project, included);
    }
    checkReferences(project, problems);
  }
  problems.throwIfAny();
  return project!;
}

function mergeIncluded(project: ProjectFile, included: ProjectFile): void {
  project.plugins.extractors.push(...included.plugins.extractors);
  project.plugins.loaders.push(...included.plugins.loaders);
  project.plugins.mappers.push(...included.plugins.mappers);
  project.environments.push(...included.environments);
  project.schedules.push(...included.schedules);
  project.jobs.push(...included.jobs);
}
