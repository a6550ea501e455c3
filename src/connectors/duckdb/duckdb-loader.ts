import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import fs from "node:fs";
import path from "node:path";
import { ConnectionError, DataError, SchemaError } from "../../errors.js";
import type { RecordBatch } from "../batch.js";
import { DELETED_AT_COLUMN } from "../batch.js";
import type { ColumnType, StreamSchema } from "../column-type.js";
import type { Loader, OpenStreamOptions, PluginConfig, StreamWriter } from "../connector.js";
import { csvParseType, duckdbConversion, duckdbLiteral, duckdbType, quoteDuckdb } from "./duckdb-types.js";

interface TargetDuckdbConfig {
  path: string;
  default_target_schema?: string;
  table_prefix: string;
  add_metadata_columns: boolean;
  load_method: "append-only" | "upsert" | "overwrite";
  hard_delete: boolean;
  memory_limit: string;
  threads?: number;
}

/** Metadata columns, as the Singer targets name them. */
const METADATA_COLUMNS: readonly { name: string; type: string }[] = [
  { name: "_sdc_extracted_at", type: "TIMESTAMPTZ" },
  { name: "_sdc_received_at", type: "TIMESTAMPTZ" },
  { name: "_sdc_batched_at", type: "TIMESTAMPTZ" },
  { name: DELETED_AT_COLUMN, type: "TIMESTAMPTZ" },
  { name: "_sdc_sequence", type: "BIGINT" },
  { name: "_sdc_table_version", type: "BIGINT" },
];

// NOTE: DuckDB's CSV reader refuses lines over `max_line_size` (2 MB by default), and its buffer
// (16 × max_line_size by default) is memory held per thread. Each batch says how long its
// longest row is, so buffers stay small for ordinary rows and grow only for a 10 MB jsonb.
const MIN_CSV_BUFFER = 4 * 1024 * 1024;

/**
 * target-duckdb, built in. Each batch file is read by DuckDB's own CSV reader
 * (`INSERT ... SELECT ... FROM read_csv(...)`), so no value passes through JavaScript.
 * - `replace` streams (FULL_TABLE, or `load_method: overwrite`) fill `<table>__sluice_new` and
 *   swap it in with DROP + RENAME in one transaction when the stream finishes.
 * - `upsert` with a key: each batch is staged, deduplicated on the key (newest `_sdc_sequence`
 *   wins), and replaces the matching rows in one transaction.
 * - otherwise rows are appended.
 */
export class DuckdbLoader implements Loader {
  private readonly config: TargetDuckdbConfig;
  private readonly file: string;
  private instance: DuckDBInstance | undefined;

  constructor(config: PluginConfig, context: { projectDir: string }) {
    this.config = config as unknown as TargetDuckdbConfig;
    this.file = path.resolve(context.projectDir, this.config.path);
  }

  /** Where the database file is, for messages. */
  get databasePath(): string {
    return this.file;
  }

  private async connect(): Promise<DuckDBConnection> {
    if (!this.instance) {
      fs.mkdirSync(path.dirname(this.file), { recursive: true });
      const options: Record<string, string> = {
        memory_limit: this.config.memory_limit,
        // NOTE: without these, memory DuckDB has freed stays in its allocator and the process
        // grows to several times memory_limit while loading.
        allocator_flush_threshold: "16MB",
        allocator_background_threads: "true",
        allocator_bulk_deallocation_flush_threshold: "16MB",
        // Rows of a batch may be stored in any order: a third faster under a small memory
        // limit. Nothing depends on it: row order within a batch is not used (a batch whose
        // keys may repeat must carry its own order, see `OpenStreamOptions.distinctKeys`).
        preserve_insertion_order: "false",
      };
      if (this.config.threads !== undefined) options.threads = String(this.config.threads);
      try {
        this.instance = await DuckDBInstance.create(this.file, options);
      } catch (error) {
        throw new ConnectionError(
          `DuckDB could not open ${this.file} (setting \`path\`): ${(error as Error).message}`,
          {
            cause: error,
          },
        );
      }
    }
    return this.instance.connect();
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
    const writer = new DuckdbStreamWriter(connection, this.config, schema, options);
    try {
      await writer.prepare();
    } catch (error) {
      connection.closeSync();
      throw error;
    }
    return writer;
  }

  async close(): Promise<void> {
    if (!this.instance) return;
    const connection = await this.instance.connect();
    try {
      await connection.run("CHECKPOINT");
    } finally {
      connection.closeSync();
      this.instance.closeSync();
      this.instance = undefined;
    }
  }
}

class DuckdbStreamWriter implements StreamWriter {
  private readonly schemaName: string;
  private readonly tableName: string;
  private readonly replace: boolean;
  private mergeKeys: string[];

  constructor(
    private readonly connection: DuckDBConnection,
    private readonly config: TargetDuckdbConfig,
    private readonly schema: StreamSchema,
    private readonly options: OpenStreamOptions,
  ) {
    this.schemaName = config.default_target_schema ?? schema.sourceSchema;
    this.tableName = `${config.table_prefix}${schema.sourceTable}`;
    this.replace = options.mode === "replace" || config.load_method === "overwrite";
    this.mergeKeys = !this.replace && config.load_method === "upsert" ? schema.keyProperties : [];
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

  private memoryLimitBytes = Number.POSITIVE_INFINITY;

  async prepare(): Promise<void> {
    const limit = await this.connection.runAndReadAll("SELECT current_setting('memory_limit') AS v");
    this.memoryLimitBytes = parseByteSize(String(limit.getRowObjectsJS()[0]?.v ?? ""));
    await this.connection.run(`CREATE SCHEMA IF NOT EXISTS ${quoteDuckdb(this.schemaName)}`);
    const definitions = this.columnDefinitions()
      .map((c) => `${quoteDuckdb(c.name)} ${c.type}`)
      .join(", ");
    if (this.replace) {
      await this.connection.run(`DROP TABLE IF EXISTS ${this.staging}`);
      await this.connection.run(`CREATE TABLE ${this.staging} (${definitions})`);
      return;
    }
    await this.connection.run(`CREATE TABLE IF NOT EXISTS ${this.target} (${definitions})`);
    await this.evolve();
    if (this.mergeKeys.length > 0 && this.options.distinctKeys) {
      // A run reads each source row once, so into an empty table there is nothing to merge
      // with: plain appends are exact and avoid a join per batch. A rerun after a crash finds
      // the table non-empty and merges again.
      const reader = await this.connection.runAndReadAll(`SELECT 1 FROM ${this.target} LIMIT 1`);
      if (reader.currentRowCount === 0) this.mergeKeys = [];
    }
  }

  /** Adds columns the source gained; widens types DuckDB can convert; never drops a column. */
  private async evolve(): Promise<void> {
    const reader = await this.connection.runAndReadAll(
      `SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = ${duckdbLiteral(this.schemaName)} AND table_name = ${duckdbLiteral(this.tableName)}`,
    );
    const existing = new Map(
      reader.getRowObjectsJS().map((r) => [String(r.column_name).toLowerCase(), String(r.data_type)]),
    );
    for (const column of this.columnDefinitions()) {
      const current = existing.get(column.name.toLowerCase());
      if (current === undefined) {
        await this.connection.run(
          `ALTER TABLE ${this.target} ADD COLUMN ${quoteDuckdb(column.name)} ${column.type}`,
        );
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

  async write(batch: RecordBatch): Promise<void> {
    if (batch.rowCount === 0) return;
    // A batch with a huge row (a 10 MB jsonb) needs read buffers beyond an ordinary memory
    // limit: raise it for that batch only, then go back to the configured one.
    const needed = 8 * csvBufferBytes(batch) + 64 * 1024 * 1024;
    if (needed > this.memoryLimitBytes) {
      await this.connection.run(`SET memory_limit = '${Math.ceil(needed / 1048576)}MB'`);
      try {
        await this.writeWithFallback(batch);
      } finally {
        await this.connection.run(`SET memory_limit = ${duckdbLiteral(this.config.memory_limit)}`);
      }
      return;
    }
    await this.writeWithFallback(batch);
  }

  private async writeWithFallback(batch: RecordBatch): Promise<void> {
    try {
      await this.load(batch, true);
      return;
    } catch (error) {
      await this.connection.run("ROLLBACK").catch(() => undefined);
      if (!isConversionError(error)) throw await this.describeLoadError(error, batch);
    }
    // The CSV reader's own parsers refused a value (a BC timestamp, say): the VARCHAR path
    // converts every field in SQL, which reads more forms, and fails naming the column if not.
    try {
      await this.load(batch, false);
    } catch (error) {
      await this.connection.run("ROLLBACK").catch(() => undefined);
      throw await this.describeLoadError(error, batch);
    }
  }

  private async load(batch: RecordBatch, fast: boolean): Promise<void> {
    const select = this.selectList(batch, fast);
    const source = readCsvCall(batch, this.csvTypes(batch, fast));
    if (this.mergeKeys.length === 0) {
      const columns = select.map((s) => quoteDuckdb(s.name)).join(", ");
      await this.connection.run(
        `INSERT INTO ${this.destination} (${columns}) SELECT ${select.map((s) => s.sql).join(", ")} FROM ${source}`,
      );
    } else {
      await this.merge(select, source);
    }
  }

  /** How the CSV reader parses each field: natively where that is safe and `fast`, else VARCHAR. */
  private csvTypes(batch: RecordBatch, fast: boolean): string[] {
    const types = new Map<string, ColumnType>(this.schema.columns.map((c) => [c.name, c.type]));
    return batch.columns.map((name) => {
      const type = types.get(name);
      return fast && type ? (csvParseType(type) ?? "VARCHAR") : "VARCHAR";
    });
  }

  private async merge(select: { name: string; sql: string }[], source: string): Promise<void> {
    const keys = this.mergeKeys.map(quoteDuckdb);
    const columns = select.map((s) => quoteDuckdb(s.name)).join(", ");
    const hasDeletes = select.some((s) => s.name === DELETED_AT_COLUMN);
    const keep =
      this.config.hard_delete && hasDeletes ? ` AND ${quoteDuckdb(DELETED_AT_COLUMN)} IS NULL` : "";
    await this.connection.run("BEGIN TRANSACTION");
    await this.connection.run(
      `CREATE OR REPLACE TEMP TABLE sluice_batch AS SELECT ${select.map((s) => `${s.sql} AS ${quoteDuckdb(s.name)}`).join(", ")}, row_number() OVER () AS sluice_row FROM ${source}`,
    );
    await this.connection.run(
      `DELETE FROM ${this.target} AS t USING (SELECT DISTINCT ${keys.join(", ")} FROM sluice_batch) AS b WHERE ${keys.map((k) => `t.${k} = b.${k}`).join(" AND ")}`,
    );
    await this.connection.run(
      `INSERT INTO ${this.target} (${columns}) SELECT ${columns} FROM sluice_batch QUALIFY row_number() OVER (PARTITION BY ${keys.join(", ")} ORDER BY sluice_row DESC) = 1${keep}`,
    );
    await this.connection.run("DROP TABLE sluice_batch");
    await this.connection.run("COMMIT");
  }

  private selectList(batch: RecordBatch, fast: boolean): { name: string; sql: string }[] {
    const types = new Map<string, ColumnType>(this.schema.columns.map((c) => [c.name, c.type]));
    const list = batch.columns.map((name, i) => {
      const type = types.get(name);
      const field = `c${i}`;
      if (name === DELETED_AT_COLUMN) return { name, sql: `CAST(${field} AS TIMESTAMPTZ)` };
      if (!type)
        throw new SchemaError(`${batch.streamId}: batch column "${name}" is not in the stream's schema`);
      // A field the reader already parsed needs no conversion.
      return { name, sql: fast && csvParseType(type) !== undefined ? field : duckdbConversion(field, type) };
    });
    if (this.config.add_metadata_columns) {
      const ts = (d: Date): string => `TIMESTAMPTZ ${duckdbLiteral(d.toISOString())}`;
      list.push(
        { name: "_sdc_extracted_at", sql: ts(batch.extractedAt) },
        { name: "_sdc_received_at", sql: ts(new Date()) },
        { name: "_sdc_batched_at", sql: "current_timestamp" },
        { name: "_sdc_sequence", sql: `${batch.sequenceBase} + row_number() OVER () - 1` },
        { name: "_sdc_table_version", sql: String(this.options.version) },
      );
      if (!batch.columns.includes(DELETED_AT_COLUMN)) {
        list.push({ name: DELETED_AT_COLUMN, sql: "CAST(NULL AS TIMESTAMPTZ)" });
      }
    }
    return list;
  }

  /** Finds which column refused which value, so the message names them. */
  private async describeLoadError(error: unknown, batch: RecordBatch): Promise<Error> {
    const message = (error as Error).message ?? String(error);
    const where = `${this.schemaName}.${this.tableName}`;
    if (/Conversion Error|Could not convert|Invalid Input Error|out of range/i.test(message)) {
      const types = new Map(this.schema.columns.map((c) => [c.name, c.type]));
      for (const [i, name] of batch.columns.entries()) {
        const type = types.get(name);
        if (!type) continue;
        const conversion = duckdbConversion(`c${i}`, type);
        if (conversion === `c${i}`) continue;
        try {
          const reader = await this.connection.runAndReadAll(
            `SELECT c${i} AS v FROM ${readCsvCall(batch, this.csvTypes(batch, false))} WHERE c${i} IS NOT NULL AND try(${conversion}) IS NULL LIMIT 1`,
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
    if (error instanceof SchemaError) return error;
    return new DataError(
      `target-duckdb: loading ${batch.streamId} into ${where} failed: ${firstLine(message)}`,
      {
        cause: error,
      },
    );
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
      throw new DataError(
        `target-duckdb: replacing ${this.schemaName}.${this.tableName} failed: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    } finally {
      this.connection.closeSync();
    }
  }

  async abort(): Promise<void> {
    try {
      if (this.replace) await this.connection.run(`DROP TABLE IF EXISTS ${this.staging}`);
    } catch {
      // The staging table is dropped again at the next run's start.
    } finally {
      this.connection.closeSync();
    }
  }
}

/** The CSV reader's buffer for a batch: a power of two above its longest row, 4 MB at least. */
function csvBufferBytes(batch: RecordBatch): number {
  let buffer = MIN_CSV_BUFFER;
  while (buffer <= batch.maxRowBytes + 1) buffer *= 2;
  return buffer;
}

function readCsvCall(batch: RecordBatch, types: string[]): string {
  const columns = types.map((type, i) => `'c${i}': '${type}'`).join(", ");
  const buffer = csvBufferBytes(batch);
  return (
    `read_csv(${duckdbLiteral(batch.path)}, columns = {${columns}}, header = false, auto_detect = false, ` +
    `delim = ',', quote = '"', escape = '"', new_line = '\\n', allow_quoted_nulls = false, ` +
    `max_line_size = ${buffer}, buffer_size = ${buffer})`
  );
}

/** `48.0 MiB`, `1.5 GiB`, `64MB` → bytes; unknown forms → infinity (never raise the limit then). */
function parseByteSize(text: string): number {
  const m = /^([\d.]+)\s*([KMGT]?)i?B?$/i.exec(text.trim());
  if (!m) return Number.POSITIVE_INFINITY;
  const power = { "": 0, K: 1, M: 2, G: 3, T: 4 }[m[2]!.toUpperCase() as "" | "K" | "M" | "G" | "T"];
  return Number(m[1]) * 1024 ** power;
}

function isConversionError(error: unknown): boolean {
  return /Conversion Error|Could not convert|CSV Error/i.test((error as Error).message ?? "");
}

function normaliseType(type: string): string {
  return type.toUpperCase().replace(/\s+/g, "").replace("FLOAT", "REAL").replace("INTEGER", "INTEGER");
}

function firstLine(text: string): string {
  return text.split("\n")[0] ?? text;
}
