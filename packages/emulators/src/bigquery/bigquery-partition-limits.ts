import type { DuckDBConnection } from "@duckdb/node-api";
import { invalid } from "./bigquery-api-error.js";
import type { BigQueryCatalog } from "./bigquery-catalog.js";
import { duckdbSchema, quoteIdent } from "./bigquery-types.js";

const UNIT: Record<string, string> = { HOUR: "hour", DAY: "day", MONTH: "month", YEAR: "year" };

/** Each partition of a column-partitioned table: its row count and a hash of its rows. */
export type PartitionSnapshot = Map<string, string>;

/**
 * The partitions of `dataset.table` before a job writes it, to count after the write what the job
 * modified (bigquery-limits.ts: 4,000 partitions modified per job, 10,000 per table). Undefined
 * for a table not partitioned on a column.
 */
export async function partitionSnapshot(
  catalog: BigQueryCatalog,
  connection: DuckDBConnection,
  datasetId: string,
  tableId: string,
): Promise<PartitionSnapshot | undefined> {
  const table = catalog.findTable(datasetId, tableId);
  const field = table?.timePartitioning?.field;
  const unit = UNIT[(table?.timePartitioning?.type ?? "DAY").toUpperCase()];
  if (!table || !field || !unit || table.schema.length === 0) return undefined;
  const columns = table.schema.map((f) => quoteIdent(f.name)).join(", ");
  const reader = await connection.runAndReadAll(
    `SELECT CAST(date_trunc('${unit}', ${quoteIdent(field)}) AS VARCHAR), CAST(count(*) AS VARCHAR) || ':' || CAST(sum(hash(${columns})) AS VARCHAR)
     FROM ${quoteIdent(duckdbSchema(datasetId))}.${quoteIdent(tableId)} GROUP BY 1`,
  );
  return new Map(reader.getRows().map((row) => [String(row[0]), String(row[1])]));
}

/** After a job's write, before its commit: refuses a job past the partition limits. */
export async function checkPartitionLimits(
  catalog: BigQueryCatalog,
  connection: DuckDBConnection,
  datasetId: string,
  tableId: string,
  before: PartitionSnapshot | undefined,
): Promise<void> {
  if (!before) return;
  const after =
    (await partitionSnapshot(catalog, connection, datasetId, tableId)) ?? new Map<string, string>();
  let modified = 0;
  for (const [partition, digest] of after) if (before.get(partition) !== digest) modified++;
  for (const partition of before.keys()) if (!after.has(partition)) modified++;
  const { partitionsModifiedPerJob, partitionsPerTable } = catalog.quotas.limits;
  if (modified > partitionsModifiedPerJob) {
    throw invalid(
      `Too many partitions produced by query, allowed ${partitionsModifiedPerJob}, query produces at least ${modified} partitions`,
    );
  }
  if (after.size > partitionsPerTable) {
    throw invalid(
      `Too many partitions in table ${catalog.projectId}:${datasetId}.${tableId}: allowed ${partitionsPerTable}, the job would leave ${after.size}`,
    );
  }
}
