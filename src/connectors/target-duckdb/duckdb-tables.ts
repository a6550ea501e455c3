import type { DuckDBConnection } from "@duckdb/node-api";
import { DELETED_AT_COLUMN } from "../batch.js";
import { TABLE_VERSION_COLUMN } from "../loader-core/metadata-columns.js";
import type {
  ColumnRefusal,
  TableEvolution,
  WantedColumn,
  WarehouseTables,
} from "../loader-core/stream-table.js";
import type { ColumnType } from "../column-type.js";
import type { ColumnFit } from "../loader-core/existing-columns.js";
import {
  duckdbColumnFit,
  duckdbLiteral,
  duckdbType,
  normaliseDuckdbType,
  quoteDuckdb,
} from "./duckdb-types.js";

/**
 * The comment that marks a table sluice created with its own types: a table without it (another
 * target's) keeps its column types (existing-columns.ts).
 */
export const SLUICE_TABLE_MARK = "sluice: created with sluice's column types";

/** target-duckdb's DDL for the loader core's table lifecycle (stream-table.ts), in one schema. */
export class DuckdbTables implements WarehouseTables {
  constructor(
    private readonly connection: DuckDBConnection,
    private readonly schemaName: string,
  ) {}

  /** `"schema"."table"`. */
  quoted(table: string): string {
    return `${quoteDuckdb(this.schemaName)}.${quoteDuckdb(table)}`;
  }

  async columns(table: string): Promise<Map<string, string> | undefined> {
    const reader = await this.connection.runAndReadAll(
      `SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = ${duckdbLiteral(this.schemaName)} AND table_name = ${duckdbLiteral(table)}`,
    );
    const rows = reader.getRowObjectsJS();
    if (rows.length === 0) return undefined;
    return new Map(rows.map((r) => [String(r.column_name), String(r.data_type)]));
  }

  async create(table: string, columns: readonly WantedColumn[]): Promise<void> {
    const definitions = columns
      .map((c) => `${quoteDuckdb(c.name)} ${c.keep ?? duckdbType(c.type)}`)
      .join(", ");
    await this.connection.run(`CREATE TABLE ${this.quoted(table)} (${definitions})`);
    if (columns.every((c) => c.keep === undefined))
      await this.connection.run(
        `COMMENT ON TABLE ${this.quoted(table)} IS ${duckdbLiteral(SLUICE_TABLE_MARK)}`,
      );
  }

  async createdBySluice(table: string): Promise<boolean> {
    const reader = await this.connection.runAndReadAll(
      `SELECT comment FROM duckdb_tables() WHERE schema_name = ${duckdbLiteral(this.schemaName)} AND table_name = ${duckdbLiteral(table)}`,
    );
    return reader.getRowObjectsJS()[0]?.comment === SLUICE_TABLE_MARK;
  }

  async adopt(table: string): Promise<void> {
    const reader = await this.connection.runAndReadAll(
      `SELECT comment FROM duckdb_tables() WHERE schema_name = ${duckdbLiteral(this.schemaName)} AND table_name = ${duckdbLiteral(table)}`,
    );
    const comment = reader.getRowObjectsJS()[0]?.comment;
    if (comment !== null && comment !== undefined && comment !== "") return;
    await this.connection.run(
      `COMMENT ON TABLE ${this.quoted(table)} IS ${duckdbLiteral(SLUICE_TABLE_MARK)}`,
    );
  }

  fit(type: ColumnType, current: string): ColumnFit {
    return duckdbColumnFit(type, current);
  }

  spell(type: ColumnType): string {
    return duckdbType(type);
  }

  async addColumn(table: string, column: WantedColumn): Promise<void> {
    await this.connection.run(
      `ALTER TABLE ${this.quoted(table)} ADD COLUMN ${quoteDuckdb(column.name)} ${duckdbType(column.type)}`,
    );
  }

  /**
   * Each conversion is checked first by reading the column (`TRY_CAST` of every value, which is
   * the cast ALTER ... TYPE does), then every change is applied in one transaction.
   */
  async evolve(table: string, evolution: TableEvolution): Promise<ColumnRefusal[]> {
    const changes = evolution.convert.flatMap(({ column, current }) => {
      const wanted = duckdbType(column.type);
      return normaliseDuckdbType(current) === normaliseDuckdbType(wanted)
        ? []
        : [{ column, current, wanted }];
    });
    if (evolution.add.length === 0 && changes.length === 0) return [];
    const refusals: ColumnRefusal[] = [];
    for (const { column, current, wanted } of changes) {
      const name = quoteDuckdb(column.name);
      try {
        const reader = await this.connection.runAndReadAll(
          `SELECT count(*) AS n, min(${name}::VARCHAR) AS example FROM ${this.quoted(table)} WHERE ${name} IS NOT NULL AND TRY_CAST(${name} AS ${wanted}) IS NULL`,
        );
        const row = reader.getRowObjectsJS()[0];
        const count = Number(row?.n ?? 0);
        if (count > 0) {
          const example = String(row?.example).slice(0, 60);
          refusals.push({
            column: column.name,
            current,
            wanted,
            reason: `${count} value${count === 1 ? "" : "s"} cannot be, e.g. ${JSON.stringify(example)}`,
          });
        }
      } catch (error) {
        refusals.push({ column: column.name, current, wanted, reason: (error as Error).message });
      }
    }
    if (refusals.length > 0) return refusals;
    let applying: { column: string; current: string; wanted: string } | undefined;
    try {
      await this.connection.run("BEGIN TRANSACTION");
      for (const column of evolution.add) await this.addColumn(table, column);
      for (const { column, current, wanted } of changes) {
        applying = { column: column.name, current, wanted };
        await this.connection.run(
          `ALTER TABLE ${this.quoted(table)} ALTER COLUMN ${quoteDuckdb(column.name)} TYPE ${wanted}`,
        );
      }
      await this.connection.run("COMMIT");
      return [];
    } catch (error) {
      await this.connection.run("ROLLBACK").catch(() => undefined);
      if (applying === undefined) throw error;
      return [{ ...applying, reason: (error as Error).message }];
    }
  }

  async isEmpty(table: string): Promise<boolean> {
    const reader = await this.connection.runAndReadAll(`SELECT 1 FROM ${this.quoted(table)} LIMIT 1`);
    return reader.currentRowCount === 0;
  }

  async drop(table: string): Promise<void> {
    await this.connection.run(`DROP TABLE IF EXISTS ${this.quoted(table)}`);
  }

  async swap(staging: string, target: string): Promise<void> {
    try {
      await this.connection.run("BEGIN TRANSACTION");
      await this.connection.run(`DROP TABLE IF EXISTS ${this.quoted(target)}`);
      await this.connection.run(`ALTER TABLE ${this.quoted(staging)} RENAME TO ${quoteDuckdb(target)}`);
      await this.connection.run("COMMIT");
    } catch (error) {
      await this.connection.run("ROLLBACK").catch(() => undefined);
      throw error;
    }
  }

  async deleteAll(table: string): Promise<void> {
    await this.connection.run(`DELETE FROM ${this.quoted(table)}`);
  }

  async markAllDeleted(table: string, at: Date): Promise<void> {
    const column = quoteDuckdb(DELETED_AT_COLUMN);
    await this.connection.run(
      `UPDATE ${this.quoted(table)} SET ${column} = TIMESTAMPTZ ${duckdbLiteral(at.toISOString())} WHERE ${column} IS NULL`,
    );
  }

  async holdsVersion(table: string, version: number): Promise<boolean> {
    const reader = await this.connection.runAndReadAll(
      `SELECT 1 FROM ${this.quoted(table)} WHERE ${quoteDuckdb(TABLE_VERSION_COLUMN)} = ${version} LIMIT 1`,
    );
    return reader.currentRowCount > 0;
  }

  async deleteOtherVersions(table: string, version: number): Promise<void> {
    await this.connection.run(
      `DELETE FROM ${this.quoted(table)} WHERE ${quoteDuckdb(TABLE_VERSION_COLUMN)} IS DISTINCT FROM ${version}`,
    );
  }
}
