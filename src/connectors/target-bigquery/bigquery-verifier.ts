import type { StreamSchema } from "../column-type.js";
import { SqlStreamVerifier, type StreamVerifier } from "../../verify/stream-verifier.js";
import type { BigqueryClient } from "./bigquery-client.js";
import { quoteColumn, quoteTable } from "./bigquery-names.js";

/**
 * The warehouse side of `sluice verify` for target-bigquery: GoogleSQL over the table the loader
 * writes (named as `bigquery-names.ts` names it, columns renamed as the loader renamed them),
 * rows with `_sdc_deleted_at` set left out. Every query is a query job, so the checksums are
 * computed in BigQuery.
 */
export function createBigqueryVerifier(options: {
  api: () => Promise<BigqueryClient>;
  projectId: string;
  datasetId: string;
  tableOf: (schema: StreamSchema) => string;
  /** Source column → BigQuery column, for a stream. */
  columnNamesOf: (schema: StreamSchema) => Map<string, string>;
}): StreamVerifier {
  let names = new Map<string, string>();
  return new SqlStreamVerifier({
    dialect: "bigquery",
    quote: (name) => quoteColumn(names.get(name) ?? name),
    query: async (sql) => (await options.api()).query(sql, "verify: checksums"),
    table: async (schema) => {
      names = options.columnNamesOf(schema);
      const table = options.tableOf(schema);
      const fields = await (await options.api()).tableFields(table);
      if (fields === undefined) return undefined;
      return {
        name: `${options.projectId}.${options.datasetId}.${table}`,
        quoted: quoteTable(options.projectId, options.datasetId, table),
        softDeletes: fields.some((f) => f.name === "_sdc_deleted_at"),
      };
    },
    close: () => Promise.resolve(),
  });
}
