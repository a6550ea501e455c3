import { DELETED_AT_COLUMN } from "../batch.js";
import type { ColumnType, StreamSchema } from "../column-type.js";
import type { OpenStreamOptions } from "../connector.js";
import type { LoaderSettings } from "./loader-settings.js";
import { DELETED_AT_TYPE, METADATA_COLUMNS } from "./metadata-columns.js";

/**
 * The table lifecycle every warehouse loader shares, written once: which table a stream's rows
 * go to while it runs, creating and evolving it, whether batches merge on the key or append, the
 * `_sdc_deleted_at` column deletes need, a source TRUNCATE, and the atomic swap of a table copied
 * whole. A warehouse supplies only its DDL (`WarehouseTables`: types, quoting, its client).
 *
 * - `replace` streams (FULL_TABLE, or `load_method: overwrite`) fill the staging table (the
 *   warehouse names it, `<table>__sluice_new`) and swap it in on `finish`; `abort` drops it.
 * - otherwise the table is created or evolved (columns the source gained are added, changed types
 *   converted where the warehouse can, nothing ever dropped), and batches merge on the key with
 *   `load_method: upsert`, else append. A stream whose keys are distinct in this run
 *   (`distinctKeys`) into an empty table appends: there is nothing to merge with (a rerun after a
 *   crash finds rows and merges again).
 */
export interface WarehouseTables {
  /** Columns of `table` (name → the warehouse's type text), or undefined when it does not exist. */
  columns(table: string): Promise<Map<string, string> | undefined>;
  /** Creates `table` with `columns`; `keys` when the warehouse keeps a unique key on them. */
  create(table: string, columns: readonly WantedColumn[], keys: readonly string[]): Promise<void>;
  addColumn(table: string, column: WantedColumn): Promise<void>;
  /**
   * Brings an existing column to the wanted type when they differ (`current` as `columns` gave
   * it); throws a SchemaError that says what to do when the warehouse cannot convert it.
   */
  evolveColumn(table: string, column: WantedColumn, current: string): Promise<void>;
  /** After evolving: makes sure the table has a unique key on `keys` (warehouses that need one). */
  ensureKey?(table: string, keys: readonly string[]): Promise<void>;
  isEmpty(table: string): Promise<boolean>;
  drop(table: string): Promise<void>;
  /** Replaces `target` by `staging` atomically (readers see the old rows or the new, never none). */
  swap(staging: string, target: string): Promise<void>;
  /** Source TRUNCATE with `hard_delete`: every row goes. */
  deleteAll(table: string): Promise<void>;
  /** Source TRUNCATE otherwise: every row not yet deleted gets `_sdc_deleted_at = at`. */
  markAllDeleted(table: string, at: Date): Promise<void>;
}

export interface WantedColumn {
  name: string;
  type: ColumnType;
}

export interface StreamTableOptions {
  schema: StreamSchema;
  stream: OpenStreamOptions;
  settings: LoaderSettings;
  tables: WarehouseTables;
  /** The target table's name and its staging table's, as the warehouse spells them. */
  target: string;
  staging: string;
  /** Source column name → the warehouse's (BigQuery renames); the same name by default. */
  columnName?: (source: string) => string;
  /** Column names compare case-insensitively (DuckDB, BigQuery). */
  caseInsensitive?: boolean;
  /**
   * A `replace` stream whose keys may repeat (not `distinctKeys`) is merged on its key in the
   * staging table instead of appended (the warehouse keeps a unique key there).
   */
  mergesWhileReplacing?: boolean;
  /** Soft deletes only: no `_sdc_deleted_at` column is added for a batch merged with `hard_delete`. */
  deletedAtOnlyWhenSoft?: boolean;
}

/** Whether a stream fills a staging table swapped in at `finish` (`replace`, or `overwrite`). */
export function fillsStaging(
  stream: Pick<OpenStreamOptions, "mode">,
  settings: Pick<LoaderSettings, "loadMethod">,
): boolean {
  return stream.mode === "replace" || settings.loadMethod === "overwrite";
}

export class StreamTable {
  readonly replace: boolean;
  /** Keys the warehouse keeps unique (upsert, or a replace that may see a key twice). */
  readonly keys: string[];
  private merging: string[];
  /** Columns the destination has: folded name → name. */
  private readonly known = new Map<string, string>();
  private addingDeletedAt: Promise<void> | undefined;

  constructor(private readonly options: StreamTableOptions) {
    const { settings, stream, schema } = options;
    const name = options.columnName ?? ((source: string) => source);
    this.replace = fillsStaging(stream, settings);
    this.keys = settings.loadMethod === "append-only" ? [] : schema.keyProperties.map(name);
    // Upserts merge on the key; a replace merges only where its staging table keeps the key.
    const merges = this.replace ? options.mergesWhileReplacing === true : settings.loadMethod === "upsert";
    this.merging = merges ? this.keys : [];
  }

  /** The table rows go to while the stream runs. */
  get destination(): string {
    return this.replace ? this.options.staging : this.options.target;
  }

  get target(): string {
    return this.options.target;
  }

  get staging(): string {
    return this.options.staging;
  }

  /** Keys batches merge on; empty when they append. */
  get mergeKeys(): string[] {
    return this.merging;
  }

  /** Columns the destination has now, as it names them. */
  get columns(): string[] {
    return [...this.known.values()];
  }

  has(column: string): boolean {
    return this.known.has(this.fold(column));
  }

  /** The columns the stream needs: its own, then metadata columns when the settings ask. */
  wanted(): WantedColumn[] {
    const name = this.options.columnName ?? ((source: string) => source);
    const data = this.options.schema.columns.map((c) => ({ name: name(c.name), type: c.type }));
    return this.options.settings.addMetadataColumns ? [...data, ...METADATA_COLUMNS] : data;
  }

  /** Creates the destination, or evolves the table that is there; decides merge or append. */
  async prepare(): Promise<void> {
    const { tables, stream } = this.options;
    const wanted = this.wanted();
    if (this.replace) {
      await tables.drop(this.staging);
      await tables.create(this.staging, wanted, this.keys);
      this.remember(wanted.map((c) => c.name));
      if (stream.distinctKeys) this.merging = [];
      return;
    }
    const existing = await tables.columns(this.target);
    if (existing === undefined) {
      await tables.create(this.target, wanted, this.keys);
      this.remember(wanted.map((c) => c.name));
    } else {
      this.remember(existing.keys());
      const current = new Map([...existing].map(([name, type]) => [this.fold(name), { name, type }]));
      for (const column of wanted) {
        const found = current.get(this.fold(column.name));
        if (found === undefined) await this.addColumn(column);
        else await tables.evolveColumn(this.target, { ...column, name: found.name }, found.type);
      }
      if (this.keys.length > 0) await tables.ensureKey?.(this.target, this.keys);
    }
    if (this.merging.length > 0 && stream.distinctKeys && (await tables.isEmpty(this.target)))
      this.merging = [];
  }

  /**
   * Before a batch that carries deletes: somewhere to say so. Without `add_metadata_columns` the
   * table has no `_sdc_deleted_at` until the first batch (or truncate) that needs it. Added once
   * even when batches loading at once both carry it; its own statement, so the column set known
   * here stays true whether the batch commits or not.
   */
  async prepareForDeletes(): Promise<void> {
    if (this.options.deletedAtOnlyWhenSoft && this.merging.length > 0 && this.options.settings.hardDelete)
      return;
    await this.ensureDeletedAtColumn();
  }

  /** Change data capture: the source table was truncated at `at` (see `StreamWriter.truncate`). */
  async truncate(at: Date): Promise<void> {
    if (this.options.settings.hardDelete) {
      await this.options.tables.deleteAll(this.destination);
      return;
    }
    await this.ensureDeletedAtColumn();
    await this.options.tables.markAllDeleted(this.destination, at);
  }

  /** After the last batch: a `replace` stream's staging table takes the target's place. */
  async finish(): Promise<void> {
    if (this.replace) await this.options.tables.swap(this.staging, this.target);
  }

  /** The stream failed: what readers saw stays; a staging table goes (else the next run drops it). */
  async abort(): Promise<void> {
    if (this.replace) await this.options.tables.drop(this.staging).catch(() => undefined);
  }

  private ensureDeletedAtColumn(): Promise<void> {
    if (this.has(DELETED_AT_COLUMN)) return Promise.resolve();
    this.addingDeletedAt ??= this.addColumn({ name: DELETED_AT_COLUMN, type: DELETED_AT_TYPE }).catch(
      (error: unknown) => {
        this.addingDeletedAt = undefined;
        throw error;
      },
    );
    return this.addingDeletedAt;
  }

  private async addColumn(column: WantedColumn): Promise<void> {
    await this.options.tables.addColumn(this.destination, column);
    this.remember([column.name]);
  }

  private remember(names: Iterable<string>): void {
    for (const name of names) this.known.set(this.fold(name), name);
  }

  private fold(name: string): string {
    return this.options.caseInsensitive ? name.toLowerCase() : name;
  }
}
