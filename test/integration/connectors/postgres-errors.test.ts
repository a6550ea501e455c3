import pg from "pg";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  classifyPostgresError,
  postgresError,
} from "../../../src/connectors/tap-postgres/postgres-errors.js";
import { describeConnectError } from "../../../src/connectors/tap-postgres/postgres-connection.js";
import { freePort } from "@sluice/postgres-server/free-port";
import { ConnectionError, DataError, ResourceError } from "../../../src/errors.js";
import { postgresStateError } from "../../../src/state/postgres-system-database.js";
import { createTestDatabase, type TestDatabase } from "../../support/pg.js";

/**
 * `classifyPostgresError` and `postgresError` against errors the test server really raises (each
 * provoked here: a deadlock, a serialization failure, a lock not available, a backend terminated,
 * too many connections, a refused password, ...), and against driver-shaped objects for what
 * cannot be provoked cheaply (a crash shutdown, a server starting up, PgBouncer's 08P01).
 */

let db: TestDatabase;
/** A role of this file's own (roles are the server's, shared by every test file). */
const ROLE = `pgerrors_${process.pid}`;
const clients: pg.Client[] = [];

async function connect(options: Partial<pg.ClientConfig> = {}): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: db.url, ...options });
  client.on("error", () => undefined);
  await client.connect();
  clients.push(client);
  return client;
}

/** The error `run` rejects with; fails the test if it resolves. */
async function failureOf(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run();
  } catch (error) {
    return error;
  }
  throw new Error("expected a failure");
}

beforeAll(async () => {
  db = await createTestDatabase("pgerrors");
  await db.query(`
    CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL, note text);
    INSERT INTO accounts VALUES (1, 10, NULL), (2, 20, NULL);
    CREATE ROLE ${ROLE} LOGIN PASSWORD 'limited-pw' CONNECTION LIMIT 1;
    GRANT CONNECT ON DATABASE "${db.name}" TO ${ROLE};`);
});

afterAll(async () => {
  for (const client of clients) await client.end().catch(() => undefined);
  await db?.drop();
  if (!db) return;
  const server = new pg.Client({ connectionString: new URL("/postgres", db.url).toString() });
  await server.connect();
  await server.query(`DROP ROLE IF EXISTS ${ROLE}`).finally(() => server.end());
});

describe("transient: a retry can get past these", () => {
  test("40P01 deadlock: a transient ConnectionError keeping the server's detail", async () => {
    const [a, b] = [await connect(), await connect()];
    await a.query("BEGIN");
    await b.query("BEGIN");
    await a.query("UPDATE accounts SET balance = balance + 1 WHERE id = 1");
    await b.query("UPDATE accounts SET balance = balance + 1 WHERE id = 2");
    // Each now waits for the other's row: the server breaks the cycle by failing one of them.
    const results = await Promise.allSettled([
      a.query("UPDATE accounts SET balance = balance + 1 WHERE id = 2"),
      b.query("UPDATE accounts SET balance = balance + 1 WHERE id = 1"),
    ]);
    await a.query("ROLLBACK");
    await b.query("ROLLBACK");
    const failed = results.filter((r) => r.status === "rejected");
    expect(failed).toHaveLength(1);
    const error = (failed[0] as PromiseRejectedResult).reason as unknown;
    expect(classifyPostgresError(error)).toMatchObject({ kind: "conflict", transient: true });
    const mapped = postgresError(error, "target-postgres: loading s into public.accounts");
    expect(mapped).toBeInstanceOf(ConnectionError);
    expect(mapped.transient).toBe(true);
    expect(mapped.exitCode).toBe(75);
    expect(mapped.server?.code).toBe("40P01");
    expect(mapped.server?.detail).toMatch(/Process \d+ waits for ShareLock/);
    expect(mapped.message).toMatch(
      /^target-postgres: loading s into public.accounts failed: PostgreSQL gave the transaction up for another session \(deadlock detected; Process/,
    );
  });

  test("40001 serialization failure and 55P03 lock not available", async () => {
    const [a, b] = [await connect(), await connect()];
    await a.query("BEGIN ISOLATION LEVEL REPEATABLE READ");
    await a.query("SELECT * FROM accounts");
    await b.query("UPDATE accounts SET balance = balance + 1 WHERE id = 1");
    const serialization = await failureOf(() =>
      a.query("UPDATE accounts SET balance = balance + 1 WHERE id = 1"),
    );
    await a.query("ROLLBACK");
    expect(classifyPostgresError(serialization)).toMatchObject({ kind: "conflict", transient: true });
    expect(classifyPostgresError(serialization).server.code).toBe("40001");

    await a.query("BEGIN");
    await a.query("SELECT * FROM accounts WHERE id = 1 FOR UPDATE");
    const locked = await failureOf(() => b.query("SELECT * FROM accounts WHERE id = 1 FOR UPDATE NOWAIT"));
    await a.query("ROLLBACK");
    expect(classifyPostgresError(locked)).toMatchObject({ kind: "conflict", transient: true });
    expect(classifyPostgresError(locked).server.code).toBe("55P03");
  });

  test("57P01: a backend terminated (a failover, pg_terminate_backend) is a lost connection", async () => {
    const victim = await connect({ application_name: "pgerrors victim" });
    const pid = (await victim.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid;
    const running = failureOf(() => victim.query("SELECT pg_sleep(30)"));
    await db.query(`SELECT pg_terminate_backend(${pid})`);
    const error = await running;
    expect(classifyPostgresError(error)).toMatchObject({ kind: "connection-lost", transient: true });
    expect(classifyPostgresError(error).server.code).toBe("57P01");
    // The client is dead now: using it again says so, and that is the same failure.
    const reused = await failureOf(() => victim.query("SELECT 1"));
    expect(classifyPostgresError(reused)).toMatchObject({ kind: "connection-lost", transient: true });
  });

  test("the socket gone mid-query: pg's 'Connection terminated unexpectedly', without a code", async () => {
    const client = await connect();
    const running = failureOf(() => client.query("SELECT pg_sleep(30)"));
    client.connection.stream.destroy();
    const error = await running;
    expect((error as { code?: string }).code).toBeUndefined();
    expect(classifyPostgresError(error)).toMatchObject({ kind: "connection-lost", transient: true });
    const mapped = postgresError(error, "reading public.accounts");
    expect(mapped.message).toMatch(/^reading public.accounts failed: the connection to PostgreSQL was lost/);
    expect(mapped.exitCode).toBe(75);
  });

  test("53300 too many connections for a role: a transient ResourceError", async () => {
    const url = new URL(db.url);
    url.username = ROLE;
    url.password = "limited-pw";
    const first = await connect({ connectionString: url.toString() });
    const error = await failureOf(() => connect({ connectionString: url.toString() }));
    await first.end();
    expect(classifyPostgresError(error)).toMatchObject({ kind: "insufficient-resources", transient: true });
    expect(classifyPostgresError(error).server.code).toBe("53300");
    const mapped = postgresError(error, "target-postgres: connecting");
    expect(mapped).toBeInstanceOf(ResourceError);
    expect(mapped.transient).toBe(true);
  });

  test("ECONNREFUSED: nothing listens; unreachable, transient, naming host and port", async () => {
    const port = await freePort();
    const error = await failureOf(() => connect({ connectionString: undefined, host: "127.0.0.1", port }));
    expect(classifyPostgresError(error)).toMatchObject({ kind: "unreachable", transient: true });
    expect(classifyPostgresError(error).server).toEqual({});
    const settings = { host: "127.0.0.1", port, user: "u", dbname: "d" };
    const described = describeConnectError(error, settings);
    expect(described.message).toBe(
      `tap-postgres: PostgreSQL at 127.0.0.1:${port} is unreachable (ECONNREFUSED): check \`host\` (TAP_POSTGRES_HOST) and \`port\` (TAP_POSTGRES_PORT), and that the server accepts TCP connections.`,
    );
    expect(described.exitCode).toBe(75);
  });

  test("codes of failures that cannot be provoked cheaply here", () => {
    const shaped = (code: string, message: string) => Object.assign(new Error(message), { code });
    for (const [code, kind] of [
      ["57P02", "connection-lost"], // crash shutdown
      ["57P03", "connection-lost"], // the database system is starting up
      ["08006", "connection-lost"],
      ["08P01", "connection-lost"], // PgBouncer: "pgbouncer cannot connect to server"
      ["53100", "insufficient-resources"], // disk full
      ["53200", "insufficient-resources"], // out of memory
      ["EPIPE", "connection-lost"],
      ["ECONNRESET", "connection-lost"],
      ["ETIMEDOUT", "connection-lost"],
      ["EAI_AGAIN", "unreachable"],
    ] as const) {
      expect(classifyPostgresError(shaped(code, "x")), code).toMatchObject({ kind, transient: true });
    }
    // Node's codes are not the server's: no SQLSTATE is made up of them.
    expect(classifyPostgresError(shaped("EPIPE", "write EPIPE")).server).toEqual({});
    expect(classifyPostgresError(new Error("timeout expired"))).toMatchObject({
      kind: "unreachable",
      transient: true,
    });
  });
});

describe("terminal: the same work fails the same way until someone changes something", () => {
  test("a wrong password (28P01), a missing database (3D000), an unknown host (ENOTFOUND)", async () => {
    const url = new URL(db.url);
    url.password = "not-the-password";
    const password = await failureOf(() => connect({ connectionString: url.toString() }));
    expect(classifyPostgresError(password)).toMatchObject({ kind: "authentication", transient: false });
    const missing = new URL(db.url);
    missing.pathname = "/pgerrors_no_such_database";
    const database = await failureOf(() => connect({ connectionString: missing.toString() }));
    expect(classifyPostgresError(database)).toMatchObject({ kind: "no-database", transient: false });
    const host = await failureOf(() =>
      connect({ connectionString: undefined, host: "no-such-host.invalid", port: 5432 }),
    );
    expect(classifyPostgresError(host)).toMatchObject({ kind: "unknown-host", transient: false });
    expect(postgresError(password, "x").exitCode).toBe(1);
  });

  test("23505 and 23502 keep the server's table, column, constraint and detail", async () => {
    const client = await connect();
    const duplicate = await failureOf(() => client.query("INSERT INTO accounts VALUES (1, 0, NULL)"));
    const mapped = postgresError(duplicate, "target-postgres: loading s into public.accounts");
    expect(mapped).toBeInstanceOf(DataError);
    expect(mapped.transient).toBe(false);
    expect(mapped.server).toMatchObject({
      code: "23505",
      schema: "public",
      table: "accounts",
      constraint: "accounts_pkey",
      detail: "Key (id)=(1) already exists.",
    });
    expect(mapped.message).toContain("the stream has two rows with one key");
    const notNull = await failureOf(() => client.query("INSERT INTO accounts VALUES (3, NULL, NULL)"));
    expect(postgresError(notNull, "x").server).toMatchObject({
      code: "23502",
      table: "accounts",
      column: "balance",
    });
  });

  test("a statement timeout (57014), an undefined table (42P01), a bad value (22P02), a privilege (42501)", async () => {
    const client = await connect();
    await client.query("SET statement_timeout = '50ms'");
    const timeout = await failureOf(() => client.query("SELECT pg_sleep(5)"));
    await client.query("RESET statement_timeout");
    expect(classifyPostgresError(timeout)).toMatchObject({ kind: "other", transient: false });
    const undefinedTable = await failureOf(() => client.query("SELECT * FROM no_such_table"));
    expect(classifyPostgresError(undefinedTable)).toMatchObject({ kind: "other", transient: false });
    const value = await failureOf(() => client.query("SELECT 'abc'::int"));
    expect(classifyPostgresError(value)).toMatchObject({ kind: "data", transient: false });
    const url = new URL(db.url);
    url.username = ROLE;
    url.password = "limited-pw";
    const limited = await connect({ connectionString: url.toString() });
    const denied = await failureOf(() => limited.query("SELECT * FROM accounts"));
    await limited.end();
    expect(classifyPostgresError(denied)).toMatchObject({ kind: "privilege", transient: false });
    expect(postgresError(denied, "x")).toBeInstanceOf(ConnectionError);
  });

  test("53400 configuration limit and an unknown failure are terminal; a bug (no code) too", () => {
    const shaped = (code: string) => Object.assign(new Error("x"), { code });
    expect(classifyPostgresError(shaped("53400")).transient).toBe(false);
    expect(classifyPostgresError(shaped("XX000")).transient).toBe(false);
    expect(classifyPostgresError(new TypeError("Cannot read properties of undefined")).transient).toBe(false);
  });
});

describe("the state database takes its retry decision from the same function", () => {
  const target = { where: "db.example.com:5432/sluice", password: "secret" };

  test("unreachable and restarting are transient; refused writes and logins are not", () => {
    const shaped = (code: string, message: string) => Object.assign(new Error(message), { code });
    const down = postgresStateError(
      target,
      "store the state",
      shaped("ECONNREFUSED", "connect ECONNREFUSED"),
    );
    expect(down.transient).toBe(true);
    expect(down.message).toMatch(/could not be reached/);
    const restarting = postgresStateError(target, "store the state", shaped("57P01", "terminating"));
    expect(restarting.exitCode).toBe(75);
    const login = postgresStateError(
      target,
      "store the state",
      shaped("28P01", "password authentication failed"),
    );
    expect(login.message).toMatch(/could not be reached/);
    expect(login.transient).toBe(false);
    const trigger = postgresStateError(
      target,
      "store the state",
      shaped("P0001", "state writes are refused"),
    );
    expect(trigger.message).toMatch(/refused to store the state/);
    expect(trigger.exitCode).toBe(1);
  });
});
