import type { TableMetadata } from "@google-cloud/bigquery";
import { DELETED_AT_COLUMN } from "../batch.js";
import type { ColumnType } from "../column-type.js";
import type { ColumnFit } from "../loader-core/existing-columns.js";
import type {
  ColumnRefusal,
  TableEvolution,
  WantedColumn,
  WarehouseTables,
} from "../loader-core/stream-table.js";
import type { BigqueryClient, TableResource } from "./bigquery-client.js";
import { quoteColumn } from "./bigquery-names.js";
import { columnPartitioning, type ColumnPartitioning } from "./bigquery-partitions.js";
import { TABLE_VERSION_COLUMN } from "../loader-core/metadata-columns.js";
import {
  addColumnsSql,
  anyRowSql,
  deleteOtherVersionsSql,
  holdsVersionSql,
  truncateSql,
  widenColumnSql,
} from "./bigquery-sql.js";
import {
  apiField,
  bigqueryColumnFit,
  bigqueryType,
  columnText,
  type BigqueryColumnType,
  ddlType,
  evolveType,
  parseApiField,
  type TableField,
} from "./bigquery-types.js";

/**
 * The label that marks a table sluice created with its own types: a table without it (another
 * target's) keeps its column types (existing-columns.ts). A label rather than the description:
 * `tables.get`, which reads the columns, returns it at no extra cost; it is set by the request
 * that creates the table (no metadata update of its own, of which BigQuery allows 5 per table per
 * 10 s); and descriptions are the user's (dbt's `persist_docs` rewrites them), labels by key.
 */
export const SLUICE_TABLE_LABEL = { key: "sluice", value: "own-types" } as const;

/**
 * target-bigquery's DDL for the loader core's table lifecycle (stream-table.ts), in one dataset,
 * for one stream: it keeps the destination's fields as BigQuery has them (modes included), which
 * staging tables copy.
 */
export class BigqueryTables implements WarehouseTables {
  /** The destination's fields, kept current as columns are added or widened. */
  fields: TableField[] = [];

  constructor(
    private readonly api: BigqueryClient,
    private readonly quoted: (table: string) => string,
    /**
     * The metadata of a new table: its schema, the partitioning and clustering `table_config`
     * asks for, and for a staging table its expiration.
     */
    private readonly metadataFor: (table: string, fields: TableField[]) => TableMetadata,
  ) {}

  /**
   * The partitioning and clustering of the table last read or made (the destination's): a staging
   * table a copy appends from must have the same (BigQuery refuses to copy between tables
   * partitioned differently), and a MERGE is restricted to the partitions it touches.
   */
  layout: Pick<TableMetadata, "timePartitioning" | "clustering"> = {};

  /** The destination's partitioning on a time column, if any (bigquery-partitions.ts). */
  get partitioning(): ColumnPartitioning | undefined {
    return columnPartitioning(this.layout.timePartitioning, this.fields);
  }

  async columns(table: string): Promise<Map<string, string> | undefined> {
    const metadata = await this.api.tableMetadata(table);
    if (metadata === undefined) return undefined;
    const fields = (metadata.schema?.fields ?? []) as TableField[];
    this.fields = fields;
    this.layout = layoutOf(metadata);
    this.labels.set(table, { ...(metadata.labels ?? {}) });
    this.read = new Map(fields.map((f) => [f.name.toLowerCase(), f]));
    return new Map(fields.map((f) => [f.name, columnText(f)]));
  }

  /** The fields of the table `columns` read last, by lower-case name: kept columns copy them. */
  private read = new Map<string, TableField>();
  /** Labels of the tables `columns` read (a table's own, never ours to change). */
  private readonly labels = new Map<string, Record<string, string>>();

  async create(table: string, columns: readonly WantedColumn[]): Promise<void> {
    const fields = columns.map((c): TableField => {
      const kept = c.keep !== undefined ? this.read.get(c.name.toLowerCase()) : undefined;
      if (kept === undefined) return apiField(c.name, bigqueryType(c.type));
      // Another target's column kept as it is (its mode too, a RECORD's fields).
      const { mode, ...field } = kept;
      return { ...field, name: c.name, ...(mode && mode.toUpperCase() !== "REQUIRED" ? { mode } : {}) };
    });
    const metadata = this.metadataFor(table, fields);
    const ours = columns.every((c) => c.keep === undefined);
    if (ours)
      metadata.labels = { ...(metadata.labels ?? {}), [SLUICE_TABLE_LABEL.key]: SLUICE_TABLE_LABEL.value };
    await this.api.createTable(table, metadata);
    this.fields = fields;
    this.layout = layoutOf(metadata);
    this.made.add(table);
    if (ours) this.marked.add(table);
  }

  /** Tables this stream made with the label (a staging table's is given to the table it replaces). */
  private readonly marked = new Set<string>();

  async createdBySluice(table: string): Promise<boolean> {
    const labels = this.labels.get(table) ?? (await this.api.tableMetadata(table))?.labels ?? {};
    return labels[SLUICE_TABLE_LABEL.key] === SLUICE_TABLE_LABEL.value;
  }

  /** Labels are by key, so marking never overwrites the user's (one metadata update, once). */
  async adopt(table: string): Promise<void> {
    await this.mark(table);
  }

  private async mark(table: string): Promise<void> {
    await this.api.call(`labelling ${this.api.qualified(table)} as created by sluice`, () =>
      this.api
        .table(table)
        .setMetadata({ labels: { [SLUICE_TABLE_LABEL.key]: SLUICE_TABLE_LABEL.value } } as TableMetadata),
    );
    this.labels.set(table, {
      ...(this.labels.get(table) ?? {}),
      [SLUICE_TABLE_LABEL.key]: SLUICE_TABLE_LABEL.value,
    });
  }

  fit(type: ColumnType, current: string): ColumnFit {
    return bigqueryColumnFit(type, current);
  }

  spell(type: ColumnType): string {
    return ddlType(bigqueryType(type));
  }

  /** Tables this stream made (empty until it writes, which it does only once they are prepared). */
  private readonly made = new Set<string>();

  async addColumn(table: string, column: WantedColumn): Promise<void> {
    await this.addColumns(table, [column]);
  }

  /**
   * Every column of an evolution in one `ALTER TABLE ... ADD COLUMN a, ADD COLUMN b, ...`:
   * BigQuery allows 5 table metadata updates per table per 10 seconds
   * (https://cloud.google.com/bigquery/quotas#standard_tables), so a statement per column would
   * be refused from the sixth new column on.
   */
  private async addColumns(table: string, columns: readonly WantedColumn[]): Promise<void> {
    const typed = columns.map((c) => ({ name: c.name, type: bigqueryType(c.type) }));
    await this.api.query(
      addColumnsSql(this.quoted(table), typed),
      `adding column${columns.length > 1 ? "s" : ""} ${columns.map((c) => c.name).join(", ")} to ${this.api.qualified(table)}`,
    );
    for (const c of typed) this.fields.push(apiField(c.name, c.type));
  }

  /**
   * BigQuery converts only by widening, which no value can refuse: every column is planned
   * (`evolveType`) before any statement is sent, and a column it cannot widen refuses them all.
   * NOTE: BigQuery DDL is not transactional; a statement failing midway (a lost connection) can
   * leave the columns before it changed, each of them only added or widened.
   */
  async evolve(table: string, evolution: TableEvolution): Promise<ColumnRefusal[]> {
    const refusals: ColumnRefusal[] = [];
    const widen: { field: TableField; to: BigqueryColumnType }[] = [];
    for (const { column } of evolution.convert) {
      const current = this.fields.find((f) => f.name.toLowerCase() === column.name.toLowerCase());
      if (!current) continue;
      const wanted = bigqueryType(column.type);
      const have = parseApiField(current);
      const change = have ? evolveType(have, wanted) : { action: "incompatible" as const };
      if (change.action === "widen") widen.push({ field: current, to: change.to });
      else if (change.action === "incompatible") {
        refusals.push({
          column: current.name,
          current: have ? ddlType(have) : current.type,
          wanted: ddlType(wanted),
          reason: "BigQuery cannot convert it in place",
        });
      }
    }
    if (refusals.length > 0) return refusals;
    if (evolution.add.length > 0) await this.addColumns(table, evolution.add);
    for (const { field, to } of widen) {
      await this.api.query(
        widenColumnSql(this.quoted(table), field.name, to),
        `widening ${this.api.qualified(table)}.${field.name} to ${ddlType(to)}`,
      );
      const { mode } = field;
      Object.assign(field, apiField(field.name, to), mode ? { mode } : {});
    }
    return [];
  }

  /**
   * A table this stream just made holds nothing; otherwise `tables.get` first (free): a table it
   * counts rows in holds some. Its `numRows` leaves out rows
   * still in the streaming buffer and changes not applied yet (Storage Write API), so a count of
   * 0 decides nothing: then a query looks (10 MB billed at least).
   */
  async isEmpty(table: string): Promise<boolean> {
    if (this.made.has(table)) return true;
    const metadata = await this.api.tableMetadata(table);
    const counted = Number(metadata?.numRows ?? 0) + Number(metadata?.streamingBuffer?.estimatedRows ?? 0);
    if (counted > 0) return false;
    const rows = await this.api.query(
      anyRowSql(this.quoted(table)),
      `checking whether ${this.api.qualified(table)} is empty`,
    );
    return rows.length === 0;
  }

  async drop(table: string): Promise<void> {
    await this.api.deleteTable(table);
  }

  /**
   * One copy job (WRITE_TRUNCATE): readers see the old rows or the new ones, never a mix. The
   * staging table's expiration stays with it: a copy job gives its destination only the rows and
   * schema (an expiration would come from `destinationExpirationTime`, which is not set), so the
   * table never expires.
   */
  async swap(staging: string, target: string): Promise<void> {
    try {
      await this.api.copy(staging, target, "WRITE_TRUNCATE");
    } catch (error) {
      const message = messagesOf(error);
      if (/too many partitions/i.test(message)) {
        await this.renameOver(staging, target);
        return;
      }
      // NOTE: a copy cannot change a table's partitioning or clustering (table_config changed
      // since the table was made): the old table goes first, so readers briefly see none.
      if (!/partition|cluster/i.test(message)) throw error;
      await this.api.deleteTable(target);
      await this.api.copy(staging, target, "WRITE_TRUNCATE");
    }
    await this.api.deleteTable(staging);
    await this.carryMark(staging, target);
  }

  /**
   * A copy job gives the table the staging table's rows and schema, not its labels: a table
   * rebuilt with sluice's types (`existing_tables: rebuild`) is labelled once, after the swap.
   */
  private async carryMark(staging: string, target: string): Promise<void> {
    if (!this.marked.has(staging)) return;
    const labels = (await this.api.tableMetadata(target))?.labels ?? {};
    if (labels[SLUICE_TABLE_LABEL.key] !== SLUICE_TABLE_LABEL.value) await this.mark(target);
  }

  /**
   * A copy that would write more partitions than one job may modify (4,000,
   * https://cloud.google.com/bigquery/quotas#partitioned_tables) is refused: the staging table
   * takes the target's name instead (`ALTER TABLE ... RENAME TO`, a metadata change that writes
   * no partition), once the old table is gone, so readers briefly see none. Its expiration is
   * cleared: it is the table now.
   */
  private async renameOver(staging: string, target: string): Promise<void> {
    await this.api.deleteTable(target);
    await this.api.query(
      `ALTER TABLE ${this.quoted(staging)} RENAME TO ${quoteColumn(target)}`,
      `renaming ${this.api.qualified(staging)} to ${target}`,
    );
    await this.api.call(`clearing the expiration of ${this.api.qualified(target)}`, () =>
      this.api.table(target).setMetadata({ expirationTime: null } as unknown as TableMetadata),
    );
    await this.carryMark(staging, target);
  }

  async deleteAll(table: string): Promise<void> {
    await this.truncate(table, { hardDelete: true, at: new Date() });
  }

  async markAllDeleted(table: string, at: Date): Promise<void> {
    await this.truncate(table, { hardDelete: false, at });
  }

  async holdsVersion(table: string, version: number): Promise<boolean> {
    const rows = await this.api.query(
      holdsVersionSql(this.quoted(table), TABLE_VERSION_COLUMN, version),
      `checking whether ${this.api.qualified(table)} holds version ${version}`,
    );
    return rows.length > 0;
  }

  async deleteOtherVersions(table: string, version: number): Promise<void> {
    await this.api.query(
      deleteOtherVersionsSql(this.quoted(table), TABLE_VERSION_COLUMN, version),
      `removing rows of versions other than ${version} from ${this.api.qualified(table)}`,
    );
  }

  private async truncate(table: string, options: { hardDelete: boolean; at: Date }): Promise<void> {
    await this.api.query(
      truncateSql(this.quoted(table), { ...options, deletedAtColumn: DELETED_AT_COLUMN }),
      `applying a source TRUNCATE to ${this.api.qualified(table)}`,
    );
  }
}

function layoutOf(
  metadata: TableResource | TableMetadata,
): Pick<TableMetadata, "timePartitioning" | "clustering"> {
  return {
    ...(metadata.timePartitioning ? { timePartitioning: metadata.timePartitioning } : {}),
    ...(metadata.clustering ? { clustering: metadata.clustering } : {}),
  };
}

/** An error's message and its causes' (the client's ApiError under sluice's own). */
function messagesOf(error: unknown): string {
  const messages: string[] = [];
  for (let e: unknown = error; e instanceof Error; e = e.cause) messages.push(e.message);
  return messages.join("\n");
}
