/**
 * A local GCP Secret Manager for tests: a gRPC server of
 * `google.cloud.secretmanager.v1.SecretManagerService/AccessSecretVersion`, built from the protos
 * that `@google-cloud/secret-manager` ships, so the official client talks to it over its default
 * transport (gRPC) unchanged.
 *
 * Pointing the official client at it: `new SecretManagerServiceClient({ apiEndpoint: "127.0.0.1",
 * port, sslCreds: grpc.credentials.createInsecure() })` with the `grpc` of the client's own
 * google-gax (channel credentials from another grpc-js copy are refused), which is what sluice does
 * for `SLUICE_GCP_SECRET_MANAGER_ENDPOINT=http://127.0.0.1:<port>` (`emulator.endpoint`).
 * NOTE: grpc-js sends no call credentials over a plaintext channel, so the emulator cannot check
 * authentication; it checks everything else as the service does: an unknown secret or version is
 * NOT_FOUND, a DISABLED or DESTROYED version FAILED_PRECONDITION, a malformed name
 * INVALID_ARGUMENT. `latest` is the most recently created version, whatever its state (as in GCP).
 * Payloads carry their CRC32C, as the service sends them.
 */
import type { ServiceDefinition, ServiceError } from "@grpc/grpc-js";
import type * as GoogleGax from "google-gax";
import { createRequire } from "node:module";
import path from "node:path";
import { crc32c } from "sluice/dist/project/secrets/gcp-secret-manager.js";

type Gax = typeof GoogleGax;
type Grpc = Gax["grpc"];

export type SecretVersionState = "ENABLED" | "DISABLED" | "DESTROYED";

export interface GcpSecretManagerEmulator {
  /** `http://127.0.0.1:<port>`: the value of SLUICE_GCP_SECRET_MANAGER_ENDPOINT. */
  endpoint: string;
  port: number;
  /** Adds a version (ENABLED) to `projects/<project>/secrets/<secret>`, creating the secret; returns its number. */
  addVersion(project: string, secret: string, value: string | Uint8Array): number;
  setVersionState(project: string, secret: string, version: number, state: SecretVersionState): void;
  /** Names accessed, in order: `projects/p/secrets/s/versions/latest`. */
  readonly requests: string[];
  close(): Promise<void>;
}

const NAME = /^projects\/([^/]+)\/secrets\/([^/]+)\/versions\/([^/]+)$/;

export async function startGcpSecretManagerEmulator(): Promise<GcpSecretManagerEmulator> {
  const require = createRequire(import.meta.url);
  const packageMain = require.resolve("@google-cloud/secret-manager");
  const gax = createRequire(packageMain)("google-gax") as Gax;
  const grpc: Grpc = gax.grpc;
  const protosDir = path.join(path.dirname(packageMain), "..", "protos");
  const loaded = new gax.GrpcClient().loadProto(protosDir, "google/cloud/secretmanager/v1/service.proto");
  const service = (
    loaded as unknown as {
      google: {
        cloud: {
          secretmanager: {
            v1: { SecretManagerService: { service: ServiceDefinition } };
          };
        };
      };
    }
  ).google.cloud.secretmanager.v1.SecretManagerService.service;

  const secrets = new Map<string, { value: Buffer; state: SecretVersionState }[]>();
  const requests: string[] = [];
  const Status = grpc.status;

  const server = new grpc.Server();
  server.addService(service, {
    AccessSecretVersion: (
      call: { request: { name?: string } },
      callback: (error: Partial<ServiceError> | null, response?: unknown) => void,
    ) => {
      const name = call.request.name ?? "";
      requests.push(name);
      const match = NAME.exec(name);
      if (!match) {
        callback({ code: Status.INVALID_ARGUMENT, details: `Invalid resource field value in the request.` });
        return;
      }
      const [, project, secret, version] = match as unknown as [string, string, string, string];
      const secretName = `projects/${project}/secrets/${secret}`;
      const versions = secrets.get(secretName);
      if (!versions || versions.length === 0) {
        callback({ code: Status.NOT_FOUND, details: `Secret [${secretName}] not found or has no versions.` });
        return;
      }
      const number = version === "latest" ? versions.length : /^\d+$/.test(version) ? Number(version) : NaN;
      const entry = versions[number - 1];
      if (!entry) {
        callback({
          code: Status.NOT_FOUND,
          details: `Secret Version [${secretName}/versions/${version}] not found.`,
        });
        return;
      }
      if (entry.state !== "ENABLED") {
        callback({
          code: Status.FAILED_PRECONDITION,
          details: `Secret Version [${secretName}/versions/${number}] is in ${entry.state} state.`,
        });
        return;
      }
      callback(null, {
        name: `${secretName}/versions/${number}`,
        payload: { data: entry.value, dataCrc32c: String(crc32c(entry.value)) },
      });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );

  const versionsOf = (project: string, secret: string) => {
    const name = `projects/${project}/secrets/${secret}`;
    let versions = secrets.get(name);
    if (!versions) secrets.set(name, (versions = []));
    return versions;
  };

  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    requests,
    addVersion: (project, secret, value) => {
      const versions = versionsOf(project, secret);
      versions.push({ value: Buffer.from(value), state: "ENABLED" });
      return versions.length;
    },
    setVersionState: (project, secret, version, state) => {
      const entry = versionsOf(project, secret)[version - 1];
      if (!entry) throw new Error(`no version ${version} of ${secret}`);
      entry.state = state;
      if (state === "DESTROYED") entry.value = Buffer.alloc(0);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
        setTimeout(() => server.forceShutdown(), 1000).unref();
      }),
  };
}
