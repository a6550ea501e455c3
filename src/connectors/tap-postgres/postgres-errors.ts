import {
  ConnectionError,
  DataError,
  ResourceError,
  SluiceError,
  type ServerErrorFields,
} from "../../errors.js";

/**
 * The one place that reads what `pg` (and Node's sockets under it) threw, for every PostgreSQL
 * sluice talks to: the source, the warehouse of target-postgres, the replication stream, the
 * state database. `classifyPostgresError` says what a failure is and whether a retry can help;
 * `postgresError` turns it into the SluiceError a connector throws. Callers that word their own
 * messages (connecting names host and port, the state database its URI) still take the kind and
 * `transient` from here, so one list decides retries everywhere (as dlt's
 * `_make_database_exception`, one per client).
 */

/**
 * - `unreachable`: no connection could be made now (refused, host or network unreachable, a name
 *   server not answering, a connect timeout). Transient: servers restart and fail over.
 * - `unknown-host`: the host name does not exist (ENOTFOUND). Terminal: fix `host`.
 * - `connection-lost`: a connection that worked ended (the server restarted, crashed or was told
 *   to end us, a network cut, a failover, PgBouncer losing its server). Transient.
 * - `conflict`: the server gave up our transaction so that others stay consistent, or could not
 *   wait for a lock (serialization failure, deadlock, lock not available, a slot in use).
 *   Transient: the other session finishes.
 * - `insufficient-resources`: the server is out of connections, memory or disk for now. Transient.
 * - `authentication`, `privilege`, `no-database`: a setting or a grant is wrong. Terminal.
 * - `data`: a value or row the server refused (classes 22 and 23, a row too big). Terminal.
 * - `other`: anything else (syntax, undefined objects, internal errors). Terminal.
 */
export type PostgresFailureKind =
  | "unreachable"
  | "unknown-host"
  | "connection-lost"
  | "conflict"
  | "insufficient-resources"
  | "authentication"
  | "privilege"
  | "no-database"
  | "data"
  | "other";

export interface PostgresFailure {
  kind: PostgresFailureKind;
  /** A retry, later and unchanged, can succeed. */
  transient: boolean;
  /** What the server or the driver said. */
  message: string;
  /** The server's ErrorResponse fields (empty for a socket or driver error). */
  server: ServerErrorFields;
}

const TRANSIENT_KINDS: ReadonlySet<PostgresFailureKind> = new Set([
  "unreachable",
  "connection-lost",
  "conflict",
  "insufficient-resources",
]);

/** Node's socket errors: connecting failed, or the connection broke under us. */
const SOCKET_CODES: Readonly<Record<string, PostgresFailureKind>> = {
  ECONNREFUSED: "unreachable",
  EHOSTUNREACH: "unreachable",
  ENETUNREACH: "unreachable",
  // A name server that did not answer: the name may well exist.
  EAI_AGAIN: "unreachable",
  ENOTFOUND: "unknown-host",
  ECONNRESET: "connection-lost",
  ECONNABORTED: "connection-lost",
  EPIPE: "connection-lost",
  ETIMEDOUT: "connection-lost",
};

/**
 * What pg says, without a code, when the socket went away or a connect timed out.
 * NOTE: "Connection terminated unexpectedly" is what a COPY or a query sees when the server stops
 * mid-way; a client used after that says it "is not queryable".
 */
const LOST_CONNECTION_MESSAGES =
  /Connection terminated|Connection ended|is not queryable|terminating connection|server closed the connection/i;
const CONNECT_TIMEOUT_MESSAGES = /timeout expired|connection timeout|timed out/i;

/**
 * SQLSTATEs that are transient on their own (outside their class, or only some of it):
 * 40001 serialization_failure and 40P01 deadlock_detected (the server rolled us back so that
 * another transaction could go on), 55P03 lock_not_available (NOWAIT, lock_timeout), 55006
 * object_in_use (a replication slot still held by a walsender that is exiting), 57P01
 * admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now (starting up, or a standby not
 * accepting connections yet), 57P05 idle_session_timeout (our session was ended for idling).
 */
const TRANSIENT_CODES: Readonly<Record<string, PostgresFailureKind>> = {
  "40001": "conflict",
  "40P01": "conflict",
  "55P03": "conflict",
  "55006": "conflict",
  "57P01": "connection-lost",
  "57P02": "connection-lost",
  "57P03": "connection-lost",
  "57P05": "connection-lost",
};

function textField(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

/** The server's fields of a pg `DatabaseError` (any object with them), as sluice keeps them. */
export function serverFieldsOf(error: unknown): ServerErrorFields {
  if (typeof error !== "object" || error === null) return {};
  const e = error as Record<string, unknown>;
  const code = textField(e.code);
  const fields: ServerErrorFields = {
    // Node's socket codes (ECONNRESET, EPIPE) are not the server's: only a SQLSTATE is `code`.
    ...(code !== undefined && /^[0-9A-Z]{5}$/.test(code) && !/^E[A-Z]+$/.test(code) ? { code } : {}),
    ...(textField(e.detail) !== undefined ? { detail: textField(e.detail)! } : {}),
    ...(textField(e.hint) !== undefined ? { hint: textField(e.hint)! } : {}),
    ...(textField(e.schema) !== undefined ? { schema: textField(e.schema)! } : {}),
    ...(textField(e.table) !== undefined ? { table: textField(e.table)! } : {}),
    ...(textField(e.column) !== undefined ? { column: textField(e.column)! } : {}),
    ...(textField(e.constraint) !== undefined ? { constraint: textField(e.constraint)! } : {}),
    ...(textField(e.dataType) !== undefined ? { dataType: textField(e.dataType)! } : {}),
    ...(textField(e.where) !== undefined ? { where: textField(e.where)! } : {}),
  };
  return fields;
}

/** What a failure from pg is, and whether a retry can help. Never throws. */
export function classifyPostgresError(error: unknown): PostgresFailure {
  const e = (typeof error === "object" && error !== null ? error : {}) as {
    code?: unknown;
    message?: unknown;
  };
  const message = typeof e.message === "string" ? e.message : String(error);
  const code = typeof e.code === "string" ? e.code : undefined;
  const server = serverFieldsOf(error);
  const result = (kind: PostgresFailureKind): PostgresFailure => ({
    kind,
    transient: TRANSIENT_KINDS.has(kind),
    message,
    server,
  });
  if (code !== undefined && SOCKET_CODES[code] !== undefined) return result(SOCKET_CODES[code]);
  if (server.code === undefined) {
    // A driver error without a SQLSTATE: only its words tell.
    if (LOST_CONNECTION_MESSAGES.test(message)) {
      return result(/timeout/i.test(message) ? "unreachable" : "connection-lost");
    }
    if (CONNECT_TIMEOUT_MESSAGES.test(message)) return result("unreachable");
    return result("other");
  }
  const sqlstate = server.code;
  const known = TRANSIENT_CODES[sqlstate];
  if (known !== undefined) return result(known);
  const sqlClass = sqlstate.slice(0, 2);
  switch (sqlClass) {
    // connection_exception: the connection failed or broke; PgBouncer also reports its own
    // "cannot connect to server" as 08P01.
    case "08":
      return result("connection-lost");
    // insufficient_resources: too many connections, out of memory or disk. But 53400
    // configuration_limit_exceeded (all replication slots in use, ...) does not free itself.
    case "53":
      return result(sqlstate === "53400" ? "other" : "insufficient-resources");
    case "28":
      return result("authentication");
    case "22":
    case "23":
      return result("data");
  }
  if (sqlstate === "42501") return result("privilege");
  if (sqlstate === "3D000") return result("no-database");
  if (sqlstate === "54000") return result("data");
  return result("other");
}

/** The server's message with its detail and hint, as a user reads them. */
export function describePostgresMessage(failure: PostgresFailure): string {
  return [
    failure.message,
    failure.server.detail,
    failure.server.hint ? `hint: ${failure.server.hint}` : undefined,
  ]
    .filter(Boolean)
    .join("; ");
}

/**
 * The SluiceError for a PostgreSQL failure while `doing` (`target-postgres: loading s into t`):
 * a lost connection or an unreachable server is a transient ConnectionError, a server short of
 * resources a transient ResourceError, a conflict (deadlock, serialization failure, a lock) a
 * transient ConnectionError, a refused login or privilege a terminal ConnectionError, anything
 * else a terminal DataError with the server's message, detail and hint. Our own errors pass
 * through as they are.
 */
export function postgresError(error: unknown, doing: string): SluiceError {
  if (error instanceof SluiceError) return error;
  const failure = classifyPostgresError(error);
  const message = describePostgresMessage(failure);
  const options = { cause: error, transient: failure.transient, server: failure.server };
  switch (failure.kind) {
    case "unreachable":
    case "connection-lost":
      return new ConnectionError(
        `${doing} failed: the connection to PostgreSQL was lost (${message})`,
        options,
      );
    case "conflict":
      return new ConnectionError(
        `${doing} failed: PostgreSQL gave the transaction up for another session (${message}); it can succeed once that session is done`,
        options,
      );
    case "insufficient-resources":
      return new ResourceError(
        `${doing} failed: the PostgreSQL server is short of resources for now (${message})`,
        options,
      );
    case "authentication":
    case "privilege":
      return new ConnectionError(`${doing} failed: ${message}`, options);
  }
  if (failure.server.code === "23505") {
    return new DataError(
      `${doing} failed: ${message}; the stream has two rows with one key (its key_properties are not unique): correct the key, or use load_method: append-only`,
      options,
    );
  }
  if (failure.server.code === "54000" && /row is too big/.test(message)) {
    return new DataError(
      `${doing} failed: ${message}; a PostgreSQL row must fit one 8 kB page, and fixed-width columns (bigint, double precision, timestamps) cannot move out of it: split the table or select fewer columns`,
      options,
    );
  }
  return new DataError(`${doing} failed: ${message}`, options);
}
