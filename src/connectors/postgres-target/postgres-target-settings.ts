import type { SettingDefinition } from "../connector.js";

/**
 * Settings of target-postgres, named as pipelinewise-target-postgres (variant transferwise) names
 * them, with the spellings of meltanolabs' variant as aliases (`database`, `add_record_metadata`,
 * `ssl_enable`, `ssl_mode`). TLS files as tap-postgres takes them (libpq's names).
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
  { name: "table_prefix", kind: "string", default: "", description: "Prepended to every table name" },
  {
    name: "add_metadata_columns",
    kind: "boolean",
    default: false,
    aliases: ["add_record_metadata"],
    description: "Add _sdc_extracted_at, _sdc_received_at, _sdc_batched_at, _sdc_deleted_at, ... columns",
  },
  {
    name: "load_method",
    kind: "string",
    default: "upsert",
    choices: ["append-only", "upsert", "overwrite"],
    description:
      "How incremental batches land: merged on the key (INSERT ... ON CONFLICT), appended (LOG_BASED: every change a row), or the table replaced each run",
  },
  {
    name: "hard_delete",
    kind: "boolean",
    default: false,
    description:
      "Delete rows whose _sdc_deleted_at is set (and all rows on a source TRUNCATE) instead of keeping them marked",
  },
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
    aliases: ["ssl_mode"],
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
