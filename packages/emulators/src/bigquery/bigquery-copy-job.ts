import type { DuckDBConnection } from "@duckdb/node-api";
import { duplicate, invalid, notFound } from "./bigquery-api-error.js";
import { checkPartitionLimits, partitionSnapshot } from "./bigquery-partition-limits.js";
import type { BigQueryCatalog, TableEntry } from "./bigquery-catalog.js";
import { duckdbSchema, findField, quoteIdent, sameType, type TableFieldSchema } from "./bigquery-types.js";

/** The parts of `configuration.copy` the emulator reads. */
export interface CopyConfiguration {
  sourceTable?: TableReference;
  sourceTables?: TableReference[];
  destinationTable?: TableReference;
  writeDisposition?: string;
  createDisposition?: string;
}

interface TableReference {
  projectId?: string;
  datasetId?: string;
  tableId?: string;
}

/**
 * A copy job, atomic as BigQuery's: the destination takes the source's rows (and, on
 * WRITE_TRUNCATE or creation, its schema) in one transaction, or is left as it was.
 */
export async function runCopyJob(
  catalog: BigQueryCatalog,
  c: DuckDBConnection,
  config: CopyConfiguration,
): Promise<Record<string, unknown>> {
  const sources = config.sourceTables ?? (config.sourceTable ? [config.sourceTable] : []);
  const destination = config.destinationTable;
  if (sources.length === 0 || !destination?.datasetId || !destination.tableId) {
    throw invalid("Copy configuration must specify source and destination tables");
  }
  const source = catalog.table(sources[0]!.datasetId ?? "", sources[0]!.tableId ?? "");
  const sourceDataset = sources[0]!.datasetId!;
  for (const other of sources.slice(1)) {
    const t = catalog.table(other.datasetId ?? "", other.tableId ?? "");
    if (!sameSchema(t.schema, source.schema)) {
      throw invalid(
        `Copy sources must have the same schema: ${other.tableId} differs from ${source.tableId}`,
      );
    }
  }
  const where = `${catalog.projectId}:${destination.datasetId}.${destination.tableId}`;
  catalog.quotas.chargeTable(`${destination.datasetId}.${destination.tableId}`, "job-output");
  const writeDisposition = config.writeDisposition ?? "WRITE_EMPTY";
  const existing = catalog.findTable(destination.datasetId, destination.tableId);
  if (!existing && config.createDisposition === "CREATE_NEVER") throw notFound(`Table ${where}`);
  const snapshot = existing ? structuredClone(existing) : undefined;
  const destName = `${quoteIdent(duckdbSchema(destination.datasetId))}.${quoteIdent(destination.tableId)}`;
  await c.run("BEGIN TRANSACTION");
  try {
    if (existing) {
      if (!samePartitioning(existing, source)) {
        throw invalid(
          `Incompatible table partitioning specification. Expects partitioning specification ${partitioningText(existing)}, but input partitioning specification is ${partitioningText(source)}`,
        );
      }
      if (writeDisposition === "WRITE_EMPTY") {
        const n = Number((await c.runAndReadAll(`SELECT count(*) FROM ${destName}`)).getRows()[0]?.[0] ?? 0);
        if (n > 0) throw duplicate(`Table ${where}`);
      }
      if (writeDisposition === "WRITE_TRUNCATE") {
        await catalog.createTable(
          c,
          destination.datasetId,
          { ...existing, schema: source.schema },
          { replace: true },
        );
      } else if (!sameSchema(existing.schema, source.schema)) {
        const missing = existing.schema.find((f) => !findField(source.schema, f.name));
        const added = source.schema.find((f) => !findField(existing.schema, f.name));
        const changed = source.schema.find((f) => {
          const old = findField(existing.schema, f.name);
          return old && !sameType(old, f);
        });
        throw invalid(
          `Provided Schema does not match Table ${where}. ${
            missing
              ? `Field ${missing.name} is missing in new schema`
              : added
                ? `Cannot add fields (field: ${added.name})`
                : changed
                  ? `Field ${changed.name} has changed type`
                  : "Field modes differ"
          }`,
        );
      }
    } else {
      await catalog.createTable(c, destination.datasetId, {
        tableId: destination.tableId,
        schema: source.schema,
        ...(source.timePartitioning ? { timePartitioning: source.timePartitioning } : {}),
        ...(source.clustering ? { clustering: source.clustering } : {}),
      });
    }
    const partitions = await partitionSnapshot(catalog, c, destination.datasetId, destination.tableId);
    const columns = source.schema.map((f) => quoteIdent(f.name)).join(", ");
    let copied = 0;
    for (const s of sources) {
      const r = await c.run(
        `INSERT INTO ${destName} (${columns}) SELECT ${columns} FROM ${quoteIdent(duckdbSchema(s.datasetId ?? sourceDataset))}.${quoteIdent(s.tableId!)}`,
      );
      copied += r.rowsChanged;
    }
    await checkPartitionLimits(catalog, c, destination.datasetId, destination.tableId, partitions);
    await c.run("COMMIT");
    catalog.table(destination.datasetId, destination.tableId).lastModifiedTime = String(catalog.now());
    catalog.quotas.recordJobOutput(`${destination.datasetId}.${destination.tableId}`);
    await catalog.persist(c);
    return { copiedRows: String(copied), copiedLogicalBytes: "0" };
  } catch (error) {
    await c.run("ROLLBACK");
    if (snapshot) catalog.dataset(destination.datasetId).tables.set(destination.tableId, snapshot);
    else catalog.forgetTable(destination.datasetId, destination.tableId);
    throw error;
  }
}

function sameSchema(a: readonly TableFieldSchema[], b: readonly TableFieldSchema[]): boolean {
  return (
    a.length === b.length &&
    a.every((f, i) => {
      const g = b[i]!;
      return (
        f.name.toLowerCase() === g.name.toLowerCase() &&
        sameType(f, g) &&
        (f.mode ?? "NULLABLE") === (g.mode ?? "NULLABLE")
      );
    })
  );
}

function samePartitioning(a: TableEntry, b: TableEntry): boolean {
  return partitioningText(a) === partitioningText(b);
}

function partitioningText(t: TableEntry): string {
  const p = t.timePartitioning;
  return p ? `interval(type:${p.type.toLowerCase()}${p.field ? `,field:${p.field}` : ""})` : "none";
}
