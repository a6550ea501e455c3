import type { PluginConfig, SettingDefinition } from "../connectors/connector.js";

export const REDACTED = "********";

/**
 * Names that hold secrets in plugins sluice has no definition for (an external Singer plugin that
 * declares no `settings:`): redacted by name, as the safer guess.
 */
const SECRET_NAME = /(password|passwd|secret|token|private_key|api_key|apikey|access_key|client_secret)/i;

/**
 * A copy of `config` with the value of every `secret` setting replaced by `********` (for
 * `sluice config`). A setting without a definition is redacted when its name looks secret.
 * Unset or empty secrets are left as they are, so that the output still shows they are missing.
 */
export function redactConfig(config: PluginConfig, settings: readonly SettingDefinition[]): PluginConfig {
  const byName = new Map(settings.map((setting) => [setting.name, setting]));
  const redacted: PluginConfig = {};
  for (const [name, value] of Object.entries(config)) {
    const setting = byName.get(name);
    const secret = setting ? setting.secret === true : SECRET_NAME.test(name);
    redacted[name] = secret && value !== undefined && value !== null && value !== "" ? REDACTED : value;
  }
  return redacted;
}

/** The secret values present in `config` (strings, and the strings inside a secret list or mapping). */
export function secretValues(config: PluginConfig, settings: readonly SettingDefinition[]): string[] {
  const byName = new Map(settings.map((setting) => [setting.name, setting]));
  const values: string[] = [];
  const collect = (value: unknown): void => {
    if (typeof value === "string") values.push(value);
    else if (typeof value === "number") values.push(String(value));
    else if (Array.isArray(value)) value.forEach(collect);
    else if (typeof value === "object" && value !== null) Object.values(value).forEach(collect);
  };
  for (const [name, value] of Object.entries(config)) {
    const setting = byName.get(name);
    if (setting ? setting.secret === true : SECRET_NAME.test(name)) collect(value);
  }
  return values;
}

/**
 * Removes known secret values from text. The CLI registers every secret of the plugins it resolves
 * and passes each log line and error message through `redact`, so that a secret echoed back by a
 * driver ("password authentication failed for ... 'hunter22'") or inside a URL is never shown.
 */
export class SecretRedactor {
  /** Shorter secrets are ignored: replacing `ab` everywhere would mangle logs and hide nothing. */
  static readonly MIN_LENGTH = 4;
  readonly #forms = new Set<string>();
  #pattern: RegExp | undefined;

  /** Registers a secret in the forms it may appear in: as is, URL-encoded, and JSON-escaped. */
  add(secret: string): void {
    if (secret.length < SecretRedactor.MIN_LENGTH) return;
    const forms = [
      secret,
      encodeURIComponent(secret),
      encodeURIComponent(secret).replace(/%20/g, "+"),
      encodeURI(secret),
      JSON.stringify(secret).slice(1, -1),
    ];
    for (const form of forms) this.#forms.add(form);
    this.#pattern = undefined;
  }

  addAll(secrets: Iterable<string>): void {
    for (const secret of secrets) this.add(secret);
  }

  get size(): number {
    return this.#forms.size;
  }

  redact(text: string): string {
    if (this.#forms.size === 0) return text;
    // One alternation, longest first, so that a secret containing another is replaced whole.
    this.#pattern ??= new RegExp(
      [...this.#forms]
        .sort((a, b) => b.length - a.length)
        .map((form) => form.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
        .join("|"),
      "g",
    );
    return text.replace(this.#pattern, REDACTED);
  }
}
