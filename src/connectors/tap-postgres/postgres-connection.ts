import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { ConfigError, ConnectionError, type SluiceError } from "../../errors.js";
import {
  builtinIdentity,
  describeSetting,
  describeSettings,
  type PluginIdentity,
} from "../plugin-identity.js";
import { z } from "zod";
import { classifyPostgresError, describePostgresMessage } from "./postgres-errors.js";

/** The connection settings tap-postgres and target-postgres share (libpq's names for TLS). */
export const postgresConnectionSettings = z.object({
  host: z.string().default("localhost"),
  port: z.number().int().positive().default(5432),
  user: z.string(),
  password: z.string().optional(),
  dbname: z.string(),
  ssl: z.boolean().optional(),
  sslmode: z.enum(["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]).optional(),
  sslrootcert: z.string().optional(),
  sslcert: z.string().optional(),
  sslkey: z.string().optional(),
  connect_timeout: z.number().int().optional(),
});

export type PostgresConnectionSettings = z.infer<typeof postgresConnectionSettings> & {
  /** The plugin connecting, named (with its variables) in every connection error; default tap-postgres. */
  plugin?: PluginIdentity;
};

/**
 * Session settings that make PostgreSQL print every value in the wire form of `batch.ts`:
 * ISO dates in UTC, shortest exact floats, hex bytea, UTF-8.
 */
export const EXTRACT_SESSION_SETTINGS =
  "SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET TimeZone = 'UTC'; " +
  "SET extra_float_digits = 1; SET bytea_output = 'hex'; SET client_encoding = 'UTF8'";

export type SslMode = "disable" | "allow" | "prefer" | "require" | "verify-ca" | "verify-full";

/** `sslmode`, else `require` when the pipelinewise setting `ssl` is on, else `disable`. */
export function sslModeOf(settings: PostgresConnectionSettings): SslMode {
  return settings.sslmode ?? (settings.ssl ? "require" : "disable");
}

/**
 * The connection settings to try, in order: one for most sslmodes, two for `allow` (plain, then
 * TLS) and `prefer` (TLS, then plain), as libpq tries them. Connections are read-only unless
 * `readOnly` is false (see `connectPostgres`).
 */
export function clientConfigs(
  settings: PostgresConnectionSettings,
  applicationName = "sluice",
): pg.ClientConfig[] {
  const base: pg.ClientConfig = {
    host: settings.host,
    port: settings.port,
    user: settings.user,
    password: settings.password,
    database: settings.dbname,
    connectionTimeoutMillis: (settings.connect_timeout ?? 10) * 1000,
    application_name: applicationName,
  };
  return sslAttempts(settings).map((ssl) => ({ ...base, ssl }));
}

/** The first of `clientConfigs`: what a connection that cannot fall back (none can, but allow/prefer) uses. */
export function clientConfig(
  settings: PostgresConnectionSettings,
  applicationName = "sluice",
): pg.ClientConfig {
  return clientConfigs(settings, applicationName)[0]!;
}

type SslConfig = pg.ClientConfig["ssl"];

/**
 * libpq's sslmode semantics: `disable` never uses TLS; `allow` tries without, then with;
 * `prefer` tries with, then without; `require` uses TLS without checking the certificate,
 * unless `sslrootcert` is given (then, as libpq, it checks the chain as verify-ca does);
 * `verify-ca` checks that a CA in `sslrootcert` signed the server's certificate; `verify-full`
 * also checks that the certificate is for `host`. allow/prefer never check certificates.
 */
function sslAttempts(settings: PostgresConnectionSettings): SslConfig[] {
  const mode = sslModeOf(settings);
  const client = clientCertificate(settings);
  const unchecked = { rejectUnauthorized: false, ...client };
  switch (mode) {
    case "disable":
      return [false];
    case "allow":
      return [false, unchecked];
    case "prefer":
      return [unchecked, false];
    case "require": {
      if (settings.sslrootcert === undefined) return [unchecked];
      return [
        {
          ...trustedCa(settings, mode),
          ...client,
          rejectUnauthorized: true,
          checkServerIdentity: () => undefined,
        },
      ];
    }
    case "verify-ca":
      return [
        {
          ...trustedCa(settings, mode),
          ...client,
          rejectUnauthorized: true,
          checkServerIdentity: () => undefined,
        },
      ];
    case "verify-full":
      return [{ ...trustedCa(settings, mode), ...client, rejectUnauthorized: true }];
    default:
      throw new ConfigError(
        `sslmode: "${String(mode)}" is not one of disable, allow, prefer, require, verify-ca, verify-full`,
      );
  }
}

/**
 * The PEM text a TLS setting names: the file at that path, as libpq reads it, or the setting
 * itself when it already is PEM text (what a `file:` or secret-manager reference resolves to).
 */
function readSetting(setting: "sslrootcert" | "sslcert" | "sslkey", file: string): string {
  if (file.includes("-----BEGIN ")) return file;
  try {
    return fs.readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError(`${setting}: cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
}

function clientCertificate(settings: PostgresConnectionSettings): { cert?: string; key?: string } {
  if ((settings.sslcert === undefined) !== (settings.sslkey === undefined)) {
    throw new ConfigError(
      `${settings.sslcert === undefined ? "sslcert" : "sslkey"}: a client certificate needs both sslcert (the certificate file) and sslkey (its private key file)`,
    );
  }
  if (settings.sslcert === undefined || settings.sslkey === undefined) return {};
  return { cert: readSetting("sslcert", settings.sslcert), key: readSetting("sslkey", settings.sslkey) };
}

/**
 * The CAs a checked connection trusts: the file in `sslrootcert`, the system's with
 * `sslrootcert=system` (as libpq 16), else libpq's default file `~/.postgresql/root.crt`.
 * Without any, libpq refuses to connect rather than trust every certificate, and so do we.
 */
function trustedCa(settings: PostgresConnectionSettings, mode: SslMode): { ca?: string } {
  if (settings.sslrootcert === "system") return {};
  if (settings.sslrootcert !== undefined) return { ca: readSetting("sslrootcert", settings.sslrootcert) };
  const fallback = path.join(os.homedir(), ".postgresql", "root.crt");
  if (fs.existsSync(fallback)) return { ca: readSetting("sslrootcert", fallback) };
  throw new ConfigError(
    `sslrootcert: sslmode=${mode} checks the server's certificate against a CA, and none is given: set sslrootcert to the CA certificate file (your provider's bundle, e.g. RDS global-bundle.pem), or sslrootcert=system to trust the system's CAs`,
  );
}

/**
 * A connected client for the first of `configs` the server accepts. The next one is tried only
 * where libpq would: the server does not speak TLS, or pg_hba.conf has no entry for this kind
 * of connection (hostssl/hostnossl). The last failure is thrown as the driver raised it.
 */
export async function connectClient(configs: readonly pg.ClientConfig[]): Promise<pg.Client> {
  let lastError: unknown;
  for (const [index, config] of configs.entries()) {
    const client = new pg.Client(config);
    // An idle connection can still fail (server restart); without a listener that would crash the process.
    client.on("error", () => undefined);
    try {
      await client.connect();
      return client;
    } catch (error) {
      abandonClient(client);
      lastError = error;
      if (index === configs.length - 1 || !mayTryOtherEncryption(error)) break;
    }
  }
  throw lastError;
}

/**
 * Closes the socket of a client whose connect failed.
 * NOTE: not `client.end()`, which says goodbye and waits for the socket's close: after a TLS
 * alert (the server refusing a client certificate) that close sometimes never comes, and the
 * refusal hung for good (once in a few hundred tries here). There is nothing to say goodbye to.
 */
function abandonClient(client: pg.Client): void {
  client.connection.stream.destroy();
}

function mayTryOtherEncryption(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  if (e.message === "The server does not support SSL connections") return true;
  return e.code === "28000" && /pg_hba\.conf/.test(e.message ?? "");
}

/** Opens a connection, turning every failure into a message that says what to fix. */
export async function connectPostgres(
  settings: PostgresConnectionSettings,
  applicationName?: string,
  options: { readOnly?: boolean } = {},
): Promise<pg.Client> {
  // Outside the try: a setting that cannot work (a missing sslrootcert) is a ConfigError as it is.
  const configs = clientConfigs(settings, applicationName);
  let client: pg.Client;
  try {
    client = await connectClient(configs);
  } catch (error) {
    throw describeConnectError(error, settings);
  }
  if (options.readOnly !== false) {
    // The extractor only reads: a bug (or an injected statement) cannot write to the source.
    // NOTE: a SET rather than the startup `options` parameter, which PgBouncer refuses.
    try {
      await client.query("SET default_transaction_read_only = on");
    } catch (error) {
      await client.end().catch(() => undefined);
      throw describeConnectError(error, settings);
    }
  }
  return client;
}

/**
 * Maps a driver error from connecting to an error that starts with the plugin's name and names
 * the settings to check with their variables (`host` (TAP_POSTGRES_HOST)). A server asking for a
 * password that `password` does not give is a ConfigError: nothing but setting it can help.
 * Whether the rest is transient is `classifyPostgresError`'s call, as for every PostgreSQL error.
 */
export function describeConnectError(error: unknown, settings: PostgresConnectionSettings): SluiceError {
  const plugin = settings.plugin ?? builtinIdentity("tap-postgres");
  const named = (...names: string[]) => describeSettings(plugin, names);
  const at = `${plugin.name}: PostgreSQL at ${settings.host}:${settings.port}`;
  const missing = missingPasswordError(error, settings, plugin);
  if (missing) return missing;
  const tls = describeTlsError(error, settings, plugin);
  if (tls) return tls;
  const failure = classifyPostgresError(error);
  const code = (error as { code?: unknown }).code;
  const options = { cause: error, transient: failure.transient, server: failure.server };
  switch (failure.kind) {
    case "unknown-host":
      return new ConnectionError(
        `${plugin.name}: PostgreSQL host "${settings.host}" could not be resolved: check ${named("host")}.`,
        options,
      );
    case "unreachable":
    case "connection-lost":
      if (code === "EAI_AGAIN") {
        return new ConnectionError(
          `${plugin.name}: PostgreSQL host "${settings.host}" could not be resolved: the name server did not answer (EAI_AGAIN); check ${named("host")}.`,
          options,
        );
      }
      if (typeof code === "string" && UNREACHABLE_CODES.has(code)) {
        return new ConnectionError(
          `${at} is unreachable (${code}): check ${named("host", "port")}, and that the server accepts TCP connections.`,
          options,
        );
      }
      if (failure.kind === "unreachable") {
        return new ConnectionError(
          `${at} did not answer within ${settings.connect_timeout ?? 10} s: check ${named("host", "port")} and firewalls (or raise ${named("connect_timeout")}).`,
          options,
        );
      }
      // The server is there but not taking us now: starting up, shutting down, a failover.
      return new ConnectionError(`Could not connect to ${at}: ${describePostgresMessage(failure)}`, options);
    case "authentication":
      return new ConnectionError(
        `${at} refused user "${settings.user}": authentication failed (${describePostgresMessage(failure)}): check ${named("user", "password")}.`,
        options,
      );
    case "no-database":
      return new ConnectionError(
        `${plugin.name}: Database "${settings.dbname}" does not exist on ${settings.host}:${settings.port}: check ${named("dbname")}.`,
        options,
      );
    default:
      return new ConnectionError(
        `Could not connect to ${at} as user "${settings.user}" (${named("host", "port", "user", "dbname")}): ${describePostgresMessage(failure)}`,
        options,
      );
  }
}

/**
 * What the driver says when the server asks for a password and it has none: SCRAM refuses to
 * start, a cleartext or MD5 exchange fails on a null password (or sends a hash of "null", which
 * the server refuses as 28P01).
 */
const NO_PASSWORD_MESSAGES = /client password must be a (non-empty )?string|password must be a string/i;

/**
 * The server asked for a password, and neither `password` nor PGPASSWORD gave one (a ~/.pgpass
 * entry, read by the driver, either did not exist or was refused). Undefined for any other error:
 * a server that trusts the client, or authenticates it by certificate, needs no password.
 */
function missingPasswordError(
  error: unknown,
  settings: PostgresConnectionSettings,
  plugin: PluginIdentity,
): ConfigError | undefined {
  if ((settings.password ?? "") !== "" || (process.env.PGPASSWORD ?? "") !== "") return undefined;
  const e = error as { code?: unknown; message?: unknown };
  const message = typeof e.message === "string" ? e.message : "";
  if (e.code !== "28P01" && !NO_PASSWORD_MESSAGES.test(message)) return undefined;
  return new ConfigError(
    `${plugin.name}: PostgreSQL at ${settings.host}:${settings.port} asks user "${settings.user}" for a password, and setting ${describeSetting(plugin, "password")} is not set: set ${plugin.envPrefixes.length > 0 ? "the variable, or `password` in the project file" : "`password` in the config file"}.`,
    { cause: error },
  );
}

/** Node's codes for a TCP connection that could not be made. */
const UNREACHABLE_CODES = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "ETIMEDOUT"]);

/** Node's codes for a certificate that no CA in `sslrootcert` vouches for. */
const UNTRUSTED_CERTIFICATE = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_SIGNATURE_FAILURE",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
]);

/** A TLS failure (either side refusing the other's certificate or encryption) said in sslmode's terms. */
function describeTlsError(
  error: unknown,
  settings: PostgresConnectionSettings,
  plugin: PluginIdentity,
): ConnectionError | undefined {
  const e = error as { code?: string; message?: string };
  const where = `${settings.host}:${settings.port}`;
  const mode = `sslmode=${sslModeOf(settings)}`;
  const sslmode = describeSetting(plugin, "sslmode");
  const rootcert = describeSetting(plugin, "sslrootcert");
  const reason = e.message ?? String(error);
  const ca = settings.sslrootcert === undefined ? "the trusted CAs" : `sslrootcert (${settings.sslrootcert})`;
  if (e.code === "ERR_TLS_CERT_ALTNAME_INVALID") {
    return new ConnectionError(
      `${plugin.name}: PostgreSQL at ${where}: the server's certificate is not for host "${settings.host}" (${reason}); ${mode} refuses it. Set \`host\` to a name the certificate holds, or set ${sslmode} to verify-ca to check only that a CA in sslrootcert signed it.`,
      { cause: error },
    );
  }
  if (e.code !== undefined && UNTRUSTED_CERTIFICATE.has(e.code)) {
    return new ConnectionError(
      `${plugin.name}: PostgreSQL at ${where}: the server's certificate is not signed by a CA in ${ca} (${e.code}: ${reason}); ${mode} refuses it. Set ${rootcert} to the CA that issued the server's certificate.`,
      { cause: error },
    );
  }
  if (e.code === "CERT_HAS_EXPIRED" || e.code === "CERT_NOT_YET_VALID") {
    return new ConnectionError(
      `${plugin.name}: PostgreSQL at ${where}: the server's certificate is ${e.code === "CERT_HAS_EXPIRED" ? "expired" : "not yet valid"}; ${mode} refuses it. Renew the server's certificate (ssl_cert_file).`,
      { cause: error },
    );
  }
  if (reason === "The server does not support SSL connections") {
    return new ConnectionError(
      `${plugin.name}: PostgreSQL at ${where} does not accept TLS connections, and ${mode} requires TLS: turn ssl on in the server's configuration, or set ${sslmode} to prefer (or disable) to connect unencrypted.`,
      { cause: error },
    );
  }
  if (e.code === "28000" && /(no pg_hba\.conf entry|pg_hba\.conf rejects).*no encryption/.test(reason)) {
    return new ConnectionError(
      `${plugin.name}: PostgreSQL at ${where} accepts user "${settings.user}" only over TLS (pg_hba.conf: hostssl), and ${mode} connected without it: set ${sslmode} to verify-full with ${rootcert} (or to require).`,
      { cause: error },
    );
  }
  if (e.code === "28000" && /(no pg_hba\.conf entry|pg_hba\.conf rejects).*SSL encryption/.test(reason)) {
    return new ConnectionError(
      `${plugin.name}: PostgreSQL at ${where} accepts no TLS connection from user "${settings.user}" (pg_hba.conf), and ${mode} requires TLS: add a hostssl line for it on the server, or connect without TLS if it only accepts that (${sslmode}: prefer).`,
      { cause: error },
    );
  }
  if (e.code === "28000" && /certificate/i.test(reason)) {
    return new ConnectionError(
      `${plugin.name}: PostgreSQL at ${where} refused user "${settings.user}": ${reason}. The server authenticates this user by a client certificate: set ${describeSettings(plugin, ["sslcert", "sslkey"])} to a certificate whose common name is "${settings.user}", signed by a CA the server trusts (ssl_ca_file).`,
      { cause: error },
    );
  }
  if (/^ERR_(SSL|OSSL|TLS)_/.test(e.code ?? "") || /ssl|tls/i.test(e.code ?? "")) {
    return new ConnectionError(
      `${plugin.name}: TLS with PostgreSQL at ${where} failed (${mode}, ${sslmode}): ${reason}`,
      {
        cause: error,
      },
    );
  }
  return undefined;
}

/** A table as a privilege message names it. */
export interface SourceTable {
  schemaName: string;
  tableName: string;
}

/** The GRANTs that let `user` read `table`: USAGE on its schema and SELECT, each when it lacks it. */
export function grantsToRead(
  table: SourceTable,
  user: string,
  missing: { usage: boolean; select: boolean },
): string {
  const grants = [
    ...(missing.usage
      ? [`GRANT USAGE ON SCHEMA ${quoteIdent(table.schemaName)} TO ${quoteIdent(user)};`]
      : []),
    ...(missing.select
      ? [
          `GRANT SELECT ON ${quoteIdent(table.schemaName)}.${quoteIdent(table.tableName)} TO ${quoteIdent(user)};`,
        ]
      : []),
  ];
  return grants.join(" ");
}

/**
 * A permission error (SQLSTATE 42501) from reading `table` as `user`, as a message that names
 * the table and the GRANT to run; undefined for any other error.
 */
export function describePrivilegeError(
  error: unknown,
  table: SourceTable,
  user: string,
): ConnectionError | undefined {
  const failure = classifyPostgresError(error);
  if (failure.kind !== "privilege") return undefined;
  const name = `${table.schemaName}.${table.tableName}`;
  const missingUsage = /permission denied for schema/.test(failure.message);
  return new ConnectionError(
    `user "${user}" may not read ${name} (${failure.message}): run ${grantsToRead(table, user, { usage: missingUsage, select: true })} or deselect stream ${table.schemaName}-${table.tableName}`,
    { cause: error, server: failure.server },
  );
}

/**
 * What `user` lacks to read `tables` (USAGE on the schema, SELECT on the table), one sentence
 * per table with the GRANT to run. Empty when every table can be read.
 */
export async function readPrivilegeProblems(
  client: pg.Client,
  user: string,
  tables: readonly SourceTable[],
): Promise<string[]> {
  if (tables.length === 0) return [];
  const result = await client.query<{
    schema_name: string;
    table_name: string;
    usage: boolean;
    select: boolean | null;
  }>(
    `SELECT t.schema_name, t.table_name,
            CASE WHEN n.oid IS NULL THEN NULL ELSE has_schema_privilege(n.oid, 'USAGE') END AS usage,
            CASE WHEN c.oid IS NULL THEN NULL ELSE has_table_privilege(c.oid, 'SELECT') END AS select
     FROM unnest($1::text[], $2::text[]) AS t(schema_name, table_name)
     LEFT JOIN pg_namespace n ON n.nspname = t.schema_name
     LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = t.table_name`,
    [tables.map((t) => t.schemaName), tables.map((t) => t.tableName)],
  );
  const problems: string[] = [];
  for (const row of result.rows) {
    // A table that does not exist is the selection's problem, said elsewhere.
    if (row.select === null || row.usage === null) continue;
    if (row.usage && row.select) continue;
    const table = { schemaName: row.schema_name, tableName: row.table_name };
    const lacking = [
      ...(row.usage ? [] : [`USAGE on schema ${row.schema_name}`]),
      ...(row.select ? [] : ["SELECT"]),
    ];
    problems.push(
      `user "${user}" may not read ${row.schema_name}.${row.table_name} (no ${lacking.join(", no ")}): run ${grantsToRead(table, user, { usage: !row.usage, select: !row.select })} or deselect stream ${row.schema_name}-${row.table_name}`,
    );
  }
  return problems;
}

/** Quotes an identifier for PostgreSQL, whatever characters it holds. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Quotes a string literal for PostgreSQL (standard_conforming_strings on, as since 9.1). */
export function quoteLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}
