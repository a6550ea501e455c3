import { describe, expect, test } from "vitest";
import { tapPostgresSettings } from "../../../src/connectors/tap-postgres/postgres-settings.js";
import { REDACTED, redactConfig, SecretRedactor, secretValues } from "../../../src/project/redaction.js";

describe("redactConfig", () => {
  test("replaces the values of secret settings only", () => {
    const config = {
      host: "db",
      user: "reader",
      password: "hunter2-pw",
      sslkey: "/keys/client.key",
      port: 5432,
    };
    expect(redactConfig(config, tapPostgresSettings)).toEqual({
      host: "db",
      user: "reader",
      password: REDACTED,
      sslkey: REDACTED,
      port: 5432,
    });
    expect(config.password).toBe("hunter2-pw");
  });

  test("leaves an unset or empty secret visible as such", () => {
    expect(redactConfig({ password: "" }, tapPostgresSettings)).toEqual({ password: "" });
  });

  test("redacts secret-looking names of plugins without definitions", () => {
    expect(redactConfig({ api_token: "t0ken-value", client_secret: "c", dataset_id: "raw" }, [])).toEqual({
      api_token: REDACTED,
      client_secret: REDACTED,
      dataset_id: "raw",
    });
  });

  test("secretValues lists what the CLI should register", () => {
    expect(secretValues({ host: "db", password: "hunter2-pw" }, tapPostgresSettings)).toEqual(["hunter2-pw"]);
  });
});

describe("SecretRedactor", () => {
  test("replaces every occurrence, also URL-encoded and JSON-escaped", () => {
    const redactor = new SecretRedactor();
    redactor.add('p@ss w/rd"x');
    const text =
      'auth failed for p@ss w/rd"x; url postgresql://u:p%40ss%20w%2Frd%22x@h/db; form p%40ss+w%2Frd%22x; json {"password":"p@ss w/rd\\"x"}';
    const redacted = redactor.redact(text);
    expect(redacted).toBe(
      `auth failed for ${REDACTED}; url postgresql://u:${REDACTED}@h/db; form ${REDACTED}; json {"password":"${REDACTED}"}`,
    );
  });

  test("ignores secrets shorter than 4 characters", () => {
    const redactor = new SecretRedactor();
    redactor.addAll(["abc", "abcd"]);
    expect(redactor.redact("abc abcd")).toBe(`abc ${REDACTED}`);
  });

  test("replaces a secret that contains another one whole", () => {
    const redactor = new SecretRedactor();
    redactor.addAll(["token", "token-extended"]);
    expect(redactor.redact("a token-extended b token")).toBe(`a ${REDACTED} b ${REDACTED}`);
  });

  test("treats regular-expression characters literally", () => {
    const redactor = new SecretRedactor();
    redactor.add("a.b*c");
    expect(redactor.redact("a.b*c aXbbc")).toBe(`${REDACTED} aXbbc`);
  });
});
