import fs from "node:fs";
import path from "node:path";
import type { PluginConfig, SettingDefinition } from "../connectors/connector.js";
import { ConfigError, ConnectionError, SluiceError } from "../errors.js";
import type { EnvSource } from "./env-file.js";
import { ProblemList } from "./problem-list.js";

/**
 * A setting value that names where the value is kept instead of holding it. Resolved when a
 * command that connects starts (`sluice run`, `test`, `discover`, ...), kept as written everywhere
 * else (`sluice config`, generated deploy files), and never written back:
 *
 * - `file:/var/secrets/sluice/password`: a file, e.g. a mounted Kubernetes Secret; one trailing
 *   newline is removed. A relative path (`file:./secrets/pw`) is relative to the project folder.
 * - `env:PGPASSWORD`: an environment variable, e.g. set by Airflow from a Variable or Connection.
 * - `gcp-sm://projects/<project>/secrets/<secret>/versions/<version|latest>`: GCP Secret Manager
 *   (`/versions/...` may be left out for `latest`; `gcp-secret://` is the same); one trailing
 *   newline is removed, as for files.
 * - `aws-sm://<secret name or ARN>`: AWS Secrets Manager's SecretString.
 * - `#<key>` after a secret-manager reference picks one key of a JSON secret, as RDS keeps its
 *   credentials: `aws-sm://prod/rds/sluice#password`.
 * - `literal:<text>` is `<text>` as it is, for a value that happens to look like a reference.
 *
 * The prefixes follow the URI-like names of Spring Cloud GCP (`sm://`) and the `#key` of ECS's
 * `valueFrom` for JSON secrets, with the provider spelled out so that a value is never ambiguous.
 */
export type SecretReference =
  | { provider: "file"; text: string; path: string }
  | { provider: "env"; text: string; variable: string }
  | { provider: "gcp-sm"; text: string; name: string; jsonKey: string | undefined }
  | { provider: "aws-sm"; text: string; secretId: string; jsonKey: string | undefined };

export type ParsedSettingValue =
  | { kind: "reference"; reference: SecretReference }
  | { kind: "literal"; value: string }
  | { kind: "invalid"; problem: string };

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const GCP_NAME = /^projects\/([^/#]+)\/secrets\/([^/#]+)(?:\/versions\/([^/#]+))?$/;
/** Secret names hold `A-Za-z0-9/_+=.@-`; an ARN adds `:`. `#` can thus only start a JSON key. */
const AWS_ID = /^[A-Za-z0-9/_+=.@:-]+$/;

/**
 * What a setting's string value means: a reference, a `literal:` value, or a malformed
 * secret-manager reference. Undefined for an ordinary value. `file:` and `env:` values that do not
 * look like a path or a variable name (`env:` followed by a space) are ordinary values, so that a
 * password happening to begin with `env:` still works; `literal:` makes any value ordinary.
 */
export function parseSettingValue(text: string): ParsedSettingValue | undefined {
  if (text.startsWith("literal:")) return { kind: "literal", value: text.slice("literal:".length) };
  if (text.startsWith("env:")) {
    const variable = text.slice(4);
    return ENV_NAME.test(variable) ? reference({ provider: "env", text, variable }) : undefined;
  }
  if (text.startsWith("file:")) {
    const file = text.slice(5);
    const looksLikePath = /^(\/|\.\/|\.\.\/)/.test(file) && !file.startsWith("//") && !/[\r\n]/.test(file);
    return looksLikePath ? reference({ provider: "file", text, path: file }) : undefined;
  }
  for (const prefix of ["gcp-sm://", "gcp-secret://"]) {
    if (!text.startsWith(prefix)) continue;
    const [name = "", jsonKey] = splitKey(text.slice(prefix.length));
    const match = GCP_NAME.exec(name);
    if (!match || jsonKey === "") {
      return invalid(
        `"${text}" is not a GCP Secret Manager reference; expected ${prefix}projects/<project>/secrets/<secret>/versions/<version or latest>[#<json key>]`,
      );
    }
    const full = match[3] === undefined ? `${name}/versions/latest` : name;
    return reference({ provider: "gcp-sm", text, name: full, jsonKey });
  }
  if (text.startsWith("aws-sm://")) {
    const [secretId = "", jsonKey] = splitKey(text.slice("aws-sm://".length));
    if (!AWS_ID.test(secretId) || jsonKey === "") {
      return invalid(
        `"${text}" is not an AWS Secrets Manager reference; expected aws-sm://<secret name or ARN>[#<json key>]`,
      );
    }
    return reference({ provider: "aws-sm", text, secretId, jsonKey });
  }
  return undefined;
}

function reference(value: SecretReference): ParsedSettingValue {
  return { kind: "reference", reference: value };
}

function invalid(problem: string): ParsedSettingValue {
  return { kind: "invalid", problem };
}

function splitKey(rest: string): [string, string | undefined] {
  const hash = rest.indexOf("#");
  return hash === -1 ? [rest, undefined] : [rest.slice(0, hash), rest.slice(hash + 1)];
}

/**
 * Reads a secret manager's secret. Throws ConfigError when the secret is missing or access is
 * denied, ConnectionError (transient) when the service cannot be reached; messages never hold the
 * value. `jsonKey` is applied by the caller.
 */
export interface SecretManagerAccess {
  access(reference: SecretReference & { provider: "gcp-sm" | "aws-sm" }): Promise<string>;
  /** Releases connections (a gRPC channel keeps the process alive). */
  close?(): Promise<void> | void;
}

export interface SecretReferenceResolverOptions {
  /** Variables `env:` reads; the project's environment (process and `.env`). */
  env: EnvSource;
  /** Folder that relative `file:` paths start from. */
  projectDir: string;
  /** Clients of the secret managers; default: the official clients, configured from the environment. */
  gcp?: SecretManagerAccess;
  aws?: SecretManagerAccess;
  /** Called with each value read, before anything else sees it: the CLI's redactor. */
  onSecret?: (value: string) => void;
}

/**
 * Resolves references for one command. A secret read twice (`#username` and `#password` of one
 * RDS secret) is fetched once.
 */
export class SecretReferenceResolver {
  readonly #cache = new Map<string, Promise<string>>();
  #gcp: SecretManagerAccess | undefined;
  #aws: SecretManagerAccess | undefined;
  /** Clients this resolver created, closed by `close()`; those passed in belong to the caller. */
  readonly #owned: SecretManagerAccess[] = [];

  constructor(private readonly options: SecretReferenceResolverOptions) {
    this.#gcp = options.gcp;
    this.#aws = options.aws;
  }

  /** The value a reference stands for (a JSON secret's key applied). */
  async resolve(reference: SecretReference): Promise<string> {
    const raw = await this.#read(reference);
    const jsonKey =
      reference.provider === "gcp-sm" || reference.provider === "aws-sm" ? reference.jsonKey : undefined;
    if (jsonKey === undefined) return raw;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw) as unknown;
    } catch {
      throw new ConfigError(`the secret is not a JSON object, so it has no key "${jsonKey}"`);
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw new ConfigError(`the secret is not a JSON object, so it has no key "${jsonKey}"`);
    }
    const record = parsed as Record<string, unknown>;
    const value = record[jsonKey];
    if (value === undefined || value === null) {
      throw new ConfigError(
        `the JSON secret has no key "${jsonKey}" (keys: ${Object.keys(record).join(", ")})`,
      );
    }
    const text = typeof value === "string" ? value : JSON.stringify(value);
    this.options.onSecret?.(text);
    return text;
  }

  #read(reference: SecretReference): Promise<string> {
    const key =
      reference.provider === "gcp-sm"
        ? `gcp-sm:${reference.name}`
        : reference.provider === "aws-sm"
          ? `aws-sm:${reference.secretId}`
          : reference.text;
    let pending = this.#cache.get(key);
    if (!pending) {
      pending = this.#fetch(reference).then((value) => {
        this.options.onSecret?.(value);
        return value;
      });
      this.#cache.set(key, pending);
    }
    return pending;
  }

  async #fetch(reference: SecretReference): Promise<string> {
    switch (reference.provider) {
      case "env": {
        const value = this.options.env[reference.variable];
        if (value === undefined)
          throw new ConfigError(`environment variable ${reference.variable} is not set`);
        return value;
      }
      case "file": {
        const file = path.resolve(this.options.projectDir, reference.path);
        try {
          // One trailing newline goes: `echo` and editors add it, and a password never ends with one.
          return fs.readFileSync(file, "utf8").replace(/\r?\n$/, "");
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          const reason =
            code === "ENOENT"
              ? "no such file"
              : code === "EACCES"
                ? "permission denied"
                : code === "EISDIR"
                  ? "is a folder"
                  : (code ?? "cannot be read");
          throw new ConfigError(`cannot read ${file}: ${reason}`, { cause: error });
        }
      }
      case "gcp-sm": {
        // Loaded on first use: the clients are large, and most commands need neither.
        this.#gcp ??= this.#own(
          new (await import("./secrets/gcp-secret-manager.js")).GcpSecretManager({ env: this.options.env }),
        );
        return this.#gcp.access(reference);
      }
      case "aws-sm": {
        this.#aws ??= this.#own(new (await import("./secrets/aws-secrets-manager.js")).AwsSecretsManager());
        return this.#aws.access(reference);
      }
    }
  }

  #own(client: SecretManagerAccess): SecretManagerAccess {
    this.#owned.push(client);
    return client;
  }

  /** Closes the clients it created. Values already resolved stay valid. */
  async close(): Promise<void> {
    await Promise.all(this.#owned.splice(0).map((client) => client.close?.()));
  }

  /**
   * Resolves every reference of a plugin's config and types the values as their settings say
   * (`port: env:PGPORT` becomes an integer). All failures are reported together, each naming the
   * setting and the reference; a ConnectionError when any is a service that could not be reached.
   */
  async resolveConfig(options: {
    config: PluginConfig;
    references: Readonly<Record<string, SecretReference>>;
    settings: readonly SettingDefinition[];
    /** Where each setting was set (`plugins.extractors[0].config.password`), for messages. */
    describe: (setting: string) => string;
    /** `coerceSetting` of coerce-setting.ts; passed in to keep this module free of the resolver. */
    coerce: (setting: SettingDefinition, value: unknown, where: string, problems: ProblemList) => unknown;
  }): Promise<PluginConfig> {
    const { config, references, settings } = options;
    const byName = new Map(settings.map((setting) => [setting.name, setting]));
    const problems = new ProblemList();
    let unreachable: unknown;
    const resolved = { ...config };
    const entries = Object.entries(references);
    // Fetched at once, reported in the order of the settings.
    const outcomes = await Promise.allSettled(entries.map(([, reference]) => this.resolve(reference)));
    entries.forEach(([name, reference], index) => {
      const where = `${options.describe(name)} (${reference.text})`;
      const outcome = outcomes[index]!;
      if (outcome.status === "rejected") {
        const error: unknown = outcome.reason;
        if (!(error instanceof SluiceError)) throw error;
        if (error instanceof ConnectionError) unreachable ??= error;
        problems.add(where, error.message);
        return;
      }
      const setting = byName.get(name);
      // Typed as the setting's kind, and described by kind only: a resolved value is always secret.
      resolved[name] = setting
        ? options.coerce({ ...setting, secret: true }, outcome.value, where, problems)
        : outcome.value;
    });
    if (problems.size > 0) {
      const messages = [...problems.all];
      if (unreachable) {
        throw new ConnectionError(messages.join("\n"), { cause: unreachable, transient: true });
      }
      throw new ConfigError(messages);
    }
    return resolved;
  }
}
