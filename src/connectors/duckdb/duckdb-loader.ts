import type { DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import type { StreamVerifier } from "../../verify/stream-verifier.js";
import { createDuckdbVerifier } from "./duckdb-verifier.js";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ConfigError, DataError, SchemaError } from "../../errors.js";
import type { RecordBatch } from "../batch.js";
import { DELETED_AT_COLUMN, SEQUENCE_COLUMN, UNCHANGED_COLUMN } from "../batch.js";
import type { ColumnType, StreamSchema } from "../column-type.js";
import type { Loader, OpenStreamOptions, PluginConfig, StreamWriter } from "../connector.js";
import {
  copyTextUnescape,
  csvParseType,
  duckdbConversion,
  duckdbLiteral,
  duckdbType,
  mayHoldCopyTextEscapes,
  quoteDuckdb,
} from "./duckdb-types.js";
import { diskFullError, duckdbError, duckdbOpenError, firstLine } from "./duckdb-errors.js";
import {
  batchMemoryExtra,
  connectionMemory,
  csvBufferBytes,
  SharedMemoryLimit,
} from "./shared-memory-limit.js";

interface TargetDuckdbConfig {
  path: string;
  default_target_schema?: string;
  table_prefix: string;
  add_metadata_columns: boolean;
  load_method: "append-only" | "upsert" | "overwrite";
  hard_delete: boolean;
  memory_limit: string;
  threads?: number;
  parallel_batches?: number;
}

/** Metadata columns, as the Singer targets name them. */
const METADATA_COLUMNS: readonly { name: string; type: string }[] = [
  { name: "_sdc_extracted_at", type: "TIMESTAMPTZ" },
  { name: "_sdc_received_at", type: "TIMESTAMPTZ" },
  { name: "_sdc_batched_at", type: "TIMESTAMPTZ" },
  { name: DELETED_AT_COLUMN, type: "TIMESTAMPTZ" },
  { name: SEQUENCE_COLUMN, type: "BIGINT" },
  { name: "_sdc_table_version", type: "BIGINT" },
];

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
  private readonly memoryLimit: SharedMemoryLimit;
  private preparing: Promise<unknown> = Promise.resolve();

  constructor(config: PluginConfig, context: { projectDir: string }) {
    this.config = config as unknown as TargetDuckdbConfig;
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

  verifier(): StreamVerifier {
    return createDuckdbVerifier({
      connect: () => this.connect(),
      tableOf: (schema) => ({
        schema: this.config.default_target_schema ?? schema.sourceSchema,
        table: `${this.config.table_prefix}${schema.sourceTable}`,
      }),
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

/** How a batch's fields land: the SQL of each stored column, and the CDC fields apart. */
interface BatchSelect {
  /**
   * Stream columns (with their index in the batch, which `_sdc_unchanged` refers to) and
   * metadata columns (without `_sdc_deleted_at` and `_sdc_sequence`).
   */
  columns: { name: string; sql: string; index?: number }[];
  /** The batch's `_sdc_deleted_at` as TIMESTAMPTZ, when it has that column. */
  deletedAt: string | undefined;
  /** Each row's `_sdc_sequence`: the batch's column, else `sequenceBase` + file position. */
  sequence: string;
  /** True when `sequence` is computed from file order (needs `InsertionOrder`). */
  sequenceFromFileOrder: boolean;
  /** `,<indexes>,` of the fields a change did not carry (NULL if it carried all), if the batch says. */
  unchanged: string | undefined;
}

class DuckdbStreamWriter implements StreamWriter {
  private readonly schemaName: string;
  private readonly tableName: string;
  private readonly replace: boolean;
  private mergeKeys: string[];
  /** Columns of the destination table: lower-cased name → name. */
  private readonly tableColumns = new Map<string, string>();
  /** Connections free for the next batch; more are opened while batches load at once. */
  private readonly idle: DuckDBConnection[];
  /** Every connection this writer opened besides `connection`, closed with it. */
  private readonly extra: DuckDBConnection[] = [];
  private addingDeletedAt: Promise<void> | undefined;
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
  ) {
    this.schemaName = config.default_target_schema ?? schema.sourceSchema;
    this.tableName = `${config.table_prefix}${schema.sourceTable}`;
    this.replace = options.mode === "replace" || config.load_method === "overwrite";
    this.mergeKeys = !this.replace && config.load_method === "upsert" ? schema.keyProperties : [];
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
    if (!this.replace) return 1;
    return this.config.parallel_batches ?? Math.min(4, Math.max(1, os.availableParallelism() - 1));
  }

  /** Whether batches merge on the key (INCREMENTAL, LOG_BASED changes) rather than append. */
  private get merges(): boolean {
    return this.mergeKeys.length > 0;
  }

  private get target(): string {
    return `${quoteDuckdb(this.schemaName)}.${quoteDuckdb(this.tableName)}`;
  }

  private get staging(): string {
    return `${quoteDuckdb(this.schemaName)}.${quoteDuckdb(`${this.tableName}__sluice_new`)}`;
  }

  /** The table rows go to while the stream runs. */
  private get destination(): string {
    return this.replace ? this.staging : this.target;
  }

  private columnDefinitions(): { name: string; type: string }[] {
    const data = this.schema.columns.map((c) => ({ name: c.name, type: duckdbType(c.type) }));
    return this.config.add_metadata_columns ? [...data, ...METADATA_COLUMNS] : data;
  }

  async prepare(): Promise<void> {
    // NOTE: DuckDB column names are case-insensitive: `Name` and `name` cannot both be columns.
    const byLowerName = new Map<string, string>();
    for (const { name } of this.columnDefinitions()) {
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
    const definitions = this.columnDefinitions()
      .map((c) => `${quoteDuckdb(c.name)} ${c.type}`)
      .join(", ");
    if (this.replace) {
      await this.connection.run(`DROP TABLE IF EXISTS ${this.staging}`);
      await this.connection.run(`CREATE TABLE ${this.staging} (${definitions})`);
      for (const column of this.columnDefinitions())
        this.tableColumns.set(column.name.toLowerCase(), column.name);
      return;
    }
    await this.connection.run(`CREATE TABLE IF NOT EXISTS ${this.target} (${definitions})`);
    await this.evolve();
    if (this.merges && this.options.distinctKeys) {
      // A run reads each source row once, so into an empty table there is nothing to merge
      // with: plain appends are exact and avoid a join per batch. A rerun after a crash finds
      // the table non-empty and merges again.
      const reader = await this.connection.runAndReadAll(`SELECT 1 FROM ${this.target} LIMIT 1`);
      if (reader.currentRowCount === 0) this.mergeKeys = [];
    }
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

  /** Adds columns the source gained; widens types DuckDB can convert; never drops a column. */
  private async evolve(): Promise<void> {
    const reader = await this.connection.runAndReadAll(
      `SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = ${duckdbLiteral(this.schemaName)} AND table_name = ${duckdbLiteral(this.tableName)}`,
    );
    const existing = new Map(
      reader.getRowObjectsJS().map((r) => [String(r.column_name).toLowerCase(), String(r.data_type)]),
    );
    for (const row of reader.getRowObjectsJS()) {
      this.tableColumns.set(String(row.column_name).toLowerCase(), String(row.column_name));
    }
    for (const column of this.columnDefinitions()) {
      const current = existing.get(column.name.toLowerCase());
      if (current === undefined) {
        await this.addColumn(column.name, column.type);
      } else if (normaliseType(current) !== normaliseType(column.type)) {
        try {
          await this.connection.run(
            `ALTER TABLE ${this.target} ALTER COLUMN ${quoteDuckdb(column.name)} TYPE ${column.type}`,
          );
        } catch (error) {
          throw new SchemaError(
            `${this.schemaName}.${this.tableName}.${column.name}: the source type changed to ${column.type} but the DuckDB column is ${current} and cannot be converted (${(error as Error).message}); run with --full-refresh to rebuild the table`,
            { cause: error },
          );
        }
      }
    }
  }

  private async addColumn(name: string, type: string): Promise<void> {
    await this.connection.run(`ALTER TABLE ${this.destination} ADD COLUMN ${quoteDuckdb(name)} ${type}`);
    this.tableColumns.set(name.toLowerCase(), name);
  }

  /**
   * A batch with deletes needs somewhere to say so: without `add_metadata_columns` the table has
   * no `_sdc_deleted_at` until the first batch (or truncate) that carries one. Added once even
   * when batches loading at once (`concurrentWrites`) both carry it.
   */
  private ensureDeletedAtColumn(): Promise<void> {
    if (this.tableColumns.has(DELETED_AT_COLUMN)) return Promise.resolve();
    this.addingDeletedAt ??= this.addColumn(DELETED_AT_COLUMN, "TIMESTAMPTZ");
    return this.addingDeletedAt;
  }

  async write(batch: RecordBatch): Promise<void> {
    if (batch.rowCount === 0) return;
    if (batch.columns.includes(DELETED_AT_COLUMN)) await this.ensureDeletedAtColumn();
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
      if (this.config.hard_delete) {
        await this.connection.run(`DELETE FROM ${this.destination}`);
      } else {
        await this.ensureDeletedAtColumn();
        const column = quoteDuckdb(DELETED_AT_COLUMN);
        await this.connection.run(
          `UPDATE ${this.destination} SET ${column} = TIMESTAMPTZ ${duckdbLiteral(at.toISOString())} WHERE ${column} IS NULL`,
        );
      }
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
    const needsOrder = select.sequenceFromFileOrder && (this.merges || this.config.add_metadata_columns);
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
    if (this.config.add_metadata_columns) columns.push({ name: SEQUENCE_COLUMN, sql: select.sequence });
    return `INSERT INTO ${this.destination} (${columns.map((c) => quoteDuckdb(c.name)).join(", ")}) SELECT ${columns.map((c) => c.sql).join(", ")} FROM ${source}`;
  }

  /**
   * A merge in one transaction:
   * 1. `change`: the batch reduced to one row per key, the latest by sequence, with
   *    `_sdc_deleted_at` as that row has it (`arg_max_null`: NULL means "not deleted"). In a batch
   *    with `_sdc_unchanged`, a field's value is the latest among the rows that carried it
   *    (`arg_max_null` skips rows whose ordering value is NULL), and `sluice_carried_<i>` says
   *    whether any row did; `sluice_needs_stored` marks keys that need a stored value.
   * 2. `stored`: only if some key needs them (`needsStored` finds out), the stored values of those
   *    keys, read before 3. deletes the stored rows of every key in the batch and 4. inserts
   *    the merged rows, but for keys removed by `hard_delete`.
   * NOTE: DELETE + INSERT, not MERGE INTO ... UPDATE: on a checkpointed table DuckDB 1.5 commits
   * 100,000 updated rows several times slower than it deletes and appends them. Columns of the
   * table that the batch does not have (a column the source dropped) keep their stored values.
   */
  private mergeStatements(
    select: BatchSelect,
    source: string,
  ): {
    change: string;
    needsStored: string;
    stored: string | undefined;
    delete: string;
    insert: string;
    insertWithStored: string;
  } {
    const keys = new Set(this.mergeKeys.map((k) => k.toLowerCase()));
    const seq = quoteDuckdb(SEQUENCE_COLUMN);
    const deleted = quoteDuckdb(DELETED_AT_COLUMN);
    const unchanged = "sluice_unchanged";
    const rows = [
      ...select.columns.map((c) => `${c.sql} AS ${quoteDuckdb(c.name)}`),
      `${select.deletedAt ?? "CAST(NULL AS TIMESTAMPTZ)"} AS ${deleted}`,
      `${select.sequence} AS ${seq}`,
      ...(select.unchanged === undefined ? [] : [`${select.unchanged} AS ${unchanged}`]),
    ];
    const keyList = this.mergeKeys.map(quoteDuckdb);
    const values = select.columns.filter((c) => !keys.has(c.name.toLowerCase()));
    // Stream columns a change may leave out, by their index in the batch; metadata is always set.
    const partial = new Map<string, number>();
    if (select.unchanged !== undefined) {
      for (const c of values) if (c.index !== undefined) partial.set(c.name, c.index);
    }
    const carriedFlag = (index: number): string => `sluice_carried_${index}`;
    const aggregates = values.flatMap((c) => {
      const name = quoteDuckdb(c.name);
      const index = partial.get(c.name);
      if (index === undefined) return [`arg_max_null(${name}, ${seq}) AS ${name}`];
      const carried = `(${unchanged} IS NULL OR NOT contains(${unchanged}, ',${index},'))`;
      return [
        `arg_max_null(${name}, CASE WHEN ${carried} THEN ${seq} END) AS ${name}`,
        `bool_or(${carried}) AS ${carriedFlag(index)}`,
      ];
    });
    // Columns of the table the batch says nothing about keep their stored values.
    const said = new Set([...keys, ...select.columns.map((c) => c.name.toLowerCase()), DELETED_AT_COLUMN]);
    if (this.config.add_metadata_columns) said.add(SEQUENCE_COLUMN);
    const kept = [...this.tableColumns].filter(([lower]) => !said.has(lower)).map(([, name]) => name);
    const hard = this.config.hard_delete && select.deletedAt !== undefined;
    const needsStored =
      kept.length > 0
        ? "true"
        : partial.size > 0
          ? `(${[...partial.values()].map((i) => `NOT ${carriedFlag(i)}`).join(" OR ")})${hard ? ` AND ${deleted} IS NULL` : ""}`
          : "false";
    const change =
      `CREATE OR REPLACE TEMP TABLE sluice_change AS SELECT *, ${needsStored} AS sluice_needs_stored FROM (` +
      `SELECT ${keyList.join(", ")}, max(${seq}) AS ${seq}, arg_max_null(${deleted}, ${seq}) AS ${deleted}` +
      `${aggregates.map((a) => `, ${a}`).join("")} FROM (SELECT ${rows.join(", ")} FROM ${source}) ` +
      `GROUP BY ${keyList.join(", ")})`;

    const on = keyList.map((k) => `t.${k} = s.${k}`).join(" AND ");
    const storedColumns = [...keyList, ...[...partial.keys(), ...kept].map(quoteDuckdb)];
    const stored =
      partial.size > 0 || kept.length > 0
        ? `CREATE OR REPLACE TEMP TABLE sluice_stored AS SELECT ${storedColumns.map((c) => `t.${c}`).join(", ")} ` +
          `FROM ${this.target} AS t SEMI JOIN (SELECT ${keyList.join(", ")} FROM sluice_change WHERE sluice_needs_stored) AS s ON ${on}`
        : undefined;
    // The row each key ends with: what the change says, the stored value where it says nothing.
    const merged = (withStored: boolean) => [
      ...keyList.map((k) => ({ name: k, sql: `s.${k}` })),
      ...values.map((c) => {
        const name = quoteDuckdb(c.name);
        const index = partial.get(c.name);
        return {
          name,
          sql:
            index === undefined
              ? `s.${name}`
              : `CASE WHEN s.${carriedFlag(index)} THEN s.${name} ELSE ${withStored ? `t.${name}` : "NULL"} END`,
        };
      }),
      ...(withStored ? kept.map((name) => ({ name: quoteDuckdb(name), sql: `t.${quoteDuckdb(name)}` })) : []),
      // The table has `_sdc_deleted_at` whenever the batch does (see `write`); a batch without it
      // (not CDC) leaves the row undeleted, as re-inserting a key does.
      ...(this.tableColumns.has(DELETED_AT_COLUMN) ? [{ name: deleted, sql: `s.${deleted}` }] : []),
      ...(this.config.add_metadata_columns ? [{ name: seq, sql: `s.${seq}` }] : []),
    ];
    const live = hard ? ` WHERE s.${deleted} IS NULL` : "";
    const insert = (withStored: boolean): string => {
      const list = merged(withStored);
      const from = withStored
        ? `sluice_change AS s LEFT JOIN sluice_stored AS t ON ${on}`
        : "sluice_change AS s";
      return `INSERT INTO ${this.target} (${list.map((c) => c.name).join(", ")}) SELECT ${list.map((c) => c.sql).join(", ")} FROM ${from}${live}`;
    };
    return {
      change,
      needsStored: "SELECT 1 FROM sluice_change WHERE sluice_needs_stored LIMIT 1",
      stored,
      delete: `DELETE FROM ${this.target} AS t USING sluice_change AS s WHERE ${on}`,
      insert: insert(false),
      insertWithStored: insert(true),
    };
  }

  private selectList(batch: RecordBatch, fast: boolean): BatchSelect {
    const types = new Map<string, ColumnType>(this.schema.columns.map((c) => [c.name, c.type]));
    const columns: BatchSelect["columns"] = [];
    let deletedAt: string | undefined;
    let sequence: string | undefined;
    let unchanged: string | undefined;
    for (const [i, name] of batch.columns.entries()) {
      const field = `c${i}`;
      if (name === DELETED_AT_COLUMN) {
        deletedAt = duckdbConversion(field, { kind: "timestamptz", sqlType: "timestamptz" });
      } else if (name === SEQUENCE_COLUMN) {
        sequence = fast ? field : `CAST(${field} AS BIGINT)`;
      } else if (name === UNCHANGED_COLUMN) {
        unchanged = `',' || ${field} || ','`;
      } else {
        const type = types.get(name);
        if (!type)
          throw new SchemaError(`${batch.streamId}: batch column "${name}" is not in the stream's schema`);
        // A field the reader already parsed needs no conversion.
        const text = batchField(batch, i, type);
        columns.push({
          name,
          sql: fast && csvParseType(type) !== undefined ? text : duckdbConversion(text, type),
          index: i,
        });
      }
    }
    if (this.config.add_metadata_columns) {
      const ts = (d: Date): string => `TIMESTAMPTZ ${duckdbLiteral(d.toISOString())}`;
      columns.push(
        { name: "_sdc_extracted_at", sql: ts(batch.extractedAt) },
        { name: "_sdc_received_at", sql: ts(new Date()) },
        { name: "_sdc_batched_at", sql: "current_timestamp" },
        { name: "_sdc_table_version", sql: String(this.options.version) },
      );
    }
    return {
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
    const full = diskFullError(this.file, `loading ${batch.streamId} into ${where}`, error);
    if (full) return full;
    if (/Conversion Error|Could not convert|Invalid Input Error|out of range/i.test(message)) {
      const types = new Map(this.schema.columns.map((c) => [c.name, c.type]));
      for (const [i, name] of batch.columns.entries()) {
        const type = types.get(name);
        if (!type) continue;
        const text = batchField(batch, i, type);
        const conversion = duckdbConversion(text, type);
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
              `target-duckdb: column "${name}" of ${where} (${duckdbType(type)}) cannot hold the value "${shown}" from ${batch.streamId}: ${firstLine(message)}`,
              { cause: error },
            );
          }
        } catch {
          // Diagnosis is best effort; fall through to the engine's own message.
        }
      }
    }
    return duckdbError(error, { file: this.file, action: `loading ${batch.streamId} into ${where}` });
  }

  async finish(): Promise<void> {
    try {
      if (this.replace) {
        await this.connection.run("BEGIN TRANSACTION");
        await this.connection.run(`DROP TABLE IF EXISTS ${this.target}`);
        await this.connection.run(`ALTER TABLE ${this.staging} RENAME TO ${quoteDuckdb(this.tableName)}`);
        await this.connection.run("COMMIT");
      }
    } catch (error) {
      await this.connection.run("ROLLBACK").catch(() => undefined);
      throw duckdbError(error, { file: this.file, action: `replacing ${this.schemaName}.${this.tableName}` });
    } finally {
      await this.closeConnections();
    }
  }

  async abort(): Promise<void> {
    try {
      if (this.replace) await this.connection.run(`DROP TABLE IF EXISTS ${this.staging}`);
    } catch {
      // The staging table is dropped again at the next run's start.
    } finally {
      await this.closeConnections();
    }
  }
}

/**
 * Keeps DuckDB's file readers in file order while a statement that numbers rows by it runs.
 * NOTE: `row_number() OVER ()` follows file order only under `preserve_insertion_order = true`
 * (DuckDB's "Order Preservation" page); the loader runs with it off (a third faster under a small
 * memory limit). The setting is global to the database instance, so writers share one switch:
 * on while any of them needs it (others' statements planned meanwhile are merely slower), off
 * when the last is done. Changes are chained so an "off" can never overtake a later "on".
 */
class InsertionOrder {
  private users = 0;
  private switching: Promise<unknown> = Promise.resolve();

  async preserved<T>(connection: DuckDBConnection, statement: () => Promise<T>): Promise<T> {
    this.users += 1;
    if (this.users === 1) this.switchTo(connection, true);
    let failed = false;
    try {
      await this.switching;
      return await statement();
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      this.users -= 1;
      // After a failed statement the transaction is aborted and the SET fails too: its error
      // ("Current transaction is aborted") must not hide the statement's own (out of memory...).
      if (this.users === 0) {
        const switched = this.switchTo(connection, false);
        await (failed ? switched.catch(() => undefined) : switched);
      }
    }
  }

  private switchTo(connection: DuckDBConnection, on: boolean): Promise<unknown> {
    this.switching = this.switching
      .catch(() => undefined)
      .then(() => connection.run(`SET preserve_insertion_order = ${on}`));
    return this.switching;
  }
}

function readCsvCall(batch: RecordBatch, types: string[]): string {
  const columns = types.map((type, i) => `'c${i}': '${type}'`).join(", ");
  const buffer = csvBufferBytes(batch);
  const quote = duckdbLiteral(batch.quote ?? '"');
  // COPY text: no quoting at all (an empty field is the empty string); see `batchField`.
  const dialect =
    batch.format === "copy-text"
      ? `delim = '\t', quote = '', escape = '', nullstr = '\\N'`
      : `delim = ',', quote = ${quote}, escape = ${quote}, allow_quoted_nulls = false`;
  return (
    `read_csv(${duckdbLiteral(batch.path)}, columns = {${columns}}, header = false, auto_detect = false, ` +
    `${dialect}, new_line = '\\n', max_line_size = ${buffer}, buffer_size = ${buffer})`
  );
}

/** Field `c<i>` of a batch as the text of its kind: COPY text's escapes undone where they can occur. */
function batchField(batch: RecordBatch, i: number, type: ColumnType): string {
  const field = `c${i}`;
  return batch.format === "copy-text" && mayHoldCopyTextEscapes(type) ? copyTextUnescape(field) : field;
}

function isConversionError(error: unknown): boolean {
  return /Conversion Error|Could not convert|CSV Error/i.test((error as Error).message ?? "");
}

function normaliseType(type: string): string {
  return type.toUpperCase().replace(/\s+/g, "").replace("FLOAT", "REAL").replace("INTEGER", "INTEGER");
}
