import type { SettingDefinition } from "../connector.js";

/** Settings of tap-postgres, named as pipelinewise-tap-postgres (variant transferwise) names them. */
export const tapPostgresSettings: readonly SettingDefinition[] = [
  { name: "host", kind: "string", default: "localhost", description: "PostgreSQL host name or address" },
  { name: "port", kind: "integer", default: 5432, description: "PostgreSQL port" },
  { name: "user", kind: "string", required: true, description: "User to connect as" },
  { name: "password", kind: "string", secret: true, description: "Password of `user`" },
  { name: "dbname", kind: "string", required: true, description: "Database to extract from" },
  {
    name: "filter_schemas",
    kind: "array",
    commaSeparated: true,
    description: "Only discover these schemas (a list, or a comma-separated string)",
  },
  {
    name: "default_replication_method",
    kind: "string",
    default: "FULL_TABLE",
    choices: ["FULL_TABLE", "INCREMENTAL", "LOG_BASED"],
    description: "Replication method of streams whose metadata sets none",
  },
  { name: "ssl", kind: "boolean", default: false, description: "Connect with TLS (sslmode=require)" },
  {
    name: "sslmode",
    kind: "string",
    choices: ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"],
    description:
      "TLS mode, as libpq: verify-full checks the CA and the host name, verify-ca the CA only, require encrypts only; overrides `ssl` (see docs/security.md)",
  },
  {
    name: "sslrootcert",
    kind: "string",
    description:
      "CA certificate file to verify the server with (`system`: the system's CAs; default ~/.postgresql/root.crt)",
  },
  { name: "sslcert", kind: "string", description: "Client certificate file (with sslkey)" },
  { name: "sslkey", kind: "string", secret: true, description: "Client private key file (with sslcert)" },
  {
    name: "itersize",
    kind: "integer",
    default: 20000,
    description:
      "Accepted for pipelinewise compatibility (its cursor size); sluice streams with COPY and cuts batches by batch_size_mb and batch_size_rows",
  },
  {
    name: "batch_size_mb",
    kind: "integer",
    default: 64,
    description: "A batch ends at the first row past this many MB; its state is committed once it is loaded",
  },
  {
    name: "batch_size_rows",
    kind: "integer",
    // DuckDB's row group size: a batch that fills whole row groups loads about 20% faster.
    default: 122880,
    description: "A batch ends after this many rows",
  },
  {
    name: "max_parallel_streams",
    kind: "integer",
    description:
      "How many tables (or parts of one large table) are read and loaded at once, each on its own connection in the run's snapshot; by default one per core",
  },
  {
    name: "split_table_min_mb",
    kind: "integer",
    default: 256,
    description:
      "A FULL_TABLE copy of a table larger than this is read as max_parallel_streams ranges of its rows at once (0: never split)",
  },
  {
    name: "max_run_seconds",
    kind: "integer",
    default: 43200,
    description: "LOG_BASED: stop after this long",
  },
  {
    name: "logical_poll_total_seconds",
    kind: "integer",
    // pipelinewise waits up to 3 hours on an idle database; a scheduled run should end in seconds.
    default: 10,
    description:
      "LOG_BASED batch mode with break_at_end_lsn false: stop after this long with the WAL position standing still",
  },
  {
    name: "break_at_end_lsn",
    kind: "boolean",
    default: true,
    description: "LOG_BASED: stop once the WAL position current at the run's start is read",
  },
  {
    name: "tap_id",
    kind: "string",
    description:
      "With `dbname`, names pipelinewise's slot (pipelinewise_<dbname>_<tap_id>), read by states from pipelinewise",
  },
  {
    name: "logical_slot_name",
    kind: "string",
    description:
      "LOG_BASED: the replication slot's name (default: one per pipeline, sluice_<dbname>_<state id>_<hash>; see the README)",
  },
  {
    name: "logical_publication",
    kind: "string",
    description:
      "LOG_BASED: an existing publication covering the tables; when absent sluice manages <slot>_pub itself",
  },
  {
    name: "logical_commit_seconds",
    kind: "integer",
    default: 1,
    description: "LOG_BASED: load changes and commit the position at least this often (seconds)",
  },
  {
    name: "logical_truncate",
    kind: "string",
    default: "apply",
    choices: ["apply", "fail"],
    description:
      "LOG_BASED: a TRUNCATE at the source empties the warehouse table (apply) or stops the run naming the table (fail)",
  },
  {
    name: "logical_slot_lag_warn_mb",
    kind: "integer",
    default: 1024,
    description: "LOG_BASED: warn when the slot makes the server keep more WAL than this (MB)",
  },
  {
    name: "use_secondary",
    kind: "boolean",
    default: false,
    description: "Read FULL_TABLE/INCREMENTAL from a replica",
  },
  { name: "secondary_host", kind: "string", description: "Replica host when use_secondary is set" },
  { name: "secondary_port", kind: "integer", description: "Replica port when use_secondary is set" },
  {
    name: "connect_timeout",
    kind: "integer",
    default: 10,
    description: "Seconds to wait for a connection before reporting the host unreachable",
  },
];
