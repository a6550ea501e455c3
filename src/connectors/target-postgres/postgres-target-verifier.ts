import type pg from "pg";
import type { StreamSchema } from "../column-type.js";
import { SqlStreamVerifier, type StreamVerifier } from "../../verify/stream-verifier.js";
import { quoteIdent } from "../tap-postgres/postgres-connection.js";
import { openSnapshotQueries } from "../tap-postgres/postgres-snapshot.js";

/**
 * The warehouse side of `sluice verify` for target-postgres: the table the loader writes
 * (`default_target_schema` or the source schema, `table_prefix` + source table), rows with
 * `_sdc_deleted_at` set left out. Hashes are computed in the warehouse with the same SQL as the
 * source's (dialect `postgres`), under the same session settings (UTC, shortest exact floats),
 * in one REPEATABLE READ snapshot so every range is checked against the same rows.
 */
export function createPostgresTargetVerifier(options: {
  /** A connection with the loader's session settings. */
  connect: () => Promise<pg.Client>;
  tableOf: (schema: StreamSchema) => { schema: string; table: string };
}): StreamVerifier {
  const { query, close } = openSnapshotQueries(options.connect);
  return new SqlStreamVerifier({
    dialect: "postgres",
    quote: quoteIdent,
    query: (sql) => query(sql),
    table: async (schema) => {
      const { schema: schemaName, table } = options.tableOf(schema);
      const columns = await query(
        `SELECT a.attname AS c FROM pg_attribute a JOIN pg_class r ON r.oid = a.attrelid JOIN pg_namespace n ON n.oid = r.relnamespace
          WHERE n.nspname = $1 AND r.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped`,
        [schemaName, table],
      );
      if (columns.length === 0) return undefined;
      return {
        name: `${schemaName}.${table}`,
        quoted: `${quoteIdent(schemaName)}.${quoteIdent(table)}`,
        softDeletes: columns.some((c) => c.c === "_sdc_deleted_at"),
      };
    },
    close,
  });
}
