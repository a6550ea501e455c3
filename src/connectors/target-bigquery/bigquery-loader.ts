import fs from "node:fs";
import type { TableMetadata } from "@google-cloud/bigquery";
import { ConfigError, DataError, SchemaError } from "../../errors.js";
import { DELETED_AT_COLUMN, SEQUENCE_COLUMN, UNCHANGED_COLUMN, type RecordBatch } from "../batch.js";
import type { ColumnType, StreamSchema } from "../column-type.js";
import type { Loader, OpenStreamOptions, PluginConfig, StagingTable, StreamWriter } from "../connector.js";
import { valueRefusalAdvice } from "../loader-core/value-refusal.js";
import { BigqueryClient, MAX_LOAD_RANGE_BYTES } from "./bigquery-client.js";
import { missingCredentialsError } from "./bigquery-credentials.js";
import { builtinIdentity, type PluginIdentity } from "../plugin-identity.js";
import type { TargetTable } from "../loader-core/distinct-tables.js";
import { mayFillStaging, StreamTable } from "../loader-core/stream-table.js";
import { BigqueryTables } from "./bigquery-tables.js";
import { createBigqueryVerifier } from "./bigquery-verifier.js";
import type { StreamVerifier } from "../../verify/stream-verifier.js";
import { BigqueryJobError, isQuotaError, type RetryOptions } from "./bigquery-errors.js";
import { type BigqueryTargetConfig, resolveBigqueryConfig, type TableOptions } from "./bigquery-config.js";
import { bigqueryColumnNames, bigqueryTableName, quoteColumn, quoteTable } from "./bigquery-names.js";
import {
  ndjsonChunks,
  NdjsonConverter,
  rowAtOffset,
  type NdjsonChunk,
  type NdjsonField,
} from "./bigquery-ndjson.js";
import { batchLayout, type BatchLayout } from "../loader-core/batch-layout.js";
import { planMerge, trackedColumns, type MergePlan } from "../loader-core/merge-plan.js";
import {
  mergePruning,
  mergeScanWarning,
  partitionAdvice,
  partitionFilter,
  partitionGroups,
  partitionOf,
  partitionsSql,
  PARTITIONS_PER_JOB,
  PARTITIONS_PER_TABLE,
  type ColumnPartitioning,
  type PartitionSet,
} from "./bigquery-partitions.js";
import {
  DELETED_AT_TYPE as CORE_DELETED_AT_TYPE,
  METADATA_NAMES,
  type MetadataValue,
} from "../loader-core/metadata-columns.js";
import { mergeSql } from "./bigquery-sql.js";
import { appendChanges, openWriterClient, reduceChanges } from "./bigquery-storage-write.js";
import type { managedwriter } from "@google-cloud/bigquery-storage";
import {
  apiField,
  bigqueryType,
  ndjsonConversion,
  bigqueryKeptValue,
  parseApiField,
  parseColumnText,
  unmergeableKey,
  type BigqueryColumnType,
  type TableField,
} from "./bigquery-types.js";

const DELETED_AT_TYPE: BigqueryColumnType = bigqueryType(CORE_DELETED_AT_TYPE);

/**
 * Staging tables (`<table>__sluice_new`, a batch's `__sluice_batch_*`) expire by themselves, so
 * one a crash left behind (abort could not drop it) is not stored and billed for ever. Seven
 * days: longer than any full load a run makes into `__sluice_new` (whose expiration is set once,
 * when it is made), and the copy that replaces the target does not carry it over.
 */
const STAGING_EXPIRATION_MS = 7 * 24 * 60 * 60 * 1000;

export interface BigqueryLoaderOptions {
  env?: NodeJS.ProcessEnv;
  /** First retry delay (tests make it short). */
  retryBaseDelayMs?: number;
  onRetry?: RetryOptions["onRetry"];
  /** Told of each batch sent through the Storage Write API (the bench counts rows and bytes). */
  onStorageWrite?: (event: { rows: number; bytesSent?: number }) => void;
}

type ManagedWriterClient = managedwriter.WriterClient;

/** `<table>__sluice_changes_<base-36 time>`: changes loaded, waiting for `merge_interval`. */
const CHANGES_INFIX = "__sluice_changes_";

/** What a merge of accumulated changes needs of the batches that brought them. */
interface ChangesLayout {
  /** Stream columns, BigQuery names, and their positions in the batches (`_sdc_unchanged`). */
  columns: { name: string; index: number }[];
  deletedAt?: number;
  sequence?: number;
  unchanged?: number;
}

function changesLayout(layout: BatchLayout, names: ReadonlyMap<string, string>): ChangesLayout {
  return {
    columns: layout.columns.map((c) => ({ name: names.get(c.name)!, index: c.index })),
    ...(layout.deletedAt !== undefined ? { deletedAt: layout.deletedAt } : {}),
    ...(layout.sequence !== undefined ? { sequence: layout.sequence } : {}),
    ...(layout.unchanged !== undefined ? { unchanged: layout.unchanged } : {}),
  };
}

/** Seconds as the REST API's IntervalValue text (`0-0 0 0:15:0`); null for none. */
function intervalText(seconds: number): string | null {
  if (seconds <= 0) return null;
  const days = Math.floor(seconds / 86400);
  const rest = seconds % 86400;
  return `0-0 ${days} ${Math.floor(rest / 3600)}:${Math.floor((rest % 3600) / 60)}:${rest % 60}`;
}

/**
 * target-bigquery, built in, with the official client. Every batch becomes NDJSON (converted by
 * DuckDB, see `bigquery-ndjson.ts`) sent by load jobs, never streaming inserts:
 * - `replace` streams (FULL_TABLE, or `load_method: overwrite`) fill `<table>__sluice_new`; on
 *   `finish` one copy job (WRITE_TRUNCATE) replaces the table: readers see the old rows or the
 *   new ones, never a mix;
 * - `upsert` with a key: each batch goes to a staging table, then one MERGE (deduplicated on the
 *   key, see `mergeSql`) applies it;
 * - otherwise rows are appended (a batch larger than `max_cache` is staged in several load jobs
 *   and appended by one copy job, so it lands whole or not at all).
 * `write` resolves once every job of the batch is DONE without errors.
 */
export class BigqueryLoader implements Loader {
  readonly config: BigqueryTargetConfig;
  /** The project's plugin this loader runs as, named in its errors. */
  private readonly plugin: PluginIdentity;
  private readonly env: NodeJS.ProcessEnv;
  private client: Promise<BigqueryClient> | undefined;
  private readonly converter = new NdjsonConverter({ memoryLimit: "256MB" });
  private datasetReady: Promise<void> | undefined;
  /** The run's warnings (`LoaderDefinition.create`). */
  private readonly warn: (message: string) => void;
  /** Tables whose MERGEs scan them whole for want of `prune_merges`, already said this run. */
  private readonly warnedScans = new Set<string>();
  /** Tables warned about in this run (see `StreamTableOptions.warned`). */
  private readonly warned = new Set<string>();

  constructor(
    config: PluginConfig,
    context: { projectDir: string; plugin?: PluginIdentity; warn?: (message: string) => void },
    private readonly options: BigqueryLoaderOptions = {},
  ) {
    this.warn = context.warn ?? (() => undefined);
    this.env = options.env ?? process.env;
    this.plugin = context.plugin ?? builtinIdentity("target-bigquery");
    this.config = resolveBigqueryConfig(config, { projectDir: context.projectDir, env: this.env });
  }

  /** See `Loader.retryableWrites`: a batch's jobs that already ran are found again by their ids. */
  readonly retryableWrites = true;

  private api(): Promise<BigqueryClient> {
    if (!this.client) {
      this.client = this.openClient();
      // A failure to open (no credentials) is said again by the next call, not cached.
      this.client.catch(() => {
        this.client = undefined;
      });
    }
    return this.client;
  }

  private async openClient(): Promise<BigqueryClient> {
    // An emulator needs no credentials; a key file is read (and checked) by the client.
    if (!this.config.apiEndpoint && !this.config.credentialsFile) {
      const missing = await missingCredentialsError(this.plugin, this.env);
      if (missing) throw missing;
    }
    return await BigqueryClient.create({
      projectId: this.config.projectId,
      datasetId: this.config.datasetId,
      location: this.config.location,
      maxRetries: this.config.maxRetries,
      ...(this.config.maximumBytesBilled !== undefined
        ? { maximumBytesBilled: this.config.maximumBytesBilled }
        : {}),
      ...(this.config.credentialsFile
        ? { credentialsFile: this.config.credentialsFile, credentialsSource: this.config.credentialsSource! }
        : {}),
      ...(this.config.apiEndpoint ? { apiEndpoint: this.config.apiEndpoint } : {}),
      ...(this.options.retryBaseDelayMs !== undefined
        ? { retryBaseDelayMs: this.options.retryBaseDelayMs }
        : {}),
      ...(this.options.onRetry ? { onRetry: this.options.onRetry } : {}),
    });
  }

  async test(): Promise<void> {
    await (await this.api()).test();
  }

  /** Every stream goes to the one dataset, under its sanitized name. */
  tableOf(schema: StreamSchema): TargetTable {
    const table = bigqueryTableName(schema.sourceTable, this.config.tablePrefix, this.config.tableSuffix);
    return { name: `${this.config.datasetId}.${table}`, key: table };
  }

  stagingOf(schema: StreamSchema, options: OpenStreamOptions): StagingTable | undefined {
    if (!mayFillStaging(options, this.config)) return undefined;
    const table = bigqueryTableName(schema.sourceTable, this.config.tablePrefix, this.config.tableSuffix);
    return { schema: this.config.datasetId, table: bigqueryTableName(`${table}__sluice_new`) };
  }

  /** A staging table of another dataset (the setting changed since) expires within a day by itself. */
  async dropStaging(staging: StagingTable): Promise<void> {
    if (staging.schema !== this.config.datasetId) return;
    await (await this.api()).deleteTable(staging.table);
  }

  verifier(): StreamVerifier {
    return createBigqueryVerifier({
      api: () => this.api(),
      projectId: this.config.projectId,
      datasetId: this.config.datasetId,
      tableOf: (schema) =>
        bigqueryTableName(schema.sourceTable, this.config.tablePrefix, this.config.tableSuffix),
      columnNamesOf: (schema) =>
        bigqueryColumnNames(
          schema.columns.map((c) => c.name),
          METADATA_NAMES,
          schema.streamId,
        ),
    });
  }

  async openStream(schema: StreamSchema, options: OpenStreamOptions): Promise<StreamWriter> {
    const api = await this.api();
    this.datasetReady ??= api.ensureDataset();
    try {
      await this.datasetReady;
    } catch (error) {
      this.datasetReady = undefined;
      throw error;
    }
    const writer = new BigqueryStreamWriter(api, this.converter, this.config, schema, options, {
      client: () => this.storageWriteClient(),
      ...(this.options.onStorageWrite ? { onStorageWrite: this.options.onStorageWrite } : {}),
      warned: this.warned,
    });
    await writer.prepare();
    const scan = writer.scanWarning();
    if (scan && !this.warnedScans.has(scan.table)) {
      this.warnedScans.add(scan.table);
      this.warn(scan.message);
    }
    return writer;
  }

  private writerClient: Promise<ManagedWriterClient> | undefined;

  /** The Storage Write API's client, opened with the first change batch that goes through it. */
  private storageWriteClient(): Promise<ManagedWriterClient> {
    this.writerClient ??= openWriterClient({
      projectId: this.config.projectId,
      ...(this.config.apiEndpoint ? { apiEndpoint: this.config.apiEndpoint } : {}),
      ...(this.config.storageWriteEndpoint ? { storageWriteEndpoint: this.config.storageWriteEndpoint } : {}),
      ...(this.config.credentialsFile ? { credentialsFile: this.config.credentialsFile } : {}),
    });
    this.writerClient.catch(() => {
      this.writerClient = undefined;
    });
    return this.writerClient;
  }

  async close(): Promise<void> {
    const writer = this.writerClient;
    this.writerClient = undefined;
    if (writer) (await writer.catch(() => undefined))?.close();
    await this.converter.close();
  }
}

class BigqueryStreamWriter implements StreamWriter {
  private readonly tableName: string;
  /** The table's lifecycle (loader-core), with BigQuery's DDL. */
  private readonly table: StreamTable;
  private readonly tables: BigqueryTables;
  /** Source column → BigQuery column. */
  private readonly columnNames: Map<string, string>;
  private readonly types: Map<string, ColumnType>;

  constructor(
    private readonly api: BigqueryClient,
    private readonly converter: NdjsonConverter,
    private readonly config: BigqueryTargetConfig,
    private readonly schema: StreamSchema,
    private readonly options: OpenStreamOptions,
    private readonly storage: {
      client: () => Promise<ManagedWriterClient>;
      onStorageWrite?: BigqueryLoaderOptions["onStorageWrite"];
      warned: Set<string>;
    },
  ) {
    this.tableName = bigqueryTableName(schema.sourceTable, config.tablePrefix, config.tableSuffix);
    this.columnNames = bigqueryColumnNames(
      schema.columns.map((c) => c.name),
      METADATA_NAMES,
      schema.streamId,
    );
    this.types = new Map(schema.columns.map((c) => [c.name, c.type]));
    this.tables = new BigqueryTables(
      api,
      (table) => this.quoted(table),
      (table, fields) => this.tableMetadata(table, fields),
    );
    this.table = new StreamTable({
      schema,
      stream: options,
      settings: {
        tablePrefix: config.tablePrefix,
        addMetadataColumns: config.addMetadataColumns,
        loadMethod: config.loadMethod,
        hardDelete: config.hardDelete,
        existingTables: config.existingTables,
      },
      warned: storage.warned,
      tables: this.tables,
      target: this.tableName,
      where: `target-bigquery: ${api.qualified(this.tableName)}`,
      staging: bigqueryTableName(`${this.tableName}__sluice_new`),
      columnName: (source) => this.columnNames.get(source) ?? source,
      caseInsensitive: true,
      // A MERGE with hard_delete removes deleted keys: no column needed to mark them.
      deletedAtOnlyWhenSoft: true,
      checkKept: () => this.checkKeptKeys(),
    });
  }

  private get mergeKeys(): string[] {
    return this.table.mergeKeys;
  }

  /** Columns of another target's table kept with their types, said once per table and run. */
  get warnings(): readonly string[] {
    return this.table.warnings;
  }

  private get replace(): boolean {
    return this.table.replace;
  }

  /** The destination table's columns, as BigQuery has them. */
  private get destinationColumns(): TableField[] {
    return this.tables.fields;
  }

  private get where(): string {
    return this.api.qualified(this.tableName);
  }

  private quoted(table: string): string {
    return quoteTable(this.config.projectId, this.config.datasetId, table);
  }

  /** The table batches load into while the stream runs. */
  private get destination(): string {
    return this.table.destination;
  }

  /** The stream's `table_config` entry (by stream id, source table or table name). */
  private get tableOptions(): TableOptions {
    return this.config.tableConfig[this.tableConfigName] ?? {};
  }

  /** The name the stream's `table_config` entry is under: the stream id when it has none. */
  private get tableConfigName(): string {
    return (
      [this.schema.streamId, this.schema.sourceTable, this.tableName].find(
        (name) => this.config.tableConfig[name] !== undefined,
      ) ?? this.schema.streamId
    );
  }

  /** Whether the table's MERGEs are restricted to the partitions their changes touch. */
  private get pruning(): ReturnType<typeof mergePruning> {
    return mergePruning(this.tables.partitioning, this.mergeKeys, this.tableOptions.pruneMerges);
  }

  /**
   * What the loader says once per table and run (`BigqueryLoader.openStream`) when this stream
   * merges into a table partitioned on a column that is not a key, without `prune_merges`: its
   * MERGEs scan the whole table, and `prune_merges: true` would prune them if the column never
   * changes for a row. Undefined when the stream does not merge, or prunes, or was told not to.
   */
  scanWarning(): { table: string; message: string } | undefined {
    const partitioning = this.tables.partitioning;
    if (this.mergeKeys.length === 0 || this.replace || !partitioning) return undefined;
    if (this.pruning !== "scan-unsure") return undefined;
    return { table: this.where, message: mergeScanWarning(this.where, this.tableConfigName, partitioning) };
  }

  private tableMetadata(table: string, fields: TableField[]): TableMetadata {
    const options = this.tableOptions;
    const bqName = (source: string, setting: string): string => {
      const name = this.columnNames.get(source) ?? (METADATA_NAMES.includes(source) ? source : undefined);
      if (!name || !fields.some((c) => c.name === name))
        throw new ConfigError(
          `target-bigquery table_config.${this.schema.streamId}.${setting}: no column "${source}" in ${this.schema.streamId}`,
        );
      return name;
    };
    const metadata: TableMetadata = { schema: { fields } };
    if (table !== this.tableName) metadata.expirationTime = String(Date.now() + STAGING_EXPIRATION_MS);
    if (options.partitionField) {
      metadata.timePartitioning = {
        type: options.partitionType ?? "DAY",
        field: bqName(options.partitionField, "partition_field"),
      };
    }
    if (options.clusterFields && options.clusterFields.length > 0) {
      metadata.clustering = { fields: options.clusterFields.map((f) => bqName(f, "cluster_fields")) };
    }
    return metadata;
  }

  async prepare(): Promise<void> {
    this.checkMergeKeys();
    await this.table.prepare();
    if (this.mergeKeys.length > 0 && !this.replace) await this.mergeLeftovers();
  }

  /**
   * A MERGE cannot key on a column BigQuery cannot partition or compare (`unmergeableKey`).
   * Said here, before any table is made, rather than by a failed MERGE.
   */
  private checkMergeKeys(): void {
    if (this.mergeKeys.length === 0) return;
    for (const key of this.schema.keyProperties) {
      const type = this.types.get(key);
      if (!type) continue;
      const refused = unmergeableKey(bigqueryType(type));
      if (refused === undefined) continue;
      throw new SchemaError(
        `target-bigquery: stream ${this.schema.streamId}: key column "${key}" would be ${refused.type} in BigQuery, which cannot ${refused.cannot} it, so batches cannot be merged on it. Key the stream on other columns (key_properties, or the table's primary key), or set load_method: append-only.`,
      );
    }
  }

  /**
   * The same for the key columns another target's table keeps with its types (`existing_tables:
   * continue`): a numeric key adswerve made FLOAT64 is a key sluice's own type (NUMERIC) would
   * merge on. Called by the stream table once those columns are known, before it changes anything.
   */
  private checkKeptKeys(): void {
    if (this.mergeKeys.length === 0) return;
    for (const key of this.schema.keyProperties) {
      const column = this.columnNames.get(key) ?? key;
      const kept = this.table.keptType(column);
      const type = kept === undefined ? undefined : parseColumnText(kept);
      const refused = type === undefined ? undefined : unmergeableKey(type);
      if (refused === undefined) continue;
      throw new SchemaError(
        `target-bigquery: ${this.where} was not created by sluice, and its key column "${column}" (stream ${this.schema.streamId}) is ${kept} there, kept by existing_tables: continue; BigQuery cannot ${refused.cannot} ${refused.type}, so batches cannot be merged on it, and no change was made to the table. ` +
          `Set existing_tables: rebuild and run \`sluice run ... --full-refresh --select ${this.schema.streamId}\` to rebuild it with sluice's types, or key the stream on other columns (key_properties), or set load_method: append-only.`,
      );
    }
  }

  private hasColumn(name: string): boolean {
    return this.table.has(name);
  }

  async write(batch: RecordBatch): Promise<void> {
    if (batch.rowCount === 0) return;
    const merging = this.mergeKeys.length > 0;
    const layout = batchLayout(batch, this.schema);
    // Soft deletes need somewhere to go, with or without metadata columns.
    if (layout.deletedAt !== undefined) await this.table.prepareForDeletes();
    const fields = this.ndjsonFields(batch, layout, merging);
    let file: string | undefined;
    try {
      file = await this.convert(batch, fields);
      if (
        merging &&
        layout.sequence !== undefined &&
        this.throughStorageWrite &&
        !this.replace &&
        // Changes waiting to be merged (from before the stream's changes came whole) come first:
        // a key's newer change must not land before them.
        !this.pending
      ) {
        await this.storageWrite(batch, layout, file);
        return;
      }
      const changeBatch = merging && layout.sequence !== undefined && !this.replace;
      // Every MERGE (an upsert's too) finds the key's blocks in a table clustered on it.
      if (merging && !this.replace) await this.ensureCdcTable(false);
      const chunks = await ndjsonChunks(file, Math.min(this.config.maxCacheBytes, MAX_LOAD_RANGE_BYTES));
      if (changeBatch && this.config.mergeIntervalSeconds > 0)
        await this.accumulate(batch, layout, fields, chunks);
      else if (merging) await this.merge(batch, layout, fields, chunks);
      else if (await this.loadByPartition(batch, file)) return;
      else if (this.replace || chunks.length === 1) await this.loadChunks(batch, this.destination, chunks);
      else await this.appendAtomically(batch, chunks);
    } finally {
      if (file) await fs.promises.rm(file, { force: true });
    }
  }

  /**
   * A batch whose rows span more partitions than one job may modify (4,000,
   * https://cloud.google.com/bigquery/quotas#partitioned_tables) is loaded straight into the
   * destination in several jobs of at most 4,000 partitions each: no staging table, since the
   * copy that would append it whole is one job modifying them all. Not atomic then, but written
   * again (a retry) each job is found by its id and not run twice. False when one job will do. A
   * batch of more partitions than a table may hold (10,000) is refused: no job can take it.
   */
  private async loadByPartition(batch: RecordBatch, file: string): Promise<boolean> {
    const partitioning = this.tables.partitioning;
    // Fewer rows than a job may modify partitions: no need to read them.
    if (!partitioning || batch.rowCount <= PARTITIONS_PER_JOB) return false;
    const field = partitioning.field;
    const partitionsOf = async (each: (partition: string, line: string) => void): Promise<void> => {
      const { createInterface } = await import("node:readline");
      for await (const line of createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity })) {
        if (line === "") continue;
        const value = (JSON.parse(line) as Record<string, unknown>)[field];
        each(partitionOf(value, partitioning) ?? "__NULL__", line);
      }
    };
    const seen = new Set<string>();
    await partitionsOf((partition) => seen.add(partition));
    if (seen.size <= PARTITIONS_PER_JOB) return false;
    if (seen.size > PARTITIONS_PER_TABLE)
      throw new ConfigError(
        `target-bigquery: a batch of ${batch.streamId} spans ${seen.size} ${partitioning.unit} partitions of ${this.where} (column ${field}); BigQuery allows ${PARTITIONS_PER_TABLE} partitions per table (https://cloud.google.com/bigquery/quotas#partitioned_tables): ${partitionAdvice(partitioning)}`,
      );
    const group = new Map([...seen].sort().map((p, i) => [p, Math.floor(i / PARTITIONS_PER_JOB)]));
    const groups = Math.ceil(seen.size / PARTITIONS_PER_JOB);
    const files = Array.from({ length: groups }, (_, i) => `${file}.partitions-${i}`);
    const outputs = files.map((f) => fs.createWriteStream(f));
    try {
      await partitionsOf((partition, line) => outputs[group.get(partition)!]!.write(`${line}\n`));
      await Promise.all(outputs.map((o) => new Promise((resolve) => o.end(resolve))));
      for (const part of files) {
        const chunks = await ndjsonChunks(part, Math.min(this.config.maxCacheBytes, MAX_LOAD_RANGE_BYTES));
        await this.loadChunks(batch, this.destination, chunks);
      }
    } finally {
      for (const f of files) await fs.promises.rm(f, { force: true });
    }
    return true;
  }

  private async convert(batch: RecordBatch, fields: readonly NdjsonField[]): Promise<string> {
    try {
      return await this.converter.convert(batch, fields);
    } catch (error) {
      await fs.promises.rm(`${batch.path}.ndjson`, { force: true });
      const message = (error as Error).message ?? String(error);
      const sluice = /sluice: (column .*)$/m.exec(message);
      if (sluice) {
        throw new DataError(
          `target-bigquery: ${batch.streamId} into ${this.where}: ${sluice[1]}; or ${valueRefusalAdvice(batch.streamId)}`,
          { cause: error },
        );
      }
      throw new DataError(
        `target-bigquery: converting a batch of ${batch.streamId} for ${this.where} failed: ${message.split("\n")[0]}`,
        {
          cause: error,
        },
      );
    }
  }

  /** What each NDJSON line holds: the batch's columns converted, metadata, and the merge's own columns. */
  private ndjsonFields(batch: RecordBatch, layout: BatchLayout, merging: boolean): NdjsonField[] {
    const field = (i: number): string => `c${i}`;
    const keyText = this.schema.keyProperties.flatMap((k) => {
      const key = layout.columns.find((c) => c.name === k);
      return key ? [`'${k.replaceAll("'", "''")}=' || coalesce(${field(key.index)}, 'NULL')`] : [];
    });
    const rowDescription = `'row ' || _sluice_row${keyText.length > 0 ? ` || ', ' || ${keyText.join(" || ', ' || ")}` : ""}`;
    const fields: NdjsonField[] = layout.columns.map(({ name, type, index }) => {
      const column = this.columnNames.get(name)!;
      const context = { policy: this.config.invalidValues, column, rowDescription };
      const kept = this.table.keptType(column);
      return {
        name: column,
        sql:
          kept === undefined
            ? ndjsonConversion(field(index), type, context)
            : bigqueryKeptValue(field(index), type, kept, context),
      };
    });
    const sequence =
      layout.sequence !== undefined
        ? `CAST(${field(layout.sequence)} AS BIGINT)`
        : `${batch.sequenceBase} + _sluice_row - 1`;
    if (merging || this.config.addMetadataColumns) fields.push({ name: SEQUENCE_COLUMN, sql: sequence });
    const now = new Date();
    for (const { name, value } of this.table.metadataValues({
      extractedAt: batch.extractedAt,
      receivedAt: now,
    }))
      fields.push({ name, sql: ndjsonMetadata(value, now) });
    // Where the table has `_sdc_deleted_at` each line says: the batch's, else NULL, so a key
    // re-inserted is live again (merge-plan.ts, rule 4). A hard-delete merge reads it too.
    if (this.hasColumn(DELETED_AT_COLUMN) || (merging && layout.deletedAt !== undefined)) {
      fields.push({
        name: DELETED_AT_COLUMN,
        sql:
          layout.deletedAt !== undefined
            ? `regexp_replace(${field(layout.deletedAt)}, '([+-][0-9]{2})$', '\\1:00')`
            : "CAST(NULL AS VARCHAR)",
      });
    }
    if (merging && layout.unchanged !== undefined)
      fields.push({ name: UNCHANGED_COLUMN, sql: field(layout.unchanged) });
    return fields;
  }

  /** Loads chunks into `table` one job each; a failed job names the table, column and row. */
  private async loadChunks(batch: RecordBatch, table: string, chunks: readonly NdjsonChunk[]): Promise<void> {
    for (const chunk of chunks) {
      const action = `loading ${batch.streamId} into ${this.api.qualified(table)}`;
      try {
        await this.api.load(table, chunk, { writeDisposition: "WRITE_APPEND", action });
      } catch (error) {
        throw this.partitionLimitError(error) ?? (await this.describeLoadFailure(error, batch, chunk));
      }
    }
  }

  /** Several chunks of one batch: staged, then appended by one copy job (all rows or none). */
  private async appendAtomically(batch: RecordBatch, chunks: readonly NdjsonChunk[]): Promise<void> {
    const staging = this.batchStagingName();
    // The target's own schema (REQUIRED columns included), partitioning and clustering: BigQuery
    // refuses to copy a table into one partitioned differently.
    await this.api.createTable(staging, {
      schema: { fields: this.destinationColumns },
      ...this.tables.layout,
      expirationTime: String(Date.now() + STAGING_EXPIRATION_MS),
    });
    try {
      await this.loadChunks(batch, staging, chunks);
      await this.api.copy(staging, this.tableName, "WRITE_APPEND", { jobKey: batch.path });
    } finally {
      await this.api.deleteTable(staging).catch(() => undefined);
    }
  }

  private batchStagingName(): string {
    return bigqueryTableName(
      `${this.tableName}__sluice_batch_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`,
    );
  }

  private async merge(
    batch: RecordBatch,
    layout: BatchLayout,
    fields: readonly NdjsonField[],
    chunks: readonly NdjsonChunk[],
  ): Promise<void> {
    const staging = this.batchStagingName();
    const stagingColumns = fields.map((f) => ({ name: f.name, type: this.stagingType(f.name) }));
    await this.api.createTable(staging, {
      schema: { fields: stagingColumns.map((c) => apiField(c.name, c.type)) },
      expirationTime: String(Date.now() + STAGING_EXPIRATION_MS),
    });
    try {
      await this.loadChunks(batch, staging, chunks);
      await this.runMerge(
        staging,
        this.mergePlan(layout),
        `merging a batch of ${batch.streamId} into ${this.where}`,
      );
    } finally {
      await this.api.deleteTable(staging).catch(() => undefined);
    }
  }

  /**
   * The MERGE of `staging` into the table. A table partitioned on a column the changes carry is
   * restricted to the partitions they touch (a constant filter in the ON condition, listed first
   * by a query of the staged column): BigQuery bills a MERGE every column of the target's scanned
   * partitions ("On-demand query size calculation",
   * https://cloud.google.com/bigquery/docs/reference/standard-sql/dml-syntax#on-demand_query_size_calculation),
   * so a change to one day of a year-long table bills that day, not the year. More than 4,000
   * partitions are merged in groups of 4,000 (BigQuery's limit per job), each its own MERGE.
   * Pruning needs a row's partition value never to change: a change moving a key to another
   * partition would not find its old row and would be inserted beside it. So a table is pruned
   * only when that holds (`mergePruning`): the column is a key column, or `table_config`'s
   * `prune_merges: true` says so; otherwise every MERGE of the table scans it whole, as
   * `prune_merges: false` asks, and the loader warns once. Changes that leave the column out
   * cannot say their partition (a delete carries only the key unless the source table has
   * REPLICA IDENTITY FULL): a MERGE with one of them scans every partition.
   */
  private async runMerge(staging: string, plan: MergePlan, action: string): Promise<void> {
    const target = this.quoted(this.tableName);
    const partitioning = this.pruning === "prune" ? this.tables.partitioning : undefined;
    const touched = partitioning ? await this.touchedPartitions(staging, plan, partitioning) : undefined;
    if (!partitioning || !touched) {
      await this.api.query(mergeSql({ target, staging: this.quoted(staging), plan }), action);
      return;
    }
    const groups = partitionGroups(touched);
    const column = quoteColumn(partitioning.field);
    for (const [i, group] of groups.entries()) {
      const sql = mergeSql({
        target,
        staging: this.quoted(staging),
        plan,
        targetFilter: partitionFilter(`T.${column}`, group, partitioning),
        ...(groups.length > 1 ? { sourceFilter: partitionFilter(column, group, partitioning) } : {}),
      });
      try {
        await this.api.query(
          sql,
          groups.length > 1 ? `${action} (partitions, group ${i + 1} of ${groups.length})` : action,
        );
      } catch (error) {
        throw this.partitionLimitError(error) ?? error;
      }
    }
  }

  /**
   * BigQuery's refusal of a job past the partition limits, said with the table, the column and
   * what to change; undefined for any other error.
   */
  private partitionLimitError(error: unknown): ConfigError | undefined {
    const partitioning = this.tables.partitioning;
    const messages: string[] = [];
    for (let e: unknown = error; e instanceof Error; e = e.cause) messages.push(e.message);
    const said = messages.find((m) => /too many partitions/i.test(m));
    if (!partitioning || !said) return undefined;
    return new ConfigError(
      `target-bigquery: ${this.where} is partitioned by ${partitioning.unit} on ${partitioning.field}, and this write would pass BigQuery's partition limits (${PARTITIONS_PER_TABLE} partitions per table, ${PARTITIONS_PER_JOB} modified per job: https://cloud.google.com/bigquery/quotas#partitioned_tables): ${partitionAdvice(partitioning)}, then reload the table (--full-refresh). BigQuery said: ${said.slice(said.search(/too many partitions/i)).split("\n")[0]}`,
      { cause: error },
    );
  }

  /** The partitions the rows of `staging` touch, or undefined when some row cannot say its own. */
  private async touchedPartitions(
    staging: string,
    plan: MergePlan,
    partitioning: ColumnPartitioning,
  ): Promise<PartitionSet | undefined> {
    const field = partitioning.field.toLowerCase();
    const carried = [...plan.keys, ...plan.values.map((c) => c.name)].some((c) => c.toLowerCase() === field);
    if (!carried) return undefined;
    const tracked = trackedColumns(plan).find((c) => c.name.toLowerCase() === field)?.tracked;
    const uncarried =
      tracked === undefined
        ? undefined
        : `STRPOS(CONCAT(',', IFNULL(${quoteColumn(UNCHANGED_COLUMN)}, ''), ','), ',${tracked},') > 0`;
    const rows = await this.api.query(
      partitionsSql(this.quoted(staging), partitioning, uncarried),
      `listing the partitions of ${this.where} the changes in ${this.api.qualified(staging)} touch`,
    );
    if (rows.some((r) => r.uncarried === true)) return undefined;
    const starts = rows.flatMap((r) => (typeof r.part === "string" ? [r.part] : []));
    return { starts, hasNull: rows.some((r) => r.part === null || r.part === undefined) };
  }

  private mergePlan(layout: BatchLayout): MergePlan {
    return this.mergePlanOf(changesLayout(layout, this.columnNames));
  }

  private mergePlanOf(layout: ChangesLayout): MergePlan {
    return planMerge({
      keys: this.mergeKeys,
      columns: layout.columns,
      metadata: this.table.metadataNames,
      tableColumns: this.table.columns,
      layout,
      hardDelete: this.config.hardDelete,
      addMetadataColumns: this.config.addMetadataColumns,
      // MERGE refuses a target row matched by several source rows: always one row per key.
      distinctKeys: false,
      caseInsensitive: true,
    });
  }

  /**
   * Change batches go through the Storage Write API (`cdc_method: storage_write`) only when the
   * source says each change carries its whole row (bigquery-storage-write.ts); others are merged.
   */
  private get throughStorageWrite(): boolean {
    return this.config.cdcMethod === "storage_write" && this.schema.wholeRowChanges === true;
  }

  /**
   * A change batch through the Storage Write API (bigquery-storage-write.ts). A change that is
   * not complete is refused before anything is sent: BigQuery refuses a MERGE on this table.
   */
  private async storageWrite(batch: RecordBatch, layout: BatchLayout, ndjson: string): Promise<void> {
    const reduced = await reduceChanges({
      ndjson,
      plan: this.mergePlan(layout),
      columnsByIndex: new Map(layout.columns.map((c) => [c.index, this.columnNames.get(c.name)!])),
      fields: this.destinationColumns,
    });
    if ("incomplete" in reduced) {
      const { batchRow, columns, delete: isDelete } = reduced.incomplete;
      const source = `${this.schema.sourceSchema}.${this.schema.sourceTable}`;
      throw new ConfigError(
        `target-bigquery: ${batch.streamId} into ${this.where}: batch row ${batchRow} is ${isDelete ? "a delete" : "an update"} that does not carry ${columns.map((c) => `"${c}"`).join(", ")}, and the table receives change data capture through the Storage Write API, where an UPSERT replaces the whole row and BigQuery refuses MERGE (https://cloud.google.com/bigquery/docs/change-data-capture#limitations). Make the source send whole rows again (ALTER TABLE ${source} REPLICA IDENTITY FULL) and run again${isDelete ? ", or set hard_delete: true" : ""}; or set cdc_method: merge and copy the table again (--full-refresh --select ${batch.streamId}).`,
      );
    }
    const { changes } = reduced;
    await this.ensureCdcTable(true);
    this.storage.onStorageWrite?.({ rows: changes.length });
    const { bytesSent } = await appendChanges({
      client: await this.storage.client(),
      table: `projects/${this.config.projectId}/datasets/${this.config.datasetId}/tables/${this.tableName}`,
      fields: this.destinationColumns,
      changes,
      where: this.where,
    });
    this.storage.onStorageWrite?.({ rows: 0, bytesSent });
  }

  /** Whether the table has the primary key that `ensureCdcTable` sets for the default stream. */
  private async receivesChanges(): Promise<boolean> {
    if (this.cdcTableReady === "storage_write") return true;
    const table = this.api.table(this.tableName);
    return this.api.call(`reading the constraints of ${this.where}`, async () => {
      const [metadata] = (await table.getMetadata()) as unknown as [Record<string, unknown>];
      const constraints = metadata.tableConstraints as { primaryKey?: { columns?: string[] } } | undefined;
      return (constraints?.primaryKey?.columns ?? []).length > 0;
    });
  }

  /** What `ensureCdcTable` has set: nothing, the merge path's clustering, or all of it. */
  private cdcTableReady: "no" | "merge" | "storage_write" = "no";

  /**
   * What change data capture needs of the table, set once per stream: clustering on the key when
   * `table_config` asks for none (a MERGE or a background apply then reads the key's blocks, not
   * the table), and for the default stream its primary key (`PRIMARY KEY (...) NOT ENFORCED`, the
   * stream's key) and `max_staleness`.
   */
  private async ensureCdcTable(storageWrite: boolean): Promise<void> {
    if (this.cdcTableReady === "storage_write" || (this.cdcTableReady === "merge" && !storageWrite)) return;
    const keys = this.mergeKeys;
    if (storageWrite && keys.length > 16)
      throw new ConfigError(
        `target-bigquery: ${this.schema.streamId} has a key of ${keys.length} columns; BigQuery change data capture takes at most 16: set cdc_method: merge`,
      );
    const table = this.api.table(this.tableName);
    await this.api.call(`setting the key's clustering and constraints of ${this.where}`, async () => {
      const [metadata] = (await table.getMetadata()) as unknown as [Record<string, unknown>];
      const patch: Record<string, unknown> = {};
      const current = (metadata.tableConstraints as { primaryKey?: { columns?: string[] } } | undefined)
        ?.primaryKey?.columns;
      if (!storageWrite && this.config.cdcMethod === "storage_write" && current && metadata.maxStaleness) {
        // What ensureCdcTable(true) set: the table receives changes on its default stream, where
        // BigQuery refuses the MERGE this batch needs. Said before any load, with what to do.
        const source = `${this.schema.sourceSchema}.${this.schema.sourceTable}`;
        throw new ConfigError(
          `target-bigquery: ${this.schema.streamId}: ${this.where} receives change data capture through the Storage Write API (it has a primary key and max_staleness), but the changes of ${source} no longer carry whole rows, and BigQuery refuses MERGE on such a table (https://cloud.google.com/bigquery/docs/change-data-capture#limitations). ALTER TABLE ${source} REPLICA IDENTITY FULL and run again, or copy the table again (--full-refresh --select ${this.schema.streamId}; with cdc_method: merge its changes are merged from then on).`,
        );
      }
      if (storageWrite && JSON.stringify(current ?? []) !== JSON.stringify(keys))
        patch.tableConstraints = { primaryKey: { columns: keys } };
      const staleness = intervalText(this.config.maxStalenessSeconds);
      if (storageWrite && (metadata.maxStaleness ?? null) !== staleness) patch.maxStaleness = staleness;
      const clusterable = new Set([
        "STRING",
        "INTEGER",
        "INT64",
        "NUMERIC",
        "BIGNUMERIC",
        "BOOLEAN",
        "BOOL",
        "DATE",
        "DATETIME",
        "TIMESTAMP",
      ]);
      const clusterKeys = keys.filter((k) =>
        clusterable.has(
          this.destinationColumns.find((f) => f.name.toLowerCase() === k.toLowerCase())?.type ?? "",
        ),
      );
      if (!metadata.clustering && clusterKeys.length > 0)
        patch.clustering = { fields: clusterKeys.slice(0, 4) };
      if (Object.keys(patch).length > 0) await table.setMetadata(patch);
    });
    this.cdcTableReady = storageWrite ? "storage_write" : "merge";
  }

  /** Change batches loaded and not merged yet (`merge_interval`): their table and layout. */
  private pending: { table: string; layout: ChangesLayout; key: string } | undefined;
  /** When the last merge of accumulated changes ran (ms); the first waits a whole interval. */
  private lastMerge = Date.now();

  /**
   * `merge_interval`: the batch is loaded (a load job: free, and into a table of its own, so not
   * one of the target's table modifications) into `<table>__sluice_changes_<time>`, which outlives
   * the run, and the changes accumulated there are merged into the table at most once per
   * interval, and when the stream finishes. `write` resolves once the load is DONE, so the state
   * moves only past changes BigQuery holds; a run that dies before the merge leaves the table,
   * and the next one merges it first (`mergeLeftovers`).
   */
  private async accumulate(
    batch: RecordBatch,
    layout: BatchLayout,
    fields: readonly NdjsonField[],
    chunks: readonly NdjsonChunk[],
  ): Promise<void> {
    const stored = changesLayout(layout, this.columnNames);
    const columns = fields.map((f) => ({ name: f.name, type: this.stagingType(f.name) }));
    const key = JSON.stringify({ stored, columns });
    if (this.pending && this.pending.key !== key) await this.mergePending();
    if (!this.pending) {
      const table = bigqueryTableName(`${this.tableName}${CHANGES_INFIX}${Date.now().toString(36)}`);
      await this.api.createTable(table, {
        schema: { fields: columns.map((c) => apiField(c.name, c.type)) },
        // What the merge needs to know of these rows, for a later run too.
        description: JSON.stringify(stored),
      });
      this.pending = { table, layout: stored, key };
    }
    await this.loadChunks(batch, this.pending.table, chunks);
    if (Date.now() - this.lastMerge >= this.config.mergeIntervalSeconds * 1000) await this.mergePending();
  }

  /** Merges the accumulated changes into the table, then drops their table. */
  private async mergePending(): Promise<void> {
    const pending = this.pending;
    if (!pending) return;
    await this.mergeChangesTable(pending.table, pending.layout);
    this.pending = undefined;
    this.lastMerge = Date.now();
  }

  private async mergeChangesTable(table: string, layout: ChangesLayout): Promise<void> {
    await this.runMerge(
      table,
      this.mergePlanOf(layout),
      `merging the changes accumulated in ${this.api.qualified(table)} into ${this.where}`,
    );
    await this.api.deleteTable(table);
  }

  /** Changes a run loaded and did not merge (it died first): merged before anything else. */
  private async mergeLeftovers(): Promise<void> {
    const prefix = `${this.tableName}${CHANGES_INFIX}`.toLowerCase();
    const names = await this.api.call(`listing tables of ${this.config.datasetId}`, async () => {
      const [tables] = await this.api.bigquery.dataset(this.config.datasetId).getTables();
      return tables.map((t) => t.id ?? "").filter((id) => id.toLowerCase().startsWith(prefix));
    });
    const ordered = names.sort(
      (a, b) => parseInt(a.slice(prefix.length), 36) - parseInt(b.slice(prefix.length), 36),
    );
    for (const name of ordered) {
      const [metadata] = (await this.api.call(`reading ${this.api.qualified(name)}`, () =>
        this.api.table(name).getMetadata(),
      )) as unknown as [{ description?: string }];
      await this.mergeChangesTable(name, JSON.parse(metadata.description ?? "{}") as ChangesLayout);
    }
  }

  /** A staging column's type: the target's where it has the column, else the merge's own. */
  private stagingType(name: string): BigqueryColumnType {
    if (name === UNCHANGED_COLUMN) return { type: "STRING", mode: "NULLABLE" };
    if (name === SEQUENCE_COLUMN) return { type: "INT64", mode: "NULLABLE" };
    if (name === DELETED_AT_COLUMN) return DELETED_AT_TYPE;
    const wanted = this.table.wanted().find((c) => c.name === name);
    const existing = this.destinationColumns.find((f) => f.name.toLowerCase() === name.toLowerCase());
    const type = (existing ? parseApiField(existing) : undefined) ??
      (wanted ? bigqueryType(wanted.type) : undefined) ?? { type: "STRING", mode: "NULLABLE" };
    return type.mode === "REQUIRED" ? { ...type, mode: "NULLABLE" } : type;
  }

  /** A load job's errors, with the batch row BigQuery pointed at and its NDJSON line. */
  private async describeLoadFailure(error: unknown, batch: RecordBatch, chunk: NdjsonChunk): Promise<Error> {
    const cause = error instanceof Error && error.cause instanceof BigqueryJobError ? error.cause : error;
    // A quota or rate limit is about the table's traffic, not this chunk's rows: kept as mapped.
    if (!(cause instanceof BigqueryJobError) || cause.transient || isQuotaError(cause)) return error as Error;
    const messages = [cause.errorResult, ...cause.errors]
      .map((e) => `${e.message ?? ""} ${e.location ?? ""}`)
      .join("\n");
    let row = "";
    const position = /position (\d+)/i.exec(messages);
    const line = /(?:line|row)[: ]+(\d+)/i.exec(messages);
    let rowIndex: number | undefined;
    if (position) rowIndex = await rowAtOffset(chunk.path, chunk.start + Number(position[1]));
    else if (line) rowIndex = chunk.firstRow + Number(line[1]) - 1;
    if (rowIndex !== undefined) {
      const text = await readLine(chunk.path, rowIndex);
      row = ` at batch row ${rowIndex + 1}${text ? `: ${text.length > 300 ? `${text.slice(0, 300)}…` : text}` : ""}`;
    }
    const field = /(?:field|column)[: ]+`?([A-Za-z_][A-Za-z0-9_]*)`?/i.exec(messages);
    const source = field
      ? [...this.columnNames].find(([, bq]) => bq.toLowerCase() === field[1]!.toLowerCase())?.[0]
      : undefined;
    const column = field
      ? `, column ${field[1]}${source && source !== field[1] ? ` (source column "${source}")` : ""}`
      : "";
    return new DataError(
      `target-bigquery: load job ${cause.jobId} into ${this.api.qualified(this.destination)} failed (${batch.streamId}${column}${row}):\n${cause.describe()}`,
      { cause },
    );
  }

  get replaces(): boolean {
    return this.table.replace;
  }

  async activateVersion(): Promise<void> {
    await this.table.activateVersion();
  }

  async finish(): Promise<void> {
    await this.mergePending();
    await this.table.finish();
  }

  async abort(): Promise<void> {
    await this.table.abort();
  }

  async truncate(at: Date): Promise<void> {
    // The TRUNCATE came after the changes waiting: they land first.
    await this.mergePending();
    if (this.throughStorageWrite && this.mergeKeys.length > 0 && (await this.receivesChanges())) {
      // NOTE: BigQuery refuses UPDATE and DELETE on a table that receives change data capture, and
      // documents nothing of TRUNCATE TABLE against changes sent and not applied yet; marking each
      // key deleted through the stream needs every key, which a query with max_staleness may miss.
      throw new ConfigError(
        `target-bigquery: ${this.schema.streamId}: the source table was truncated, and ${this.where} receives change data capture through the Storage Write API, where BigQuery refuses UPDATE and DELETE (https://cloud.google.com/bigquery/docs/change-data-capture#limitations). Copy the table again: sluice run --full-refresh --select ${this.schema.streamId} (the copy replaces the table and the changes continue from it).`,
      );
    }
    await this.table.truncate(at);
  }
}

/** A metadata value as the text BigQuery loads (`"now"`: the time the batch was written). */
function ndjsonMetadata(value: MetadataValue["value"], now: Date): string {
  if (value === "now") return `'${now.toISOString()}'`;
  if ("instant" in value) return `'${value.instant.toISOString()}'`;
  return String(value.integer);
}

/** The 0-based line `index` of a file (a row of NDJSON), or undefined. */
async function readLine(file: string, index: number): Promise<string | undefined> {
  const { createInterface } = await import("node:readline");
  const lines = createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity });
  let i = 0;
  for await (const line of lines) {
    if (i++ === index) {
      lines.close();
      return line;
    }
  }
  return undefined;
}
