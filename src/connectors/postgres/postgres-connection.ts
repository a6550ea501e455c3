import fs from "node:fs";
import pg from "pg";
import { ConfigError, ConnectionError } from "../../errors.js";
import type { PluginConfig } from "../connector.js";

/** Typed view of tap-postgres settings that concern the connection. */
export interface PostgresConnectionSettings {
  host: string;
  port: number;
  user: string;
  password?: string;
  dbname: string;
  ssl?: boolean;
  sslmode?: string;
  sslrootcert?: string;
  sslcert?: string;
  sslkey?: string;
  connect_timeout?: number;
}

export function connectionSettingsOf(config: PluginConfig): PostgresConnectionSettings {
  return config as unknown as PostgresConnectionSettings;
}

/**
 * Session settings that make PostgreSQL print every value in the wire form of `batch.ts`:
 * ISO dates in UTC, shortest exact floats, hex bytea, UTF-8.
 */
export const EXTRACT_SESSION_SETTINGS =
  "SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET TimeZone = 'UTC'; " +
  "SET extra_float_digits = 1; SET bytea_output = 'hex'; SET client_encoding = 'UTF8'";

export function clientConfig(
  settings: PostgresConnectionSettings,
  applicationName = "sluice",
): pg.ClientConfig {
  return {
    host: settings.host,
    port: settings.port,
    user: settings.user,
    password: settings.password,
    database: settings.dbname,
    ssl: sslOptions(settings),
    connectionTimeoutMillis: (settings.connect_timeout ?? 10) * 1000,
    application_name: applicationName,
  };
}

function sslOptions(settings: PostgresConnectionSettings): pg.ClientConfig["ssl"] {
  const mode = settings.sslmode ?? (settings.ssl ? "require" : "disable");
  if (mode === "disable" || mode === "allow" || mode === "prefer") return false;
  const read = (setting: "sslrootcert" | "sslcert" | "sslkey"): string | undefined => {
    const file = settings[setting];
    if (file === undefined) return undefined;
    try {
      return fs.readFileSync(file, "utf8");
    } catch (error) {
      throw new ConfigError(`${setting}: cannot read ${file}: ${(error as Error).message}`, { cause: error });
    }
  };
  const ca = read("sslrootcert");
  const cert = read("sslcert");
  const key = read("sslkey");
  if (mode === "require" && ca === undefined) return { rejectUnauthorized: false, cert, key };
  return {
    ca,
    cert,
    key,
    rejectUnauthorized: true,
    // verify-ca checks the chain but not the host name, as libpq does.
    ...(mode === "verify-ca" ? { checkServerIdentity: () => undefined } : {}),
  };
}

/** Opens a connection, turning every failure into a message that says what to fix. */
export async function connectPostgres(
  settings: PostgresConnectionSettings,
  applicationName?: string,
): Promise<pg.Client> {
  const client = new pg.Client(clientConfig(settings, applicationName));
  // An idle connection can still fail (server restart); without a listener that would crash the process.
  client.on("error", () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw describeConnectError(error, settings);
  }
  return client;
}

/** Maps a driver error from connecting to a ConnectionError naming host, port, user or database. */
export function describeConnectError(error: unknown, settings: PostgresConnectionSettings): ConnectionError {
  const where = `${settings.host}:${settings.port}`;
  const e = error as { code?: string; message?: string };
  const reason = e.message ?? String(error);
  switch (e.code) {
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return new ConnectionError(
        `PostgreSQL host "${settings.host}" could not be resolved (setting \`host\`).`,
        {
          cause: error,
          transient: e.code === "EAI_AGAIN",
        },
      );
    case "ECONNREFUSED":
    case "EHOSTUNREACH":
    case "ENETUNREACH":
    case "ETIMEDOUT":
      return new ConnectionError(
        `PostgreSQL at ${where} is unreachable (${e.code}): check \`host\` and \`port\`, and that the server accepts TCP connections.`,
        { cause: error, transient: true },
      );
    case "28P01":
    case "28000":
      return new ConnectionError(
        `PostgreSQL at ${where} refused user "${settings.user}": authentication failed (check \`user\` and \`password\`, e.g. TAP_POSTGRES_PASSWORD).`,
        { cause: error },
      );
    case "3D000":
      return new ConnectionError(
        `Database "${settings.dbname}" does not exist on ${where} (setting \`dbname\`).`,
        {
          cause: error,
        },
      );
    default:
      if (/timeout/i.test(reason)) {
        return new ConnectionError(
          `PostgreSQL at ${where} did not answer within ${settings.connect_timeout ?? 10} s: check \`host\`, \`port\` and firewalls.`,
          { cause: error, transient: true },
        );
      }
      return new ConnectionError(`Could not connect to PostgreSQL at ${where}: ${reason}`, { cause: error });
  }
}

/** Quotes an identifier for PostgreSQL, whatever characters it holds. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Quotes a string literal for PostgreSQL (standard_conforming_strings on, as since 9.1). */
export function quoteLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}
