import { SqlStreamVerifier, type StreamVerifier } from "../../verify/stream-verifier.js";
import {
  connectPostgres,
  EXTRACT_SESSION_SETTINGS,
  quoteIdent,
  quoteLiteral,
  type PostgresConnectionSettings,
} from "./postgres-connection.js";
import { openSnapshotQueries } from "./postgres-snapshot.js";

/**
 * The source side of `sluice verify`: checksums computed in PostgreSQL, in one read-only
 * REPEATABLE READ transaction with the extractor's session settings (UTC, shortest exact floats),
 * so canonical texts match what was extracted.
 */
export function createPostgresVerifier(settings: PostgresConnectionSettings): StreamVerifier {
  const snapshot = openSnapshotQueries(async () => {
    const c = await connectPostgres(settings, "sluice verify");
    await c.query(EXTRACT_SESSION_SETTINGS);
    return c;
  });
  return new SqlStreamVerifier({
    dialect: "postgres",
    quote: quoteIdent,
    query: (sql) => snapshot.query(sql),
    table: async (schema) => {
      const found = await snapshot.query(
        `SELECT 1 FROM pg_class r JOIN pg_namespace n ON n.oid = r.relnamespace WHERE n.nspname = ${quoteLiteral(schema.sourceSchema)} AND r.relname = ${quoteLiteral(schema.sourceTable)}`,
      );
      if (found.length === 0) return undefined;
      return {
        name: `${schema.sourceSchema}.${schema.sourceTable}`,
        quoted: `${quoteIdent(schema.sourceSchema)}.${quoteIdent(schema.sourceTable)}`,
        softDeletes: false,
      };
    },
    close: () => snapshot.close(),
  });
}
