import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { ConfigError, ConnectionError } from "../../../src/errors.js";
import {
  connectPostgres,
  type PostgresConnectionSettings,
  type SslMode,
} from "../../../src/connectors/tap-postgres/postgres-connection.js";
import { PostgresExtractor } from "../../../src/connectors/tap-postgres/postgres-extractor.js";
import type { TestDatabase } from "../../support/pg.js";
import { duckdbRows, runToDuckdb, tapConfig, tempDir } from "../../support/pipeline.js";
import { PLAIN_ONLY_USER, startTlsServer, type TlsServer } from "./tls-server.js";

/**
 * TLS to PostgreSQL as libpq's sslmode defines it, against a server of our own whose certificate
 * (for `localhost` only) a test CA signed and whose pg_hba.conf accepts TLS connections only.
 */

const CERT_USER = "sluice_cert_user";
const DATABASE = "tls_source";
let tls: TlsServer;
let workDir: string;

beforeAll(async () => {
  workDir = tempDir("sluice-tls-");
  tls = await startTlsServer(CERT_USER);
  const admin = await tls.admin();
  try {
    await admin.query(`CREATE DATABASE ${DATABASE}`);
    await admin.query(`CREATE ROLE ${CERT_USER} LOGIN`);
    await admin.query(`CREATE ROLE ${PLAIN_ONLY_USER} LOGIN PASSWORD 'plain-only-pw'`);
  } finally {
    await admin.end();
  }
  const source = await tls.admin(DATABASE);
  try {
    await source.query(`
      CREATE TABLE accounts (id integer PRIMARY KEY, email text NOT NULL);
      INSERT INTO accounts SELECT g, 'user' || g || '@example.com' FROM generate_series(1, 250) g;
      GRANT SELECT ON accounts TO ${CERT_USER};`);
  } finally {
    await source.end();
  }
});

afterAll(async () => {
  await tls?.stop();
});

/** The TLS server's database as the pipeline helpers take it (they only read these fields). */
function source(host = "localhost"): TestDatabase {
  return {
    name: DATABASE,
    url: "",
    host,
    port: tls.server.port,
    user: tls.server.user,
    password: tls.server.password,
    query: () => Promise.reject(new Error("not used")),
    drop: () => Promise.resolve(),
  };
}

function settings(
  extra: Partial<PostgresConnectionSettings> = {},
  host = "localhost",
): PostgresConnectionSettings {
  return tapConfig(source(host), extra as Record<string, unknown>) as unknown as PostgresConnectionSettings;
}

/** Connects, checks the session really is encrypted, and closes. */
async function connectsWithTls(config: PostgresConnectionSettings): Promise<void> {
  const client = await connectPostgres(config, "sluice tls test");
  try {
    const row = (
      await client.query<{ ssl: boolean }>("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    ).rows[0];
    expect(row?.ssl).toBe(true);
  } finally {
    await client.end();
  }
}

async function refusal(config: PostgresConnectionSettings): Promise<Error> {
  let client: pg.Client | undefined;
  try {
    client = await connectPostgres(config, "sluice tls test");
  } catch (error) {
    return error as Error;
  }
  await client.end();
  throw new Error(`connected with ${JSON.stringify({ ...config, password: undefined })}, expected a refusal`);
}

describe("sslmode=verify-full with the server's CA in sslrootcert", () => {
  test("a FULL_TABLE run moves the table over TLS", async () => {
    const summary = await runToDuckdb({
      db: source(),
      workDir: path.join(workDir, "full-table"),
      streams: { "public-accounts": {} },
      tap: { sslmode: "verify-full", sslrootcert: tls.certificates.caCert },
    });
    expect(summary.status).toBe("success");
    const rows = await duckdbRows(
      path.join(workDir, "full-table", "warehouse.duckdb"),
      "SELECT count(*) AS n, sum(id) AS ids, count(*) FILTER (WHERE email = 'user' || id || '@example.com') AS same FROM public.accounts",
    );
    expect(rows).toEqual([{ n: "250", ids: String((250 * 251) / 2), same: "250" }]);
  });

  test("LOG_BASED: the replication connection uses the same TLS settings", async () => {
    const tap = {
      sslmode: "verify-full",
      sslrootcert: tls.certificates.caCert,
      logical_poll_total_seconds: 1,
    };
    const run = (): ReturnType<typeof runToDuckdb> =>
      runToDuckdb({
        db: source(),
        workDir: path.join(workDir, "log-based"),
        streams: { "public-accounts": { "replication-method": "LOG_BASED" } },
        tap,
      });
    expect((await run()).status).toBe("success");
    const admin = await tls.admin(DATABASE);
    try {
      await admin.query(
        "INSERT INTO accounts VALUES (1000, 'late@example.com'); DELETE FROM accounts WHERE id = 1",
      );
      // pg_hba.conf has only `hostssl replication` lines: the changes came over TLS.
      expect((await run()).status).toBe("success");
    } finally {
      await admin.end();
    }
    const rows = await duckdbRows(
      path.join(workDir, "log-based", "warehouse.duckdb"),
      "SELECT count(*) FILTER (WHERE _sdc_deleted_at IS NULL) AS live, count(*) FILTER (WHERE id = 1000) AS late FROM public.accounts",
    );
    expect(rows).toEqual([{ live: "250", late: "1" }]);
    const extractor = new PostgresExtractor(tapConfig(source(), tap));
    // The pipeline's own slot and publication (runToDuckdb's default state id).
    expect(
      await extractor.teardownChangeCapture({ stateId: "test:tap-postgres-to-target-duckdb" }),
    ).toHaveLength(2);
  });

  test("refused when the certificate is not for the host: cert for localhost, connecting to 127.0.0.1", async () => {
    const error = await refusal(
      settings({ sslmode: "verify-full", sslrootcert: tls.certificates.caCert }, "127.0.0.1"),
    );
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.message).toContain('not for host "127.0.0.1"');
    expect(error.message).toContain("sslmode=verify-full refuses it");
    expect(error.message).toContain("set `sslmode` (TAP_POSTGRES_SSLMODE) to verify-ca");
  });

  test("refused when another CA signed the server's certificate, naming sslrootcert", async () => {
    const error = await refusal(
      settings({ sslmode: "verify-full", sslrootcert: tls.certificates.otherCaCert }),
    );
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.message).toContain(`not signed by a CA in sslrootcert (${tls.certificates.otherCaCert})`);
    expect(error.message).toContain("sslmode=verify-full refuses it");
  });

  test("sslrootcert=system trusts the system's CAs, which did not sign the test certificate", async () => {
    const error = await refusal(settings({ sslmode: "verify-full", sslrootcert: "system" }));
    expect(error.message).toContain("not signed by a CA in sslrootcert (system)");
  });

  test("without sslrootcert (and no ~/.postgresql/root.crt), a ConfigError says what to set", async () => {
    const home = process.env.HOME;
    process.env.HOME = tempDir("sluice-home-");
    try {
      expect(os.homedir()).toBe(process.env.HOME);
      const error = await refusal(settings({ sslmode: "verify-full" }));
      expect(error).toBeInstanceOf(ConfigError);
      expect(error.message).toContain("sslrootcert: sslmode=verify-full checks the server's certificate");
    } finally {
      process.env.HOME = home;
    }
  });
});

describe("the other sslmodes, as libpq", () => {
  test("verify-ca checks the chain but not the host name", async () => {
    await connectsWithTls(
      settings({ sslmode: "verify-ca", sslrootcert: tls.certificates.caCert }, "127.0.0.1"),
    );
    const error = await refusal(
      settings({ sslmode: "verify-ca", sslrootcert: tls.certificates.otherCaCert }),
    );
    expect(error.message).toContain("sslmode=verify-ca refuses it");
  });

  test("require without a CA encrypts without checking; with sslrootcert it checks the chain", async () => {
    await connectsWithTls(settings({ sslmode: "require" }, "127.0.0.1"));
    await connectsWithTls(settings({ ssl: true }, "127.0.0.1"));
    await connectsWithTls(
      settings({ sslmode: "require", sslrootcert: tls.certificates.caCert }, "127.0.0.1"),
    );
    const error = await refusal(settings({ sslmode: "require", sslrootcert: tls.certificates.otherCaCert }));
    expect(error.message).toContain("sslmode=require refuses it");
  });

  test("disable is refused by a hostssl-only server, with a message naming sslmode", async () => {
    const error = await refusal(settings({ sslmode: "disable" }));
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.message).toContain(
      "only over TLS (pg_hba.conf: hostssl), and sslmode=disable connected without it",
    );
  });

  test("allow falls back to TLS when the server refuses plain connections; prefer starts with TLS", async () => {
    await connectsWithTls(settings({ sslmode: "allow" }));
    await connectsWithTls(settings({ sslmode: "prefer" }));
  });

  test("a user pg_hba.conf accepts only without TLS: prefer falls back to plain, require is told to add hostssl", async () => {
    const plainOnly = (sslmode: SslMode): PostgresConnectionSettings =>
      settings({ sslmode, user: PLAIN_ONLY_USER, password: "plain-only-pw" });
    const client = await connectPostgres(plainOnly("prefer"), "sluice tls test");
    try {
      const row = (
        await client.query<{ ssl: boolean }>("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
      ).rows[0];
      expect(row?.ssl).toBe(false);
    } finally {
      await client.end();
    }
    const error = await refusal(plainOnly("require"));
    expect(error.message).toContain(
      `accepts no TLS connection from user "${PLAIN_ONLY_USER}" (pg_hba.conf), and sslmode=require requires TLS: add a hostssl line`,
    );
  });

  test("against a server without TLS: prefer and allow connect unencrypted, require says TLS is off", async () => {
    const url = new URL(inject("postgresUrl"));
    const plain: PostgresConnectionSettings = {
      host: url.hostname,
      port: Number(url.port),
      user: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
      dbname: "postgres",
    };
    for (const sslmode of ["prefer", "allow"] as const) {
      const client = await connectPostgres({ ...plain, sslmode }, "sluice tls test");
      await client.end();
    }
    const error = await refusal({ ...plain, sslmode: "require" });
    expect(error.message).toContain("does not accept TLS connections, and sslmode=require requires TLS");
  });
});

describe("client certificates (sslcert, sslkey)", () => {
  const asCertUser = (extra: Partial<PostgresConnectionSettings>): PostgresConnectionSettings =>
    settings({
      sslmode: "verify-full",
      sslrootcert: tls.certificates.caCert,
      ...extra,
      user: CERT_USER,
      password: undefined,
    });

  test("a user the server authenticates by certificate connects with no password, and a run moves data", async () => {
    const config = asCertUser({ sslcert: tls.certificates.clientCert, sslkey: tls.certificates.clientKey });
    await connectsWithTls(config);
    const extractor = new PostgresExtractor({ ...config } as unknown as Record<string, unknown>);
    await extractor.test();
  });

  test("the certificates and key given as PEM text, as file: and secret-manager references resolve them", async () => {
    const pem = (file: string): string => fs.readFileSync(file, "utf8");
    await connectsWithTls(
      asCertUser({
        sslrootcert: pem(tls.certificates.caCert),
        sslcert: pem(tls.certificates.clientCert),
        sslkey: pem(tls.certificates.clientKey),
      }),
    );
  });

  test("without a client certificate, or one from another CA, the refusal names sslcert and sslkey", async () => {
    const none = await refusal(asCertUser({}));
    expect(none).toBeInstanceOf(ConnectionError);
    expect(none.message).toContain("set `sslcert` (TAP_POSTGRES_SSLCERT) and `sslkey` (TAP_POSTGRES_SSLKEY)");
    const stranger = await refusal(
      asCertUser({ sslcert: tls.certificates.strangerCert, sslkey: tls.certificates.strangerKey }),
    );
    expect(stranger).toBeInstanceOf(ConnectionError);
  });

  test("refusals of a certificate from another CA all end: the refused socket is closed, not left open", async () => {
    // A client's goodbye after the server's TLS alert sometimes waited forever for the socket to
    // close (once in a few hundred refusals; four at a time make it likely here), hanging the run.
    // Each refusal gets 10 s, twice its connect_timeout, so a hang fails with its own message.
    const stranger = asCertUser({
      sslcert: tls.certificates.strangerCert,
      sslkey: tls.certificates.strangerKey,
      connect_timeout: 5,
    });
    const answer = async (): Promise<string> => {
      let timer: NodeJS.Timeout | undefined;
      const hang = new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve("no answer in 10 s"), 10_000);
      });
      try {
        return await Promise.race([refusal(stranger).then((error) => error.message), hang]);
      } finally {
        clearTimeout(timer);
      }
    };
    for (let round = 0; round < 150; round++) {
      const messages = await Promise.all([answer(), answer(), answer(), answer()]);
      for (const message of messages) expect(message).toContain("alert unknown ca");
    }
  }, 120_000);

  test("sslcert without sslkey is a configuration error", async () => {
    const error = await refusal(asCertUser({ sslcert: tls.certificates.clientCert }));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toContain("sslkey: a client certificate needs both sslcert");
  });
});
