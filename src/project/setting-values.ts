import type { SettingDefinition, SettingKind } from "../connectors/connector.js";
import type { UpstreamValue } from "../connectors/upstream-settings/upstream-decisions.js";
import type { UpstreamSetting } from "../connectors/upstream-settings/upstream-setting.js";
import { suggestionSuffix } from "./did-you-mean.js";
import { joinPath, type ProblemList } from "./problem-list.js";
import type { ConfigMap, DeclaredSetting, PluginEntry } from "./project-file.js";

/** Where a setting's value came from, for `sluice config` and for messages. */
export type SettingSource =
  { kind: "default" } | { kind: "file"; path: string } | { kind: "env"; variable: string };

export function describeSource(source: SettingSource): string {
  switch (source.kind) {
    case "env":
      return `environment variable ${source.variable}`;
    case "file":
      return source.path;
    case "default":
      return "default";
  }
}

/**
 * The winning value of each setting as layers are applied, keyed by canonical name. Knows the
 * settings' aliases; reports unknown settings when it is given the built-in plugin's name. A name
 * that only another variant of the plugin documents (`upstream`, the settings inventory) is kept
 * apart, for `judgeUpstreamValues`; only a name no variant knows is a problem.
 */
export class SettingValues {
  readonly #byName = new Map<string, SettingDefinition>();
  readonly #canonical = new Map<string, string>();
  readonly #values = new Map<string, { value: unknown; source: SettingSource }>();
  readonly #upstream = new Map<string, UpstreamSetting>();
  readonly #upstreamValues = new Map<string, UpstreamValue>();

  constructor(
    private readonly settings: readonly SettingDefinition[],
    private readonly validatedPlugin: string | undefined,
    upstream: readonly UpstreamSetting[] = [],
  ) {
    for (const setting of upstream) this.#upstream.set(setting.name, setting);
    for (const setting of settings) {
      this.#byName.set(setting.name, setting);
      this.#canonical.set(setting.name, setting.name);
      for (const alias of setting.aliases ?? []) {
        if (!this.#canonical.has(alias)) this.#canonical.set(alias, setting.name);
      }
    }
  }

  setting(name: string): SettingDefinition | undefined {
    return this.#byName.get(name);
  }

  entries(): IterableIterator<[string, { value: unknown; source: SettingSource }]> {
    return this.#values.entries();
  }

  /** The upstream-only settings given, each with the value of the highest layer. */
  upstreamValues(): UpstreamValue[] {
    return [...this.#upstreamValues.values()];
  }

  applyFileLayer(config: ConfigMap, path: string, problems: ProblemList): void {
    // Canonical names first, so that when a layer sets both `path` and its alias `filepath`, `path` wins.
    const keys = Object.keys(config).sort(
      (a, b) => Number(this.#canonical.get(a) !== a) - Number(this.#canonical.get(b) !== b),
    );
    const setHere = new Set<string>();
    for (const key of keys) {
      const value = config[key];
      const keyPath = joinPath(path, key);
      const name = this.#canonical.get(key);
      if (name === undefined) {
        const upstream = this.validatedPlugin !== undefined ? this.#upstream.get(key) : undefined;
        if (upstream !== undefined) {
          if (value === null || value === undefined) this.#upstreamValues.delete(key);
          else this.#upstreamValues.set(key, { setting: upstream, value, path: keyPath });
          continue;
        }
        if (this.validatedPlugin !== undefined) {
          problems.add(
            keyPath,
            `unknown setting of ${this.validatedPlugin}${suggestionSuffix(key, [...this.#canonical.keys(), ...this.#upstream.keys()])}`,
          );
          continue;
        }
        // External plugins take any key as it is.
        if (value !== null && value !== undefined)
          this.#values.set(key, { value, source: { kind: "file", path: keyPath } });
        continue;
      }
      // `host:` with nothing after it means unset, so that the default or a lower layer applies.
      if (value === null || value === undefined || setHere.has(name)) continue;
      setHere.add(name);
      this.#values.set(name, { value, source: { kind: "file", path: keyPath } });
    }
  }

  applyEnvOverrides(env: Readonly<Record<string, string>>, prefixes: readonly string[]): void {
    for (const setting of this.settings) {
      const names = [setting.name, ...(setting.aliases ?? [])];
      const variable = prefixes
        .flatMap((prefix) => names.map((name) => envVarName(prefix, name)))
        .find((candidate) => env[candidate] !== undefined);
      if (variable !== undefined) {
        this.#values.set(setting.name, { value: env[variable], source: { kind: "env", variable } });
      }
    }
  }
}

/** Settings declared by an external plugin in the file, as SettingDefinitions. Later ones win. */
export function declaredSettings(declared: readonly DeclaredSetting[]): SettingDefinition[] {
  const byName = new Map<string, SettingDefinition>();
  for (const setting of declared) {
    const kinds: Record<string, SettingKind> = {
      integer: "integer",
      boolean: "boolean",
      array: "array",
      object: "object",
    };
    byName.set(setting.name, {
      name: setting.name,
      kind: kinds[setting.kind ?? "string"] ?? "string",
      description: "",
      secret: setting.sensitive === true || setting.kind === "password" || setting.kind === "hidden",
      ...(setting.aliases ? { aliases: setting.aliases } : {}),
      ...(setting.value !== undefined ? { default: setting.value } : {}),
    });
  }
  return [...byName.values()];
}

/** `tap-postgres` → `TAP_POSTGRES`: Meltano's prefix of a plugin's setting variables. */
export function envPrefixOf(pluginName: string): string {
  return pluginName.toUpperCase().replace(/[^A-Z0-9]/g, "_");
}

/** `TAP_POSTGRES` + `filter_schemas` → `TAP_POSTGRES_FILTER_SCHEMAS`. */
export function envVarName(prefix: string, settingName: string): string {
  return `${prefix}_${envPrefixOf(settingName)}`;
}

/**
 * Variable prefixes that set a plugin's settings, first wins: its name, its namespace, then its
 * `inherit_from` parents' (as Meltano reads `TAP_POSTGRES_PASSWORD` for a plugin inheriting from
 * tap-postgres).
 */
export function envPrefixes(chain: readonly PluginEntry[], baseName: string): string[] {
  const prefixes: string[] = [];
  for (const entry of [...chain].reverse()) {
    prefixes.push(envPrefixOf(entry.name));
    if (entry.namespace) prefixes.push(envPrefixOf(entry.namespace));
  }
  prefixes.push(envPrefixOf(baseName));
  return [...new Set(prefixes)];
}
