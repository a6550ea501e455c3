import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { startEmbeddedPostgres, type EmbeddedServer } from "@sluice/postgres-server";

/**
 * Certificates made for one test run with `/usr/bin/openssl` (part of every Debian machine with
 * Node: ca-certificates depends on it), rather than committed fixtures: no private key lives in
 * the repository, nothing expires under the suite, and each test gets the exact certificate it
 * needs (a name that does not match, a second CA).
 */
export interface TestCertificates {
  dir: string;
  /** The CA that signed the server's and the client's certificates. */
  caCert: string;
  /** A CA that signed nothing the server presents. */
  otherCaCert: string;
  /** The server's certificate: for DNS name `localhost` only (not 127.0.0.1). */
  serverCert: string;
  serverKey: string;
  /** A client certificate for `clientUser`, signed by the CA. */
  clientCert: string;
  clientKey: string;
  /** A client certificate for `clientUser` signed by the other CA. */
  strangerCert: string;
  strangerKey: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync("/usr/bin/openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

function makeCa(dir: string, name: string, subject: string): void {
  openssl(
    [
      "req",
      "-x509",
      ...EC_KEY,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.crt`,
      "-days",
      "2",
      "-subj",
      subject,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ],
    dir,
  );
}

function makeLeaf(dir: string, name: string, ca: string, subject: string, extensions: string): void {
  openssl(["req", "-new", ...EC_KEY, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject], dir);
  fs.writeFileSync(path.join(dir, `${name}.ext`), extensions);
  openssl(
    [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      `${ca}.crt`,
      "-CAkey",
      `${ca}.key`,
      "-CAcreateserial",
      "-out",
      `${name}.crt`,
      "-days",
      "2",
      "-extfile",
      `${name}.ext`,
    ],
    dir,
  );
}

export function makeCertificates(dir: string, clientUser: string): TestCertificates {
  fs.mkdirSync(dir, { recursive: true });
  makeCa(dir, "ca", "/CN=sluice test CA");
  makeCa(dir, "other-ca", "/CN=sluice other CA");
  makeLeaf(
    dir,
    "server",
    "ca",
    "/CN=localhost",
    "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
  );
  const client = "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n";
  makeLeaf(dir, "client", "ca", `/CN=${clientUser}`, client);
  makeLeaf(dir, "stranger", "other-ca", `/CN=${clientUser}`, client);
  const file = (name: string): string => path.join(dir, name);
  return {
    dir,
    caCert: file("ca.crt"),
    otherCaCert: file("other-ca.crt"),
    serverCert: file("server.crt"),
    serverKey: file("server.key"),
    clientCert: file("client.crt"),
    clientKey: file("client.key"),
    strangerCert: file("stranger.crt"),
    strangerKey: file("stranger.key"),
  };
}

/** The one user the server accepts without TLS only (`hostnossl`), to see TLS refused by pg_hba.conf. */
export const PLAIN_ONLY_USER = "sluice_plain_only";

export interface TlsServer {
  server: EmbeddedServer;
  certificates: TestCertificates;
  /** A superuser connection over TLS (the server accepts no other kind). */
  admin(database?: string): Promise<pg.Client>;
  stop(): Promise<void>;
}

/**
 * A PostgreSQL of the test's own with ssl=on, its certificate signed by the test CA, and a
 * pg_hba.conf with `hostssl` lines (password for everyone, a client certificate for
 * `clientUser`) but for `PLAIN_ONLY_USER`, who may only connect without TLS. Switched over by a reload, so the server starts once.
 */
export async function startTlsServer(clientUser: string): Promise<TlsServer> {
  const baseDir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-tls-server-"));
  // As root the server runs as `postgres`, which must be able to enter the folder.
  fs.chmodSync(baseDir, 0o755);
  const server = await startEmbeddedPostgres({ dataDir: path.join(baseDir, "pg") });
  const dataDir = path.join(baseDir, "pg", "data");
  const certificates = makeCertificates(path.join(baseDir, "certs"), clientUser);
  // The server reads its key and certificates as the user it runs as (`postgres` when we are
  // root), and refuses a key that others can read.
  const owner = fs.statSync(dataDir);
  for (const [from, to] of [
    [certificates.serverCert, "server.crt"],
    [certificates.serverKey, "server.key"],
    [certificates.caCert, "root.crt"],
  ] as const) {
    const target = path.join(dataDir, to);
    fs.copyFileSync(from, target);
    fs.chownSync(target, owner.uid, owner.gid);
    fs.chmodSync(target, 0o600);
  }
  const hba = [
    "# written by test/integration/security/tls-server.ts: TLS only, but for one user",
    ...["127.0.0.1/32", "::1/128"].flatMap((address) => [
      `hostnossl all ${PLAIN_ONLY_USER} ${address} scram-sha-256`,
      `hostssl all ${PLAIN_ONLY_USER} ${address} reject`,
      `hostssl all ${clientUser} ${address} cert`,
      `hostssl all all ${address} scram-sha-256`,
      `hostssl replication all ${address} scram-sha-256`,
    ]),
    "",
  ].join("\n");
  fs.writeFileSync(path.join(dataDir, "pg_hba.conf"), hba);
  const plain = new pg.Client({ connectionString: server.url() });
  await plain.connect();
  try {
    await plain.query(`ALTER SYSTEM SET ssl = on`);
    await plain.query(`ALTER SYSTEM SET ssl_cert_file = 'server.crt'`);
    await plain.query(`ALTER SYSTEM SET ssl_key_file = 'server.key'`);
    await plain.query(`ALTER SYSTEM SET ssl_ca_file = 'root.crt'`);
    await plain.query("SELECT pg_reload_conf()");
  } finally {
    await plain.end();
  }
  const admin = async (database = "postgres"): Promise<pg.Client> => {
    const client = new pg.Client({
      host: "localhost",
      port: server.port,
      user: server.user,
      password: server.password,
      database,
      ssl: { ca: fs.readFileSync(certificates.caCert, "utf8") },
    });
    await client.connect();
    return client;
  };
  // A reload takes effect asynchronously: wait until a new connection gets TLS.
  let lastError: unknown;
  for (const deadline = Date.now() + 10_000; ;) {
    try {
      const client = await admin();
      const row = (
        await client.query<{ ssl: boolean }>("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
      ).rows[0];
      await client.end();
      if (row?.ssl) break;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error("the test server did not switch to TLS within 10 s", { cause: lastError });
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    server,
    certificates,
    admin,
    stop: async () => {
      await server.stop();
      fs.rmSync(baseDir, { recursive: true, force: true });
    },
  };
}
