import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { afterAll, describe, expect, test } from "vitest";
import { StateError } from "../../../src/errors.js";
import {
  advisoryLockKeys,
  PostgresSystemDatabase,
  POSTGRES_SCHEMA_VERSION,
} from "../../../src/state/postgres-system-database.js";
import { createTestDatabase } from "../../support/pg.js";
import { describeRunHistory } from "./run-history-suite.js";
import { describeStateStore, holdLock, sleep, uniqueStateId } from "./state-store-suite.js";

const db = await createTestDatabase("state");
const opened: PostgresSystemDatabase[] = [];
async function open(options: { schema?: string } = {}): Promise<PostgresSystemDatabase> {
  const database = await PostgresSystemDatabase.open({ url: db.url, ...options });
  opened.push(database);
  return database;
}
afterAll(async () => {
  for (const database of opened) await database.close();
  await db.drop();
});

describeStateStore({ name: "PostgreSQL", open: async () => (await open()).stateStore });

describeRunHistory({
  name: "PostgreSQL",
  open: async () => (await open()).runHistory,
  setRunPid: async (runId, pid) => {
    await db.query("UPDATE sluice.runs SET pid = $1 WHERE run_id = $2", [pid, runId]);
  },
});

describe("PostgreSQL locks", () => {
  test("a lock whose session is terminated (its process died) is free at once", async () => {
    const a = (await open()).stateStore;
    const b = (await open()).stateStore;
    const id = uniqueStateId("pg-terminated");
    const holder = holdLock(a, id, { runId: "doomed" });
    await holder.held;
    await expect(b.withLock(id, async () => undefined)).rejects.toThrow(/locked by run doomed/);
    const rows = await db.query<{ backend_pid: number }>(
      "SELECT backend_pid FROM sluice.state_locks WHERE state_id = $1",
      [id],
    );
    expect(rows).toHaveLength(1);
    await db.query("SELECT pg_terminate_backend($1)", [rows[0]!.backend_pid]);
    expect(await b.withLock(id, async () => "free", { waitSeconds: 5 })).toBe("free");
    // The first holder's fn still completes; losing its session is not thrown at it.
    holder.release();
    await holder.done;
  });

  test("a lock held by a process that is SIGKILLed is free once the server sees the connection close", async () => {
    const store = (await open()).stateStore;
    const id = uniqueStateId("pg-sigkill");
    const [key1, key2] = advisoryLockKeys(id);
    // A separate Node process takes the same advisory lock the store would, then is killed.
    const script = `
      const pg = require("pg");
      const client = new pg.Client({ connectionString: process.env.URL });
      client.connect()
        .then(() => client.query("SELECT pg_try_advisory_lock($1, $2) AS locked", [${key1}, ${key2}]))
        .then((r) => { process.stdout.write(r.rows[0].locked ? "locked\\n" : "refused\\n"); setInterval(() => {}, 1000); });
    `;
    const child = spawn(process.execPath, ["-e", script], {
      env: { ...process.env, URL: db.url },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const line = await new Promise<string>((resolve) =>
      child.stdout.once("data", (d: Buffer) => resolve(String(d))),
    );
    expect(line.trim()).toBe("locked");
    await expect(store.withLock(id, async () => undefined)).rejects.toThrow(/locked by another session/);
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("exit", resolve));
    expect(await store.withLock(id, async () => "after kill", { waitSeconds: 10 })).toBe("after kill");
  });

  test("the lock is held by a connection of its own, not one of the pool", async () => {
    const database = await open();
    const id = uniqueStateId("pg-own-connection");
    const holder = holdLock(database.stateStore, id);
    await holder.held;
    // The pool keeps working (and could not release the lock by accident) while the lock is held.
    await database.stateStore.set(id, { bookmarks: {} });
    const sessions = await db.query<{ n: string }>(
      "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'sluice state lock'",
    );
    expect(Number(sessions[0]?.n)).toBeGreaterThanOrEqual(1);
    holder.release();
    await holder.done;
    await sleep(100);
    const locks = await db.query(
      "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    );
    expect(locks).toEqual([]);
  });
});

describe("PostgreSQL schema", () => {
  test("tables are created in the schema asked for, with the schema version recorded", async () => {
    const database = await open({ schema: "Sluice State" });
    await database.stateStore.set("dev:a-to-b", { bookmarks: { t: { version: 1 } } });
    const rows = await db.query<{ state: unknown }>(
      'SELECT state FROM "Sluice State".state WHERE state_id = $1',
      ["dev:a-to-b"],
    );
    expect(rows[0]?.state).toEqual({ bookmarks: { t: { version: 1 } } });
    const versions = await db.query<{ version: number }>('SELECT version FROM "Sluice State".schema_version');
    expect(versions.map((v) => v.version)).toEqual([POSTGRES_SCHEMA_VERSION]);
  });

  test("several processes opening a fresh schema at once all succeed", async () => {
    const databases = await Promise.all(Array.from({ length: 4 }, () => open({ schema: "concurrent_open" })));
    expect(databases).toHaveLength(4);
    const versions = await db.query("SELECT version FROM concurrent_open.schema_version");
    expect(versions).toHaveLength(POSTGRES_SCHEMA_VERSION);
  });

  test("a schema written by a newer sluice is refused rather than misread", async () => {
    await open({ schema: "from_the_future" });
    await db.query("INSERT INTO from_the_future.schema_version (version) VALUES (99)");
    await expect(open({ schema: "from_the_future" })).rejects.toThrow(/schema version 99 .*newer than/);
  });
});

describe("PostgreSQL connection problems", () => {
  test("an unreachable state database is a StateError naming host and port, never the password", async () => {
    const port = await closedPort();
    const password = "S3cret-Pa55word";
    const url = `postgresql://sluice:${password}@127.0.0.1:${port}/sluice_state`;
    const error = await PostgresSystemDatabase.open({ url }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StateError);
    const message = (error as StateError).message;
    expect(message).toContain(`the state database at 127.0.0.1:${port}/sluice_state could not be reached`);
    expect(message).toMatch(/ECONNREFUSED/);
    expect(message).not.toContain(password);
    expect((error as StateError).cause).toBeDefined();
  });

  test("a wrong password or a missing database is reported without the password", async () => {
    const password = "Wr0ng-Pa55word-xyz";
    const wrongPassword = new URL(db.url);
    wrongPassword.password = password;
    wrongPassword.username = "no_such_user_here";
    const missingDb = new URL(db.url);
    missingDb.pathname = "/no_such_database_here";
    for (const [url, expected] of [
      [wrongPassword.toString(), /no_such_user_here|password/],
      [missingDb.toString(), /no_such_database_here/],
    ] as const) {
      const error = await PostgresSystemDatabase.open({ url }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(StateError);
      const message = (error as StateError).message;
      expect(message).toContain(`the state database at ${db.host}:${db.port}/`);
      expect(message).toMatch(expected);
      expect(message).not.toContain(password);
      expect(message).not.toContain(db.password);
    }
  });

  test("a URI that cannot be parsed is refused without repeating it", async () => {
    const error = await PostgresSystemDatabase.open({ url: "postgresql://user:Secret99@[bad" }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StateError);
    expect((error as Error).message).not.toContain("Secret99");
  });
});

/** A TCP port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  await new Promise((resolve) => server.close(resolve));
  return address.port;
}
