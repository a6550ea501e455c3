import type { SettingDefinition } from "../connector.js";
import { loaderSettings } from "../loader-core/loader-settings.js";

/**
 * Settings of target-postgres, named as pipelinewise-target-postgres (variant transferwise) names
 * them, with the spellings of meltanolabs' variant as aliases (`database`, `add_record_metadata`,
 * `ssl_enable`; its `ssl_mode` is in the settings inventory, read only with ssl_enable). TLS files as tap-postgres takes them (libpq's names).
 */
export const targetPostgresSettings: readonly SettingDefinition[] = [
  { name: "host", kind: "string", default: "localhost", description: "Warehouse PostgreSQL host" },
  { name: "port", kind: "integer", default: 5432, description: "Warehouse PostgreSQL port" },
  { name: "user", kind: "string", required: true, description: "User to connect as" },
  { name: "password", kind: "string", secret: true, description: "Password of `user`" },
  {
    name: "dbname",
    kind: "string",
    required: true,
    aliases: ["database"],
    description: "Database to load into",
  },
  {
    name: "default_target_schema",
    kind: "string",
    description: "Schema for every table (created if missing); by default the source schema name",
  },
  ...loaderSettings({ upsertBy: "INSERT ... ON CONFLICT", addMetadataAliases: ["add_record_metadata"] }),
  {
    name: "ssl",
    kind: "boolean",
    default: false,
    aliases: ["ssl_enable"],
    description: "Connect with TLS (sslmode=require)",
  },
  {
    name: "sslmode",
    kind: "string",
    choices: ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"],
    description: "TLS mode, as libpq; overrides `ssl`",
  },
  { name: "sslrootcert", kind: "string", description: "CA certificate file to verify the server with" },
  { name: "sslcert", kind: "string", description: "Client certificate file" },
  { name: "sslkey", kind: "string", secret: true, description: "Client private key file" },
  {
    name: "connect_timeout",
    kind: "integer",
    default: 10,
    description: "Seconds to wait for a connection before reporting the host unreachable",
  },
];
