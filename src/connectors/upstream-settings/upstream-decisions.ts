import type { SettingDefinition } from "../connector.js";
import type { UpstreamSetting } from "./upstream-setting.js";

/** A value the project (or a `--config` file) gives an upstream setting, and where. */
export interface UpstreamValue {
  setting: UpstreamSetting;
  value: unknown;
  /** `plugins.loaders[0].config.batch_size_rows`, or `--config f.json: batch_size_rows`. */
  path: string;
}

/** What the upstream settings of one plugin amount to. */
export interface UpstreamOutcome {
  /** One warning per setting that is accepted and changes nothing. */
  notices: string[];
  /** Settings refused (semantic, a value sluice does not behave as), as path and message. */
  problems: { path: string; message: string }[];
  /** Values of sluice settings that `mapped` settings decided, lowest precedence. */
  mapped: { name: string; setting: string; value: unknown; path: string }[];
}

/**
 * The plugin's settings with the other variants' spellings that mean the same setting (the
 * inventory's `sluice` decisions) added to their aliases, so that the file, `<PLUGIN>_<NAME>`
 * variables and `config set` all read them as the setting.
 */
export function withUpstreamAliases(
  settings: readonly SettingDefinition[],
  upstream: readonly UpstreamSetting[],
): SettingDefinition[] {
  const taken = new Set(settings.flatMap((setting) => [setting.name, ...(setting.aliases ?? [])]));
  return settings.map((setting) => {
    const extra = upstream
      .filter(
        (item) =>
          item.decision.kind === "sluice" && item.decision.setting === setting.name && !taken.has(item.name),
      )
      .map((item) => item.name);
    return extra.length === 0 ? setting : { ...setting, aliases: [...(setting.aliases ?? []), ...extra] };
  });
}

/**
 * Judges the upstream settings a plugin was given: cosmetic ones (and semantic ones set to what
 * sluice does anyway) become one notice each; semantic ones set otherwise become problems naming
 * the setting and its variant and saying what sluice does and what to do; mapped ones become
 * values of sluice settings. Values of secret settings are never quoted.
 */
export function judgeUpstreamValues(
  plugin: string,
  values: readonly UpstreamValue[],
  /** The plugin's sluice settings as given so far, by canonical name (what `map` may consult). */
  settled: Readonly<Record<string, unknown>> = {},
): UpstreamOutcome {
  const outcome: UpstreamOutcome = { notices: [], problems: [], mapped: [] };
  const others = { ...settled, ...Object.fromEntries(values.map((item) => [item.setting.name, item.value])) };
  for (const { setting, value, path } of values) {
    const named = `\`${setting.name}\` (${plugin} variant ${setting.variants.join(", ")})`;
    const decision = setting.decision;
    switch (decision.kind) {
      case "sluice":
        break; // read as the sluice setting by its alias; never reaches here
      case "cosmetic":
        outcome.notices.push(`${path}: ${named} is accepted and changes nothing: ${decision.why}`);
        break;
      case "semantic":
        if (decision.accepts?.(value)) {
          outcome.notices.push(
            `${path}: ${shown(setting, value)} (${plugin} variant ${setting.variants.join(", ")}) is accepted and changes nothing: sluice ${decision.sluiceDoes}`,
          );
        } else {
          outcome.problems.push({
            path,
            message: `${shown(setting, value)} (${plugin} variant ${setting.variants.join(", ")}) is not supported: sluice ${decision.sluiceDoes}. To run, ${decision.instead}`,
          });
        }
        break;
      case "mapped": {
        const mapped = decision.map(value, others);
        if (mapped === undefined) break;
        if ("problem" in mapped) outcome.problems.push({ path, message: `${named}: ${mapped.problem}` });
        else
          outcome.mapped.push({ name: setting.name, setting: decision.setting, value: mapped.value, path });
        break;
      }
    }
  }
  return outcome;
}

/** `` `debug_lsn: true` `` for a plain value; just the name for an object or a secret. */
function shown(setting: UpstreamSetting, value: unknown): string {
  const plain =
    typeof value === "boolean" ||
    typeof value === "number" ||
    (typeof value === "string" && !setting.secret && value.length <= 60);
  return plain ? `\`${setting.name}: ${String(value)}\`` : `\`${setting.name}\``;
}
