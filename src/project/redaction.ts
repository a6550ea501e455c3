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

  /**
   * Registers a secret in the forms it may appear in: as is, URL-encoded (hex digits of either
   * case, as a hand-written URI may have them), and JSON-escaped once and twice (a JSON string
   * inside a JSON log line). Parts of it that are secrets on their own are registered too: the
   * secret-named fields of a JSON secret (an RDS secret's `password`, a service account's
   * `private_key`) and the long lines of a multi-line one (a PEM key printed line by line).
   */
  add(secret: string): void {
    for (const part of secretParts(secret)) this.#addOne(part);
  }

  #addOne(secret: string): void {
    if (secret.length < SecretRedactor.MIN_LENGTH) return;
    const json = JSON.stringify(secret).slice(1, -1);
    const forms = [
      secret,
      encodeURIComponent(secret),
      encodeURIComponent(secret).replace(/%20/g, "+"),
      encodeURI(secret),
      json,
      JSON.stringify(json).slice(1, -1),
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
        .map((form) =>
          form
            .replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
            // %2F and %2f are the same byte in a URL.
            .replace(
              /%([0-9A-F])([0-9A-F])/g,
              (_, a: string, b: string) => `%${hexEitherCase(a)}${hexEitherCase(b)}`,
            ),
        )
        .join("|"),
      "g",
    );
    return text.replace(this.#pattern, REDACTED);
  }
}

function hexEitherCase(digit: string): string {
  return /[A-F]/.test(digit) ? `[${digit}${digit.toLowerCase()}]` : digit;
}

/** Lines of a multi-line secret at least this long are secrets on their own. */
const SECRET_LINE_LENGTH = 16;

/** A secret and the parts of it that are secrets on their own (see `SecretRedactor.add`). */
function secretParts(secret: string): string[] {
  const parts = [secret];
  const trimmed = secret.trim();
  if (trimmed !== secret) parts.push(trimmed);
  if (trimmed.startsWith("{")) {
    try {
      collectSecretFields(JSON.parse(trimmed), parts);
    } catch {
      // Not JSON after all: the whole text is registered.
    }
  }
  for (const line of secret.split(/\r?\n/)) {
    const text = line.trim();
    if (text.length >= SECRET_LINE_LENGTH && text !== trimmed)
      parts.push(text, ...secretParts(text).slice(1));
  }
  return parts;
}

function collectSecretFields(value: unknown, into: string[]): void {
  if (typeof value !== "object" || value === null) return;
  for (const [name, field] of Object.entries(value)) {
    if (typeof field === "string" && SECRET_NAME.test(name)) into.push(...secretParts(field));
    else collectSecretFields(field, into);
  }
}
