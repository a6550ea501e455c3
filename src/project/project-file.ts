import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { LineCounter, parseDocument } from "yaml";
import { ConfigError } from "../errors.js";
import { suggestionSuffix } from "./did-you-mean.js";
import { describeValue, joinPath, ProblemList } from "./problem-list.js";

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

export interface EnvironmentEntry {
  name: string;
  config: { plugins: { extractors: EnvironmentPluginOverride[]; loaders: EnvironmentPluginOverride[] } };
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
  plugins: { extractors: PluginEntry[]; loaders: PluginEntry[] };
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

/**
 * Parses and validates the text of a project file, without reading `include_paths`.
 * Problems go to `problems`; the result is undefined only when the text is not a YAML mapping.
 */
export function parseProjectText(
  text: string,
  options: { fileName: string; problems: ProblemList; locationPrefix?: string },
): ProjectFile | undefined {
  const { fileName, problems } = options;
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (document.errors.length > 0) {
    for (const error of document.errors) {
      const position = error.linePos?.[0] ?? lineCounter.linePos(error.pos[0]);
      const message = error.message.split("\n")[0] ?? error.message;
      problems.add(`${fileName}:${position.line}:${position.col}`, `invalid YAML: ${message}`);
    }
    return undefined;
  }
  const root: unknown = document.toJS({ maxAliasCount: 1000 });
  if (root === null || root === undefined) {
    problems.add(
      fileName,
      "the file is empty; it needs at least `plugins:` (run `sluice init` for a starter)",
    );
    return undefined;
  }
  if (!isMapping(root)) {
    problems.add(fileName, `expected a mapping at the top level, got ${describeValue(root)}`);
    return undefined;
  }
  return new ProjectReader(problems, options.locationPrefix ?? "").read(root);
}

export function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Top-level keys of meltano.yml (its JSON schema and settings.yml); sluice reads some, accepts all. */
const PROJECT_KEYS = new Set([
  "version",
  "annotations",
  "default_environment",
  "send_anonymous_usage_stats",
  "project_id",
  "requires_meltano",
  "database_uri",
  "max_retries",
  "retry_delay_seconds",
  "python",
  "state_backend",
  "venv",
  "environments",
  "include_paths",
  "plugins",
  "schedules",
  "env",
  "jobs",
  "database_max_retries",
  "database_retry_timeout",
  "project_readonly",
  "cli",
  "elt",
  "experimental",
  "ff",
  "hub_api_root",
  "hub_url",
  "hub_url_auth",
  "snowplow",
  "auto_install",
  "discovery_url",
  "discovery_url_auth",
  "ui",
]);

const PLUGIN_TYPES_IGNORED = ["utilities", "transformers", "orchestrators", "mappers", "files", "transforms"];

const PLUGIN_KEYS = new Set([
  "name",
  "variant",
  "pip_url",
  "namespace",
  "executable",
  "inherit_from",
  "builtin",
  "config",
  "select",
  "metadata",
  "schema",
  "env",
  "annotations",
  "description",
  "plugin_type",
  "repo",
  "ext_repo",
  "label",
  "logo_url",
  "python",
  "settings",
  "docs",
  "settings_group_validation",
  "commands",
  "requires",
  "requires_meltano",
  "capabilities",
  "select_filter",
  "catalog",
  "load_schema",
  "state",
  "use_cached_catalog",
  "log_parser",
  "dialect",
  "hidden",
  "maintenance_status",
  "keywords",
  "domain_url",
  "quality",
  "update",
  "supported_python_versions",
]);

const ENVIRONMENT_PLUGIN_KEYS = new Set([
  "name",
  "config",
  "env",
  "annotations",
  "select",
  "metadata",
  "schema",
  "select_filter",
  "catalog",
  "load_schema",
  "state",
  "use_cached_catalog",
  "log_parser",
]);

const DECLARED_SETTING_KEYS = new Set([
  "name",
  "aliases",
  "label",
  "value",
  "placeholder",
  "kind",
  "description",
  "tooltip",
  "documentation",
  "hidden",
  "sensitive",
  "env",
  "value_processor",
  "value_post_processor",
  "oauth",
  "options",
  "annotations",
]);

const SCHEDULE_INTERVAL =
  /^(@(hourly|daily|weekly|monthly|yearly|annually|once|midnight)|(\S+\s+){4}\S+(\s+\S+)?)$/;

/** Turns the parsed YAML into a ProjectFile, recording every problem with its path. */
class ProjectReader {
  constructor(
    private readonly problems: ProblemList,
    private readonly prefix: string,
  ) {}

  read(root: Record<string, unknown>): ProjectFile {
    this.checkKeys(root, PROJECT_KEYS, "");
    const version = this.optionalInteger(root, "version", "");
    if (version !== undefined && version !== 1) this.add("version", `expected 1, got ${version}`);
    const plugins = this.readPlugins(root.plugins);
    const stateBackend = this.readStateBackend(root.state_backend);
    return {
      version,
      project_id: this.optionalString(root, "project_id", ""),
      send_anonymous_usage_stats: this.optionalBoolean(root, "send_anonymous_usage_stats", ""),
      default_environment: this.optionalString(root, "default_environment", ""),
      plugins,
      environments: this.list(root.environments, "environments", (item, path) =>
        this.readEnvironment(item, path),
      ),
      schedules: this.list(root.schedules, "schedules", (item, path) => this.readSchedule(item, path)),
      jobs: this.list(root.jobs, "jobs", (item, path) => this.readJob(item, path)),
      ...(stateBackend ? { state_backend: stateBackend } : {}),
      database_uri: this.optionalString(root, "database_uri", ""),
      ...this.retrySettings(root),
      env: this.readEnv(root.env, "env"),
      include_paths: this.readStringList(root.include_paths, "include_paths") ?? [],
    };
  }

  private retrySettings(
    root: Record<string, unknown>,
  ): Pick<ProjectFile, "max_retries" | "retry_delay_seconds"> {
    const maxRetries = this.optionalInteger(root, "max_retries", "");
    if (maxRetries !== undefined && maxRetries < 0) {
      this.add("max_retries", `expected 0 or more, got ${maxRetries} (0 turns retries off)`);
    }
    const delay = root.retry_delay_seconds;
    let delaySeconds: number | undefined;
    if (delay !== undefined && delay !== null) {
      if (typeof delay !== "number" || !Number.isFinite(delay) || delay <= 0) {
        this.add("retry_delay_seconds", `expected a number of seconds above 0, got ${describeValue(delay)}`);
      } else {
        delaySeconds = delay;
      }
    }
    return {
      ...(maxRetries !== undefined && maxRetries >= 0 ? { max_retries: maxRetries } : {}),
      ...(delaySeconds !== undefined ? { retry_delay_seconds: delaySeconds } : {}),
    };
  }

  private add(path: string, message: string): void {
    this.problems.add(`${this.prefix}${path}`, message);
  }

  private checkKeys(
    value: Record<string, unknown>,
    allowed: ReadonlySet<string>,
    path: string,
    options: { allowUnderscore?: boolean } = {},
  ): void {
    for (const key of Object.keys(value)) {
      if (allowed.has(key) || (options.allowUnderscore && key.startsWith("_"))) continue;
      this.add(joinPath(path, key), `unknown key${suggestionSuffix(key, allowed)}`);
    }
  }

  private list<T>(
    value: unknown,
    path: string,
    readItem: (item: unknown, path: string) => T | undefined,
  ): T[] {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) {
      this.add(path, `expected a list, got ${describeValue(value)}`);
      return [];
    }
    const items: T[] = [];
    value.forEach((item, index) => {
      const read = readItem(item, joinPath(path, index));
      if (read !== undefined) items.push(read);
    });
    return items;
  }

  private mapping(value: unknown, path: string): Record<string, unknown> | undefined {
    if (value === undefined || value === null) return undefined;
    if (isMapping(value)) return value;
    this.add(path, `expected a mapping, got ${describeValue(value)}`);
    return undefined;
  }

  private requiredName(item: Record<string, unknown>, path: string): string | undefined {
    const name = item.name;
    if (name === undefined || name === null || name === "") {
      this.add(joinPath(path, "name"), "missing; every entry needs a `name`");
      return undefined;
    }
    if (typeof name !== "string") {
      this.add(joinPath(path, "name"), `expected a string, got ${describeValue(name)}`);
      return undefined;
    }
    return name;
  }

  private optionalString(item: Record<string, unknown>, key: string, path: string): string | undefined {
    const value = item[key];
    if (value === undefined || value === null) return undefined;
    // YAML reads `project_id: 12345` or `variant: 2` as numbers; the user meant the text.
    if (typeof value === "number") return String(value);
    if (typeof value !== "string") {
      this.add(joinPath(path, key), `expected a string, got ${describeValue(value)}`);
      return undefined;
    }
    return value;
  }

  private optionalBoolean(item: Record<string, unknown>, key: string, path: string): boolean | undefined {
    const value = item[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "boolean") {
      this.add(joinPath(path, key), `expected true or false, got ${describeValue(value)}`);
      return undefined;
    }
    return value;
  }

  private optionalInteger(item: Record<string, unknown>, key: string, path: string): number | undefined {
    const value = item[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "number" || !Number.isInteger(value)) {
      this.add(joinPath(path, key), `expected an integer, got ${describeValue(value)}`);
      return undefined;
    }
    return value;
  }

  private readStringList(value: unknown, path: string): string[] | undefined {
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value)) {
      this.add(path, `expected a list of strings, got ${describeValue(value)}`);
      return undefined;
    }
    const strings: string[] = [];
    value.forEach((item, index) => {
      if (typeof item === "string") strings.push(item);
      else this.add(joinPath(path, index), `expected a string, got ${describeValue(item)}`);
    });
    return strings;
  }

  /** `env:` maps variable names to strings; YAML numbers and booleans are taken as their text. */
  private readEnv(value: unknown, path: string): Record<string, string> {
    const env: Record<string, string> = {};
    const map = this.mapping(value, path);
    if (!map) return env;
    for (const [name, item] of Object.entries(map)) {
      if (typeof item === "string") env[name] = item;
      else if (typeof item === "number" || typeof item === "boolean") env[name] = String(item);
      else if (item === null) env[name] = "";
      else this.add(joinPath(path, name), `expected a string, got ${describeValue(item)}`);
    }
    return env;
  }

  /** `metadata` and `schema`: stream (or stream pattern) → mapping of keys. */
  private readStreamMap(value: unknown, path: string): Record<string, ConfigMap> | undefined {
    const map = this.mapping(value, path);
    if (!map) return undefined;
    const result: Record<string, ConfigMap> = {};
    for (const [stream, entry] of Object.entries(map)) {
      const entryMap = this.mapping(entry, joinPath(path, stream));
      if (entryMap) result[stream] = entryMap;
    }
    return result;
  }

  private readPlugins(value: unknown): ProjectFile["plugins"] {
    const plugins: ProjectFile["plugins"] = { extractors: [], loaders: [] };
    const map = this.mapping(value, "plugins");
    if (!map) return plugins;
    this.checkKeys(map, new Set(["extractors", "loaders", ...PLUGIN_TYPES_IGNORED]), "plugins");
    plugins.extractors = this.list(map.extractors, "plugins.extractors", (item, path) =>
      this.readPlugin(item, path),
    );
    plugins.loaders = this.list(map.loaders, "plugins.loaders", (item, path) => this.readPlugin(item, path));
    // Utilities, transformers and the like are Meltano's business; sluice only checks the shape.
    for (const type of PLUGIN_TYPES_IGNORED) {
      this.list(map[type], `plugins.${type}`, (item, path) => {
        if (!isMapping(item)) this.add(path, `expected a mapping, got ${describeValue(item)}`);
        else this.requiredName(item, path);
        return undefined;
      });
    }
    return plugins;
  }

  /** What a plugin entry and an environment's override of one share: name, config, env, location. */
  private readPluginBase(
    value: unknown,
    path: string,
    keys: ReadonlySet<string>,
  ):
    | {
        value: Record<string, unknown>;
        named: boolean;
        base: Pick<PluginEntry, "name" | "config" | "env" | "location">;
      }
    | undefined {
    if (!isMapping(value)) {
      this.add(path, `expected a mapping with a \`name\`, got ${describeValue(value)}`);
      return undefined;
    }
    this.checkKeys(value, keys, path, { allowUnderscore: true });
    const name = this.requiredName(value, path);
    return {
      value,
      // Without a name the entry is reported and left out, after its other problems are found.
      named: name !== undefined,
      base: {
        name: name ?? "",
        config: this.mapping(value.config, joinPath(path, "config")) ?? {},
        env: this.readEnv(value.env, joinPath(path, "env")),
        location: `${this.prefix}${path}`,
      },
    };
  }

  private readPlugin(raw: unknown, path: string): PluginEntry | undefined {
    const read = this.readPluginBase(raw, path, PLUGIN_KEYS);
    if (!read) return undefined;
    const { value } = read;
    const entry: PluginEntry = { ...read.base };
    for (const key of ["variant", "pip_url", "namespace", "executable", "inherit_from"] as const) {
      const text = this.optionalString(value, key, path);
      if (text !== undefined) entry[key] = text;
    }
    const builtin = this.optionalBoolean(value, "builtin", path);
    if (builtin !== undefined) entry.builtin = builtin;
    const select = this.readStringList(value.select, joinPath(path, "select"));
    if (select) entry.select = select;
    const capabilities = this.readStringList(value.capabilities, joinPath(path, "capabilities"));
    if (capabilities) entry.capabilities = capabilities;
    const metadata = this.readStreamMap(value.metadata, joinPath(path, "metadata"));
    if (metadata) entry.metadata = metadata;
    const schema = this.readStreamMap(value.schema, joinPath(path, "schema"));
    if (schema) entry.schema = schema;
    const settings = this.list(value.settings, joinPath(path, "settings"), (item, itemPath) =>
      this.readDeclaredSetting(item, itemPath),
    );
    if (settings.length > 0) entry.settings = settings;
    return read.named ? entry : undefined;
  }

  private readDeclaredSetting(value: unknown, path: string): DeclaredSetting | undefined {
    if (!isMapping(value)) {
      this.add(path, `expected a mapping with a \`name\`, got ${describeValue(value)}`);
      return undefined;
    }
    this.checkKeys(value, DECLARED_SETTING_KEYS, path);
    const name = this.requiredName(value, path);
    if (name === undefined) return undefined;
    const setting: DeclaredSetting = { name };
    const kind = this.optionalString(value, "kind", path);
    if (kind !== undefined) setting.kind = kind;
    const sensitive = this.optionalBoolean(value, "sensitive", path);
    if (sensitive !== undefined) setting.sensitive = sensitive;
    const aliases = this.readStringList(value.aliases, joinPath(path, "aliases"));
    if (aliases) setting.aliases = aliases;
    if (value.value !== undefined) setting.value = value.value;
    return setting;
  }

  private readEnvironment(value: unknown, path: string): EnvironmentEntry | undefined {
    if (!isMapping(value)) {
      this.add(path, `expected a mapping with a \`name\`, got ${describeValue(value)}`);
      return undefined;
    }
    this.checkKeys(value, new Set(["name", "config", "env", "state_id_suffix", "annotations"]), path);
    const name = this.requiredName(value, path);
    const environment: EnvironmentEntry = {
      name: name ?? "",
      config: { plugins: { extractors: [], loaders: [] } },
      env: this.readEnv(value.env, joinPath(path, "env")),
      location: `${this.prefix}${path}`,
    };
    const suffix = this.optionalString(value, "state_id_suffix", path);
    if (suffix !== undefined) environment.state_id_suffix = suffix;
    const configPath = joinPath(path, "config");
    const config = this.mapping(value.config, configPath);
    if (config) {
      this.checkKeys(config, new Set(["plugins"]), configPath);
      const pluginsPath = joinPath(configPath, "plugins");
      const plugins = this.mapping(config.plugins, pluginsPath);
      if (plugins) {
        this.checkKeys(plugins, new Set(["extractors", "loaders", ...PLUGIN_TYPES_IGNORED]), pluginsPath);
        for (const type of ["extractors", "loaders"] as const) {
          environment.config.plugins[type] = this.list(
            plugins[type],
            joinPath(pluginsPath, type),
            (item, p) => this.readEnvironmentPlugin(item, p),
          );
        }
      }
    }
    return name === undefined ? undefined : environment;
  }

  private readEnvironmentPlugin(raw: unknown, path: string): EnvironmentPluginOverride | undefined {
    const read = this.readPluginBase(raw, path, ENVIRONMENT_PLUGIN_KEYS);
    if (!read) return undefined;
    const { value } = read;
    const override: EnvironmentPluginOverride = { ...read.base };
    const select = this.readStringList(value.select, joinPath(path, "select"));
    if (select) override.select = select;
    const metadata = this.readStreamMap(value.metadata, joinPath(path, "metadata"));
    if (metadata) override.metadata = metadata;
    const schema = this.readStreamMap(value.schema, joinPath(path, "schema"));
    if (schema) override.schema = schema;
    return read.named ? override : undefined;
  }

  private readSchedule(value: unknown, path: string): ScheduleEntry | undefined {
    if (!isMapping(value)) {
      this.add(path, `expected a mapping with a \`name\`, got ${describeValue(value)}`);
      return undefined;
    }
    const keys = [
      "name",
      "interval",
      "job",
      "extractor",
      "loader",
      "transform",
      "start_date",
      "env",
      "annotations",
    ];
    this.checkKeys(value, new Set(keys), path);
    const name = this.requiredName(value, path);
    const interval = this.optionalString(value, "interval", path);
    if (interval === undefined) {
      if (value.interval === undefined || value.interval === null) {
        this.add(
          joinPath(path, "interval"),
          "missing; use a cron expression (`0 2 * * *`) or `@hourly`, `@daily`, ...",
        );
      }
    } else if (!SCHEDULE_INTERVAL.test(interval.trim())) {
      this.add(
        joinPath(path, "interval"),
        `expected a cron expression (5 fields, \`0 2 * * *\`) or @hourly/@daily/@weekly/@monthly/@yearly/@once, got ${describeValue(interval)}`,
      );
    }
    const schedule: ScheduleEntry = {
      name: name ?? "",
      interval: interval?.trim() ?? "",
      env: this.readEnv(value.env, joinPath(path, "env")),
      location: `${this.prefix}${path}`,
    };
    for (const key of ["job", "extractor", "loader", "transform", "start_date"] as const) {
      const text = this.optionalString(value, key, path);
      if (text !== undefined) schedule[key] = text;
    }
    if (schedule.job !== undefined && (schedule.extractor !== undefined || schedule.loader !== undefined)) {
      this.add(path, "set either `job` or `extractor` and `loader`, not both");
    } else if (schedule.job === undefined) {
      if (schedule.extractor === undefined && schedule.loader === undefined) {
        this.add(path, "missing `job` (or `extractor` and `loader`): a schedule must say what it runs");
      } else if (schedule.extractor === undefined) {
        this.add(joinPath(path, "extractor"), "missing; a schedule with a `loader` needs an `extractor`");
      } else if (schedule.loader === undefined) {
        this.add(joinPath(path, "loader"), "missing; a schedule with an `extractor` needs a `loader`");
      }
    }
    return name === undefined ? undefined : schedule;
  }

  private readJob(value: unknown, path: string): JobEntry | undefined {
    if (!isMapping(value)) {
      this.add(path, `expected a mapping with a \`name\`, got ${describeValue(value)}`);
      return undefined;
    }
    this.checkKeys(value, new Set(["name", "tasks", "annotations"]), path);
    const name = this.requiredName(value, path);
    const tasksPath = joinPath(path, "tasks");
    const tasks: string[][] = [];
    const splitBlocks = (task: string): string[] => task.split(/\s+/).filter((block) => block !== "");
    const raw = value.tasks;
    if (raw === undefined || raw === null) {
      this.add(tasksPath, 'missing; list what the job runs, e.g. `tasks: ["tap-postgres target-duckdb"]`');
    } else if (typeof raw === "string") {
      tasks.push(splitBlocks(raw));
    } else if (Array.isArray(raw)) {
      raw.forEach((task, index) => {
        if (typeof task === "string") tasks.push(splitBlocks(task));
        else if (Array.isArray(task) && task.every((block) => typeof block === "string")) {
          tasks.push((task as string[]).flatMap(splitBlocks));
        } else {
          this.add(
            joinPath(tasksPath, index),
            `expected a string or a list of strings, got ${describeValue(task)}`,
          );
        }
      });
    } else {
      this.add(tasksPath, `expected a string or a list, got ${describeValue(raw)}`);
    }
    const empty = tasks.findIndex((task) => task.length === 0);
    if (empty >= 0) this.add(joinPath(tasksPath, empty), "empty task");
    return name === undefined ? undefined : { name, tasks, location: `${this.prefix}${path}` };
  }

  private readStateBackend(value: unknown): StateBackend | undefined {
    const map = this.mapping(value, "state_backend");
    if (!map) return undefined;
    const uri = this.optionalString(map, "uri", "state_backend");
    return { ...map, uri };
  }
}

function mergeIncluded(project: ProjectFile, included: ProjectFile): void {
  project.plugins.extractors.push(...included.plugins.extractors);
  project.plugins.loaders.push(...included.plugins.loaders);
  project.environments.push(...included.environments);
  project.schedules.push(...included.schedules);
  project.jobs.push(...included.jobs);
}

/** Names must be unique, and what a schedule, environment or default names must exist. */
function checkReferences(project: ProjectFile, problems: ProblemList): void {
  const pluginTypeByName = new Map<string, string>();
  for (const type of ["extractors", "loaders"] as const) {
    for (const plugin of project.plugins[type]) {
      const previous = pluginTypeByName.get(plugin.name);
      if (previous !== undefined) {
        problems.add(
          joinPath(plugin.location, "name"),
          `duplicate plugin name "${plugin.name}" (already used in plugins.${previous}); plugin names must be unique`,
        );
      } else {
        pluginTypeByName.set(plugin.name, type);
      }
    }
  }
  for (const [list, what] of [
    [project.environments, "environment"],
    [project.schedules, "schedule"],
    [project.jobs, "job"],
  ] as const) {
    const seen = new Set<string>();
    for (const entry of list) {
      if (seen.has(entry.name))
        problems.add(joinPath(entry.location, "name"), `duplicate ${what} name "${entry.name}"`);
      seen.add(entry.name);
    }
  }
  const environmentNames = project.environments.map((environment) => environment.name);
  if (project.default_environment !== undefined && !environmentNames.includes(project.default_environment)) {
    problems.add(
      "default_environment",
      `no environment named "${project.default_environment}"${existingList("environments", environmentNames)}`,
    );
  }
  const names = (type: "extractors" | "loaders"): string[] =>
    project.plugins[type].map((plugin) => plugin.name);
  for (const environment of project.environments) {
    for (const type of ["extractors", "loaders"] as const) {
      for (const override of environment.config.plugins[type]) {
        if (!names(type).includes(override.name)) {
          problems.add(
            joinPath(override.location, "name"),
            `no ${type.slice(0, -1)} named "${override.name}" in plugins.${type}${suggestionSuffix(override.name, names(type))}`,
          );
        }
      }
    }
  }
  const jobNames = project.jobs.map((job) => job.name);
  for (const schedule of project.schedules) {
    if (schedule.job !== undefined && !jobNames.includes(schedule.job)) {
      problems.add(
        joinPath(schedule.location, "job"),
        `no job named "${schedule.job}"${existingList("jobs", jobNames)}`,
      );
    }
    for (const [key, type] of [
      ["extractor", "extractors"],
      ["loader", "loaders"],
    ] as const) {
      const name = schedule[key];
      if (name !== undefined && !names(type).includes(name)) {
        problems.add(
          joinPath(schedule.location, key),
          `no ${key} named "${name}" in plugins.${type}${suggestionSuffix(name, names(type))}`,
        );
      }
    }
  }
}

function existingList(what: string, names: readonly string[]): string {
  return names.length === 0 ? ` (the project defines no ${what})` : ` (${what}: ${names.join(", ")})`;
}
