import type pg from "pg";

/** Queries in one read-only snapshot, each of which may fail without ending the others. */
export interface SnapshotQueries {
  query: (sql: string, params?: unknown[]) => Promise<Record<string, unknown>[]>;
  close: () => Promise<void>;
}

/**
 * One REPEATABLE READ READ ONLY transaction on a connection opened at the first query, as
 * `sluice verify` reads each side: every range is checked against the same rows. Each query runs
 * in a savepoint, because a failed statement aborts a PostgreSQL transaction: without it, the
 * first stream that cannot be verified (a column dropped in the warehouse) would fail every
 * stream after it.
 */
export function openSnapshotQueries(connect: () => Promise<pg.Client>): SnapshotQueries {
  let client: Promise<pg.Client> | undefined;
  const connection = (): Promise<pg.Client> =>
    (client ??= (async () => {
      const c = await connect();
      await c.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      return c;
    })());
  return {
    query: async (sql, params) => {
      const c = await connection();
      await c.query("SAVEPOINT sluice_verify");
      try {
        const result = await c.query<Record<string, unknown>>(sql, params);
        await c.query("RELEASE SAVEPOINT sluice_verify");
        return result.rows;
      } catch (error) {
        await c.query("ROLLBACK TO SAVEPOINT sluice_verify");
        throw error;
      }
    },
    close: async () => {
      if (client) await (await client).end();
    },
  };
}
