import { SecretManagerServiceClient } from "@google-cloud/secret-manager";
import type * as GoogleGax from "google-gax";
import { createRequire } from "node:module";
import { ConfigError, ConnectionError } from "../../errors.js";
import type { EnvSource } from "../env-file.js";
import type { SecretManagerAccess, SecretReference } from "../secret-references.js";

type Gax = typeof GoogleGax;
type ClientOptions = ConstructorParameters<typeof SecretManagerServiceClient>[0];

/** The google-gax the client itself loads: its grpc-js must create the channel credentials. */
function clientGax(): Gax {
  const require = createRequire(import.meta.url);
  return createRequire(require.resolve("@google-cloud/secret-manager"))("google-gax") as Gax;
}

/**
 * `gcp-sm://` references through the official client (`@google-cloud/secret-manager`, gRPC).
 *
 * Credentials: Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, the gcloud user,
 * Workload Identity on GKE/Composer). `SLUICE_GCP_SECRET_MANAGER_ENDPOINT` changes the endpoint:
 * `host[:port]` (TLS, e.g. a regional endpoint `secretmanager.europe-west1.rep.googleapis.com`), or
 * `http://host:port` for a plaintext gRPC server without authentication, the local emulator
 * (packages/emulators/src/secrets/gcp-secret-manager-emulator.ts).
 */
export class GcpSecretManager implements SecretManagerAccess {
  #client: SecretManagerServiceClient | undefined;
  readonly #options: ClientOptions;

  constructor(options: { env?: EnvSource; clientOptions?: ClientOptions } = {}) {
    this.#options =
      options.clientOptions ?? clientOptionsFor(options.env?.SLUICE_GCP_SECRET_MANAGER_ENDPOINT);
  }

  async access(reference: SecretReference & { provider: "gcp-sm" | "aws-sm" }): Promise<string> {
    if (reference.provider !== "gcp-sm") throw new Error(`not a GCP reference: ${reference.text}`);
    this.#client ??= new SecretManagerServiceClient(this.#options);
    let payload;
    try {
      // Retried on UNAVAILABLE by the client; bounded so that an unreachable endpoint fails soon.
      [{ payload }] = await this.#client.accessSecretVersion({ name: reference.name }, { timeout: 10_000 });
    } catch (error) {
      throw gcpError(error);
    }
    const data = payload?.data;
    if (data === undefined || data === null) throw new ConfigError("the secret version has no payload");
    const bytes = typeof data === "string" ? Buffer.from(data, "base64") : Buffer.from(data);
    const expected = payload?.dataCrc32c;
    if (expected !== undefined && expected !== null && BigInt(String(expected)) !== BigInt(crc32c(bytes))) {
      throw new ConnectionError("the secret's payload does not match its checksum (corrupted in transit)", {
        transient: true,
      });
    }
    // As for `file:`: one trailing newline goes, as `gcloud secrets versions add --data-file` keeps
    // the one an editor or `echo` wrote, and a password never ends with one.
    return bytes.toString("utf8").replace(/\r?\n$/, "");
  }

  async close(): Promise<void> {
    await this.#client?.close();
    this.#client = undefined;
  }
}

/** Client options for `SLUICE_GCP_SECRET_MANAGER_ENDPOINT` (see the class). */
export function clientOptionsFor(endpoint: string | undefined): ClientOptions {
  if (endpoint === undefined || endpoint === "") return {};
  const plaintext = endpoint.startsWith("http://");
  const url = new URL(/^[a-z]+:\/\//.test(endpoint) ? endpoint : `https://${endpoint}`);
  const port = url.port !== "" ? Number(url.port) : plaintext ? 80 : 443;
  return {
    apiEndpoint: url.hostname,
    port,
    // No credentials over plaintext; the universe is given so that auth does not probe the metadata server.
    ...(plaintext
      ? { sslCreds: clientGax().grpc.credentials.createInsecure(), universeDomain: "googleapis.com" }
      : {}),
  };
}

/** gRPC status codes the service answers with. */
const Status = {
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** The client's error as a sluice error naming what went wrong, never the value. */
export function gcpError(error: unknown): Error {
  const code = (error as { code?: unknown }).code;
  const details = (error as { details?: unknown }).details;
  const message =
    typeof details === "string" && details !== ""
      ? details
      : error instanceof Error
        ? error.message
        : String(error);
  switch (code) {
    case Status.NOT_FOUND:
      return new ConfigError(`secret not found (GCP Secret Manager NOT_FOUND: ${message})`, { cause: error });
    case Status.PERMISSION_DENIED:
    case Status.UNAUTHENTICATED:
      return new ConfigError(
        `access denied (GCP Secret Manager ${code === Status.UNAUTHENTICATED ? "UNAUTHENTICATED" : "PERMISSION_DENIED"}: ${message}); the account needs roles/secretmanager.secretAccessor`,
        { cause: error },
      );
    case Status.FAILED_PRECONDITION:
      return new ConfigError(
        `the secret version cannot be read (GCP Secret Manager FAILED_PRECONDITION: ${message})`,
        {
          cause: error,
        },
      );
    case Status.INVALID_ARGUMENT:
      return new ConfigError(`GCP Secret Manager refused the request (INVALID_ARGUMENT: ${message})`, {
        cause: error,
      });
  }
  if (
    error instanceof Error &&
    /default credentials|could not load the default credentials/i.test(error.message)
  ) {
    return new ConfigError(
      `no Google credentials (${error.message}); set GOOGLE_APPLICATION_CREDENTIALS or run \`gcloud auth application-default login\``,
      { cause: error },
    );
  }
  return new ConnectionError(`cannot reach GCP Secret Manager (${message})`, {
    cause: error,
    transient: true,
  });
}

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC32C (Castagnoli), the checksum Secret Manager sends with each payload. */
export function crc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = CRC32C_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
