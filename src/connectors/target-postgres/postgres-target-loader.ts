import { createHash } from "node:crypto";
import { z } from "zod";
import { parseSettings } from "../parse-settings.js";
import { builtinIdentity, type PluginIdentity } from "../plugin-identity.js";
import fs from "node:fs";
import { pipeline } from "node:stream/promises";
import type pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { ConnectionError, DataError, SchemaError } from "../../errors.js";
import { valueRefusalAdvice } from "../loader-core/value-refusal.js";
import { parseLoaderSettings, type LoaderSettings } from "../loader-core/loader-settings.js";
import type { StreamVerifier } from "../../verify/stream-verifier.js";
import type { RecordBatch } from "../batch.js";
import { DELETED_AT_COLUMN, SEQUENCE_COLUMN } from "../batch.js";
import { batchLayout, type BatchLayout } from "../loader-core/batch-layout.js";
import { planMerge, trackedColumns } from "../loader-core/merge-plan.js";
import type { TargetTable } from "../loader-core/distinct-tables.js";
import { mayFillStaging, StreamTable } from "../loader-core/stream-table.js";
import { PostgresTargetTables } from "./postgres-target-tables.js";
import type { MetadataValue } from "../loader-core/metadata-columns.js";
import type { StreamSchema } from "../column-type.js";
import type { Loader, OpenStreamOptions, PluginConfig, StagingTable, StreamWriter } from "../connector.js";
import {
  connectPostgres,
  EXTRACT_SESSION_SETTINGS,
  quoteIdent,
  quoteLiteral,
  postgresConnectionSettings,
} from "../tap-postgres/postgres-connection.js";
import { postgresError } from "../tap-postgres/postgres-errors.js";
import { createPostgresTargetVerifier } from "./postgres-target-verifier.js";
import {
  postgresKeptValue,
  postgresTargetType,
  stagingConversion,
  stagingType,
} from "./postgres-target-types.js";

const targetPostgresOwnSettings = postgresConnectionSettings.extend({
  default_target_schema: z.string().optional(),
});

export type TargetPostgresConfig = z.infer<typeof targetPostgresOwnSettings> & {
  loader: LoaderSettings;
  /** The plugin these settings belong to, named in connection errors. */
  plugin: PluginIdentity;
};

/** A metadata value as PostgreSQL SQL. */
function metadataSql(value: MetadataValue["value"]): string {
  if (value === "now") return "transaction_timestamp()";
  if ("instant" in value) return `${quoteLiteral(value.instant.toISOString())}::timestamptz`;
  return String(value.integer);
}

/** PostgreSQL's identifier limit (NAMEDATALEN - 1), in bytes: longer names are cut silently. */
const MAX_IDENTIFIER_BYTES = 63;

/**
 * Session settings of every warehouse connection: the extractor's (ISO dates, UTC, UTF-8), so
 * batch texts read back as they were written and `verify` hashes as the source does; and
 * `synchronous_commit = on`, so a COMMIT that returned is on disk whatever the server default.
 */
export const TARGET_SESSION_SETTINGS = `${EXTRACT_SESSION_SETTINGS}; SET synchronous_commit = on`;

/** Where a stream's rows land: schema and table, as the loader and its verifier name them. */
export function targetTableOf(
  config: Pick<TargetPostgresConfig, "default_target_schema" | "loader">,
  schema: StreamSchema,
): { schema: string; table: string } {
  return {
    schema: config.default_target_schema ?? schema.sourceSchema,
    table: `${config.loader.tablePrefix}${schema.sourceTable}`,
  };
}

/**
 * target-postgres, built in: a PostgreSQL schema as the warehouse. Each batch file is streamed
 * with `COPY ... FROM STDIN` (CSV, or COPY text for copies), so PostgreSQL parses every value and
 * none passes through JavaScript: straight into the table when rows are appended as they are and
 * every column reads the wire form, else into a temporary table typed as the target columns
 * (bytea and arrays as text, converted in SQL) and from there into the table. Each batch is one
 * transaction, committed (with `synchronous_commit = on`) before `write` resolves:
 * - `replace` streams (FULL_TABLE, or `load_method: overwrite`) fill `<table>__sluice_new` and
 *   swap it in with DROP + RENAME in one transaction when the stream finishes.
 * - `upsert` with a key: the table has a primary key on it; each batch is reduced to one row per
 *   key (the highest `_sdc_sequence` wins; each field a change did not carry, `_sdc_unchanged`,
 *   takes the key's latest earlier value in the batch, else keeps the stored one) and written with
 *   `INSERT ... ON CONFLICT (key) DO UPDATE`. A key whose latest row is a delete is removed with
 *   `hard_delete`, else kept with `_sdc_deleted_at` set. A batch without `_sdc_sequence` (not CDC)
 *   is ordered by file order.
 * - otherwise rows are appended as they are (CDC rows keep `_sdc_deleted_at`; an append-only
 *   table is a change log). A stream whose keys are distinct (`distinctKeys`) into an empty table
 *   is appended too: there is nothing to merge with.
 * A table gets `_sdc_deleted_at` as soon as a batch carries one, so deletes are never lost.
 */
export class PostgresTargetLoader implements Loader {
  private readonly config: TargetPostgresConfig;
  private preparing: Promise<unknown> = Promise.resolve();
  /** Tables warned about in this run (see `StreamTableOptions.warned`). */
  private readonly warned = new Set<string>();

  constructor(config: PluginConfig, plugin: PluginIdentity = builtinIdentity("target-postgres")) {
    this.config = {
      ...parseSettings(plugin.name, targetPostgresOwnSettings, config),
      loader: parseLoaderSettings(plugin.name, config),
      plugin,
    };
  }

  private async connect(purpose: string): Promise<pg.Client> {
    // The warehouse is written to: not the extractor's read-only session (but for `verify`).
    // Its errors name this plugin's settings and variables (this.config.plugin).
    const client = await connectPostgres(this.config, `sluice target-postgres ${purpose}`.slice(0, 63), {
      readOnly: purpose === "verify",
    });
    try {
      await client.query(TARGET_SESSION_SETTINGS);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw postgresError(error, "target-postgres: setting up the session");
    }
    return client;
  }

  /**
   * See `RecordBatch.quote`: JSON's quotes are then not doubled, so batches are smaller and both
   * the extractor's COPY out and this COPY in have less to do.
   */
  readonly preferredCsvQuote = "\x01";
  /** See `RecordBatch.format`: PostgreSQL reads back its own COPY text format, with less work than CSV. */
  readonly readsCopyText = true;

  async test(): Promise<void> {
    const client = await this.connect("test");
    try {
      await client.query("SELECT 1");
    } finally {
      await client.end();
    }
  }

  tableOf(schema: StreamSchema): TargetTable {
    const target = targetTableOf(this.config, schema);
    return { name: `${target.schema}.${target.table}`, key: JSON.stringify([target.schema, target.table]) };
  }

  stagingOf(schema: StreamSchema, options: OpenStreamOptions): StagingTable | undefined {
    if (!mayFillStaging(options, this.config.loader)) return undefined;
    const target = targetTableOf(this.config, schema);
    return { schema: target.schema, table: stagingTableName(target.table) };
  }

  async dropStaging(staging: StagingTable): Promise<void> {
    const client = await this.connect("cleanup");
    try {
      await new PostgresTargetTables(client, staging.schema).drop(staging.table);
    } catch (error) {
      throw postgresError(
        error,
        `target-postgres: dropping ${staging.schema}.${staging.table}, left by a stopped run`,
      );
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  verifier(): StreamVerifier {
    return createPostgresTargetVerifier({
      connect: () => this.connect("verify"),
      tableOf: (schema) => targetTableOf(this.config, schema),
    });
  }

  async openStream(schema: StreamSchema, options: OpenStreamOptions): Promise<StreamWriter> {
    const client = await this.connect(schema.streamId);
    try {
      const writer = new PostgresTargetStreamWriter(client, this.config, schema, options, this.warned);
      // Streams preparing at once would race on CREATE SCHEMA IF NOT EXISTS (a unique violation
      // in pg_namespace); one at a time.
      const prepared = this.preparing.catch(() => undefined).then(() => writer.prepare());
      this.preparing = prepared;
      await prepared;
      return writer;
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
  }

  async close(): Promise<void> {
    // Each writer and verifier owns its connection and closes it.
  }
}

class PostgresTargetStreamWriter implements StreamWriter {
  private readonly schemaName: string;
  private readonly tableName: string;
  /** The table's lifecycle (loader-core), with PostgreSQL's DDL. */
  private readonly table: StreamTable;
  private readonly tables: PostgresTargetTables;
  private closed = false;

  constructor(
    private readonly client: pg.Client,
    private readonly config: TargetPostgresConfig,
    private readonly schema: StreamSchema,
    private readonly options: OpenStreamOptions,
    warned: Set<string>,
  ) {
    const target = targetTableOf(config, schema);
    this.schemaName = target.schema;
    this.tableName = target.table;
    for (const [setting, name] of [
      ["default_target_schema", this.schemaName],
      ["table_prefix", this.tableName],
    ] as const) {
      if (Buffer.byteLength(name) > MAX_IDENTIFIER_BYTES) {
        throw new SchemaError(
          `target-postgres: the name "${name}" of ${schema.streamId} is longer than PostgreSQL's ${MAX_IDENTIFIER_BYTES} bytes and would be cut; shorten it (setting \`${setting}\`)`,
        );
      }
    }
    this.tables = new PostgresTargetTables(client, this.schemaName);
    this.table = new StreamTable({
      schema,
      stream: options,
      settings: config.loader,
      tables: this.tables,
      target: this.tableName,
      where: `target-postgres: ${this.schemaName}.${this.tableName}`,
      staging: stagingTableName(this.tableName),
      // The staging table has the key too: a replace that may see a key twice merges on it.
      mergesWhileReplacing: true,
      warned,
    });
  }

  get warnings(): readonly string[] {
    return this.table.warnings;
  }

  /** Keys batches are merged on; empty when rows are appended. */
  private get mergeKeys(): string[] {
    return this.table.mergeKeys;
  }

  private get where(): string {
    return `${this.schemaName}.${this.tableName}`;
  }

  /** The table rows go to while the stream runs. */
  private get destination(): string {
    return this.tables.quoted(this.table.destination);
  }

  async prepare(): Promise<void> {
    for (const key of this.table.keys) {
      if (!this.schema.columns.some((c) => c.name === key)) {
        throw new SchemaError(
          `target-postgres: key column "${key}" of ${this.schema.streamId} is not among its columns`,
        );
      }
    }
    try {
      await this.createSchema();
      await this.table.prepare();
    } catch (error) {
      if (error instanceof SchemaError) throw error;
      throw postgresError(error, `target-postgres: preparing ${this.where} for ${this.schema.streamId}`);
    }
  }

  private async createSchema(): Promise<void> {
    const found = await this.client.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [this.schemaName]);
    if (found.rowCount !== 0) return;
    try {
      await this.client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(this.schemaName)}`);
    } catch (error) {
      // Another process created it meanwhile (IF NOT EXISTS is not atomic): fine.
      if ((error as { code?: string }).code !== "23505") throw error;
    }
  }

  async write(batch: RecordBatch): Promise<void> {
    if (batch.rowCount === 0) return;
    const layout = batchLayout(batch, this.schema);
    try {
      // Its own statement, committed before the batch's transaction: the column set we know
      // stays true whether the batch commits or not.
      if (layout.deletedAt !== undefined) await this.table.prepareForDeletes();
      await this.client.query("BEGIN");
      if (this.copiesDirectly(layout)) {
        await this.copy(
          batch,
          this.destination,
          layout.columns.map((c) => quoteIdent(c.name)),
        );
      } else {
        await this.stage(batch, layout);
        if (this.mergeKeys.length === 0) await this.client.query(this.appendStatement(batch, layout));
        else await this.merge(batch, layout);
      }
      await this.client.query("COMMIT");
    } catch (error) {
      await this.client.query("ROLLBACK").catch(() => undefined);
      throw this.describeLoadError(error, batch);
    }
  }

  /**
   * Rows appended as they are, of columns PostgreSQL reads from the wire form, without metadata:
   * COPY straight into the table (the bulk of a FULL_TABLE load), about twice as fast as through
   * the staging table.
   */
  private copiesDirectly(layout: BatchLayout): boolean {
    return (
      this.mergeKeys.length === 0 &&
      this.table.metadataNames.length === 0 &&
      layout.deletedAt === undefined &&
      layout.sequence === undefined &&
      layout.unchanged === undefined &&
      !this.table.keepsTypes &&
      layout.columns.every((c) => stagingConversion("x", c.type) === "x")
    );
  }

  private async copy(batch: RecordBatch, table: string, columns: string[]): Promise<void> {
    const quote =
      batch.quote === undefined || batch.quote === '"'
        ? ""
        : `, QUOTE ${quoteLiteral(batch.quote)}, ESCAPE ${quoteLiteral(batch.quote)}`;
    const format = batch.format === "copy-text" ? "FORMAT text" : `FORMAT csv, HEADER false${quote}`;
    const copy = this.client.query(
      copyFrom(`COPY ${table} (${columns.join(", ")}) FROM STDIN (${format}, ENCODING 'UTF8')`),
    );
    await pipeline(fs.createReadStream(batch.path, { highWaterMark: 1024 * 1024 }), copy);
  }

  /** COPY the file into `sluice_batch` (c0, c1, ... in file order, `sluice_row` its line number). */
  private async stage(batch: RecordBatch, layout: BatchLayout): Promise<void> {
    const types = batch.columns.map((_, i) => {
      if (i === layout.deletedAt) return "timestamp with time zone";
      if (i === layout.sequence) return "bigint";
      if (i === layout.unchanged) return "text";
      return stagingType(layout.columns.find((c) => c.index === i)!.type);
    });
    await this.client.query(
      `CREATE TEMPORARY TABLE sluice_batch (${types.map((t, i) => `c${i} ${t}`).join(", ")}, ` +
        `sluice_row bigint GENERATED ALWAYS AS IDENTITY) ON COMMIT DROP`,
    );
    await this.copy(
      batch,
      "sluice_batch",
      types.map((_, i) => `c${i}`),
    );
  }

  /** Each stored column's SQL over `sluice_batch`, metadata included (not `_sdc_deleted_at`/`_sdc_sequence`). */
  private valueColumns(
    batch: RecordBatch,
    layout: BatchLayout,
  ): { name: string; sql: string; index?: number }[] {
    const columns: { name: string; sql: string; index?: number }[] = layout.columns.map((c) => {
      const sql = stagingConversion(`c${c.index}`, c.type);
      // Another target's column kept with its type: the value converted to it.
      const kept = this.table.keptType(c.name);
      return {
        name: c.name,
        sql: kept === undefined ? sql : postgresKeptValue(sql, c.type, kept),
        index: c.index,
      };
    });
    for (const { name, value } of this.table.metadataValues({
      extractedAt: batch.extractedAt,
      receivedAt: new Date(),
    }))
      columns.push({ name, sql: metadataSql(value) });
    return columns;
  }

  /** Each row's `_sdc_sequence`: the batch's, else `sequenceBase` + its position in the file. */
  private sequenceSql(batch: RecordBatch, layout: BatchLayout): string {
    return layout.sequence !== undefined ? `c${layout.sequence}` : `(${batch.sequenceBase} + sluice_row - 1)`;
  }

  private appendStatement(batch: RecordBatch, layout: BatchLayout): string {
    const columns = this.valueColumns(batch, layout);
    if (layout.deletedAt !== undefined)
      columns.push({ name: DELETED_AT_COLUMN, sql: `c${layout.deletedAt}` });
    if (this.config.loader.addMetadataColumns) {
      columns.push({ name: SEQUENCE_COLUMN, sql: this.sequenceSql(batch, layout) });
    }
    return (
      `INSERT INTO ${this.destination} (${columns.map((c) => quoteIdent(c.name)).join(", ")}) ` +
      `SELECT ${columns.map((c) => c.sql).join(", ")} FROM sluice_batch`
    );
  }

  /**
   * 1. `sluice_change`: the batch reduced to one row per key, the latest by sequence (DISTINCT ON),
   *    with its `_sdc_deleted_at`. In a batch with `_sdc_unchanged`, a field's value is the latest
   *    among the rows that carried it (a window ordered carried-first) and `sluice_carried_<i>` says
   *    whether any row did.
   * 2. With `hard_delete`, keys whose latest row is a delete are deleted.
   * 3. The other keys are upserted: INSERT ... ON CONFLICT (key) DO UPDATE; a field no row of the
   *    batch carried takes the stored value (a join with the table, read in this transaction).
   * Columns of the table that the batch does not have keep their stored values.
   */
  private async merge(batch: RecordBatch, layout: BatchLayout): Promise<void> {
    const columns = this.valueColumns(batch, layout);
    const sqlOf = new Map(columns.map((c) => [c.name, c.sql]));
    for (const key of this.mergeKeys) {
      if (!sqlOf.has(key))
        throw new SchemaError(`${batch.streamId}: a batch without its key column "${key}" cannot be merged`);
    }
    const plan = planMerge({
      keys: this.mergeKeys,
      columns: columns.flatMap((c) => (c.index === undefined ? [] : [{ name: c.name, index: c.index }])),
      metadata: columns.flatMap((c) => (c.index === undefined ? [c.name] : [])),
      tableColumns: this.table.columns,
      layout,
      hardDelete: this.config.loader.hardDelete,
      addMetadataColumns: this.config.loader.addMetadataColumns,
      distinctKeys: this.options.distinctKeys,
    });
    // Staged fields by position, so no name collides with ours.
    const written = columns.map((c) => c.name);
    const alias = new Map(written.map((name, i) => [name, `v${i}`]));
    const as = (name: string): string => alias.get(name)!;
    const unchanged = layout.unchanged !== undefined ? `c${layout.unchanged}` : undefined;
    const carried = (index: number): string =>
      `(${unchanged} IS NULL OR position(',${index},' in ',' || ${unchanged} || ',') = 0)`;
    const tracked = trackedColumns(plan);
    const partition = plan.keys.map(as).join(", ");
    const inner = [
      ...written.map((name) => `${sqlOf.get(name)!} AS ${as(name)}`),
      `${layout.deletedAt !== undefined ? `c${layout.deletedAt}` : "NULL::timestamptz"} AS sluice_deleted`,
      `${this.sequenceSql(batch, layout)} AS sluice_seq`,
      ...tracked.map((c) => `${carried(c.tracked)} AS sluice_carried_${c.tracked}`),
    ];
    const trackedByName = new Map(tracked.map((c) => [c.name, c.tracked]));
    const outer = [
      ...written.map((name) => {
        const index = trackedByName.get(name);
        return index !== undefined
          ? `first_value(${as(name)}) OVER (PARTITION BY ${partition} ORDER BY sluice_carried_${index} DESC, sluice_seq DESC) AS ${as(name)}`
          : as(name);
      }),
      "sluice_deleted",
      "sluice_seq",
      ...tracked.map(
        (c) =>
          `bool_or(sluice_carried_${c.tracked}) OVER (PARTITION BY ${partition}) AS sluice_carried_${c.tracked}`,
      ),
    ];
    const change = plan.reduces ? "sluice_change" : `(SELECT ${inner.join(", ")} FROM sluice_batch)`;
    if (plan.reduces) {
      await this.client.query(
        `CREATE TEMPORARY TABLE sluice_change ON COMMIT DROP AS SELECT DISTINCT ON (${partition}) ${outer.join(", ")} ` +
          `FROM (SELECT ${inner.join(", ")} FROM sluice_batch) AS b ORDER BY ${partition}, sluice_seq DESC`,
      );
    }
    const on = plan.keys.map((k) => `t.${quoteIdent(k)} = s.${as(k)}`).join(" AND ");
    if (plan.hardDelete) {
      await this.client.query(
        `DELETE FROM ${this.destination} AS t USING ${change} AS s WHERE ${on} AND s.sluice_deleted IS NOT NULL`,
      );
    }
    // Columns the plan keeps (`plan.kept`) are simply not listed: ON CONFLICT leaves them as stored.
    const list = written.map((name) => {
      const index = trackedByName.get(name);
      return {
        name,
        sql:
          index !== undefined
            ? `CASE WHEN s.sluice_carried_${index} THEN s.${as(name)} ELSE t.${quoteIdent(name)} END`
            : `s.${as(name)}`,
      };
    });
    if (plan.writesDeletedAt) list.push({ name: DELETED_AT_COLUMN, sql: "s.sluice_deleted" });
    if (plan.writesSequence) list.push({ name: SEQUENCE_COLUMN, sql: "s.sluice_seq" });
    const from =
      tracked.length > 0 ? `${change} AS s LEFT JOIN ${this.destination} AS t ON ${on}` : `${change} AS s`;
    const keys = new Set(plan.keys);
    const updates = list
      .filter((c) => !keys.has(c.name))
      .map((c) => `${quoteIdent(c.name)} = EXCLUDED.${quoteIdent(c.name)}`);
    await this.client.query(
      `INSERT INTO ${this.destination} (${list.map((c) => quoteIdent(c.name)).join(", ")}) ` +
        `SELECT ${list.map((c) => c.sql).join(", ")} FROM ${from}${plan.hardDelete ? " WHERE s.sluice_deleted IS NULL" : ""} ` +
        `ON CONFLICT (${plan.keys.map(quoteIdent).join(", ")}) ` +
        (updates.length > 0 ? `DO UPDATE SET ${updates.join(", ")}` : "DO NOTHING"),
    );
  }

  /**
   * Change data capture: the source table was truncated at `at`. Every row goes (`hard_delete`),
   * or is marked deleted at `at` unless it already was. One statement, committed on return.
   */
  async truncate(at: Date): Promise<void> {
    try {
      await this.table.truncate(at);
    } catch (error) {
      throw postgresError(
        error,
        `target-postgres: applying a truncate of ${this.schema.streamId} to ${this.where}`,
      );
    }
  }

  get replaces(): boolean {
    return this.table.replace;
  }

  /** ACTIVATE_VERSION: one DELETE of the other versions' rows, committed on return. */
  async activateVersion(): Promise<void> {
    try {
      await this.table.activateVersion();
    } catch (error) {
      throw postgresError(
        error,
        `target-postgres: removing rows of other versions than ${this.options.version} from ${this.where}`,
      );
    }
  }

  async finish(): Promise<void> {
    try {
      await this.table.finish();
    } catch (error) {
      throw postgresError(
        error,
        `target-postgres: replacing ${this.where} (views depending on it must be dropped first)`,
      );
    } finally {
      await this.end();
    }
  }

  async abort(): Promise<void> {
    try {
      await this.client.query("ROLLBACK").catch(() => undefined);
      await this.table.abort();
    } finally {
      await this.end();
    }
  }

  private async end(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client.end().catch(() => undefined);
  }

  /** Names the column and value PostgreSQL refused, from COPY's context (`column c5: "..."`). */
  private describeLoadError(error: unknown, batch: RecordBatch): Error {
    if (error instanceof SchemaError || error instanceof ConnectionError) return error;
    const e = error as { code?: string; where?: string; message?: string };
    // COPY's context: `COPY <table>, line <n>, column <name>: "<value>"`; the staging table's
    // columns are named by position (c0, c1, ...).
    const line = (e.where ?? "").split("\n").find((l) => l.startsWith("COPY "));
    const context = line ? /, line (\d+), column (.+?): "(.*)"?$/s.exec(line) : null;
    if (context) {
      const column = context[2]!;
      const position = /^c(\d+)$/.exec(column);
      const name =
        line!.startsWith("COPY sluice_batch,") && position
          ? (batch.columns[Number(position[1])] ?? column)
          : column;
      const value = (context[3] ?? "").replace(/"$/, "");
      const shown = value.length > 80 ? `${value.slice(0, 80)}…` : value;
      const type = this.schema.columns.find((c) => c.name === name)?.type;
      const shownType = this.table.keptType(name) ?? (type ? postgresTargetType(type) : undefined);
      return new DataError(
        `target-postgres: column "${name}" of ${this.where}${shownType ? ` (${shownType})` : ""} cannot hold the value "${shown}" (line ${context[1]} of a batch of ${batch.streamId}): ${e.message}. ${valueRefusalAdvice(batch.streamId)}`,
        { cause: error },
      );
    }
    // A data exception (class 22) converting into columns another target's table keeps: the
    // statement does not say which column, so name every such column.
    const kept = this.schema.columns.flatMap((c) => {
      const type = this.table.keptType(c.name);
      return type === undefined ? [] : [`${c.name} (${type})`];
    });
    if (kept.length > 0 && e.code?.startsWith("22")) {
      return new DataError(
        `target-postgres: a value of ${batch.streamId} cannot be converted to the type of a column ${this.where} keeps from the target that created it (${kept.join(", ")}): ${e.message}. ` +
          `To rebuild the table with sluice's types, set \`existing_tables: rebuild\` and run with --full-refresh --select ${batch.streamId}; else ${valueRefusalAdvice(batch.streamId)}`,
        { cause: error },
      );
    }
    return postgresError(error, `target-postgres: loading ${batch.streamId} into ${this.where}`);
  }
}

/**
 * `<table>__sluice_new`, or when that would pass 63 bytes (PostgreSQL would cut it, possibly to
 * the table's own name), the table's name shortened on a character boundary plus a hash of it.
 */
export function stagingTableName(table: string): string {
  const plain = `${table}__sluice_new`;
  if (Buffer.byteLength(plain) <= MAX_IDENTIFIER_BYTES) return plain;
  const suffix = `__sluice_${createHash("sha256").update(table).digest("hex").slice(0, 8)}`;
  let head = "";
  for (const char of table) {
    if (Buffer.byteLength(head + char + suffix) > MAX_IDENTIFIER_BYTES) break;
    head += char;
  }
  return head + suffix;
}
