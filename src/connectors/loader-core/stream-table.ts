import { SchemaError } from "../../errors.js";
import { DELETED_AT_COLUMN } from "../batch.js";
import type { ColumnType, StreamSchema } from "../column-type.js";
import type { OpenStreamOptions } from "../connector.js";
import {
  cannotHoldError,
  keptColumnsWarning,
  planExistingColumns,
  rebuildNeedsFullRefreshError,
  type ColumnFit,
} from "./existing-columns.js";
import type { LoaderSettings } from "./loader-settings.js";
import {
  DELETED_AT_TYPE,
  METADATA_COLUMNS,
  metadataValues,
  TABLE_VERSION_COLUMN,
  TABLE_VERSION_TYPE,
  type MetadataValue,
} from "./metadata-columns.js";

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
 * - Singer table versions (`OpenStreamOptions.tableVersion`): rows record their version in
 *   `_sdc_table_version`, and ACTIVATE_VERSION(v) means one thing however it arrives: rows of
 *   other versions go, rows of v stay. A stream that begins with it is a replace when the table
 *   holds no row of v (the swap removes the rest at once), else it continues in the table and
 *   `activateVersion` deletes the rest there.
 * - A table sluice did not create (another target's, see existing-columns.ts), with a warehouse
 *   that can tell (`createdBySluice`, `fit`): `existing_tables: continue` keeps its column types
 *   where they hold the values, in place and in the staging table of a replace, and refuses the
 *   stream before any change where one does not; `rebuild` replaces it with sluice's types when
 *   the stream copies it whole (`--full-refresh`), and refuses to load into it in place.
 */
export interface WarehouseTables {
  /** Columns of `table` (name → the warehouse's type text), or undefined when it does not exist. */
  columns(table: string): Promise<Map<string, string> | undefined>;
  /**
   * Creates `table` with `columns`; `keys` when the warehouse keeps a unique key on them. A table
   * whose columns all have sluice's types (no `keep`) is marked as sluice's (`createdBySluice`).
   */
  create(table: string, columns: readonly WantedColumn[], keys: readonly string[]): Promise<void>;
  addColumn(table: string, column: WantedColumn): Promise<void>;
  /**
   * Brings an existing table to the stream's shape, all or nothing: adds `add`, and converts each
   * column of `convert` whose type differs from the wanted one (`current` as `columns` gave it).
   * Every conversion is checked before any change is applied. When one cannot be made, nothing
   * is applied and every such column is returned, with why (the table is as it was); else `[]`.
   * Errors that are not about a column (a lost connection) are thrown. Warehouses that keep a
   * unique key to upsert on make sure it is on `keys` in the same change (a SchemaError saying
   * what to do when it cannot be made).
   */
  evolve(table: string, evolution: TableEvolution): Promise<ColumnRefusal[]>;
  /**
   * Whether sluice created `table` with its own types (the mark `create` leaves). Optional, with
   * `fit` and `spell`: a warehouse without them treats every table as sluice's (its columns are
   * converted to sluice's types in place, all or nothing).
   */
  createdBySluice?(table: string): Promise<boolean>;
  /**
   * Marks `table` as sluice's, unless it has a comment of its own: a table whose columns all have
   * sluice's types (one an earlier version of sluice created, before tables were marked) is
   * continued as sluice's from then on, its columns following the source's.
   */
  adopt?(table: string): Promise<void>;
  /** Whether an existing column of type `current` (as `columns` gave it) holds values of `type`. */
  fit?(type: ColumnType, current: string): ColumnFit;
  /** The warehouse's name for a sluice type, as `create` writes it. */
  spell?(type: ColumnType): string;
  isEmpty(table: string): Promise<boolean>;
  drop(table: string): Promise<void>;
  /** Replaces `target` by `staging` atomically (readers see the old rows or the new, never none). */
  swap(staging: string, target: string): Promise<void>;
  /** Source TRUNCATE with `hard_delete`: every row goes. */
  deleteAll(table: string): Promise<void>;
  /** Source TRUNCATE otherwise: every row not yet deleted gets `_sdc_deleted_at = at`. */
  markAllDeleted(table: string, at: Date): Promise<void>;
  /** Whether `table` (which has `_sdc_table_version`) holds a row of `version`. */
  holdsVersion(table: string, version: number): Promise<boolean>;
  /** ACTIVATE_VERSION: deletes the rows whose `_sdc_table_version` is not `version` (or NULL). */
  deleteOtherVersions(table: string, version: number): Promise<void>;
}

export interface WantedColumn {
  name: string;
  type: ColumnType;
  /**
   * The type to create the column with instead of sluice's, as the warehouse spells it: a column
   * of another target's table kept by a replace (`existing_tables: continue`).
   */
  keep?: string;
}

export interface TableEvolution {
  add: readonly WantedColumn[];
  convert: readonly { column: WantedColumn; current: string }[];
  /** The stream's key (empty: none, or `append-only`). */
  keys: readonly string[];
}

/** A column the warehouse cannot convert: its type now, the type wanted (both as it spells them), why. */
export interface ColumnRefusal {
  column: string;
  current: string;
  wanted: string;
  reason: string;
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
  /** The table in messages (`target-duckdb: main.orders`); `target` by default. */
  where?: string;
  /**
   * Tables already warned about in this run (the loader's), so that a table opened twice in one
   * run (a LOG_BASED copy, then its changes) is warned about once.
   */
  warned?: Set<string>;
  /**
   * Called once the columns another target's table keeps are known (`keptType`), before anything
   * changes: a warehouse refuses there what the kept types make impossible (BigQuery: a merge key
   * of a type it cannot compare), so that the table is left as it was.
   */
  checkKept?: () => void;
}

/** Whether a stream fills a staging table swapped in at `finish` (`replace`, or `overwrite`). */
export function fillsStaging(
  stream: Pick<OpenStreamOptions, "mode">,
  settings: Pick<LoaderSettings, "loadMethod">,
): boolean {
  return stream.mode === "replace" || settings.loadMethod === "overwrite";
}

/**
 * Whether a stream may fill a staging table, for the runner to record it before `openStream`
 * (`Loader.stagingOf`): those that `fillsStaging`, and under `existing_tables: rebuild` a stream
 * read whole again (`--full-refresh`), which replaces a table another target created. Recording
 * one that is never made costs nothing: the next run drops it if it exists.
 */
export function mayFillStaging(
  stream: Pick<OpenStreamOptions, "mode" | "fullRefresh" | "distinctKeys">,
  settings: Pick<LoaderSettings, "loadMethod" | "existingTables">,
): boolean {
  if (fillsStaging(stream, settings)) return true;
  return settings.existingTables === "rebuild" && stream.fullRefresh === true && stream.distinctKeys;
}

export class StreamTable {
  /** Keys the warehouse keeps unique (upsert, or a replace that may see a key twice). */
  readonly keys: string[];
  private replacing: boolean;
  private merging: string[];
  /** Columns the destination has: folded name → name. */
  private readonly known = new Map<string, string>();
  private addingDeletedAt: Promise<void> | undefined;
  /** Columns of another target's table kept with their own type: folded name → that type. */
  private readonly kept = new Map<string, string>();
  private readonly said: string[] = [];

  constructor(private readonly options: StreamTableOptions) {
    const { settings, stream, schema } = options;
    const name = options.columnName ?? ((source: string) => source);
    this.keys = settings.loadMethod === "append-only" ? [] : schema.keyProperties.map(name);
    this.replacing = false;
    this.merging = [];
    this.setReplace(fillsStaging(stream, settings));
  }

  /**
   * Whether the stream fills the staging table, swapped in at `finish`. Final once `prepare`
   * resolved (a stream that begins with ACTIVATE_VERSION decides it from the table).
   */
  get replace(): boolean {
    return this.replacing;
  }

  private setReplace(replace: boolean): void {
    const { settings } = this.options;
    this.replacing = replace;
    // Upserts merge on the key; a replace merges only where its staging table keeps the key.
    const merges = replace ? this.options.mergesWhileReplacing === true : settings.loadMethod === "upsert";
    this.merging = merges ? this.keys : [];
  }

  /** Rows record their Singer table version (`_sdc_table_version`). */
  private get versioned(): boolean {
    return this.options.settings.addMetadataColumns || this.options.stream.tableVersion !== undefined;
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

  /**
   * The type of `column` when it is another target's column kept as it is (values must be
   * converted to it as they load), else undefined (it has sluice's type).
   */
  keptType(column: string): string | undefined {
    return this.kept.get(this.fold(column));
  }

  /** Whether any column keeps another target's type (see `keptType`). */
  get keepsTypes(): boolean {
    return this.kept.size > 0;
  }

  /** What the user should know about the table, once `prepare` resolved; said once per run. */
  get warnings(): readonly string[] {
    return this.said;
  }

  /** The columns the stream needs: its own, then metadata columns when the settings ask. */
  wanted(): WantedColumn[] {
    const name = this.options.columnName ?? ((source: string) => source);
    const data = this.options.schema.columns.map((c) => ({ name: name(c.name), type: c.type }));
    if (this.options.settings.addMetadataColumns) return [...data, ...METADATA_COLUMNS];
    if (this.versioned) return [...data, { name: TABLE_VERSION_COLUMN, type: TABLE_VERSION_TYPE }];
    return data;
  }

  /**
   * The metadata values each row of a batch gets, besides `_sdc_deleted_at` and `_sdc_sequence`:
   * all of them with `add_metadata_columns`, else the table version when versions are kept.
   */
  metadataValues(batch: { extractedAt: Date; receivedAt: Date }): MetadataValue[] {
    const values = metadataValues({ ...batch, version: this.options.stream.version });
    if (this.options.settings.addMetadataColumns) return values;
    return this.versioned ? values.filter((v) => v.name === TABLE_VERSION_COLUMN) : [];
  }

  /** The names `metadataValues` gives values for, in its order. */
  get metadataNames(): string[] {
    return this.metadataValues({ extractedAt: new Date(0), receivedAt: new Date(0) }).map((v) => v.name);
  }

  /** Creates the destination, or evolves the table that is there; decides merge or append. */
  async prepare(): Promise<void> {
    const { tables, stream } = this.options;
    let wanted = this.wanted();
    if (stream.tableVersion === "activate" && !this.replace) {
      this.setReplace(!(await this.holdsVersion(stream.version)));
    }
    // A replace reads the table only where it may be another target's (its shape is then kept).
    const existing = this.replace && !tables.createdBySluice ? undefined : await tables.columns(this.target);
    const foreign = existing !== undefined ? await this.foreignPlan(existing, wanted) : undefined;
    if (foreign && this.replace && (foreign.kept || foreign.others.length > 0)) {
      // The new table of a replace is the old one's shape: its columns in its order, with its
      // types, those the stream does not have (the other target's `_sdc_*`) left NULL; then the
      // stream's new columns.
      const byName = new Map(wanted.map((c) => [this.fold(c.name), c]));
      const others = new Map(foreign.others.map((c) => [this.fold(c.name), c]));
      const shaped: WantedColumn[] = [];
      for (const name of existing!.keys()) {
        const column = byName.get(this.fold(name));
        const current = this.keptType(name);
        if (column === undefined) shaped.push(others.get(this.fold(name))!);
        else shaped.push(current === undefined ? { ...column, name } : { ...column, name, keep: current });
        byName.delete(this.fold(name));
      }
      wanted = [...shaped, ...byName.values()];
    }
    if (this.replace) {
      await tables.drop(this.staging);
      await tables.create(this.staging, wanted, this.keys);
      this.remember(wanted.map((c) => c.name));
      if (stream.distinctKeys) this.merging = [];
      return;
    }
    if (existing === undefined) {
      await tables.create(this.target, wanted, this.keys);
      this.remember(wanted.map((c) => c.name));
    } else if (foreign) {
      // Another target's table, decided column by column already: only new columns are added.
      this.remember(existing.keys());
      const refusals = await tables.evolve(this.target, { add: foreign.add, convert: [], keys: this.keys });
      if (refusals.length > 0) throw this.refused(refusals);
      this.remember(foreign.add.map((c) => c.name));
    } else {
      this.remember(existing.keys());
      const current = new Map([...existing].map(([name, type]) => [this.fold(name), { name, type }]));
      const add: WantedColumn[] = [];
      const convert: TableEvolution["convert"][number][] = [];
      for (const column of wanted) {
        const found = current.get(this.fold(column.name));
        if (found === undefined) add.push(column);
        else convert.push({ column: { ...column, name: found.name }, current: found.type });
      }
      const refusals = await tables.evolve(this.target, { add, convert, keys: this.keys });
      if (refusals.length > 0) throw this.refused(refusals);
      this.remember(add.map((c) => c.name));
    }
    if (this.merging.length > 0 && stream.distinctKeys && (await tables.isEmpty(this.target)))
      this.merging = [];
  }

  /**
   * For a table sluice did not create (where the warehouse can tell), decides every column before
   * anything changes (existing-columns.ts) and returns the columns to add, with `kept` when
   * columns keep their type; undefined for sluice's own tables and for a rebuild (a replace with
   * sluice's types). Throws, changing nothing, where the table cannot be continued.
   */
  private async foreignPlan(
    existing: Map<string, string>,
    wanted: readonly WantedColumn[],
  ): Promise<{ add: WantedColumn[]; kept: boolean; others: WantedColumn[] } | undefined> {
    const { tables, settings, stream } = this.options;
    if (!tables.fit || !tables.spell || !tables.createdBySluice) return undefined;
    if (await tables.createdBySluice(this.target)) return undefined;
    const fit = tables.fit.bind(tables);
    const plan = planExistingColumns({
      wanted,
      existing,
      fit,
      spell: tables.spell.bind(tables),
      ...(this.options.caseInsensitive ? { caseInsensitive: true } : {}),
    });
    const where = this.options.where ?? this.target;
    const streamId = this.options.schema.streamId;
    if (settings.existingTables === "rebuild" && plan.kept.length + plan.refused.length > 0) {
      if (this.replace) return undefined;
      // An INCREMENTAL stream read whole again (--full-refresh, distinct keys) replaces the table;
      // anything else would load rows into columns of the wrong types.
      if (stream.fullRefresh === true && stream.distinctKeys) {
        this.setReplace(true);
        return undefined;
      }
      throw rebuildNeedsFullRefreshError(where, streamId, [...plan.kept, ...plan.refused]);
    }
    if (plan.refused.length > 0) throw cannotHoldError(where, streamId, plan.refused);
    if (plan.kept.length === 0 && !this.replace && tables.adopt) {
      await tables.adopt(this.target);
      return undefined;
    }
    for (const k of plan.kept) this.kept.set(this.fold(k.name), k.current);
    if (plan.kept.length > 0) this.options.checkKept?.();
    const warning = keptColumnsWarning(where, plan.kept);
    const warned = this.options.warned ?? new Set<string>();
    if (warning !== undefined && !warned.has(where)) {
      warned.add(where);
      this.said.push(warning);
    }
    const named = new Set(wanted.map((c) => this.fold(c.name)));
    const others = [...existing]
      .filter(([name]) => !named.has(this.fold(name)))
      .map(([name, type]): WantedColumn => ({ name, type: { kind: "string", sqlType: type }, keep: type }));
    return { add: plan.add, kept: plan.kept.length > 0, others };
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

  /**
   * ACTIVATE_VERSION of the stream's version: rows of other versions leave the table. A replace
   * leaves them at `finish`: the staging table holds only this version.
   */
  async activateVersion(): Promise<void> {
    if (this.replace) return;
    await this.options.tables.deleteOtherVersions(this.target, this.options.stream.version);
  }

  /** Whether the target table holds a row of `version` (false without the version column). */
  private async holdsVersion(version: number): Promise<boolean> {
    const columns = await this.options.tables.columns(this.target);
    if (columns === undefined) return false;
    const hasColumn = [...columns.keys()].some((c) => this.fold(c) === this.fold(TABLE_VERSION_COLUMN));
    return hasColumn && (await this.options.tables.holdsVersion(this.target, version));
  }

  /** After the last batch: a `replace` stream's staging table takes the target's place. */
  async finish(): Promise<void> {
    if (this.replace) await this.options.tables.swap(this.staging, this.target);
  }

  /** The stream failed: what readers saw stays; a staging table goes (else the next run drops it). */
  async abort(): Promise<void> {
    if (this.replace) await this.options.tables.drop(this.staging).catch(() => undefined);
  }

  /** One message for every column that cannot be converted, and what to do. */
  private refused(refusals: readonly ColumnRefusal[]): SchemaError {
    const where = this.options.where ?? this.target;
    const streamId = this.options.schema.streamId;
    const columns = refusals
      .map((r) => `  - ${r.column}: ${r.current} cannot be converted to ${r.wanted} (${r.reason})`)
      .join("\n");
    const which = refusals.length === 1 ? "1 column" : `${refusals.length} columns`;
    return new SchemaError(
      `${where}: stream ${streamId} needs column types the table cannot be converted to (${which}), so no change was made to the table (its columns are as they were):\n${columns}\n` +
        `Rebuild the table from the source (\`sluice run ... --full-refresh --select ${streamId}\`, or drop the table), or convert or drop ${refusals.length === 1 ? "that column" : "those columns"} yourself.`,
    );
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
