import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { BigQueryApiError, duplicate, invalid, notFound } from "./bigquery-api-error.js";
import { validateDatasetId, validateTableId } from "./bigquery-names.js";
import { BigQueryClock, BigQueryQuotas } from "./bigquery-quotas.js";
import { fieldOfDuckdbType } from "./bigquery-rows.js";
import {
  duckdbColumns,
  duckdbType,
  findField,
  normalizeSchema,
  duckdbSchema,
  quoteIdent,
  sameType,
  type TableFieldSchema,
} from "./bigquery-types.js";

export interface TimePartitioning {
  type: string;
  field?: string;
  expirationMs?: string;
  requirePartitionFilter?: boolean;
}

export interface TableEntry {
  tableId: string;
  schema: TableFieldSchema[];
  timePartitioning?: TimePartitioning;
  clustering?: { fields: string[] };
  description?: string;
  labels?: Record<string, string>;
  friendlyName?: string;
  expirationTime?: string;
  /** `PRIMARY KEY (...) NOT ENFORCED`: what change data capture on the default stream keys on. */
  tableConstraints?: { primaryKey?: { columns: string[] } };
  /** The REST API's IntervalValue text (`0-0 0 0:15:0`): how stale a query of CDC changes may be. */
  maxStaleness?: string;
  creationTime: string;
  lastModifiedTime: string;
}

export interface DatasetEntry {
  datasetId: string;
  location: string;
  description?: string;
  labels?: Record<string, string>;
  friendlyName?: string;
  defaultTableExpirationMs?: string;
  creationTime: string;
  lastModifiedTime: string;
  tables: Map<string, TableEntry>;
}

/** Where the catalog is kept in a persistent database file; a name no dataset can have (a dash). */
const CATALOG_SCHEMA = '"bq-emulator"';

const PARTITION_TYPES = new Set(["DAY", "HOUR", "MONTH", "YEAR"]);
const CLUSTERING_TYPES = new Set([
  "STRING",
  "INTEGER",
  "NUMERIC",
  "BIGNUMERIC",
  "BOOLEAN",
  "DATE",
  "DATETIME",
  "TIMESTAMP",
  "GEOGRAPHY",
]);

/**
 * The emulator's datasets and tables. Each dataset is a DuckDB schema and each table a DuckDB
 * table; the BigQuery schema of every table (which DuckDB types cannot say alone: BIGNUMERIC,
 * GEOGRAPHY, REQUIRED, partitioning, clustering) is kept here, and in the database file when there
 * is one. Every use of DuckDB goes through `exclusive`, one at a time, so a job sees no other job's
 * half-done transaction.
 */
export class BigQueryCatalog {
  readonly datasets = new Map<string, DatasetEntry>();
  private queue: Promise<unknown> = Promise.resolve();
  /** The time the emulator lives in (table expiration, quotas): real time unless a test moves it. */
  readonly clock = new BigQueryClock();
  /** BigQuery's quotas, counted on `clock`; the emulator replaces them with the limits it was given. */
  quotas = new BigQueryQuotas(this.clock);

  /** Now, on the emulator's clock (ms since the epoch). */
  now(): number {
    return this.clock.now();
  }

  /**
   * What the Storage Write API server (storage-write/) needs told: a DML statement is about to
   * run (it must see pending CDC changes applied), a table was dropped or replaced.
   */
  readonly hooks: {
    beforeDml?: (connection: DuckDBConnection) => Promise<void>;
    /** Whether the table received CDC changes on its default stream (mutating DML is refused there). */
    isCdcTable?: (datasetId: string, tableId: string) => boolean;
    tableGone?: (datasetId: string, tableId: string) => void;
  } = {};

  private constructor(
    private readonly instance: DuckDBInstance,
    readonly connection: DuckDBConnection,
    readonly projectId: string,
    private readonly persistent: boolean,
  ) {}

  static async open(options: { projectId: string; dataFile?: string }): Promise<BigQueryCatalog> {
    const instance = await DuckDBInstance.create(options.dataFile ?? ":memory:", { threads: "2" });
    const connection = await instance.connect();
    // Timestamps are read and written as UTC microseconds; the zone only matters for casts of
    // text without an offset. NOTE: without the icu extension DuckDB is in UTC already.
    await connection.run("SET TimeZone = 'UTC'").catch(() => undefined);
    const catalog = new BigQueryCatalog(
      instance,
      connection,
      options.projectId,
      options.dataFile !== undefined,
    );
    if (catalog.persistent) await catalog.load();
    return catalog;
  }

  private expired(table: TableEntry): boolean {
    return table.expirationTime !== undefined && Number(table.expirationTime) <= this.now();
  }

  /** Runs `work` when every earlier piece of work has finished. */
  exclusive<T>(work: (connection: DuckDBConnection) => Promise<T>): Promise<T> {
    const next = this.queue.then(async () => {
      await this.dropExpired(this.connection);
      return work(this.connection);
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  async close(): Promise<void> {
    await this.queue;
    if (this.persistent) await this.connection.run("CHECKPOINT");
    this.connection.closeSync();
    this.instance.closeSync();
  }

  checkProject(projectId: string): void {
    if (projectId !== this.projectId) {
      throw new BigQueryApiError(404, "notFound", `Not found: Project ${projectId}`);
    }
  }

  dataset(datasetId: string): DatasetEntry {
    const dataset = this.datasets.get(datasetId);
    if (!dataset) throw notFound(`Dataset ${this.projectId}:${datasetId}`);
    return dataset;
  }

  table(datasetId: string, tableId: string): TableEntry {
    const dataset = this.datasets.get(datasetId);
    if (!dataset) throw notFound(`Dataset ${this.projectId}:${datasetId}`);
    const table = dataset.tables.get(tableId);
    if (!table || this.expired(table)) throw notFound(`Table ${this.projectId}:${datasetId}.${tableId}`);
    return table;
  }

  findTable(datasetId: string, tableId: string): TableEntry | undefined {
    const table = this.datasets.get(datasetId)?.tables.get(tableId);
    return table && !this.expired(table) ? table : undefined;
  }

  /** The tables of a dataset that have not expired. */
  tables(datasetId: string): TableEntry[] {
    return [...this.dataset(datasetId).tables.values()].filter((t) => !this.expired(t));
  }

  /** Drops tables whose expirationTime has passed, as BigQuery deletes them. */
  private async dropExpired(connection: DuckDBConnection): Promise<void> {
    for (const dataset of this.datasets.values()) {
      for (const table of [...dataset.tables.values()]) {
        if (!this.expired(table)) continue;
        await connection.run(
          `DROP TABLE IF EXISTS ${quoteIdent(duckdbSchema(dataset.datasetId))}.${quoteIdent(table.tableId)}`,
        );
        dataset.tables.delete(table.tableId);
      }
    }
  }

  async createDataset(
    connection: DuckDBConnection,
    input: Omit<DatasetEntry, "tables" | "creationTime" | "lastModifiedTime">,
  ): Promise<DatasetEntry> {
    validateDatasetId(input.datasetId);
    if (this.datasets.has(input.datasetId)) throw duplicate(`Dataset ${this.projectId}:${input.datasetId}`);
    // NOTE: DuckDB schema names are case-insensitive, BigQuery dataset IDs are not.
    const clash = [...this.datasets.keys()].find((d) => d.toLowerCase() === input.datasetId.toLowerCase());
    if (clash !== undefined) {
      throw new BigQueryApiError(
        501,
        "notImplemented",
        `The emulator cannot hold datasets ${clash} and ${input.datasetId}, whose names differ only in case`,
      );
    }
    await connection.run(`CREATE SCHEMA ${quoteIdent(duckdbSchema(input.datasetId))}`);
    const now = String(this.now());
    const entry: DatasetEntry = { ...input, creationTime: now, lastModifiedTime: now, tables: new Map() };
    this.datasets.set(input.datasetId, entry);
    await this.persist(connection);
    return entry;
  }

  async deleteDataset(
    connection: DuckDBConnection,
    datasetId: string,
    deleteContents: boolean,
  ): Promise<void> {
    const dataset = this.dataset(datasetId);
    if (dataset.tables.size > 0 && !deleteContents) {
      throw new BigQueryApiError(
        400,
        "resourceInUse",
        `Dataset ${this.projectId}:${datasetId} is still in use`,
      );
    }
    await connection.run(`DROP SCHEMA ${quoteIdent(duckdbSchema(datasetId))} CASCADE`);
    this.datasets.delete(datasetId);
    await this.persist(connection);
  }

  /** Validates a table resource (names, schema, partitioning, clustering) and creates the DuckDB table. */
  async createTable(
    connection: DuckDBConnection,
    datasetId: string,
    input: Omit<TableEntry, "creationTime" | "lastModifiedTime">,
    options: { replace?: boolean } = {},
  ): Promise<TableEntry> {
    const dataset = this.dataset(datasetId);
    validateTableId(input.tableId);
    const where = `${this.projectId}:${datasetId}.${input.tableId}`;
    const existing = dataset.tables.get(input.tableId);
    if (existing && !options.replace) throw duplicate(`Table ${where}`);
    checkPartitioning(input.schema, input.timePartitioning, input.clustering);
    const columns = duckdbColumns(input.schema);
    const name = `${quoteIdent(duckdbSchema(datasetId))}.${quoteIdent(input.tableId)}`;
    // A table without columns is legal in BigQuery (the schema comes with the first load).
    const ddl = columns ? columns : `"__emulator_no_columns" INTEGER`;
    await connection.run(`CREATE ${options.replace ? "OR REPLACE " : ""}TABLE ${name} (${ddl})`);
    if (existing) this.hooks.tableGone?.(datasetId, input.tableId);
    const now = String(this.now());
    const entry: TableEntry = {
      ...input,
      creationTime: existing && options.replace ? now : now,
      lastModifiedTime: now,
    };
    dataset.tables.set(input.tableId, entry);
    await this.persist(connection);
    return entry;
  }

  async dropTable(connection: DuckDBConnection, datasetId: string, tableId: string): Promise<void> {
    this.table(datasetId, tableId);
    await connection.run(`DROP TABLE ${quoteIdent(duckdbSchema(datasetId))}.${quoteIdent(tableId)}`);
    this.dataset(datasetId).tables.delete(tableId);
    this.hooks.tableGone?.(datasetId, tableId);
    await this.persist(connection);
  }

  /**
   * Brings a table's schema to `next`, as tables.patch or a load with schemaUpdateOptions may:
   * adding NULLABLE/REPEATED columns and relaxing REQUIRED to NULLABLE. Everything else BigQuery
   * rejects, and so does this.
   */
  async evolveSchema(
    connection: DuckDBConnection,
    datasetId: string,
    tableId: string,
    next: readonly TableFieldSchema[],
    allow: { addition: boolean; relaxation: boolean },
  ): Promise<void> {
    const table = this.table(datasetId, tableId);
    const where = `${this.projectId}:${datasetId}.${tableId}`;
    const mismatch = (detail: string): BigQueryApiError =>
      invalid(`Provided Schema does not match Table ${where}. ${detail}`);
    const statements: string[] = [];
    const name = `${quoteIdent(duckdbSchema(datasetId))}.${quoteIdent(tableId)}`;
    for (const old of table.schema) {
      const field = findField(next, old.name);
      if (!field) throw mismatch(`Field ${old.name} is missing in new schema`);
      if (!sameType(old, field)) {
        throw mismatch(`Field ${old.name} has changed type from ${old.type} to ${field.type}`);
      }
      const oldMode = old.mode ?? "NULLABLE";
      const newMode = field.mode ?? "NULLABLE";
      if (oldMode !== newMode) {
        if (oldMode === "REQUIRED" && newMode === "NULLABLE" && allow.relaxation) {
          statements.push(`ALTER TABLE ${name} ALTER COLUMN ${quoteIdent(old.name)} DROP NOT NULL`);
        } else {
          throw mismatch(`Field ${old.name} has changed mode from ${oldMode} to ${newMode}`);
        }
      }
    }
    const added = next.filter((f) => !findField(table.schema, f.name));
    for (const field of added) {
      if (!allow.addition) throw mismatch(`Cannot add fields (field: ${field.name})`);
      if (field.mode === "REQUIRED") {
        throw mismatch(`Cannot add required fields to an existing schema. (field: ${field.name})`);
      }
      statements.push(`ALTER TABLE ${name} ADD COLUMN ${quoteIdent(field.name)} ${duckdbType(field)}`);
    }
    if (table.schema.length === 0 && added.length > 0) {
      statements.push(`ALTER TABLE ${name} DROP COLUMN "__emulator_no_columns"`);
    }
    for (const statement of statements) await connection.run(statement);
    table.schema = table.schema.map((old) => ({
      ...old,
      mode: findField(next, old.name)!.mode ?? "NULLABLE",
    }));
    table.schema.push(...added.map((f) => ({ ...f, mode: f.mode ?? "NULLABLE" })));
    // Descriptions may change freely.
    for (const field of table.schema) {
      const description = findField(next, field.name)?.description;
      if (description !== undefined) field.description = description;
    }
    table.lastModifiedTime = String(this.now());
    await this.persist(connection);
  }

  /**
   * Re-reads a table's columns from DuckDB after SQL changed them (CREATE TABLE, ALTER TABLE),
   * keeping the BigQuery type of each column the catalog or the statement already knew.
   */
  async refreshTable(
    connection: DuckDBConnection,
    datasetId: string,
    tableId: string,
    hints: readonly TableFieldSchema[],
    extra: Partial<Pick<TableEntry, "timePartitioning" | "clustering">> = {},
  ): Promise<void> {
    const dataset = this.dataset(datasetId);
    const name = `${quoteIdent(duckdbSchema(datasetId))}.${quoteIdent(tableId)}`;
    const result = await connection.runAndReadAll(`SELECT * FROM ${name} LIMIT 0`);
    const nullable = await connection.runAndReadAll(
      `SELECT column_name, is_nullable FROM duckdb_columns() WHERE schema_name = $schema AND table_name = $table`,
      { schema: duckdbSchema(datasetId), table: tableId },
    );
    const notNull = new Set(
      nullable
        .getRows()
        .filter((r) => r[1] === false)
        .map((r) => String(r[0]).toLowerCase()),
    );
    const previous = dataset.tables.get(tableId);
    const schema: TableFieldSchema[] = [];
    for (let i = 0; i < result.columnCount; i++) {
      const column = result.columnName(i);
      if (column === "__emulator_no_columns") continue;
      const hint = findField(hints, column) ?? (previous ? findField(previous.schema, column) : undefined);
      const field = fieldOfDuckdbType(column, result.columnType(i), hint, notNull.has(column.toLowerCase()));
      if (hint?.description !== undefined) field.description = hint.description;
      if (notNull.has(column.toLowerCase()) && field.mode === "NULLABLE") field.mode = "REQUIRED";
      schema.push(field);
    }
    const now = String(this.now());
    const entry: TableEntry = previous
      ? { ...previous, schema, lastModifiedTime: now }
      : { tableId, schema, creationTime: now, lastModifiedTime: now };
    if (extra.timePartitioning !== undefined) entry.timePartitioning = extra.timePartitioning;
    if (extra.clustering !== undefined) entry.clustering = extra.clustering;
    dataset.tables.set(tableId, entry);
    await this.persist(connection);
  }

  forgetTable(datasetId: string, tableId: string): void {
    this.datasets.get(datasetId)?.tables.delete(tableId);
  }

  async persist(connection: DuckDBConnection): Promise<void> {
    if (!this.persistent) return;
    const datasets = [...this.datasets.values()].map((d) => ({ ...d, tables: [...d.tables.values()] }));
    await connection.run(`CREATE SCHEMA IF NOT EXISTS ${CATALOG_SCHEMA}`);
    await connection.run(`CREATE OR REPLACE TABLE ${CATALOG_SCHEMA}.catalog AS SELECT $json AS json`, {
      json: JSON.stringify(datasets),
    });
  }

  private async load(): Promise<void> {
    const exists = await this.connection.runAndReadAll(
      `SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'bq-emulator' AND table_name = 'catalog'`,
    );
    if (Number(exists.getRows()[0]?.[0] ?? 0) === 0) return;
    const result = await this.connection.runAndReadAll(`SELECT json FROM ${CATALOG_SCHEMA}.catalog`);
    const text = String(result.getRows()[0]?.[0] ?? "[]");
    const datasets = JSON.parse(text) as (Omit<DatasetEntry, "tables"> & { tables: TableEntry[] })[];
    for (const d of datasets) {
      this.datasets.set(d.datasetId, { ...d, tables: new Map(d.tables.map((t) => [t.tableId, t])) });
    }
  }
}

/** BigQuery's checks of `timePartitioning` and `clustering` against the schema. */
export function checkPartitioning(
  schema: readonly TableFieldSchema[],
  timePartitioning: TimePartitioning | undefined,
  clustering: { fields: string[] } | undefined,
): void {
  if (timePartitioning) {
    const type = String(timePartitioning.type ?? "DAY").toUpperCase();
    if (!PARTITION_TYPES.has(type)) {
      throw invalid(`Invalid value for type: ${String(timePartitioning.type)} is not a valid value`);
    }
    timePartitioning.type = type;
    if (timePartitioning.field !== undefined) {
      const field = findField(schema, timePartitioning.field);
      if (!field) {
        throw invalid(
          `The field specified for time partitioning can only be of type TIMESTAMP, DATE or DATETIME. The field ${timePartitioning.field} was not found in the schema.`,
        );
      }
      if (!["DATE", "TIMESTAMP", "DATETIME"].includes(field.type) || field.mode === "REPEATED") {
        throw invalid(
          `The field specified for time partitioning can only be of type TIMESTAMP, DATE or DATETIME. The type found is: ${field.mode === "REPEATED" ? "ARRAY" : field.type}.`,
        );
      }
      if (field.type === "DATE" && type === "HOUR") {
        throw invalid(`Partitioning by HOUR is not supported for DATE field ${field.name}.`);
      }
    }
  }
  if (clustering) {
    const fields = clustering.fields ?? [];
    if (!Array.isArray(fields) || fields.length === 0) throw invalid("Clustering fields cannot be empty");
    if (fields.length > 4) {
      throw invalid(
        `Too many clustering fields: ${fields.length}. Only up to 4 clustering fields are allowed.`,
      );
    }
    for (const name of fields) {
      const field = findField(schema, name);
      if (!field) {
        throw invalid(
          `The field specified for clustering cannot be found in the schema.  Invalid field: ${name}.`,
        );
      }
      if (!CLUSTERING_TYPES.has(field.type) || field.mode === "REPEATED") {
        throw invalid(
          `Field ${name} is of type ${field.mode === "REPEATED" ? "ARRAY" : field.type} which is not supported for clustering`,
        );
      }
    }
  }
}

/** A table resource's schema from a request body (`schema.fields`), normalized. */
export function schemaOfResource(resource: Record<string, unknown>, where: string): TableFieldSchema[] {
  const schema = resource.schema as { fields?: unknown } | undefined;
  if (schema === undefined || schema.fields === undefined) return [];
  return normalizeSchema(schema.fields, where);
}
