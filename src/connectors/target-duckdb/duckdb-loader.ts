import type { DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import { z } from "zod";
import { valueRefusalAdvice } from "../loader-core/value-refusal.js";
import { parseLoaderSettings, type LoaderSettings } from "../loader-core/loader-settings.js";
import { parseSettings } from "../parse-settings.js";
import type { StreamVerifier } from "../../verify/stream-verifier.js";
import { createDuckdbVerifier } from "./duckdb-verifier.js";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ConfigError, DataError, SchemaError } from "../../errors.js";
import type { RecordBatch } from "../batch.js";
import { DELETED_AT_COLUMN, SEQUENCE_COLUMN } from "../batch.js";
import { batchLayout } from "../loader-core/batch-layout.js";
import { planMerge } from "../loader-core/merge-plan.js";
import type { TargetTable } from "../loader-core/distinct-tables.js";
import { mayFillStaging, StreamTable } from "../loader-core/stream-table.js";
import { batchField, isConversionError, readCsvCall } from "./duckdb-batch-read.js";
import { classifyDuckdbError, firstLine } from "./duckdb-errors.js";
import { duckdbMergeStatements, type BatchSelect, type DuckdbMerge } from "./duckdb-merge.js";
import { InsertionOrder } from "./insertion-order.js";
import { DuckdbTables } from "./duckdb-tables.js";
import type { MetadataValue } from "../loader-core/metadata-columns.js";
import type { ColumnType, StreamSchema } from "../column-type.js";
import type { Loader, OpenStreamOptions, PluginConfig, StagingTable, StreamWriter } from "../connector.js";
import {
  csvParseType,
  duckdbConversion,
  duckdbKeptValue,
  duckdbLiteral,
  duckdbType,
  quoteDuckdb,
} from "./duckdb-types.js";
import { duckdbError, duckdbOpenError } from "./duckdb-errors.js";
import { batchMemoryExtra, connectionMemory, SharedMemoryLimit } from "./shared-memory-limit.js";

const ownSettings = z.object({
  path: z.string(),
  default_target_schema: z.string().optional(),
  memory_limit: z.string().default("48MB"),
  threads: z.number().int().positive().optional(),
  parallel_batches: z.number().int().optional(),
});

type TargetDuckdbConfig = z.infer<typeof ownSettings> & { loader: LoaderSettings };

/** target-duckdb's settings, parsed: the shared ones by the loader core, its own here. */
function parseDuckdbSettings(config: PluginConfig): TargetDuckdbConfig {
  return {
    ...parseSettings("target-duckdb", ownSettings, config),
    loader: parseLoaderSettings("target-duckdb", config),
  };
}

/** A metadata value as DuckDB SQL. */
function metadataSql(value: MetadataValue["value"]): string {
  if (value === "now") return "current_timestamp";
  if ("instant" in value) return `TIMESTAMPTZ ${duckdbLiteral(value.instant.toISOString())}`;
  return String(value.integer);
}

/**
 * target-duckdb, built in. Each batch file is read by DuckDB's own CSV reader
 * (`INSERT ... SELECT ... FROM read_csv(...)`), so no value passes through JavaScript.
 * - `replace` streams (FULL_TABLE, or `load_method: overwrite`) fill `<table>__sluice_new` and
 *   swap it in with DROP + RENAME in one transaction when the stream finishes.
 * - `upsert` with a key: each batch is merged in one transaction, set-based: its rows are
 *   grouped by key, the row with the highest `_sdc_sequence` wins, and each field a change did
 *   not carry (`_sdc_unchanged`, see batch.ts) takes the key's latest earlier value in the batch,
 *   else keeps the stored one. A key whose latest row is a delete is removed with `hard_delete`,
 *   else kept with `_sdc_deleted_at` set. A batch without `_sdc_sequence` (not CDC) is ordered by
 *   file order: row i has `sequenceBase + i`.
 * - otherwise rows are appended as they are: CDC rows keep `_sdc_deleted_at`, and fields they did
 *   not carry are NULL (an append-only table is a change log, not a copy of the source).
 * A table gets a `_sdc_deleted_at` column as soon as a batch carries one, with or without
 * `add_metadata_columns`, so that deletes are never lost. `_sdc_sequence` is stored only as the
 * metadata column; `_sdc_unchanged` never is.
 */
export class DuckdbLoader implements Loader {
  private readonly config: TargetDuckdbConfig;
  private readonly file: string;
  /** Set on the first connect, so that streams opened at once share one instance. */
  private instance: Promise<DuckDBInstance> | undefined;
  private readonly insertionOrder = new InsertionOrder();
  /** Tables warned about in this run (see `StreamTableOptions.warned`). */
  private readonly warned = new Set<string>();
  private readonly memoryLimit: SharedMemoryLimit;
  private preparing: Promise<unknown> = Promise.resolve();

  constructor(config: PluginConfig, context: { projectDir: string }) {
    this.config = parseDuckdbSettings(config);
    this.file = path.resolve(context.projectDir, this.config.path);
    this.memoryLimit = new SharedMemoryLimit(this.config.memory_limit);
    const parallel = this.config.parallel_batches;
    if (parallel !== undefined && parallel < 1) {
      throw new ConfigError(`target-duckdb: parallel_batches must be 1 or more, not ${parallel}`);
    }
  }

  /** See `RecordBatch.quote`: DuckDB reads JSON-heavy batches about four times faster with it. */
  readonly preferredCsvQuote = "\x01";
  /**
   * See `RecordBatch.format`: PostgreSQL writes COPY text with less work than CSV, and DuckDB's
   * reader splits it without quote handling; the few fields with a backslash are unescaped in SQL.
   */
  readonly readsCopyText = true;
  /** See `Loader.retryableWrites`: a batch is one statement or one transaction, rolled back when it fails. */
  readonly retryableWrites = true;

  /** Where the database file is, for messages. */
  get databasePath(): string {
    return this.file;
  }

  private async connect(): Promise<DuckDBConnection> {
    // NOTE: two instances on one file (two streams opened at once, each creating one) lose one
    // instance's tables without an error.
    this.instance ??= this.open().catch((error: unknown) => {
      this.instance = undefined;
      throw error;
    });
    return (await this.instance).connect();
  }

  private async open(): Promise<DuckDBInstance> {
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const options: Record<string, string> = {
      memory_limit: this.config.memory_limit,
      // NOTE: without these, memory DuckDB has freed stays in its allocator and the process
      // grows to several times memory_limit while loading.
      allocator_flush_threshold: "16MB",
      allocator_background_threads: "true",
      allocator_bulk_deallocation_flush_threshold: "16MB",
      // Rows of a batch may be stored in any order: a third faster under a small memory
      // limit. A statement that numbers rows by file order (the `_sdc_sequence` of a batch
      // that does not carry one) turns it on for its duration, see `InsertionOrder`.
      preserve_insertion_order: "false",
    };
    // NOTE: measured on 2 cores, a million rows: one thread took 30% less CPU, 10% less memory
    // and a third less time than two, which fought the extractor for the same cores.
    options.threads = String(this.config.threads ?? Math.max(1, os.availableParallelism() - 1));
    try {
      // Loaded here, not at start-up: DuckDB's library is about 30 MB that commands and runs
      // not loading into DuckDB never need.
      const { DuckDBInstance } = await import("@duckdb/node-api");
      return await DuckDBInstance.create(this.file, options);
    } catch (error) {
      throw duckdbOpenError(error, this.file);
    }
  }

  private targetOf(schema: StreamSchema): { schema: string; table: string } {
    return {
      schema: this.config.default_target_schema ?? schema.sourceSchema,
      table: `${this.config.loader.tablePrefix}${schema.sourceTable}`,
    };
  }

  /** NOTE: DuckDB tells schema and table names apart without regard to case. */
  tableOf(schema: StreamSchema): TargetTable {
    const target = this.targetOf(schema);
    const name = `${target.schema}.${target.table}`;
    return { name, key: JSON.stringify([target.schema.toLowerCase(), target.table.toLowerCase()]) };
  }

  stagingOf(schema: StreamSchema, options: OpenStreamOptions): StagingTable | undefined {
    if (!mayFillStaging(options, this.config.loader)) return undefined;
    const target = this.targetOf(schema);
    return { schema: target.schema, table: `${target.table}__sluice_new` };
  }

  async dropStaging(staging: StagingTable): Promise<void> {
    const connection = await this.connect();
    try {
      await new DuckdbTables(connection, staging.schema).drop(staging.table);
    } catch (error) {
      throw duckdbError(error, {
        file: this.file,
        action: `dropping ${staging.schema}.${staging.table}, left by a stopped run`,
      });
    } finally {
      connection.closeSync();
    }
  }

  verifier(): StreamVerifier {
    return createDuckdbVerifier({
      connect: () => this.connect(),
      tableOf: (schema) => this.targetOf(schema),
    });
  }

  async test(): Promise<void> {
    const connection = await this.connect();
    try {
      await connection.run("SELECT 1");
    } finally {
      connection.closeSync();
    }
  }

  async openStream(schema: StreamSchema, options: OpenStreamOptions): Promise<StreamWriter> {
    const connection = await this.connect();
    const writer = new DuckdbStreamWriter(
      connection,
      () => this.connect(),
      this.config,
      this.file,
      schema,
      options,
      this.insertionOrder,
      this.memoryLimit,
      this.warned,
    );
    // NOTE: streams preparing at once (CREATE SCHEMA IF NOT EXISTS, CREATE TABLE, ALTER) on two
    // connections fail with a write-write conflict on the catalog; one at a time.
    const prepared = this.preparing.catch(() => undefined).then(() => writer.prepare());
    this.preparing = prepared;
    try {
      await prepared;
    } catch (error) {
      connection.closeSync();
      throw duckdbError(error, { file: this.file, action: `preparing the table of ${schema.streamId}` });
    }
    return writer;
  }

  async close(): Promise<void> {
    const opening = this.instance;
    if (!opening) return;
    this.instance = undefined;
    const instance = await opening.catch(() => undefined);
    if (!instance) return;
    const connection = await instance.connect();
    try {
      await connection.run("CHECKPOINT");
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  }
}

class DuckdbStreamWriter implements StreamWriter {
  private readonly schemaName: string;
  private readonly tableName: string;
  /** The table's lifecycle (loader-core), with DuckDB's DDL. */
  private readonly table: StreamTable;
  private readonly tables: DuckdbTables;
  /** Connections free for the next batch; more are opened while batches load at once. */
  private readonly idle: DuckDBConnection[];
  /** Every connection this writer opened besides `connection`, closed with it. */
  private readonly extra: DuckDBConnection[] = [];
  /** Connections that have loaded, each with the release of the memory it holds (see SharedMemoryLimit). */
  private readonly holding = new Map<DuckDBConnection, (connection: DuckDBConnection) => Promise<void>>();

  constructor(
    private readonly connection: DuckDBConnection,
    private readonly connect: () => Promise<DuckDBConnection>,
    private readonly config: TargetDuckdbConfig,
    /** The database file, for messages. */
    private readonly file: string,
    private readonly schema: StreamSchema,
    private readonly options: OpenStreamOptions,
    private readonly insertionOrder: InsertionOrder,
    private readonly memoryLimit: SharedMemoryLimit,
    warned: Set<string>,
  ) {
    this.schemaName = config.default_target_schema ?? schema.sourceSchema;
    this.tableName = `${config.loader.tablePrefix}${schema.sourceTable}`;
    this.tables = new DuckdbTables(connection, this.schemaName);
    this.table = new StreamTable({
      schema,
      stream: options,
      settings: config.loader,
      tables: this.tables,
      target: this.tableName,
      where: `target-duckdb: ${this.schemaName}.${this.tableName}`,
      staging: `${this.tableName}__sluice_new`,
      caseInsensitive: true,
      warned,
    });
    this.idle = [connection];
  }

  /**
   * A table copied whole (`replace`) takes its batches in any order, each appended by one
   * statement on a connection of its own, so several load at once: DuckDB runs each on its
   * caller's thread. Merges and plain appends go one at a time, in order. By default one per core
   * but one, at most four, like `threads`: the extractor keeps a core busy, and each batch loading
   * adds 15–40 MB at peak. On 2 cores (10M rows) two at once were no faster than one but took
   * 30–40 MB more; on more cores DuckDB's own threads already spread each insert.
   */
  get concurrentWrites(): number {
    if (!this.table.replace) return 1;
    return this.config.parallel_batches ?? Math.min(4, Math.max(1, os.availableParallelism() - 1));
  }

  /** Whether batches merge on the key (INCREMENTAL, LOG_BASED changes) rather than append. */
  private get merges(): boolean {
    return this.table.mergeKeys.length > 0;
  }

  private get target(): string {
    return this.tables.quoted(this.table.target);
  }

  /** The table rows go to while the stream runs. */
  private get destination(): string {
    return this.tables.quoted(this.table.destination);
  }

  async prepare(): Promise<void> {
    // NOTE: DuckDB column names are case-insensitive: `Name` and `name` cannot both be columns.
    const byLowerName = new Map<string, string>();
    for (const { name } of this.table.wanted()) {
      const other = byLowerName.get(name.toLowerCase());
      if (other !== undefined) {
        throw new SchemaError(
          `target-duckdb: ${this.schema.streamId} has columns "${other}" and "${name}", which differ only in case; DuckDB column names are case-insensitive, so one table cannot hold both`,
        );
      }
      byLowerName.set(name.toLowerCase(), name);
    }
    await this.memoryLimit.read(this.connection);
    await this.refuseCaseOnlyTwin();
    await this.connection.run(`CREATE SCHEMA IF NOT EXISTS ${quoteDuckdb(this.schemaName)}`);
    await this.table.prepare();
  }

  /**
   * DuckDB table names are case-insensitive too: `Orders` would land in (and a FULL_TABLE run
   * replace) a table `orders` another stream loads. Refused, naming both, whether the other is
   * already there or being loaded in this run (its `__sluice_new` copy).
   */
  private async refuseCaseOnlyTwin(): Promise<void> {
    const reader = await this.connection.runAndReadAll(
      `SELECT table_name FROM duckdb_tables() WHERE schema_name = ${duckdbLiteral(this.schemaName)}
         AND lower(table_name) IN (lower(${duckdbLiteral(this.tableName)}), lower(${duckdbLiteral(`${this.tableName}__sluice_new`)}))
         AND table_name NOT IN (${duckdbLiteral(this.tableName)}, ${duckdbLiteral(`${this.tableName}__sluice_new`)})`,
    );
    const twin = reader.getRowObjectsJS()[0]?.table_name;
    if (twin === undefined) return;
    const other = String(twin).replace(/__sluice_new$/, "");
    throw new SchemaError(
      `target-duckdb: ${this.schema.streamId} goes to table "${this.tableName}" of schema "${this.schemaName}", but tables "${other}" and "${this.tableName}" differ only in case, and DuckDB table names are case-insensitive, so one would overwrite the other; load one of the streams with another table_prefix or default_target_schema, or deselect it`,
    );
  }

  async write(batch: RecordBatch): Promise<void> {
    if (batch.rowCount === 0) return;
    if (batch.columns.includes(DELETED_AT_COLUMN)) await this.table.prepareForDeletes();
    // A huge row, a wide table or a merge takes more than a connection's share of the memory limit.
    const extra = batchMemoryExtra(batch, this.merges);
    const connection = this.idle.pop() ?? (await this.openExtra());
    try {
      // Held until the writer is done: the limit changes once per stream, not per batch.
      if (!this.holding.has(connection))
        this.holding.set(connection, await this.memoryLimit.hold(connection, connectionMemory(this.merges)));
      if (extra > 0) {
        await this.memoryLimit.raised(connection, extra, () => this.writeWithFallback(connection, batch));
        return;
      }
      await this.writeWithFallback(connection, batch);
    } finally {
      this.idle.push(connection);
    }
  }

  private async openExtra(): Promise<DuckDBConnection> {
    const connection = await this.connect();
    this.extra.push(connection);
    return connection;
  }

  private async closeConnections(): Promise<void> {
    for (const release of this.holding.values()) await release(this.connection).catch(() => undefined);
    this.holding.clear();
    for (const connection of this.extra) connection.closeSync();
    this.connection.closeSync();
  }

  /**
   * Change data capture: the source table was truncated at `at`. Every row goes (`hard_delete`),
   * or is marked deleted at `at` unless it already was. One statement, so one transaction,
   * durable when it resolves.
   */
  async truncate(at: Date): Promise<void> {
    try {
      await this.table.truncate(at);
    } catch (error) {
      throw duckdbError(error, {
        file: this.file,
        action: `applying a truncate of ${this.schema.streamId} to ${this.schemaName}.${this.tableName}`,
      });
    }
  }

  private async writeWithFallback(connection: DuckDBConnection, batch: RecordBatch): Promise<void> {
    try {
      await this.load(connection, batch, true);
      return;
    } catch (error) {
      await connection.run("ROLLBACK").catch(() => undefined);
      if (!isConversionError(error)) throw await this.describeLoadError(connection, error, batch);
    }
    // The CSV reader's own parsers refused a value (a BC timestamp, say): the VARCHAR path
    // converts every field in SQL, which reads more forms, and fails naming the column if not.
    try {
      await this.load(connection, batch, false);
    } catch (error) {
      await connection.run("ROLLBACK").catch(() => undefined);
      throw await this.describeLoadError(connection, error, batch);
    }
  }

  private async load(connection: DuckDBConnection, batch: RecordBatch, fast: boolean): Promise<void> {
    const select = this.selectList(batch, fast);
    const source = readCsvCall(batch, this.csvTypes(batch, fast));
    // Only a sequence taken from file order needs the reader to keep it (see `InsertionOrder`),
    // and only where it is used: in a merge, or stored as metadata.
    const needsOrder = select.sequenceFromFileOrder && (this.merges || this.config.loader.addMetadataColumns);
    const read = (statement: string): Promise<unknown> =>
      needsOrder
        ? this.insertionOrder.preserved(connection, () => connection.run(statement))
        : connection.run(statement);
    if (!this.merges) {
      await read(this.appendStatement(select, source));
      return;
    }
    const merge = this.mergeStatements(select, source);
    await connection.run("BEGIN TRANSACTION");
    await read(merge.change);
    let joinStored = false;
    if (merge.stored !== undefined) {
      const needed = await connection.runAndReadAll(merge.needsStored);
      joinStored = needed.currentRowCount > 0;
      if (joinStored) await connection.run(merge.stored);
    }
    await connection.run(merge.delete);
    await connection.run(joinStored ? merge.insertWithStored : merge.insert);
    await connection.run("DROP TABLE IF EXISTS sluice_stored");
    await connection.run("DROP TABLE sluice_change");
    await connection.run("COMMIT");
  }

  /** How the CSV reader parses each field: natively where that is safe and `fast`, else VARCHAR. */
  private csvTypes(batch: RecordBatch, fast: boolean): string[] {
    const types = new Map<string, ColumnType>(this.schema.columns.map((c) => [c.name, c.type]));
    return batch.columns.map((name) => {
      if (name === SEQUENCE_COLUMN) return fast ? "BIGINT" : "VARCHAR";
      const type = types.get(name);
      return fast && type ? (csvParseType(type) ?? "VARCHAR") : "VARCHAR";
    });
  }

  /** Rows appended as they are: a CDC row keeps `_sdc_deleted_at`, its uncarried fields NULL. */
  private appendStatement(select: BatchSelect, source: string): string {
    const columns = [...select.columns];
    if (select.deletedAt !== undefined) columns.push({ name: DELETED_AT_COLUMN, sql: select.deletedAt });
    if (this.config.loader.addMetadataColumns) columns.push({ name: SEQUENCE_COLUMN, sql: select.sequence });
    return `INSERT INTO ${this.destination} (${columns.map((c) => quoteDuckdb(c.name)).join(", ")}) SELECT ${columns.map((c) => c.sql).join(", ")} FROM ${source}`;
  }

  private mergeStatements(select: BatchSelect, source: string): DuckdbMerge {
    return duckdbMergeStatements({
      plan: planMerge({
        keys: this.table.mergeKeys,
        columns: select.columns.flatMap((c) =>
          c.index === undefined ? [] : [{ name: c.name, index: c.index }],
        ),
        metadata: select.columns.flatMap((c) => (c.index === undefined ? [c.name] : [])),
        tableColumns: this.table.columns,
        layout: select.layout,
        hardDelete: this.config.loader.hardDelete,
        addMetadataColumns: this.config.loader.addMetadataColumns,
        distinctKeys: false,
        caseInsensitive: true,
      }),
      select,
      source,
      target: this.target,
    });
  }

  private selectList(batch: RecordBatch, fast: boolean): BatchSelect {
    const layout = batchLayout(batch, this.schema);
    const field = (i: number): string => `c${i}`;
    const deletedAt =
      layout.deletedAt === undefined
        ? undefined
        : duckdbConversion(field(layout.deletedAt), { kind: "timestamptz", sqlType: "timestamptz" });
    const sequence =
      layout.sequence === undefined
        ? undefined
        : fast
          ? field(layout.sequence)
          : `CAST(${field(layout.sequence)} AS BIGINT)`;
    const unchanged = layout.unchanged === undefined ? undefined : `',' || ${field(layout.unchanged)} || ','`;
    // A field the reader already parsed needs no conversion.
    const columns: BatchSelect["columns"] = layout.columns.map(({ name, type, index }) => {
      const text = batchField(batch, index, type);
      const sql = fast && csvParseType(type) !== undefined ? text : duckdbConversion(text, type);
      // Another target's column kept with its type: the value converted to it.
      const kept = this.table.keptType(name);
      return { name, sql: kept === undefined ? sql : duckdbKeptValue(sql, type, kept, name), index };
    });
    for (const { name, value } of this.table.metadataValues({
      extractedAt: batch.extractedAt,
      receivedAt: new Date(),
    }))
      columns.push({ name, sql: metadataSql(value) });
    return {
      layout,
      columns,
      deletedAt,
      sequence: sequence ?? `${batch.sequenceBase} + row_number() OVER () - 1`,
      sequenceFromFileOrder: sequence === undefined,
      unchanged,
    };
  }

  /** Finds which column refused which value, so the message names them. */
  private async describeLoadError(
    connection: DuckDBConnection,
    error: unknown,
    batch: RecordBatch,
  ): Promise<Error> {
    const message = (error as Error).message ?? String(error);
    const where = `${this.schemaName}.${this.tableName}`;
    const action = `loading ${batch.streamId} into ${where}`;
    // A full disk is not a value to diagnose (and the diagnosis would read the batch again).
    if (classifyDuckdbError(error, this.file).kind === "disk-full")
      return duckdbError(error, { file: this.file, action });
    if (/Conversion Error|Could not convert|Invalid Input Error|out of range/i.test(message)) {
      const types = new Map(this.schema.columns.map((c) => [c.name, c.type]));
      for (const [i, name] of batch.columns.entries()) {
        const type = types.get(name);
        if (!type) continue;
        const text = batchField(batch, i, type);
        // Another target's column kept with its type: the value is converted on to it.
        const kept = this.table.keptType(name);
        const conversion =
          kept === undefined
            ? duckdbConversion(text, type)
            : duckdbKeptValue(duckdbConversion(text, type), type, kept, name);
        if (conversion === text) continue;
        try {
          const reader = await connection.runAndReadAll(
            `SELECT ${text} AS v FROM ${readCsvCall(batch, this.csvTypes(batch, false))} WHERE c${i} IS NOT NULL AND try(${conversion}) IS NULL LIMIT 1`,
          );
          const bad = reader.getRowObjectsJS()[0];
          if (bad) {
            const value = String(bad.v);
            const shown = value.length > 80 ? `${value.slice(0, 80)}…` : value;
            return new DataError(
              `target-duckdb: column "${name}" of ${where} (${kept ?? duckdbType(type)}) cannot hold the value "${shown}" from ${batch.streamId}: ${firstLine(message)}. ${valueRefusalAdvice(batch.streamId)}`,
              { cause: error },
            );
          }
        } catch {
          // Diagnosis is best effort; fall through to the engine's own message.
        }
      }
    }
    return duckdbError(error, { file: this.file, action });
  }

  get warnings(): readonly string[] {
    return this.table.warnings;
  }

  get replaces(): boolean {
    return this.table.replace;
  }

  /** ACTIVATE_VERSION: one DELETE of the other versions' rows, durable when it resolves. */
  async activateVersion(): Promise<void> {
    try {
      await this.table.activateVersion();
    } catch (error) {
      throw duckdbError(error, {
        file: this.file,
        action: `removing rows of other versions than ${this.options.version} from ${this.schemaName}.${this.tableName}`,
      });
    }
  }

  async finish(): Promise<void> {
    try {
      await this.table.finish();
    } catch (error) {
      throw duckdbError(error, { file: this.file, action: `replacing ${this.schemaName}.${this.tableName}` });
    } finally {
      await this.closeConnections();
    }
  }

  async abort(): Promise<void> {
    try {
      await this.table.abort();
    } finally {
      await this.closeConnections();
    }
  }
}
