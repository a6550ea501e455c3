import { Option, type Command } from "commander";
import { basename } from "node:path";
import type { SettingDefinition } from "../../connectors/connector.js";
import { ConfigError } from "../../errors.js";
import { suggestionSuffix } from "../../project/did-you-mean.js";
import type { PluginShape } from "../../project/plugin-config.js";
import { REDACTED } from "../../project/redaction.js";
import type { CliContext, Runtime } from "../cli-context.js";
import { addFormatOption, outputFormatOf, type FormatOptions } from "../output-format.js";
import type { Wrap } from "../program.js";

type Store = "auto" | "yml" | "dotenv";

/**
 * `sluice config <plugin> [list | set <setting>... <value> | unset <setting>...]`, as Meltano
 * spells it. Without a verb: the resolved settings (secrets redacted) and where each came from.
 * `set` writes a secret to `.env` and anything else to the project file (`--store` decides
 * otherwise); with `--environment`, into that environment's override of the plugin.
 */
export function registerConfigCommand(program: Command, wrap: Wrap): void {
  const command = program
    .command("config")
    .description(
      "Show a plugin's resolved settings (secrets redacted), or list, set and unset them as `meltano config` does",
    )
    .argument("<plugin>", "plugin name")
    .argument("[verb]", "list | set | unset (none: print the resolved settings as JSON)")
    .argument("[args...]", "set: <setting> [<nested key>...] <value>; unset: <setting> [<nested key>...]")
    .addOption(
      new Option(
        "--store <store>",
        "set/unset: where the value goes (auto: secrets to .env, the rest to the project file)",
      )
        .choices(["auto", "yml", "dotenv"])
        .default("auto"),
    );
  addFormatOption(command).action(
    wrap(
      async (
        context,
        name: string,
        verb: string | undefined,
        args: string[],
        options: { store: Store } & FormatOptions,
      ) => {
        const project = (await context.openProject()).loaded.project;
        const mapperKind = project.plugins.mappers.some((mapper) => mapper.name === name)
          ? "mapper"
          : project.plugins.mappers.some((mapper) => mapper.mappings.some((m) => m.name === name))
            ? "mapping"
            : undefined;
        if (mapperKind) {
          return mapperConfig(context, { kind: mapperKind, name, verb, args, options });
        }
        switch (verb) {
          case undefined:
            return showResolved(context, name);
          case "list":
            return listSettings(context, name, outputFormatOf(options, context.output) === "json");
          case "set":
            return setSetting(context, name, args, options.store);
          case "unset":
            return unsetSetting(context, name, args, options.store);
          default:
            throw new ConfigError(
              `sluice config ${name} ${verb}: unknown action "${verb}"${suggestionSuffix(verb, ["list", "set", "unset"])}; use list, set or unset (or nothing, to print the resolved settings)`,
            );
        }
      },
    ),
  );
}

async function showResolved(context: CliContext, name: string): Promise<void> {
  const { redactConfig, resolvePlugin } = await context.runtime();
  const plugin = resolvePlugin(await context.openProject(), name);
  const shown = {
    name: plugin.name,
    type: plugin.type,
    builtin: plugin.builtin,
    environment: plugin.environment ?? null,
    // A secret reference is shown as written: it says where the value is, never the value.
    config: {
      ...redactConfig(plugin.config, plugin.definitionSettings),
      ...Object.fromEntries(Object.entries(plugin.references).map(([key, ref]) => [key, ref.text])),
    },
    sources: plugin.sources,
    ...(plugin.type === "extractor"
      ? { select: plugin.select, metadata: plugin.metadata, schema: plugin.schema }
      : {}),
  };
  context.output.result(JSON.stringify(shown, null, 2));
}

/** Every setting of the plugin, its variable and current value, as `meltano config <plugin> list`. */
async function listSettings(context: CliContext, name: string, json: boolean): Promise<void> {
  const project = await context.openProject();
  const {
    describeSource,
    envPrefixOf,
    envVarName,
    findBuiltinPlugin,
    pluginShape,
    redactConfig,
    resolvePlugin,
  } = await context.runtime();
  const shape = pluginShape(project.loaded.project, name, findBuiltinPlugin);
  // A missing required setting is exactly what a user lists settings to find: say it, list anyway.
  const resolved = resolvePlugin(project, name, undefined, (problems) => {
    for (const problem of problems) context.output.warn(problem);
  });
  const prefix = envPrefixOf(name);
  const shown = redactConfig(resolved.config, resolved.definitionSettings);
  const rows = shape.settings.map((setting) => {
    const variable = envVarName(prefix, setting.name);
    const source = resolved.sources[setting.name];
    const reference = resolved.references[setting.name];
    const value = reference ? reference.text : shown[setting.name];
    const current =
      value === undefined
        ? "(not set)"
        : `${JSON.stringify(value)} (from ${source ? describeSource(source) : "default"})`;
    return {
      name: setting.name,
      env: variable,
      value: value ?? null,
      source: source ? describeSource(source) : null,
      text: `${setting.name}${setting.required ? " (required)" : ""} [env: ${variable}] current value: ${current}${setting.description ? `\n    ${setting.description}` : ""}`,
    };
  });
  if (json) {
    context.output.result(
      JSON.stringify(
        rows.map(({ text: _text, ...row }) => row),
        null,
        2,
      ),
    );
    return;
  }
  context.output.result(rows.map((row) => row.text).join("\n") || `${name} declares no settings`);
}

async function setSetting(context: CliContext, name: string, args: string[], store: Store): Promise<void> {
  if (args.length < 2) {
    throw new ConfigError(
      `sluice config ${name} set: expected <setting> [<nested key>...] <value>, e.g. sluice config ${name} set host db.example.com`,
    );
  }
  const project = await context.openProject();
  const rt = await context.runtime();
  const { envPrefixOf, envVarName, findBuiltinPlugin, pluginShape, ProjectFileEditor, setDotEnvVariable } =
    rt;
  const shape = pluginShape(project.loaded.project, name, findBuiltinPlugin);
  const path = args.slice(0, -1);
  const text = args.at(-1)!;
  const setting = settingNamed(shape, name, path[0]!);
  const canonical = [setting?.name ?? path[0]!, ...path.slice(1)];
  const value = settingValue(rt, setting, canonical, text, name);
  const secret = setting?.secret === true;
  const target = store === "auto" ? (secret && canonical.length === 1 ? "dotenv" : "yml") : store;
  const shownValue = secret ? REDACTED : JSON.stringify(value);
  if (target === "dotenv") {
    if (canonical.length > 1) {
      throw new ConfigError(
        `--store dotenv: a nested key (${canonical.join(".")}) cannot be a variable; use --store yml`,
      );
    }
    const variable = envVarName(envPrefixOf(name), canonical[0]!);
    setDotEnvVariable(
      project.loaded.dir,
      variable,
      typeof value === "string" ? value : JSON.stringify(value),
    );
    context.output.result(
      `${shape.found.type} ${name} setting ${canonical.join(".")} was set in .env (${variable}): ${shownValue}`,
    );
    return;
  }
  if (secret) {
    context.output.warn(
      `${name}.${canonical[0]} is a secret: written into ${basename(project.loaded.path)}, it ends up wherever the file goes (git, the image); keep it in .env instead (leave out --store yml)`,
    );
  }
  const editor = ProjectFileEditor.open(project.loaded.path);
  const environment = context.options.environment;
  editor.setConfig(
    { type: shape.found.type, name, ...(environment !== undefined ? { environment } : {}) },
    canonical,
    value,
  );
  editor.save();
  context.output.result(
    `${shape.found.type} ${name} setting ${canonical.join(".")} was set in ${basename(project.loaded.path)}${environment !== undefined ? ` (environment ${environment})` : ""}: ${shownValue}`,
  );
}

async function unsetSetting(context: CliContext, name: string, args: string[], store: Store): Promise<void> {
  if (args.length < 1)
    throw new ConfigError(`sluice config ${name} unset: expected <setting> [<nested key>...]`);
  const project = await context.openProject();
  const { envPrefixOf, envVarName, findBuiltinPlugin, pluginShape, ProjectFileEditor, setDotEnvVariable } =
    await context.runtime();
  const shape = pluginShape(project.loaded.project, name, findBuiltinPlugin);
  const setting = settingNamed(shape, name, args[0]!);
  const canonical = [setting?.name ?? args[0]!, ...args.slice(1)];
  const removed: string[] = [];
  if (store !== "dotenv") {
    const editor = ProjectFileEditor.open(project.loaded.path);
    const environment = context.options.environment;
    const scope = { type: shape.found.type, name, ...(environment !== undefined ? { environment } : {}) };
    // The spelling written in the file may be an alias (`filepath` for `path`).
    const spellings = [canonical[0]!, ...(setting?.aliases ?? [])].map((first) => [
      first,
      ...canonical.slice(1),
    ]);
    if (spellings.map((path) => editor.unsetConfig(scope, path)).some(Boolean)) {
      editor.save();
      removed.push(basename(project.loaded.path));
    }
  }
  if (store !== "yml" && canonical.length === 1) {
    const variable = envVarName(envPrefixOf(name), canonical[0]!);
    if (setDotEnvVariable(project.loaded.dir, variable, undefined)) removed.push(`.env (${variable})`);
  }
  context.output.result(
    removed.length === 0
      ? `${shape.found.type} ${name} setting ${canonical.join(".")} was not set${store === "auto" ? "" : ` in ${store}`}; nothing changed`
      : `${shape.found.type} ${name} setting ${canonical.join(".")} was unset from ${removed.join(" and ")}`,
  );
}

/**
 * `sluice config` of a mapper or of a mapping (`meltano config <mapper> list`): a mapper has no
 * setting definitions in sluice, so `list` shows the keys set (secret-looking ones, and every value
 * from a variable or reference, redacted) and `set`/`unset` edit the mapper's or the mapping's
 * `config` in the file (with `--environment`, its override there). Its settings are not read from
 * `<MAPPER>_<SETTING>` variables, so nothing goes to `.env`: a secret is written as `$VARIABLE`.
 */
async function mapperConfig(
  context: CliContext,
  request: {
    kind: "mapper" | "mapping";
    name: string;
    verb: string | undefined;
    args: string[];
    options: { store: Store } & FormatOptions;
  },
): Promise<void> {
  const { kind, name, verb, args, options } = request;
  const project = await context.openProject();
  const rt = await context.runtime();
  const { redactConfig, resolveMapping, ProjectFileEditor } = rt;
  const file = basename(project.loaded.path);
  const environment = context.options.environment;
  const scope = { type: kind, name, ...(environment !== undefined ? { environment } : {}) };
  const shownConfig = (mapping: ReturnType<typeof resolveMapping>): Record<string, unknown> => ({
    ...redactConfig(mapping.config, []),
    // A reference is shown as written: it says where the value is, never the value.
    ...Object.fromEntries(Object.entries(mapping.references).map(([key, ref]) => [key, ref.text])),
  });
  switch (verb) {
    case undefined: {
      const mapping = resolveMapping(project, name);
      const shown = {
        name,
        type: kind,
        ...(kind === "mapping" ? { mapper: mapping.mapper.name } : {}),
        environment: mapping.environment ?? null,
        config: shownConfig(mapping),
        sources: mapping.sources,
      };
      context.output.result(JSON.stringify(shown, null, 2));
      return;
    }
    case "list": {
      // An unset variable is what a user lists settings to find: say it, list anyway.
      const mapping = resolveMapping(project, name, (problems) => {
        for (const problem of problems) context.output.warn(problem);
      });
      const shown = shownConfig(mapping);
      const rows = Object.entries(shown).map(([key, value]) => ({
        name: key,
        value,
        source: mapping.sources[key] ?? null,
      }));
      if (outputFormatOf(options, context.output) === "json") {
        context.output.result(JSON.stringify(rows, null, 2));
        return;
      }
      context.output.result(
        rows
          .map((row) => `${row.name} current value: ${JSON.stringify(row.value)} (from ${row.source})`)
          .join("\n") || `${kind} ${name} has no config set`,
      );
      return;
    }
    case "set":
    case "unset": {
      if (options.store === "dotenv") {
        throw new ConfigError(
          `sluice config ${name} ${verb}: a ${kind}'s settings are not read from variables, so --store dotenv has nothing to write; put the secret in .env and write \`$VARIABLE\` in the file: sluice config ${name} set ${args[0] ?? "<setting>"} '$HASH_SALT'`,
        );
      }
      const editor = ProjectFileEditor.open(project.loaded.path);
      const where = `${file}${environment !== undefined ? ` (environment ${environment})` : ""}`;
      if (verb === "unset") {
        if (args.length < 1)
          throw new ConfigError(`sluice config ${name} unset: expected <setting> [<nested key>...]`);
        const removed = editor.unsetConfig(scope, args);
        if (removed) editor.save();
        context.output.result(
          removed
            ? `${kind} ${name} setting ${args.join(".")} was unset from ${where}`
            : `${kind} ${name} setting ${args.join(".")} was not set in ${where}; nothing changed`,
        );
        return;
      }
      if (args.length < 2) {
        throw new ConfigError(
          `sluice config ${name} set: expected <setting> [<nested key>...] <value>, e.g. sluice config ${name} set stream_map_config hash_seed '$HASH_SALT'`,
        );
      }
      const path = args.slice(0, -1);
      const value = settingValue(rt, undefined, path, args.at(-1)!, name);
      // The rule `sluice config` redacts by: a name that looks secret.
      const secret = redactConfig({ [path[0]!]: "set" }, [])[path[0]!] === REDACTED;
      if (secret && !(typeof value === "string" && /^\$\{?[A-Za-z_]/.test(value))) {
        context.output.warn(
          `${name}.${path[0]} looks secret: written into ${file}, it ends up wherever the file goes (git, the image); keep it in .env and write \`$VARIABLE\` instead`,
        );
      }
      editor.setConfig(scope, path, value);
      editor.save();
      context.output.result(
        `${kind} ${name} setting ${path.join(".")} was set in ${where}: ${secret ? REDACTED : JSON.stringify(value)}`,
      );
      return;
    }
    default:
      throw new ConfigError(
        `sluice config ${name} ${verb}: unknown action "${verb}"${suggestionSuffix(verb, ["list", "set", "unset"])}; use list, set or unset (or nothing, to print the resolved settings)`,
      );
  }
}

/** The setting a name (or alias) means; undefined for a name an external plugin does not declare. */
function settingNamed(shape: PluginShape, plugin: string, name: string): SettingDefinition | undefined {
  const setting = shape.settings.find((s) => s.name === name || s.aliases?.includes(name));
  if (!setting && shape.builtin) {
    throw new ConfigError(
      `${plugin} has no setting "${name}"${suggestionSuffix(
        name,
        shape.settings.map((s) => s.name),
      )}; \`sluice config ${plugin} list\` lists them`,
    );
  }
  return setting;
}

/**
 * The value to write: checked against the setting's kind (a port must be a number) so the file
 * stays valid; a nested key or an undeclared setting of an external plugin is read as YAML
 * when it is clearly a number, boolean, list or mapping, else kept as text (`007` stays `007`).
 */
function settingValue(
  { coerceSetting, parseYaml, ProblemList }: Runtime,
  setting: SettingDefinition | undefined,
  path: string[],
  text: string,
  plugin: string,
): unknown {
  if (setting && path.length === 1) {
    // The project file's own rule (choices, kinds), so what is written is what a run accepts.
    const problems = new ProblemList();
    const value = coerceSetting(setting, text, `${plugin}.${setting.name}`, problems);
    problems.throwIfAny();
    return value;
  }
  if (/^(true|false|-?(0|[1-9]\d*)(\.\d+)?|\[[\s\S]*\]|\{[\s\S]*\})$/.test(text.trim())) {
    try {
      return parseYaml(text) as unknown;
    } catch {
      return text;
    }
  }
  return text;
}
