import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  startAwsSecretsManagerEmulator,
  type AwsSecretsManagerEmulator,
} from "@sluice/emulators/aws-secrets-manager";
import {
  startGcpSecretManagerEmulator,
  type GcpSecretManagerEmulator,
} from "@sluice/emulators/gcp-secret-manager";
import { ConfigError, ConnectionError } from "../../../src/errors.js";
import { AwsSecretsManager } from "../../../src/project/secrets/aws-secrets-manager.js";
import { GcpSecretManager, clientOptionsFor } from "../../../src/project/secrets/gcp-secret-manager.js";
import {
  parseSettingValue,
  SecretReferenceResolver,
  type SecretReference,
} from "../../../src/project/secret-references.js";

/** The official clients against the local emulators, through sluice's resolver. */

function ref(text: string): SecretReference {
  const parsed = parseSettingValue(text);
  if (parsed?.kind !== "reference") throw new Error(`not a reference: ${text}`);
  return parsed.reference;
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a failure");
}

const RDS = { username: "sluice_reader", password: "rds-Pa55-7f3a", host: "db.internal", port: 5432 };

describe("AWS Secrets Manager", () => {
  let emulator: AwsSecretsManagerEmulator;
  let aws: AwsSecretsManager;
  let arn: string;
  beforeAll(async () => {
    emulator = await startAwsSecretsManagerEmulator();
    arn = emulator.putSecret("prod/rds/sluice", JSON.stringify(RDS));
    emulator.putSecret("plain", "plain-value-1");
    emulator.putSecret("gone", "gone-value");
    emulator.deleteSecret("gone");
    aws = new AwsSecretsManager({
      endpoint: emulator.url,
      region: emulator.region,
      credentials: emulator.credentials,
    });
  });
  afterAll(async () => {
    aws?.close();
    await emulator?.close();
  });

  test("a plain secret, a JSON key, by name and by ARN; one fetch per secret", async () => {
    const seen: string[] = [];
    const resolver = new SecretReferenceResolver({
      env: {},
      projectDir: "/",
      aws,
      onSecret: (v) => seen.push(v),
    });
    expect(await resolver.resolve(ref("aws-sm://plain"))).toBe("plain-value-1");
    expect(await resolver.resolve(ref("aws-sm://prod/rds/sluice#password"))).toBe(RDS.password);
    expect(await resolver.resolve(ref("aws-sm://prod/rds/sluice#username"))).toBe(RDS.username);
    expect(await resolver.resolve(ref("aws-sm://prod/rds/sluice#port"))).toBe("5432");
    expect(await resolver.resolve(ref(`aws-sm://${arn}#host`))).toBe(RDS.host);
    expect(emulator.requests.filter((r) => r === "GetSecretValue prod/rds/sluice")).toHaveLength(1);
    // Everything read reaches the redactor: the whole JSON and each key taken from it.
    expect(seen).toEqual(
      expect.arrayContaining([JSON.stringify(RDS), RDS.password, RDS.username, "plain-value-1"]),
    );
  });

  test("the SDK's own AWS_ENDPOINT_URL_SECRETS_MANAGER and default credential chain reach the emulator", async () => {
    const saved = { ...process.env };
    Object.assign(process.env, emulator.clientEnv());
    try {
      const fromEnv = new AwsSecretsManager();
      expect(await fromEnv.access(ref("aws-sm://plain") as SecretReference & { provider: "aws-sm" })).toBe(
        "plain-value-1",
      );
      fromEnv.close();
    } finally {
      for (const name of Object.keys(emulator.clientEnv())) {
        if (saved[name] === undefined) delete process.env[name];
        else process.env[name] = saved[name];
      }
    }
  });

  test("unknown secret, deleted secret, missing JSON key, wrong credentials, unreachable endpoint", async () => {
    const resolver = new SecretReferenceResolver({ env: {}, projectDir: "/", aws });
    const missing = await failure(resolver.resolve(ref("aws-sm://prod/nope")));
    expect(missing).toBeInstanceOf(ConfigError);
    expect(missing.message).toMatch(/secret not found.*can't find the specified secret/);
    const deleted = await failure(resolver.resolve(ref("aws-sm://gone")));
    expect(deleted).toBeInstanceOf(ConfigError);
    expect(deleted.message).toContain("marked for deletion");
    const noKey = await failure(resolver.resolve(ref("aws-sm://prod/rds/sluice#passwd")));
    expect(noKey.message).toBe('the JSON secret has no key "passwd" (keys: username, password, host, port)');
    const notJson = await failure(resolver.resolve(ref("aws-sm://plain#password")));
    expect(notJson.message).not.toContain("plain-value-1");

    const wrongKey = new AwsSecretsManager({
      endpoint: emulator.url,
      region: emulator.region,
      credentials: { accessKeyId: emulator.credentials.accessKeyId, secretAccessKey: "wrong" },
    });
    const denied = await failure(
      wrongKey.access(ref("aws-sm://plain") as SecretReference & { provider: "aws-sm" }),
    );
    expect(denied).toBeInstanceOf(ConfigError);
    expect(denied.message).toContain("access denied (AWS Secrets Manager InvalidSignatureException");
    wrongKey.close();
    const unknownKey = new AwsSecretsManager({
      endpoint: emulator.url,
      region: emulator.region,
      credentials: { accessKeyId: "AKIAUNKNOWN000000000", secretAccessKey: "x" },
    });
    const unknown = await failure(
      unknownKey.access(ref("aws-sm://plain") as SecretReference & { provider: "aws-sm" }),
    );
    expect(unknown.message).toContain("access denied (AWS Secrets Manager UnrecognizedClientException");
    unknownKey.close();

    const nowhere = new AwsSecretsManager({
      endpoint: "http://127.0.0.1:9",
      region: emulator.region,
      credentials: emulator.credentials,
    });
    const down = await failure(
      nowhere.access(ref("aws-sm://plain") as SecretReference & { provider: "aws-sm" }),
    );
    expect(down).toBeInstanceOf(ConnectionError);
    expect(down.message).toMatch(/cannot reach AWS Secrets Manager.*ECONNREFUSED/);
    nowhere.close();
  });
});

describe("GCP Secret Manager", () => {
  let emulator: GcpSecretManagerEmulator;
  let gcp: GcpSecretManager;
  beforeAll(async () => {
    emulator = await startGcpSecretManagerEmulator();
    emulator.addVersion("acme", "pg-password", "old-password-1");
    emulator.addVersion("acme", "pg-password", "gcp-Pa55-91b2\n");
    emulator.addVersion("acme", "rds", JSON.stringify(RDS));
    emulator.addVersion("acme", "retired", "retired-value");
    emulator.setVersionState("acme", "retired", 1, "DISABLED");
    emulator.addVersion("acme", "shredded", "shredded-value");
    emulator.setVersionState("acme", "shredded", 1, "DESTROYED");
    gcp = new GcpSecretManager({ env: { SLUICE_GCP_SECRET_MANAGER_ENDPOINT: emulator.endpoint } });
  });
  afterAll(async () => {
    await gcp?.close();
    await emulator?.close();
  });

  test("latest, a numbered version, the short form, a JSON key; one trailing newline removed", async () => {
    const resolver = new SecretReferenceResolver({ env: {}, projectDir: "/", gcp });
    expect(await resolver.resolve(ref("gcp-sm://projects/acme/secrets/pg-password/versions/latest"))).toBe(
      "gcp-Pa55-91b2", // one trailing newline removed
    );
    expect(await resolver.resolve(ref("gcp-sm://projects/acme/secrets/pg-password/versions/1"))).toBe(
      "old-password-1",
    );
    expect(await resolver.resolve(ref("gcp-secret://projects/acme/secrets/rds#password"))).toBe(RDS.password);
    expect(emulator.requests).toContain("projects/acme/secrets/rds/versions/latest");
  });

  test("unknown secret or version, disabled and destroyed versions, unreachable endpoint", async () => {
    const resolver = new SecretReferenceResolver({ env: {}, projectDir: "/", gcp });
    const cases: [string, RegExp][] = [
      [
        "gcp-sm://projects/acme/secrets/nope/versions/latest",
        /secret not found \(GCP Secret Manager NOT_FOUND: Secret \[projects\/acme\/secrets\/nope\] not found/,
      ],
      [
        "gcp-sm://projects/acme/secrets/pg-password/versions/7",
        /NOT_FOUND: Secret Version .*versions\/7\] not found/,
      ],
      ["gcp-sm://projects/acme/secrets/retired/versions/1", /FAILED_PRECONDITION: .* is in DISABLED state/],
      [
        "gcp-sm://projects/acme/secrets/shredded/versions/latest",
        /FAILED_PRECONDITION: .* is in DESTROYED state/,
      ],
    ];
    for (const [text, message] of cases) {
      const error = await failure(resolver.resolve(ref(text)));
      expect(error, text).toBeInstanceOf(ConfigError);
      expect(error.message, text).toMatch(message);
    }
    const nowhere = new GcpSecretManager({ clientOptions: { ...clientOptionsFor("http://127.0.0.1:9") } });
    const down = await failure(
      nowhere.access(
        ref("gcp-sm://projects/acme/secrets/pg-password") as SecretReference & { provider: "gcp-sm" },
      ),
    );
    expect(down).toBeInstanceOf(ConnectionError);
    expect(down.message).toContain("cannot reach GCP Secret Manager");
    await nowhere.close();
  }, 60_000);
});
