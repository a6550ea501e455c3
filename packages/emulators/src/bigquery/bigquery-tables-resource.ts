import { BigQueryApiError, invalid } from "./bigquery-api-error.js";
import {
  checkPartitioning,
  schemaOfResource,
  type BigQueryCatalog,
  type TableEntry,
} from "./bigquery-catalog.js";
import { etag } from "./bigquery-http.js";
import { duckdbSchema, findField, quoteIdent, type TableFieldSchema } from "./bigquery-types.js";
import { maxStalenessMs } from "./storage-write/cdc-changes.js";

/** The REST resource `tables`: get, list, insert, patch/update, delete. */
export class TablesResource {
  /** `url` is the emulator's, known once it listens. */
  constructor(
    private readonly catalog: BigQueryCatalog,
    private readonly url: () => string,
  ) {}

  async get(datasetId: string, tableId: string): Promise<Record<string, unknown>> {
    return this.resource(datasetId, this.catalog.table(datasetId, tableId));
  }

  list(datasetId: string, query: URLSearchParams): Record<string, unknown> {
    const tables = this.catalog.tables(datasetId);
    const start = Number(query.get("pageToken") ?? 0);
    const max = Number(query.get("maxResults") ?? 1000);
    const page = tables.slice(start, start + max);
    return {
      kind: "bigquery#tableList",
      etag: etag(String(tables.length)),
      tables: page.map((t) => this.summary(datasetId, t)),
      totalItems: tables.length,
      ...(start + max < tables.length ? { nextPageToken: String(start + max) } : {}),
    };
  }

  async insert(datasetId: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const reference = (body.tableReference ?? {}) as {
      tableId?: string;
      datasetId?: string;
      projectId?: string;
    };
    if (!reference.tableId) throw invalid("Missing required field: tableReference.tableId.");
    if (body.view !== undefined || body.materializedView !== undefined) {
      throw new BigQueryApiError(501, "notImplemented", "The emulator does not implement views");
    }
    if (body.rangePartitioning !== undefined) {
      throw new BigQueryApiError(501, "notImplemented", "The emulator does not implement range partitioning");
    }
    const where = `${this.catalog.projectId}:${datasetId}.${reference.tableId}`;
    const schema = schemaOfResource(body, where);
    this.catalog.quotas.chargeTable(`${datasetId}.${reference.tableId}`, "metadata");
    const entry = await this.catalog.exclusive((c) =>
      this.catalog.createTable(c, datasetId, {
        tableId: reference.tableId!,
        schema,
        ...(body.timePartitioning !== undefined
          ? { timePartitioning: { ...(body.timePartitioning as TableEntry["timePartitioning"])! } }
          : {}),
        ...(body.clustering !== undefined ? { clustering: body.clustering as { fields: string[] } } : {}),
        ...(typeof body.description === "string" ? { description: body.description } : {}),
        ...(typeof body.friendlyName === "string" ? { friendlyName: body.friendlyName } : {}),
        ...(body.labels !== undefined ? { labels: body.labels as Record<string, string> } : {}),
        ...(body.expirationTime !== undefined ? { expirationTime: String(body.expirationTime) } : {}),
        ...tableCdcOptions(body, schema, where),
      }),
    );
    return this.resource(datasetId, entry);
  }

  async update(
    datasetId: string,
    tableId: string,
    body: Record<string, unknown>,
    method: string,
  ): Promise<Record<string, unknown>> {
    await this.catalog.exclusive(async (c) => {
      const table = this.catalog.table(datasetId, tableId);
      this.catalog.quotas.chargeTable(`${datasetId}.${tableId}`, "metadata");
      const where = `${this.catalog.projectId}:${datasetId}.${tableId}`;
      if (body.schema !== undefined) {
        const next = schemaOfResource(body, where);
        const previous = structuredClone(table.schema);
        await c.run("BEGIN TRANSACTION");
        try {
          await this.catalog.evolveSchema(c, datasetId, tableId, next, { addition: true, relaxation: true });
          await c.run("COMMIT");
        } catch (error) {
          await c.run("ROLLBACK");
          table.schema = previous;
          throw error;
        }
      }
      if (body.timePartitioning !== undefined) {
        const next = body.timePartitioning as TableEntry["timePartitioning"];
        const current = table.timePartitioning;
        if (
          current === undefined ||
          next === undefined ||
          (next.type ?? "DAY") !== current.type ||
          (next.field ?? undefined) !== current.field
        ) {
          throw invalid(`Cannot change partitioning spec for ${where}.`);
        }
        table.timePartitioning = { ...current, ...next };
      }
      if (body.tableConstraints !== undefined || body.maxStaleness !== undefined) {
        const options = tableCdcOptions(body, table.schema, where);
        if (body.tableConstraints !== undefined) table.tableConstraints = options.tableConstraints;
        if (body.maxStaleness !== undefined) table.maxStaleness = options.maxStaleness;
      }
      if (body.clustering !== undefined) {
        const clustering = body.clustering === null ? undefined : (body.clustering as { fields: string[] });
        checkPartitioning(table.schema, undefined, clustering);
        if (clustering) table.clustering = clustering;
        else delete table.clustering;
      }
      for (const key of ["description", "friendlyName", "labels", "expirationTime"] as const) {
        if (key in body) {
          const value = body[key];
          if (value === null || value === undefined) delete table[key];
          else
            (table as unknown as Record<string, unknown>)[key] =
              key === "labels" ? value : String(value as string);
        } else if (method === "PUT" && key !== "expirationTime") {
          delete table[key];
        }
      }
      table.lastModifiedTime = String(this.catalog.now());
      await this.catalog.persist(c);
    });
    return this.resource(datasetId, this.catalog.table(datasetId, tableId));
  }

  async delete(datasetId: string, tableId: string): Promise<void> {
    await this.catalog.exclusive((c) => this.catalog.dropTable(c, datasetId, tableId));
  }

  private async resource(datasetId: string, t: TableEntry): Promise<Record<string, unknown>> {
    const numRows = await this.catalog.exclusive(async (c) => {
      const r = await c.runAndReadAll(
        `SELECT count(*) FROM ${quoteIdent(duckdbSchema(datasetId))}.${quoteIdent(t.tableId)}`,
      );
      return String(r.getRows()[0]?.[0] ?? 0);
    });
    return {
      ...this.summary(datasetId, t),
      etag: etag(t.lastModifiedTime),
      selfLink: `${this.url()}/bigquery/v2/projects/${this.catalog.projectId}/datasets/${datasetId}/tables/${t.tableId}`,
      schema: { fields: t.schema },
      numRows,
      numBytes: "0",
      numLongTermBytes: "0",
      lastModifiedTime: t.lastModifiedTime,
      location: this.catalog.dataset(datasetId).location,
      ...(t.description !== undefined ? { description: t.description } : {}),
    };
  }

  private summary(datasetId: string, t: TableEntry): Record<string, unknown> {
    return {
      kind: "bigquery#table",
      id: `${this.catalog.projectId}:${datasetId}.${t.tableId}`,
      tableReference: { projectId: this.catalog.projectId, datasetId, tableId: t.tableId },
      type: "TABLE",
      creationTime: t.creationTime,
      ...(t.timePartitioning !== undefined ? { timePartitioning: t.timePartitioning } : {}),
      ...(t.clustering !== undefined ? { clustering: t.clustering } : {}),
      ...(t.labels !== undefined ? { labels: t.labels } : {}),
      ...(t.friendlyName !== undefined ? { friendlyName: t.friendlyName } : {}),
      ...(t.expirationTime !== undefined ? { expirationTime: t.expirationTime } : {}),
      ...(t.tableConstraints !== undefined ? { tableConstraints: t.tableConstraints } : {}),
      ...(t.maxStaleness !== undefined ? { maxStaleness: t.maxStaleness } : {}),
    };
  }
}

/**
 * `tableConstraints.primaryKey` (columns the table has, each once) and `maxStaleness` (an
 * IntervalValue, `Y-M D H:M:S`), checked as tables.insert and tables.patch check them.
 */
function tableCdcOptions(
  body: Record<string, unknown>,
  schema: readonly TableFieldSchema[],
  where: string,
): Pick<TableEntry, "tableConstraints" | "maxStaleness"> {
  const options: Pick<TableEntry, "tableConstraints" | "maxStaleness"> = {};
  const constraints = body.tableConstraints as { primaryKey?: { columns?: unknown } } | null | undefined;
  const columns = constraints?.primaryKey?.columns;
  if (columns !== undefined) {
    if (!Array.isArray(columns) || columns.length === 0 || columns.some((c) => typeof c !== "string")) {
      throw invalid(`Invalid primary key for ${where}: columns must be a non-empty list of column names.`);
    }
    const names = columns as string[];
    for (const name of names) {
      if (!findField(schema, name)) throw invalid(`Primary key column ${name} not found in table ${where}.`);
    }
    if (new Set(names.map((n) => n.toLowerCase())).size !== names.length) {
      throw invalid(`Primary key of ${where} names a column twice.`);
    }
    options.tableConstraints = { primaryKey: { columns: names.map((n) => findField(schema, n)!.name) } };
  }
  if (body.maxStaleness !== undefined && body.maxStaleness !== null) {
    const text = String(body.maxStaleness as string);
    if (maxStalenessMs(text) === undefined) {
      throw invalid(
        `Invalid maxStaleness '${text}' for ${where}: expected an interval such as '0-0 0 0:15:0'.`,
      );
    }
    options.maxStaleness = text;
  }
  return options;
}
