import {
  GetSecretValueCommand,
  SecretsManagerClient,
  type SecretsManagerClientConfig,
} from "@aws-sdk/client-secrets-manager";
import { ConfigError, ConnectionError } from "../../errors.js";
import type { SecretManagerAccess, SecretReference } from "../secret-references.js";

/**
 * `aws-sm://` references through the official client (`@aws-sdk/client-secrets-manager`).
 *
 * Credentials and region come from the SDK's default chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,
 * AWS_PROFILE, the ECS/EKS container role, the EC2 instance role; AWS_REGION). A reference by ARN
 * uses the ARN's region. The endpoint: the SDK itself reads AWS_ENDPOINT_URL_SECRETS_MANAGER (or
 * AWS_ENDPOINT_URL), which is how tests point it at the local emulator.
 */
export class AwsSecretsManager implements SecretManagerAccess {
  readonly #clients = new Map<string, SecretsManagerClient>();

  /** `config` is merged into every client's (tests pass `endpoint`, `credentials`, `region`). */
  constructor(private readonly config: SecretsManagerClientConfig = {}) {
    // NOTE: the SDK warns on stderr, once per process, that its releases after January 2027 need
    // Node 22; sluice supports Node 20, so the warning would only clutter every run's output.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  }

  async access(reference: SecretReference & { provider: "gcp-sm" | "aws-sm" }): Promise<string> {
    if (reference.provider !== "aws-sm") throw new Error(`not an AWS reference: ${reference.text}`);
    const region = regionOfArn(reference.secretId);
    const client = this.#client(region);
    let output;
    try {
      output = await client.send(new GetSecretValueCommand({ SecretId: reference.secretId }));
    } catch (error) {
      throw awsError(error);
    }
    if (output.SecretString !== undefined) return output.SecretString;
    if (output.SecretBinary !== undefined) return Buffer.from(output.SecretBinary).toString("utf8");
    throw new ConfigError("the secret has no value");
  }

  /** Releases the clients' sockets. */
  close(): void {
    for (const client of this.#clients.values()) client.destroy();
    this.#clients.clear();
  }

  #client(region: string | undefined): SecretsManagerClient {
    const key = region ?? "";
    let client = this.#clients.get(key);
    if (!client) {
      client = new SecretsManagerClient({
        ...this.config,
        ...(region !== undefined ? { region } : {}),
        // One attempt more than none: a refused connection should fail the command quickly.
        maxAttempts: this.config.maxAttempts ?? 2,
      });
      this.#clients.set(key, client);
    }
    return client;
  }
}

/** `arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/rds-AbCdEf` → `eu-west-1`. */
function regionOfArn(secretId: string): string | undefined {
  const parts = secretId.split(":");
  return parts[0] === "arn" && parts[2] === "secretsmanager" && parts[3] ? parts[3] : undefined;
}

/** The SDK's error as a sluice error naming what went wrong, never the value. */
export function awsError(error: unknown): Error {
  const name = (error as { name?: string }).name ?? "";
  const message = error instanceof Error ? error.message : String(error);
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  switch (name) {
    case "ResourceNotFoundException":
      return new ConfigError(`secret not found (AWS Secrets Manager: ${message})`, { cause: error });
    case "AccessDeniedException":
    case "UnrecognizedClientException":
    case "InvalidSignatureException":
    case "ExpiredTokenException":
    case "DecryptionFailure":
      return new ConfigError(`access denied (AWS Secrets Manager ${name}: ${message})`, { cause: error });
    case "InvalidRequestException":
    case "InvalidParameterException":
      return new ConfigError(`AWS Secrets Manager refused the request (${name}: ${message})`, {
        cause: error,
      });
    case "CredentialsProviderError":
      return new ConfigError(
        `no AWS credentials (${message}); set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, or run with a role`,
        { cause: error },
      );
  }
  if (/region is missing/i.test(message)) {
    return new ConfigError("no AWS region: set AWS_REGION, or reference the secret by its ARN", {
      cause: error,
    });
  }
  if (status !== undefined && status < 500 && status !== 429) {
    return new ConfigError(`AWS Secrets Manager refused the request (HTTP ${status} ${name}: ${message})`, {
      cause: error,
    });
  }
  return new ConnectionError(`cannot reach AWS Secrets Manager (${name || "error"}: ${message})`, {
    cause: error,
    transient: true,
  });
}
