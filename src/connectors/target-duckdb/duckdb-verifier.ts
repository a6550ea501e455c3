import type { DuckDBConnection } from "@duckdb/node-api";
import type { StreamSchema } from "../column-type.js";
import { SqlStreamVerifier, type StreamVerifier } from "../../verify/stream-verifier.js";
import { duckdbLiteral, quoteDuckdb } from "./duckdb-types.js";

/**
 * The warehouse side of `sluice verify` for target-duckdb: the table the loader writes
 * (`default_target_schema` or the source schema, `table_prefix` + source table), rows with
 * `_sdc_deleted_at` set left out.
 */
export function createDuckdbVerifier(options: {
  connect: () => Promise<DuckDBConnection>;
  tableOf: (schema: StreamSchema) => { schema: string; table: string };
}): StreamVerifier {
  let connection: Promise<DuckDBConnection> | undefined;
  const query = async (sql: string): Promise<Record<string, unknown>[]> => {
    connection ??= options.connect();
    return (await (await connection).runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
  };
  return new SqlStreamVerifier({
    dialect: "duckdb",
    quote: quoteDuckdb,
    query,
    table: async (schema) => {
      const { schema: schemaName, table } = options.tableOf(schema);
      const columns = await query(
        `SELECT column_name AS c FROM duckdb_columns() WHERE schema_name = ${duckdbLiteral(schemaName)} AND table_name = ${duckdbLiteral(table)}`,
      );
      if (columns.length === 0) return undefined;
      return {
        name: `${schemaName}.${table}`,
        quoted: `${quoteDuckdb(schemaName)}.${quoteDuckdb(table)}`,
        softDeletes: columns.some((c) => c.c === "_sdc_deleted_at"),
      };
    },
    close: async () => {
      if (connection) (await connection).closeSync();
    },
  });
}
