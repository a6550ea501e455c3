import type pg from "pg";
import { SqlStreamVerifier, type StreamVerifier } from "../../verify/stream-verifier.js";
import {
  connectPostgres,
  EXTRACT_SESSION_SETTINGS,
  quoteIdent,
  quoteLiteral,
  type PostgresConnectionSettings,
} from "./postgres-connection.js";

/**
 * The source side of `sluice verify`: checksums computed in PostgreSQL, in one read-only
 * REPEATABLE READ transaction with the extractor's session settings (UTC, shortest exact floats),
 * so canonical texts match what was extracted.
 */
export function createPostgresVerifier(settings: PostgresConnectionSettings): StreamVerifier {
  let client: Promise<pg.Client> | undefined;
  const connect = (): Promise<pg.Client> =>
    (client ??= (async () => {
      const c = await connectPostgres(settings, "sluice verify");
      await c.query(EXTRACT_SESSION_SETTINGS);
      // One snapshot for the whole comparison: every range is checked against the same rows.
      await c.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      return c;
    })());
  return new SqlStreamVerifier({
    dialect: "postgres",
    quote: quoteIdent,
    query: async (sql) => (await (await connect()).query<Record<string, unknown>>(sql)).rows,
    table: async (schema) => {
      const c = await connect();
      const found = await c.query(
        `SELECT 1 FROM pg_class r JOIN pg_namespace n ON n.oid = r.relnamespace WHERE n.nspname = ${quoteLiteral(schema.sourceSchema)} AND r.relname = ${quoteLiteral(schema.sourceTable)}`,
      );
      if (found.rowCount === 0) return undefined;
      return {
        name: `${schema.sourceSchema}.${schema.sourceTable}`,
        quoted: `${quoteIdent(schema.sourceSchema)}.${quoteIdent(schema.sourceTable)}`,
        softDeletes: false,
      };
    },
    close: async () => {
      if (client) await (await client).end();
    },
  });
}
