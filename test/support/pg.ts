import pg from "pg";
import { inject } from "vitest";

export interface TestDatabase {
  name: string;
  /** Connection URL of this database (with the server's credentials). */
  url: string;
  host: string;
  port: number;
  user: string;
  password: string;
  /** Runs SQL on this database with a fresh connection. */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<R[]>;
  drop(): Promise<void>;
}

/**
 * The suite's servers: `postgres` is the embedded PostgreSQL 18 (or SLUICE_TEST_DATABASE_URL),
 * `postgres15` Debian's PostgreSQL 15 (see `global-setup.ts`).
 */
export type TestServer = "postgres" | "postgres15";

/** A new, empty database on one of the suite's PostgreSQL servers (default the main one), for one test file. */
export async function createTestDatabase(
  prefix = "t",
  options: { server?: TestServer } = {},
): Promise<TestDatabase> {
  const serverUrl = new URL(testServerUrl(options.server ?? "postgres"));
  const name = `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`.toLowerCase();
  await withClient(serverUrl.toString(), (c) => c.query(`CREATE DATABASE "${name}"`));
  const url = new URL(serverUrl.toString());
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    host: url.hostname,
    port: Number(url.port || 5432),
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    query: async <R extends pg.QueryResultRow>(sql: string, params?: unknown[]) =>
      withClient(url.toString(), async (c) => (await c.query<R>(sql, params)).rows),
    drop: () =>
      withClient(serverUrl.toString(), (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).then(
        () => undefined,
      ),
  };
}

function testServerUrl(server: TestServer): string {
  if (server === "postgres") return inject("postgresUrl");
  const url = inject("postgres15Url");
  if (url === "") {
    throw new Error(
      "this test needs PostgreSQL 15 and /usr/lib/postgresql/15/bin/postgres is missing: install it (apt-get install postgresql on Debian 12, as .ci/run does) or set SLUICE_TEST_POSTGRES15_BIN to its bin folder",
    );
  }
  return url;
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A table held by an open transaction of its own (see `lockTable`). */
export interface TableLock {
  /** Commits: whoever waits on the table goes on. */
  release(): Promise<void>;
  /** Ends the session without committing, unless `release` did (for an `afterAll`). */
  close(): Promise<void>;
}

/**
 * Locks `table` of `db` (ACCESS EXCLUSIVE) until `release`: a run reading it takes its state lock,
 * records itself as running, then waits on its COPY, held mid-run without depending on timing.
 */
export async function lockTable(db: TestDatabase, table: string): Promise<TableLock> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  let open = true;
  const close = async (): Promise<void> => {
    if (!open) return;
    open = false;
    await client.end().catch(() => undefined);
  };
  try {
    await client.query("BEGIN");
    await client.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
  } catch (error) {
    await close();
    throw error;
  }
  return {
    release: async () => {
      await client.query("COMMIT");
      open = false;
      await client.end();
    },
    close,
  };
}
