import { LineCounter, parseDocument } from "yaml";
import { describeValue, joinPath, type ProblemList } from "./problem-list.js";
import type {
  DeclaredSetting,
  EnvironmentEntry,
  EnvironmentPluginOverride,
  JobEntry,
  MapperEntry,
  MappingEntry,
  PluginEntry,
  ProjectFile,
  ScheduleEntry,
  StateBackend,
} from "./project-file.js";
import {
  DECLARED_SETTING_KEYS,
  ENVIRONMENT_MAPPER_KEYS,
  ENVIRONMENT_PLUGIN_KEYS,
  MAPPER_KEYS,
  MAPPING_KEYS,
  PLUGIN_KEYS,
  PLUGIN_TYPES_IGNORED,
  PROJECT_KEYS,
} from "./project-keys.js";
import { isMapping, ValueReader } from "./value-reader.js";

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

const SCHEDULE_INTERVAL =
  /^(@(hourly|daily|weekly|monthly|yearly|annually|once|midnight)|(\S+\s+){4}\S+(\s+\S+)?)$/;

/** Turns the parsed YAML into a ProjectFile, recording every problem with its path. */
class ProjectReader extends ValueReader {
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

  private readPlugins(value: unknown): ProjectFile["plugins"] {
    const plugins: ProjectFile["plugins"] = { extractors: [], loaders: [], mappers: [] };
    const map = this.mapping(value, "plugins");
    if (!map) return plugins;
    this.checkKeys(map, new Set(["extractors", "loaders", "mappers", ...PLUGIN_TYPES_IGNORED]), "plugins");
    plugins.mappers = this.list(map.mappers, "plugins.mappers", (item, path) => this.readMapper(item, path));
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

  private readMapper(raw: unknown, path: string): MapperEntry | undefined {
    const read = this.readPluginBase(raw, path, MAPPER_KEYS);
    if (!read) return undefined;
    const { value } = read;
    const entry: MapperEntry = { ...read.base, mappings: [] };
    for (const key of ["variant", "pip_url", "namespace", "executable", "inherit_from"] as const) {
      const text = this.optionalString(value, key, path);
      if (text !== undefined) entry[key] = text;
    }
    const builtin = this.optionalBoolean(value, "builtin", path);
    if (builtin !== undefined) entry.builtin = builtin;
    const mappingsPath = joinPath(path, "mappings");
    entry.mappings = this.list(value.mappings, mappingsPath, (item, itemPath) =>
      this.readMapping(item, itemPath),
    );
    return read.named ? entry : undefined;
  }

  private readMapping(value: unknown, path: string): MappingEntry | undefined {
    if (!isMapping(value)) {
      this.add(path, `expected a mapping with a \`name\`, got ${describeValue(value)}`);
      return undefined;
    }
    this.checkKeys(value, MAPPING_KEYS, path);
    const name = this.requiredName(value, path);
    const config = this.mapping(value.config, joinPath(path, "config")) ?? {};
    return name === undefined ? undefined : { name, config, location: `${this.prefix}${path}` };
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
      config: { plugins: { extractors: [], loaders: [], mappers: [] } },
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
        this.checkKeys(
          plugins,
          new Set(["extractors", "loaders", "mappers", ...PLUGIN_TYPES_IGNORED]),
          pluginsPath,
        );
        for (const type of ["extractors", "loaders"] as const) {
          environment.config.plugins[type] = this.list(
            plugins[type],
            joinPath(pluginsPath, type),
            (item, p) => this.readEnvironmentPlugin(item, p),
          );
        }
        environment.config.plugins.mappers = this.list(
          plugins.mappers,
          joinPath(pluginsPath, "mappers"),
          (item, p) => {
            const read = this.readPluginBase(item, p, ENVIRONMENT_MAPPER_KEYS);
            return read?.named ? read.base : undefined;
          },
        );
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
