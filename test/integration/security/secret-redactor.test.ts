import { describe, expect, test } from "vitest";
import { REDACTED, SecretRedactor } from "../../../src/project/redaction.js";

/**
 * The forms of a secret that the end-to-end search (test/e2e/redaction-all-output.test.ts) looks
 * for but that its routes may not produce: they are checked here directly. (The basic forms are
 * in test/unit/project/redaction.test.ts.)
 */
describe("SecretRedactor, beyond the plain forms", () => {
  test("URL-encoding with lowercase hex digits, as a hand-written URI may have it", () => {
    const redactor = new SecretRedactor();
    redactor.add("p/w:ü-secret");
    expect(redactor.redact("postgresql://u:p%2fw%3a%c3%bc-secret@h/db and p%2Fw%3A%C3%BC-secret")).toBe(
      `postgresql://u:${REDACTED}@h/db and ${REDACTED}`,
    );
  });

  test("JSON-escaped twice: a JSON string (a plugin's log line) inside a JSON log line", () => {
    const redactor = new SecretRedactor();
    const secret = 'q"uo\\te-secret';
    redactor.add(secret);
    const inner = JSON.stringify({ password: secret });
    const outer = JSON.stringify({ level: "info", message: inner });
    expect(outer).toContain('q\\\\\\"uo');
    expect(redactor.redact(outer)).not.toContain("uo");
    expect(JSON.parse(redactor.redact(outer))).toEqual({
      level: "info",
      message: JSON.stringify({ password: REDACTED }),
    });
  });

  test("a JSON secret (an RDS secret, a service account key): its secret fields on their own", () => {
    const redactor = new SecretRedactor();
    const privateKey =
      "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n";
    redactor.add(JSON.stringify({ username: "svc", password: "rds-Pa55word", engine: "postgres" }));
    redactor.add(
      JSON.stringify({ type: "service_account", private_key: privateKey, client_email: "a@b.iam" }),
    );
    expect(redactor.redact("auth failed for rds-Pa55word")).toBe(`auth failed for ${REDACTED}`);
    expect(redactor.redact(`key: ${privateKey}`)).toBe(`key: ${REDACTED}`);
    // A key printed line by line (a library's error quoting the PEM) loses its long lines.
    expect(redactor.redact("bad key line MIIEvQIBADANBgkqhkiG9w0BAQEFAASC")).toBe(`bad key line ${REDACTED}`);
    // Names and other fields are not secrets.
    expect(redactor.redact("user svc, engine postgres, a@b.iam")).toBe("user svc, engine postgres, a@b.iam");
  });

  test("a secret read from a file with a trailing newline is also known without it", () => {
    const redactor = new SecretRedactor();
    redactor.add("from-a-mounted-file\n");
    expect(redactor.redact("password from-a-mounted-file rejected")).toBe(`password ${REDACTED} rejected`);
  });
});
