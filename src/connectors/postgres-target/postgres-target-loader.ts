import { createHash } from "node:crypto";
import fs from "node:fs";
import { pipeline } from "node:stream/promises";
import type pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { ConnectionError, DataError, SchemaError } from "../../errors.js";
import type { StreamVerifier } from "../../verify/stream-verifier.js";
import type { RecordBatch } from "../batch.js";
import { DELETED_AT_COLUMN, SEQUENCE_COLUMN, UNCHANGED_COLUMN } from "../batch.js";
import type { ColumnType, StreamSchema } from "../column-type.js";
import type { Loader, OpenStreamOptions, PluginConfig, StreamWriter } from "../connector.js";
import {
  connectPostgres,
  EXTRACT_SESSION_SETTINGS,
  quoteIdent,
  quoteLiteral,
  type PostgresConnectionSettings,
} from "../postgres/postgres-connection.js";
import { postgresError } from "../postgres/postgres-errors.js";
import { createPostgresTargetVerifier } from "./postgres-target-verifier.js";
import {
  postgresTargetType,
  sameColumnType,
  stagingConversion,
  stagingType,
} from "./postgres-target-types.js";

export interface TargetPostgresConfig extends PostgresConnectionSettings {
  default_target_schema?: string;
  table_prefix: string;
  add_metadata_columns: boolean;
  load_method: "append-only" | "upsert" | "overwrite";
  hard_delete: boolean;
}

/** Metadata columns, as the Singer targets name them. */
const METADATA_COLUMNS: readonly { name: string; type: string }[] = [
  { name: "_sdc_extracted_at", type: "timestamp with time zone" },
  { name: "_sdc_received_at", type: "timestamp with time zone" },
  { name: "_sdc_batched_at", type: "timestamp with time zone" },
  { name: DELETED_AT_COLUMN, type: "timestamp with time zone" },
  { name: SEQUENCE_COLUMN, type: "bigint" },
  { name: "_sdc_table_version", type: "bigint" },
];

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
  config: Pick<TargetPostgresConfig, "default_target_schema" | "table_prefix">,
  schema: StreamSchema,
): { schema: string; table: string } {
  return {
    schema: config.default_target_schema ?? schema.sourceSchema,
    table: `${config.table_prefix}${schema.sourceTable}`,
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

  constructor(config: PluginConfig) {
    this.config = config as unknown as TargetPostgresConfig;
  }

  private async connect(purpose: string): Promise<pg.Client> {
    let client: pg.Client;
    try {
      // The warehouse is written to: not the extractor's read-only session (but for `verify`).
      client = await connectPostgres(this.config, `sluice target-postgres ${purpose}`.slice(0, 63), {
        readOnly: purpose === "verify",
      });
    } catch (error) {
      // NOTE: the shared connection messages name the extractor's password variable.
      if (error instanceof ConnectionError && error.message.includes("TAP_POSTGRES_PASSWORD")) {
        throw new ConnectionError(
          `target-postgres: ${error.message.replace("TAP_POSTGRES_PASSWORD", "TARGET_POSTGRES_PASSWORD")}`,
          { cause: error.cause, transient: error.transient },
        );
      }
      throw error;
    }
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

  verifier(): StreamVerifier {
    return createPostgresTargetVerifier({
      connect: () => this.connect("verify"),
      tableOf: (schema) => targetTableOf(this.config, schema),
    });
  }

  async openStream(schema: StreamSchema, options: OpenStreamOptions): Promise<StreamWriter> {
    const client = await this.connect(schema.streamId);
    try {
      const writer = new PostgresTargetStreamWriter(client, this.config, schema, options);
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

/** Names of a batch's parts in the statements: staged fields by position, so no name collides. */
interface BatchPlan {
  /** Stream columns of the batch: their name, type and position (which `_sdc_unchanged` uses). */
  columns: { name: string; type: ColumnType; index: number }[];
  /** Positions of the CDC columns, when the batch has them. */
  deletedAt?: number;
  sequence?: number;
  unchanged?: number;
}

class PostgresTargetStreamWriter implements StreamWriter {
  private readonly schemaName: string;
  private readonly tableName: string;
  private readonly stagingName: string;
  private readonly replace: boolean;
  /** Keys the table has a primary key on (upsert, or a replace that may see a key twice). */
  private readonly keys: string[];
  /** Keys batches are merged on; empty when rows are appended. */
  private mergeKeys: string[];
  /** Columns of the destination table. */
  private readonly tableColumns = new Set<string>();
  private closed = false;

  constructor(
    private readonly client: pg.Client,
    private readonly config: TargetPostgresConfig,
    private readonly schema: StreamSchema,
    private readonly options: OpenStreamOptions,
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
    this.stagingName = stagingTableName(this.tableName);
    this.replace = options.mode === "replace" || config.load_method === "overwrite";
    this.keys = config.load_method === "append-only" ? [] : [...schema.keyProperties];
    this.mergeKeys = this.keys;
  }

  private get where(): string {
    return `${this.schemaName}.${this.tableName}`;
  }

  private get target(): string {
    return `${quoteIdent(this.schemaName)}.${quoteIdent(this.tableName)}`;
  }

  private get staging(): string {
    return `${quoteIdent(this.schemaName)}.${quoteIdent(this.stagingName)}`;
  }

  /** The table rows go to while the stream runs. */
  private get destination(): string {
    return this.replace ? this.staging : this.target;
  }

  private columnDefinitions(): { name: string; type: string }[] {
    const data = this.schema.columns.map((c) => ({ name: c.name, type: postgresTargetType(c.type) }));
    return this.config.add_metadata_columns ? [...data, ...METADATA_COLUMNS] : data;
  }

  private createTableSql(table: string): string {
    const definitions = this.columnDefinitions().map((c) => `${quoteIdent(c.name)} ${c.type}`);
    if (this.keys.length > 0) definitions.push(`PRIMARY KEY (${this.keys.map(quoteIdent).join(", ")})`);
    return `CREATE TABLE ${table} (${definitions.join(", ")})`;
  }

  async prepare(): Promise<void> {
    for (const key of this.keys) {
      if (!this.schema.columns.some((c) => c.name === key)) {
        throw new SchemaError(
          `target-postgres: key column "${key}" of ${this.schema.streamId} is not among its columns`,
        );
      }
    }
    try {
      await this.createSchema();
      if (this.replace) {
        await this.client.query(`DROP TABLE IF EXISTS ${this.staging}`);
        await this.client.query(this.createTableSql(this.staging));
        for (const column of this.columnDefinitions()) this.tableColumns.add(column.name);
        // A fresh table: rows read once each need no merge.
        if (this.options.distinctKeys) this.mergeKeys = [];
        return;
      }
      const existing = await this.readColumns(this.tableName);
      if (existing.size === 0) {
        await this.client.query(this.createTableSql(this.target));
        for (const column of this.columnDefinitions()) this.tableColumns.add(column.name);
      } else {
        await this.evolve(existing);
        if (this.keys.length > 0) await this.ensureKeyConstraint();
      }
      if (this.mergeKeys.length > 0 && this.options.distinctKeys) {
        // A run reads each source row once, so into an empty table there is nothing to merge
        // with: plain appends are exact and cheaper. A rerun after a crash finds rows and merges.
        const rows = await this.client.query(`SELECT 1 FROM ${this.target} LIMIT 1`);
        if (rows.rowCount === 0) this.mergeKeys = [];
      }
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

  /** Column name → type as `format_type` prints it; empty when the table does not exist. */
  private async readColumns(table: string): Promise<Map<string, string>> {
    const result = await this.client.query<{ name: string; type: string }>(
      `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
      [this.schemaName, table],
    );
    return new Map(result.rows.map((r) => [r.name, r.type]));
  }

  /** Adds columns the source gained; converts columns whose type changed; never drops one. */
  private async evolve(existing: Map<string, string>): Promise<void> {
    for (const name of existing.keys()) this.tableColumns.add(name);
    for (const column of this.columnDefinitions()) {
      const current = existing.get(column.name);
      if (current === undefined) {
        await this.addColumn(column.name, column.type);
      } else if (!sameColumnType(current, column.type)) {
        const name = quoteIdent(column.name);
        try {
          await this.client.query(
            `ALTER TABLE ${this.target} ALTER COLUMN ${name} TYPE ${column.type} USING ${name}::${column.type}`,
          );
        } catch (error) {
          throw new SchemaError(
            `target-postgres: ${this.where}.${column.name}: the source type changed to ${column.type} but the column is ${current} and cannot be converted (${(error as Error).message}); run with --full-refresh to rebuild the table`,
            { cause: error },
          );
        }
      }
    }
  }

  /**
   * INSERT ... ON CONFLICT needs a unique index on exactly the key columns. A primary key on
   * other columns (the stream's key changed, as Singer's `key_properties` may) is replaced.
   */
  private async ensureKeyConstraint(): Promise<void> {
    const indexes = await this.client.query<{ columns: string[]; primary: string | null }>(
      `SELECT array(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)) AS columns,
              (SELECT c.conname::text FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.contype = 'p') AS primary
         FROM pg_index i WHERE i.indrelid = $1::regclass AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL`,
      [this.target],
    );
    const wanted = [...this.keys].sort().join("\u0000");
    if (indexes.rows.some((r) => [...r.columns].sort().join("\u0000") === wanted)) return;
    const primary = indexes.rows.find((r) => r.primary !== null)?.primary;
    try {
      await this.client.query("BEGIN");
      if (primary) {
        await this.client.query(`ALTER TABLE ${this.target} DROP CONSTRAINT ${quoteIdent(primary)}`);
      }
      await this.client.query(
        `ALTER TABLE ${this.target} ADD PRIMARY KEY (${this.keys.map(quoteIdent).join(", ")})`,
      );
      await this.client.query("COMMIT");
    } catch (error) {
      await this.client.query("ROLLBACK").catch(() => undefined);
      throw new SchemaError(
        `target-postgres: ${this.where} has no unique key on (${this.keys.join(", ")}) to upsert on, and one cannot be made (${(error as Error).message}); remove the duplicate or NULL keys, or run with --full-refresh`,
        { cause: error },
      );
    }
  }

  private async addColumn(name: string, type: string): Promise<void> {
    await this.client.query(`ALTER TABLE ${this.destination} ADD COLUMN ${quoteIdent(name)} ${type}`);
    this.tableColumns.add(name);
  }

  /** Without `add_metadata_columns` the table has no `_sdc_deleted_at` until a delete needs it. */
  private async ensureDeletedAtColumn(): Promise<void> {
    if (!this.tableColumns.has(DELETED_AT_COLUMN)) {
      await this.addColumn(DELETED_AT_COLUMN, "timestamp with time zone");
    }
  }

  async write(batch: RecordBatch): Promise<void> {
    if (batch.rowCount === 0) return;
    const plan = this.planBatch(batch);
    try {
      // Its own statement, committed before the batch's transaction: the column set we know
      // stays true whether the batch commits or not.
      if (plan.deletedAt !== undefined) await this.ensureDeletedAtColumn();
      await this.client.query("BEGIN");
      if (this.copiesDirectly(plan)) {
        await this.copy(
          batch,
          this.destination,
          plan.columns.map((c) => quoteIdent(c.name)),
        );
      } else {
        await this.stage(batch, plan);
        if (this.mergeKeys.length === 0) await this.client.query(this.appendStatement(batch, plan));
        else await this.merge(batch, plan);
      }
      await this.client.query("COMMIT");
    } catch (error) {
      await this.client.query("ROLLBACK").catch(() => undefined);
      throw this.describeLoadError(error, batch);
    }
  }

  private planBatch(batch: RecordBatch): BatchPlan {
    const types = new Map<string, ColumnType>(this.schema.columns.map((c) => [c.name, c.type]));
    const plan: BatchPlan = { columns: [] };
    for (const [index, name] of batch.columns.entries()) {
      if (name === DELETED_AT_COLUMN) plan.deletedAt = index;
      else if (name === SEQUENCE_COLUMN) plan.sequence = index;
      else if (name === UNCHANGED_COLUMN) plan.unchanged = index;
      else {
        const type = types.get(name);
        if (!type) {
          throw new SchemaError(`${batch.streamId}: batch column "${name}" is not in the stream's schema`);
        }
        plan.columns.push({ name, type, index });
      }
    }
    return plan;
  }

  /**
   * Rows appended as they are, of columns PostgreSQL reads from the wire form, without metadata:
   * COPY straight into the table (the bulk of a FULL_TABLE load), about twice as fast as through
   * the staging table.
   */
  private copiesDirectly(plan: BatchPlan): boolean {
    return (
      this.mergeKeys.length === 0 &&
      !this.config.add_metadata_columns &&
      plan.deletedAt === undefined &&
      plan.sequence === undefined &&
      plan.unchanged === undefined &&
      plan.columns.every((c) => stagingConversion("x", c.type) === "x")
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
  private async stage(batch: RecordBatch, plan: BatchPlan): Promise<void> {
    const types = batch.columns.map((_, i) => {
      if (i === plan.deletedAt) return "timestamp with time zone";
      if (i === plan.sequence) return "bigint";
      if (i === plan.unchanged) return "text";
      return stagingType(plan.columns.find((c) => c.index === i)!.type);
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
  private valueColumns(batch: RecordBatch, plan: BatchPlan): { name: string; sql: string; index?: number }[] {
    const columns: { name: string; sql: string; index?: number }[] = plan.columns.map((c) => ({
      name: c.name,
      sql: stagingConversion(`c${c.index}`, c.type),
      index: c.index,
    }));
    if (this.config.add_metadata_columns) {
      const ts = (d: Date): string => `${quoteLiteral(d.toISOString())}::timestamptz`;
      columns.push(
        { name: "_sdc_extracted_at", sql: ts(batch.extractedAt) },
        { name: "_sdc_received_at", sql: ts(new Date()) },
        { name: "_sdc_batched_at", sql: "transaction_timestamp()" },
        { name: "_sdc_table_version", sql: String(this.options.version) },
      );
    }
    return columns;
  }

  /** Each row's `_sdc_sequence`: the batch's, else `sequenceBase` + its position in the file. */
  private sequenceSql(batch: RecordBatch, plan: BatchPlan): string {
    return plan.sequence !== undefined ? `c${plan.sequence}` : `(${batch.sequenceBase} + sluice_row - 1)`;
  }

  private appendStatement(batch: RecordBatch, plan: BatchPlan): string {
    const columns = this.valueColumns(batch, plan);
    if (plan.deletedAt !== undefined) columns.push({ name: DELETED_AT_COLUMN, sql: `c${plan.deletedAt}` });
    if (this.config.add_metadata_columns) {
      columns.push({ name: SEQUENCE_COLUMN, sql: this.sequenceSql(batch, plan) });
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
  private async merge(batch: RecordBatch, plan: BatchPlan): Promise<void> {
    const keys = new Set(this.mergeKeys);
    const values = this.valueColumns(batch, plan);
    const alias = (i: number): string => `v${i}`;
    const unchanged = plan.unchanged !== undefined ? `c${plan.unchanged}` : undefined;
    const carried = (index: number): string =>
      `(${unchanged} IS NULL OR position(',${index},' in ',' || ${unchanged} || ',') = 0)`;
    // Stream columns (not keys) a change may leave out.
    const partial = values.filter(
      (c) => unchanged !== undefined && c.index !== undefined && !keys.has(c.name),
    ) as { name: string; sql: string; index: number }[];
    const partialNames = new Set(partial.map((c) => c.name));
    const keyAliases = this.mergeKeys.map((k) => {
      const i = values.findIndex((c) => c.name === k);
      if (i < 0)
        throw new SchemaError(`${batch.streamId}: a batch without its key column "${k}" cannot be merged`);
      return alias(i);
    });
    const partition = keyAliases.join(", ");
    const inner = [
      ...values.map((c, i) => `${c.sql} AS ${alias(i)}`),
      `${plan.deletedAt !== undefined ? `c${plan.deletedAt}` : "NULL::timestamptz"} AS sluice_deleted`,
      `${this.sequenceSql(batch, plan)} AS sluice_seq`,
      ...partial.map((c) => `${carried(c.index)} AS sluice_carried_${c.index}`),
    ];
    const outer = [
      ...values.map((c, i) =>
        partialNames.has(c.name)
          ? `first_value(${alias(i)}) OVER (PARTITION BY ${partition} ORDER BY sluice_carried_${c.index!} DESC, sluice_seq DESC) AS ${alias(i)}`
          : alias(i),
      ),
      "sluice_deleted",
      "sluice_seq",
      ...partial.map(
        (c) =>
          `bool_or(sluice_carried_${c.index}) OVER (PARTITION BY ${partition}) AS sluice_carried_${c.index}`,
      ),
    ];
    // A stream whose keys are distinct (one snapshot read; not CDC) has nothing to reduce.
    const reduced =
      !this.options.distinctKeys || plan.deletedAt !== undefined || plan.unchanged !== undefined;
    const change = reduced ? "sluice_change" : `(SELECT ${inner.join(", ")} FROM sluice_batch)`;
    if (reduced) {
      await this.client.query(
        `CREATE TEMPORARY TABLE sluice_change ON COMMIT DROP AS SELECT DISTINCT ON (${partition}) ${outer.join(", ")} ` +
          `FROM (SELECT ${inner.join(", ")} FROM sluice_batch) AS b ORDER BY ${partition}, sluice_seq DESC`,
      );
    }
    const on = this.mergeKeys.map((k, j) => `t.${quoteIdent(k)} = s.${keyAliases[j]!}`).join(" AND ");
    const hard = this.config.hard_delete && plan.deletedAt !== undefined;
    if (hard) {
      await this.client.query(
        `DELETE FROM ${this.destination} AS t USING ${change} AS s WHERE ${on} AND s.sluice_deleted IS NOT NULL`,
      );
    }
    const list = values.map((c, i) => ({
      name: c.name,
      sql: partialNames.has(c.name)
        ? `CASE WHEN s.sluice_carried_${c.index!} THEN s.${alias(i)} ELSE t.${quoteIdent(c.name)} END`
        : `s.${alias(i)}`,
    }));
    // The table has `_sdc_deleted_at` whenever the batch does; a batch without it (not CDC)
    // leaves the row undeleted, as re-inserting a key does.
    if (this.tableColumns.has(DELETED_AT_COLUMN))
      list.push({ name: DELETED_AT_COLUMN, sql: "s.sluice_deleted" });
    if (this.config.add_metadata_columns) list.push({ name: SEQUENCE_COLUMN, sql: "s.sluice_seq" });
    const from =
      partial.length > 0 ? `${change} AS s LEFT JOIN ${this.destination} AS t ON ${on}` : `${change} AS s`;
    const updates = list
      .filter((c) => !keys.has(c.name))
      .map((c) => `${quoteIdent(c.name)} = EXCLUDED.${quoteIdent(c.name)}`);
    await this.client.query(
      `INSERT INTO ${this.destination} (${list.map((c) => quoteIdent(c.name)).join(", ")}) ` +
        `SELECT ${list.map((c) => c.sql).join(", ")} FROM ${from}${hard ? " WHERE s.sluice_deleted IS NULL" : ""} ` +
        `ON CONFLICT (${this.mergeKeys.map(quoteIdent).join(", ")}) ` +
        (updates.length > 0 ? `DO UPDATE SET ${updates.join(", ")}` : "DO NOTHING"),
    );
  }

  /**
   * Change data capture: the source table was truncated at `at`. Every row goes (`hard_delete`),
   * or is marked deleted at `at` unless it already was. One statement, committed on return.
   */
  async truncate(at: Date): Promise<void> {
    try {
      if (this.config.hard_delete) {
        await this.client.query(`DELETE FROM ${this.destination}`);
      } else {
        await this.ensureDeletedAtColumn();
        const column = quoteIdent(DELETED_AT_COLUMN);
        await this.client.query(
          `UPDATE ${this.destination} SET ${column} = ${quoteLiteral(at.toISOString())}::timestamptz WHERE ${column} IS NULL`,
        );
      }
    } catch (error) {
      throw postgresError(
        error,
        `target-postgres: applying a truncate of ${this.schema.streamId} to ${this.where}`,
      );
    }
  }

  async finish(): Promise<void> {
    try {
      if (this.replace) {
        await this.client.query("BEGIN");
        const kept = await this.grantsAndIndexes();
        await this.client.query(`DROP TABLE IF EXISTS ${this.target}`);
        await this.client.query(`ALTER TABLE ${this.staging} RENAME TO ${quoteIdent(this.tableName)}`);
        for (const statement of kept) await this.client.query(statement);
        await this.client.query("COMMIT");
      }
    } catch (error) {
      await this.client.query("ROLLBACK").catch(() => undefined);
      throw postgresError(
        error,
        `target-postgres: replacing ${this.where} (views depending on it must be dropped first)`,
      );
    } finally {
      await this.end();
    }
  }

  /**
   * What people add to a warehouse table by hand and a full refresh must not take away: the
   * privileges granted on it (so readers keep access) and its indexes (but the key's, which the
   * new table has). Returned as statements that apply them to the new table once it has the
   * old one's name; `pg_get_indexdef` names the table, so it applies as it is.
   * NOTE: column privileges, comments, triggers and policies are not carried over.
   */
  private async grantsAndIndexes(): Promise<string[]> {
    const result = await this.client.query<{ statement: string }>(
      `SELECT format('GRANT %s ON %s TO %s%s', a.privilege_type, $2::text,
                CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END,
                CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END) AS statement
         FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee
        WHERE c.oid = to_regclass($1) AND a.grantee <> c.relowner
       UNION ALL
       SELECT pg_get_indexdef(i.indexrelid)
         FROM pg_index i
        WHERE i.indrelid = to_regclass($1)
          AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)`,
      [this.target, this.target],
    );
    return result.rows.map((row) => row.statement);
  }

  async abort(): Promise<void> {
    try {
      await this.client.query("ROLLBACK").catch(() => undefined);
      if (this.replace) await this.client.query(`DROP TABLE IF EXISTS ${this.staging}`);
    } catch {
      // The staging table is dropped again at the next run's start.
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
      return new DataError(
        `target-postgres: column "${name}" of ${this.where}${type ? ` (${postgresTargetType(type)})` : ""} cannot hold the value "${shown}" (line ${context[1]} of a batch of ${batch.streamId}): ${e.message}`,
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
