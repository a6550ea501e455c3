import type { SettingKind } from "../connector.js";

/**
 * One setting that a variant of a Singer plugin documents (pipelinewise-tap-postgres, meltanolabs'
 * tap-postgres, adswerve's or z3z1ma's target-bigquery, ...), and what sluice does with it. The
 * inventory of every such setting is data (`upstream-settings.ts`): the resolver of the project
 * file, `sluice tap|target --config` and the JSON Schema generator all read it, so a name is
 * accepted, warned about or refused the same way everywhere.
 */
export interface UpstreamSetting {
  name: string;
  /** The variants documenting it, as `variant:` names them (`transferwise`, `meltanolabs`, `meltano-sdk`). */
  variants: readonly string[];
  kind: SettingKind;
  /** The variant's documented default, when it has one. */
  default?: unknown;
  /** What the setting does in the variant, in a few words. */
  description: string;
  /** Its value is never printed (a token, a key, a URL with a password). */
  secret?: boolean;
  decision: UpstreamDecision;
}

/**
 * - `sluice`: the same as one of sluice's settings under another name (`database` is `dbname`):
 *   read as that setting, its variable (`TAP_POSTGRES_DATABASE`) too.
 * - `cosmetic`: changes nothing that lands in the warehouse (a buffer size, a worker count): any
 *   value is accepted, and one warning names it and says `why` it changes nothing here.
 * - `semantic`: changes what lands. A value for which `accepts` is true is what sluice does
 *   already (`debug_lsn: false`): accepted with a warning. Any other value is refused: a
 *   ConfigError naming the setting and the variant, saying what sluice does (`sluiceDoes`) and
 *   what to do (`instead`). Without `accepts`, every value is refused.
 * - `mapped`: implemented by a sluice setting: `map` turns the value (and the other upstream
 *   settings of the same plugin, for settings that decide together) into that setting's value,
 *   or nothing (no say), or a problem. A sluice setting set explicitly wins; when it disagrees,
 *   that is a problem.
 */
export type UpstreamDecision =
  | { kind: "sluice"; setting: string }
  | { kind: "cosmetic"; why: string }
  | { kind: "semantic"; accepts?: (value: unknown) => boolean; sluiceDoes: string; instead: string }
  | {
      kind: "mapped";
      setting: string;
      /** `others`: the plugin's other settings, sluice's by their names and upstream ones as given. */
      map: (value: unknown, others: Readonly<Record<string, unknown>>) => MappedValue;
    };

export type MappedValue = { value: unknown } | { problem: string } | undefined;

/** The documentation a plugin's inventory was taken from, by variant. */
export interface UpstreamSource {
  variant: string;
  /** The plugin's package or repository. */
  package: string;
  docs: string;
}

/** A built-in plugin's inventory: the variants it was taken from and their settings. */
export interface UpstreamInventory {
  plugin: string;
  sources: readonly UpstreamSource[];
  settings: readonly UpstreamSetting[];
}

/** `true`, `"true"`, `"1"`... as a boolean; undefined for anything that is not one. */
export function asBoolean(value: unknown): boolean | undefined {
  if (typeof value === "boolean") return value;
  if (typeof value === "number") return value !== 0;
  if (typeof value === "string") {
    const lowered = value.trim().toLowerCase();
    if (["true", "1", "yes", "on"].includes(lowered)) return true;
    if (["false", "0", "no", "off", ""].includes(lowered)) return false;
  }
  return undefined;
}

/** `accepts` for a boolean setting whose only value sluice behaves as is `expected`. */
export function onlyBoolean(expected: boolean): (value: unknown) => boolean {
  return (value) => asBoolean(value) === expected;
}

/**
 * `map` of a certificate or key setting of meltanolabs' variants. They read it only when
 * `enabledBy` is true (`ssl`, which their ssl_enable is; ssl_client_certificate_enable), and so
 * does sluice.
 * A file path is what sluice's libpq-named `setting` takes; the PEM text itself (which they
 * write to a file) is refused.
 */
export function pemFileOnly(
  setting: string,
  enabledBy: string,
): (value: unknown, others: Readonly<Record<string, unknown>>) => MappedValue {
  return (value, others) => {
    if (asBoolean(others[enabledBy]) !== true) return undefined;
    if (typeof value !== "string" || value === "") return undefined;
    if (value.includes("-----BEGIN"))
      return {
        problem: `sluice reads the certificate or key from a file: write it to a file and give its path here (or in \`${setting}\`)`,
      };
    return { value };
  };
}

/**
 * `map` of meltanolabs' `ssl_mode`: they read it only when ssl_enable (sluice's `ssl`) is true;
 * without it they connect as libpq does by default, whatever ssl_mode says.
 */
export function sslModeWhenEnabled(value: unknown, others: Readonly<Record<string, unknown>>): MappedValue {
  return asBoolean(others.ssl) === true && typeof value === "string" && value !== "" ? { value } : undefined;
}

/** `accepts` for a setting sluice behaves as only when it is empty (unset, `{}`, `[]`, `""`, 0). */
export function onlyEmpty(value: unknown): boolean {
  if (value === null || value === undefined || value === "" || value === 0 || value === "0") return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === "object") return Object.keys(value).length === 0;
  return false;
}
