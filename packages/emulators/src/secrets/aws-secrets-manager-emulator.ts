/**
 * A local AWS Secrets Manager for tests: the JSON protocol (`POST /`, `X-Amz-Target:
 * secretsmanager.<Operation>`, `application/x-amz-json-1.1`) that `@aws-sdk/client-secrets-manager`
 * speaks, with `GetSecretValue` and `CreateSecret`/`PutSecretValue`/`DeleteSecret` for setting up.
 *
 * Pointing the official client at it: `new SecretsManagerClient({ endpoint: emulator.url, region,
 * credentials: emulator.credentials })`, or the environment the SDK reads itself:
 * `AWS_ENDPOINT_URL_SECRETS_MANAGER=<url>`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
 * `AWS_SECRET_ACCESS_KEY` (see `clientEnv()`).
 *
 * It checks what Secrets Manager checks: the SigV4 signature (made with its one access key), that
 * the secret exists (ResourceNotFoundException) and is not marked for deletion
 * (InvalidRequestException), by name or full ARN.
 */
import crypto from "node:crypto";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface AwsSecretsManagerEmulator {
  /** e.g. "http://127.0.0.1:43123". */
  url: string;
  region: string;
  /** The only credentials whose signatures it accepts. */
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** Creates (or adds a new AWSCURRENT version to) a secret; returns its ARN. */
  putSecret(name: string, value: string): string;
  /** Marks a secret for deletion, after which reading it fails as in AWS. */
  deleteSecret(name: string): void;
  /** The variables that point the SDK's default configuration at this emulator. */
  clientEnv(): Record<string, string>;
  /** Operations served, for asserting a secret was fetched once: "GetSecretValue prod/rds". */
  readonly requests: string[];
  close(): Promise<void>;
}

interface StoredSecret {
  name: string;
  arn: string;
  versions: { versionId: string; value: string; stages: string[]; created: number }[];
  deleted: boolean;
}

class AwsApiError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export async function startAwsSecretsManagerEmulator(
  options: { region?: string; accountId?: string } = {},
): Promise<AwsSecretsManagerEmulator> {
  const region = options.region ?? "us-east-1";
  const accountId = options.accountId ?? "123456789012";
  const credentials = { accessKeyId: "AKIAEMULATOR00000000", secretAccessKey: "emulator-secret-access-key" };
  const secrets = new Map<string, StoredSecret>();
  const requests: string[] = [];

  const find = (secretId: string): StoredSecret => {
    const secret =
      secrets.get(secretId) ?? [...secrets.values()].find((candidate) => candidate.arn === secretId);
    if (!secret)
      throw new AwsApiError("ResourceNotFoundException", "Secrets Manager can't find the specified secret.");
    return secret;
  };

  const operations: Record<string, (input: Record<string, unknown>) => unknown> = {
    GetSecretValue: (input) => {
      const secretId = stringField(input, "SecretId");
      requests.push(`GetSecretValue ${secretId}`);
      const secret = find(secretId);
      if (secret.deleted) {
        throw new AwsApiError(
          "InvalidRequestException",
          "You can't perform this operation on the secret because it was marked for deletion.",
        );
      }
      const versionId = input.VersionId;
      const stage = typeof input.VersionStage === "string" ? input.VersionStage : "AWSCURRENT";
      const version =
        typeof versionId === "string"
          ? secret.versions.find((v) => v.versionId === versionId)
          : secret.versions.find((v) => v.stages.includes(stage));
      if (!version) {
        throw new AwsApiError(
          "ResourceNotFoundException",
          "Secrets Manager can't find the specified secret value for staging label: " + stage,
        );
      }
      return {
        ARN: secret.arn,
        Name: secret.name,
        VersionId: version.versionId,
        SecretString: version.value,
        VersionStages: version.stages,
        CreatedDate: version.created,
      };
    },
    CreateSecret: (input) => {
      const name = stringField(input, "Name");
      if (secrets.has(name)) {
        throw new AwsApiError(
          "ResourceExistsException",
          `The operation failed because the secret ${name} already exists.`,
        );
      }
      const arn = putSecret(name, stringField(input, "SecretString"));
      return { ARN: arn, Name: name };
    },
    PutSecretValue: (input) => {
      const secret = find(stringField(input, "SecretId"));
      putSecret(secret.name, stringField(input, "SecretString"));
      return { ARN: secret.arn, Name: secret.name };
    },
    DeleteSecret: (input) => {
      const secret = find(stringField(input, "SecretId"));
      secret.deleted = true;
      return { ARN: secret.arn, Name: secret.name, DeletionDate: Date.now() / 1000 };
    },
  };

  function putSecret(name: string, value: string): string {
    let secret = secrets.get(name);
    if (!secret) {
      const suffix = crypto.randomBytes(3).toString("hex");
      secret = {
        name,
        arn: `arn:aws:secretsmanager:${region}:${accountId}:secret:${name}-${suffix}`,
        versions: [],
        deleted: false,
      };
      secrets.set(name, secret);
    }
    for (const version of secret.versions) {
      version.stages = version.stages.includes("AWSCURRENT") ? ["AWSPREVIOUS"] : [];
    }
    secret.versions.push({
      versionId: crypto.randomUUID(),
      value,
      stages: ["AWSCURRENT"],
      created: Date.now() / 1000,
    });
    return secret.arn;
  }

  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const body = Buffer.concat(chunks);
      try {
        const target = request.headers["x-amz-target"];
        if (
          request.method !== "POST" ||
          typeof target !== "string" ||
          !target.startsWith("secretsmanager.")
        ) {
          throw new AwsApiError("UnknownOperationException", "Unknown operation", 400);
        }
        verifySignature(request, body, credentials, region);
        const operation = operations[target.slice("secretsmanager.".length)];
        if (!operation) throw new AwsApiError("UnknownOperationException", `Unknown operation ${target}`);
        let input: unknown;
        try {
          input = JSON.parse(body.toString("utf8") || "{}") as unknown;
        } catch {
          throw new AwsApiError("SerializationException", "Request body is not valid JSON");
        }
        if (typeof input !== "object" || input === null)
          throw new AwsApiError("SerializationException", "Expected an object");
        send(response, 200, operation(input as Record<string, unknown>));
      } catch (error) {
        if (!(error instanceof AwsApiError)) {
          send(response, 500, { __type: "InternalServiceError", message: String(error) });
          return;
        }
        response.setHeader("x-amzn-ErrorType", error.type);
        send(response, error.status, { __type: error.type, message: error.message });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    region,
    credentials,
    requests,
    putSecret,
    deleteSecret: (name) => {
      find(name).deleted = true;
    },
    clientEnv: () => ({
      AWS_ENDPOINT_URL_SECRETS_MANAGER: url,
      AWS_REGION: region,
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function stringField(input: Record<string, unknown>, name: string): string {
  const value = input[name];
  if (typeof value !== "string" || value === "") {
    throw new AwsApiError("InvalidParameterException", `${name} must be a non-empty string`);
  }
  return value;
}

function send(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    "content-type": "application/x-amz-json-1.1",
    "content-length": Buffer.byteLength(text),
    "x-amzn-requestid": crypto.randomUUID(),
  });
  response.end(text);
}

const sha256 = (data: string | Buffer): string => crypto.createHash("sha256").update(data).digest("hex");
const hmac = (key: string | Buffer, data: string): Buffer =>
  crypto.createHmac("sha256", key).update(data).digest();

/**
 * Checks an AWS Signature Version 4 as the service does: an unknown access key is
 * UnrecognizedClientException, a wrong signature InvalidSignatureException.
 */
function verifySignature(
  request: IncomingMessage,
  body: Buffer,
  credentials: { accessKeyId: string; secretAccessKey: string },
  region: string,
): void {
  const authorization = request.headers.authorization ?? "";
  const match =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]+)$/.exec(
      authorization,
    );
  if (!match)
    throw new AwsApiError("MissingAuthenticationTokenException", "Missing Authentication Token", 400);
  const [, accessKeyId, date, signedRegion, service, signedHeaders, signature] = match as unknown as string[];
  if (accessKeyId !== credentials.accessKeyId) {
    throw new AwsApiError(
      "UnrecognizedClientException",
      "The security token included in the request is invalid.",
    );
  }
  const amzDate = String(request.headers["x-amz-date"] ?? "");
  const headerNames = signedHeaders!.split(";");
  const canonicalHeaders = headerNames
    .map(
      (name) =>
        `${name}:${String(request.headers[name] ?? "")
          .trim()
          .replace(/\s+/g, " ")}\n`,
    )
    .join("");
  const [pathname = "/", query = ""] = (request.url ?? "/").split("?");
  const canonicalQuery = query
    .split("&")
    .filter((pair) => pair !== "")
    .sort()
    .join("&");
  const canonicalRequest = [
    request.method,
    pathname,
    canonicalQuery,
    canonicalHeaders,
    signedHeaders,
    sha256(body),
  ].join("\n");
  const scope = `${date}/${signedRegion}/${service}/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256(canonicalRequest)].join("\n");
  let key = hmac(`AWS4${credentials.secretAccessKey}`, date!);
  for (const part of [signedRegion!, service!, "aws4_request"]) key = hmac(key, part);
  const expected = hmac(key, stringToSign).toString("hex");
  if (expected !== signature || signedRegion !== region) {
    throw new AwsApiError(
      "InvalidSignatureException",
      "The request signature we calculated does not match the signature you provided.",
    );
  }
}
