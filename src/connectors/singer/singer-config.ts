import fs from "node:fs";
import { ConfigError } from "../../errors.js";
import { suggestionSuffix } from "../../project/did-you-mean.js";
import { coerceSetting } from "../../project/coerce-setting.js";
import { envPrefixOf } from "../../project/setting-values.js";
import { ProblemList } from "../../project/problem-list.js";
import type { PluginConfig, PluginDefinition } from "../connector.js";
import {
  judgeUpstreamValues,
  withUpstreamAliases,
  type UpstreamValue,
} from "../upstream-settings/upstream-decisions.js";
import { upstreamSettingsOf } from "../upstream-settings/upstream-settings.js";

/**
 * Reads the `--config` JSON file of a built-in plugin run as a Singer executable and checks it
 * as the project file's `config` is checked: settings by name or alias, typed (strings accepted
 * for every kind), unknown names and missing required settings reported together, defaults
 * applied. Problems name the file and the setting. Settings another variant of the plugin
 * documents are judged as in a project (the settings inventory): `warn` gets one notice for each
 * that changes nothing.
 */
export function readSingerConfig(
  definition: PluginDefinition,
  file: string,
  warn: (message: string) => void = () => undefined,
): PluginConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError(`--config ${file}: cannot read the file (${(error as Error).message})`, {
      cause: error,
    });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`--config ${file}: not valid JSON (${(error as Error).message})`, { cause: error });
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new ConfigError(`--config ${file}: must be a JSON object of ${definition.name} settings`);
  }
  return checkSingerConfig(definition, raw as Record<string, unknown>, `--config ${file}`, warn);
}

export function checkSingerConfig(
  definition: PluginDefinition,
  raw: Record<string, unknown>,
  where: string,
  warn: (message: string) => void = () => undefined,
): PluginConfig {
  const problems = new ProblemList();
  const upstream = upstreamSettingsOf(definition.name);
  const settings = withUpstreamAliases(definition.settings, upstream);
  const upstreamValues: UpstreamValue[] = [];
  const byName = new Map<string, (typeof definition.settings)[number]>();
  for (const setting of settings) {
    byName.set(setting.name, setting);
    for (const alias of setting.aliases ?? []) if (!byName.has(alias)) byName.set(alias, setting);
  }
  const config: PluginConfig = {};
  // Canonical names first, so that a file with both `path` and its alias `filepath` uses `path`.
  const keys = Object.keys(raw).sort(
    (a, b) => Number(byName.get(a)?.name !== a) - Number(byName.get(b)?.name !== b),
  );
  for (const key of keys) {
    const setting = byName.get(key);
    if (!setting) {
      const other = upstream.find((item) => item.name === key);
      if (other) {
        if (raw[key] !== null && raw[key] !== undefined)
          upstreamValues.push({ setting: other, value: raw[key], path: `${where}: ${key}` });
        continue;
      }
      problems.add(
        `${where}: ${key}`,
        `unknown setting of ${definition.name}${suggestionSuffix(key, [...byName.keys(), ...upstream.map((item) => item.name)])}`,
      );
      continue;
    }
    const value = raw[key];
    if (value === null || value === undefined || setting.name in config) continue;
    const typed = coerceSetting(setting, value, `${where}: ${key}`, problems);
    if (typed !== undefined) config[setting.name] = typed;
  }
  const judged = judgeUpstreamValues(definition.name, upstreamValues, config);
  for (const problem of judged.problems) problems.add(problem.path, problem.message);
  for (const mapped of judged.mapped) {
    const setting = byName.get(mapped.setting);
    if (!setting || mapped.setting in config) continue;
    const typed = coerceSetting(setting, mapped.value, mapped.path, problems);
    if (typed !== undefined) config[mapped.setting] = typed;
  }
  for (const notice of judged.notices) warn(notice);
  for (const setting of definition.settings) {
    if (setting.name in config) continue;
    // As in a project, an environment variable fills a secret left out of the file.
    const fromEnv = process.env[`${envPrefixOf(definition.name)}_${envPrefixOf(setting.name)}`];
    if (fromEnv !== undefined && setting.secret) {
      config[setting.name] = fromEnv;
    } else if (setting.default !== undefined) {
      config[setting.name] = structuredClone(setting.default);
    } else if (setting.required) {
      problems.add(where, `required setting \`${setting.name}\` is not set`);
    }
  }
  problems.throwIfAny();
  return config;
}

/** What `--about` prints: Meltano's `--about --format=json` shape. */
export function aboutOf(definition: PluginDefinition, capabilities: readonly string[]): unknown {
  return {
    name: definition.name,
    description: definition.description,
    capabilities,
    settings: definition.settings.map((s) => ({
      name: s.name,
      kind: s.kind,
      description: s.description,
      ...(s.required ? { required: true } : {}),
      ...(s.default !== undefined ? { value: s.default } : {}),
      ...(s.secret ? { sensitive: true } : {}),
      ...(s.choices ? { options: s.choices } : {}),
      ...(s.aliases ? { aliases: s.aliases } : {}),
    })),
  };
}

/** `--about` as JSON (the default) or as a Markdown page (`--format markdown`), as Singer SDK plugins offer. */
export function aboutText(
  definition: PluginDefinition,
  capabilities: readonly string[],
  format: string | undefined,
): string {
  if (format === undefined || format === "json")
    return JSON.stringify(aboutOf(definition, capabilities), null, 2);
  if (format !== "markdown") throw new ConfigError(`--format: expected json or markdown, got "${format}"`);
  const lines = [
    `# ${definition.name}`,
    "",
    definition.description,
    "",
    "## Capabilities",
    "",
    ...capabilities.map((c) => `- \`${c}\``),
    "",
    "## Settings",
    "",
    "| Setting | Kind | Default | Description |",
    "| ------- | ---- | ------- | ----------- |",
    ...definition.settings.map(
      (s) =>
        `| ${s.name}${s.required ? " (required)" : ""} | ${s.kind} | ${s.default === undefined ? "" : JSON.stringify(s.default)} | ${s.description.replace(/\|/g, "\\|")} |`,
    ),
  ];
  return lines.join("\n");
}
