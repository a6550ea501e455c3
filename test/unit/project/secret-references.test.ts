import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { ConfigError } from "../../../src/errors.js";
import { coerceSetting } from "../../../src/project/coerce-setting.js";
import { resolvePluginConfig } from "../../../src/project/plugin-config.js";
import { readProjectFile } from "../../../src/project/project-file.js";
import { describeSource } from "../../../src/project/setting-values.js";
import { parseSettingValue, SecretReferenceResolver } from "../../../src/project/secret-references.js";
import { builtinLookup, problemsOf, projectDirWith } from "./project-test-support.js";

describe("parseSettingValue", () => {
  test.each([
    ["env:PGPASSWORD", { provider: "env", variable: "PGPASSWORD" }],
    ["file:/var/secrets/sluice/password", { provider: "file", path: "/var/secrets/sluice/password" }],
    ["file:./secrets/pw", { provider: "file", path: "./secrets/pw" }],
    [
      "gcp-sm://projects/acme/secrets/pg-password/versions/3",
      { provider: "gcp-sm", name: "projects/acme/secrets/pg-password/versions/3", jsonKey: undefined },
    ],
    [
      "gcp-sm://projects/acme/secrets/pg-password",
      { provider: "gcp-sm", name: "projects/acme/secrets/pg-password/versions/latest", jsonKey: undefined },
    ],
    [
      "gcp-secret://projects/123/secrets/rds/versions/latest#password",
      { provider: "gcp-sm", name: "projects/123/secrets/rds/versions/latest", jsonKey: "password" },
    ],
    [
      "aws-sm://prod/rds/sluice#password",
      { provider: "aws-sm", secretId: "prod/rds/sluice", jsonKey: "password" },
    ],
    [
      "aws-sm://arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/rds-AbCdEf",
      {
        provider: "aws-sm",
        secretId: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/rds-AbCdEf",
        jsonKey: undefined,
      },
    ],
  ])("%s is a reference", (text, expected) => {
    expect(parseSettingValue(text)).toEqual({ kind: "reference", reference: { text, ...expected } });
  });

  test.each([
    "hunter22",
    "env: not a name",
    "env:",
    "file:relative/path",
    "file://host/x",
    "https://x",
    "aws-sm:x",
  ])("%s is an ordinary value", (text) => {
    expect(parseSettingValue(text)).toBeUndefined();
  });

  test("literal: escapes a value that looks like a reference", () => {
    expect(parseSettingValue("literal:env:PGPASSWORD")).toEqual({ kind: "literal", value: "env:PGPASSWORD" });
  });

  test.each([
    "gcp-sm://acme/pg-password",
    "gcp-sm://projects/acme/secrets/",
    "gcp-sm://projects/acme/secrets/pw#",
    "aws-sm://",
    "aws-sm://prod rds",
    "aws-sm://prod/rds#",
  ])("%s is a malformed reference", (text) => {
    const parsed = parseSettingValue(text);
    expect(parsed?.kind).toBe("invalid");
  });
});

describe("file: and env: references", () => {
  const dir = projectDirWith({ "pw.txt": "from-file-secret\n", "two-lines.txt": "line1\nline2\n\n" });

  test("a file's content without one trailing newline; relative to the project; a variable", async () => {
    const resolver = new SecretReferenceResolver({ env: { PGPASSWORD: "from-env-secret" }, projectDir: dir });
    const resolve = (text: string) => {
      const parsed = parseSettingValue(text);
      if (parsed?.kind !== "reference") throw new Error(text);
      return resolver.resolve(parsed.reference);
    };
    expect(await resolve(`file:${join(dir, "pw.txt")}`)).toBe("from-file-secret");
    expect(await resolve("file:./two-lines.txt")).toBe("line1\nline2\n");
    expect(await resolve("env:PGPASSWORD")).toBe("from-env-secret");
    await expect(resolve("env:NOT_SET_ANYWHERE")).rejects.toThrow(
      "environment variable NOT_SET_ANYWHERE is not set",
    );
    await expect(resolve("file:./missing.txt")).rejects.toThrow(
      `cannot read ${join(dir, "missing.txt")}: no such file`,
    );
    if (process.getuid?.() !== 0) {
      writeFileSync(join(dir, "locked.txt"), "x");
      chmodSync(join(dir, "locked.txt"), 0o000);
      await expect(resolve("file:./locked.txt")).rejects.toThrow("permission denied");
    }
  });
});

describe("references in a project's settings", () => {
  const dir = projectDirWith({
    "sluice.yml": `
plugins:
  extractors:
    - name: tap-postgres
      config:
        host: localhost
        port: env:PG_PORT
        user: reader
        password: aws-sm://prod/rds/sluice#password
        dbname: literal:env:app
        sslrootcert: file:./ca.pem
  loaders:
    - name: target-duckdb
      config:
        path: gcp-sm://acme/oops
`,
  });
  const project = readProjectFile(join(dir, "sluice.yml"));
  const resolve = (pluginName: string, env: Record<string, string> = {}) =>
    resolvePluginConfig({ project, projectDir: dir, pluginName, env, lookup: builtinLookup });

  test("are kept as written, untyped, until a run resolves them; literal: is unwrapped", () => {
    const plugin = resolve("tap-postgres", { TAP_POSTGRES_SSLKEY: "file:/var/secrets/sluice/key.pem" });
    expect(plugin.config.password).toBe("aws-sm://prod/rds/sluice#password");
    expect(plugin.config.port).toBe("env:PG_PORT");
    expect(plugin.config.dbname).toBe("env:app");
    expect(Object.keys(plugin.references).sort()).toEqual(["password", "port", "sslkey", "sslrootcert"]);
    expect(plugin.references.sslkey).toMatchObject({ provider: "file", path: "/var/secrets/sluice/key.pem" });
  });

  test("a malformed secret-manager reference is a problem at its path", () => {
    expect(problemsOf(() => resolve("target-duckdb"))).toEqual([
      'plugins.loaders[0].config.path: "gcp-sm://acme/oops" is not a GCP Secret Manager reference; expected gcp-sm://projects/<project>/secrets/<secret>/versions/<version or latest>[#<json key>]',
    ]);
  });

  test("resolved values are typed as their settings; failures name the setting and the reference, not a value", async () => {
    const plugin = resolve("tap-postgres");
    const seen: string[] = [];
    const rds = { password: "rds-secret-value", port: "not-an-integer-secret" };
    const aws = { access: () => Promise.resolve(JSON.stringify(rds)) };
    const resolver = new SecretReferenceResolver({
      env: { PG_PORT: "5433" },
      projectDir: dir,
      aws,
      onSecret: (value) => seen.push(value),
    });
    const references = { password: plugin.references.password!, port: plugin.references.port! };
    const options = {
      config: plugin.config,
      settings: plugin.definitionSettings,
      describe: (name: string) => describeSource(plugin.sources[name]!),
      coerce: coerceSetting,
    };
    const config = await resolver.resolveConfig({ ...options, references });
    expect(config.port).toBe(5433);
    expect(config.password).toBe("rds-secret-value");
    expect(seen).toEqual(expect.arrayContaining(["5433", JSON.stringify(rds), "rds-secret-value"]));

    // A secret that is not an integer: the message gives its kind only.
    const badPort = {
      port: { provider: "aws-sm" as const, text: "aws-sm://rds#port", secretId: "rds", jsonKey: "port" },
    };
    const error = await resolver
      .resolveConfig({ ...options, references: { ...badPort, sslrootcert: plugin.references.sslrootcert! } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      "plugins.extractors[0].config.port (aws-sm://rds#port): expected integer, got a string",
      `plugins.extractors[0].config.sslrootcert (file:./ca.pem): cannot read ${join(dir, "ca.pem")}: no such file`,
    ]);
    expect((error as Error).message).not.toContain("not-an-integer-secret");
  });
});
