import type pg from "pg";
import { SchemaError } from "../../errors.js";
import { DELETED_AT_COLUMN } from "../batch.js";
import { TABLE_VERSION_COLUMN } from "../loader-core/metadata-columns.js";
import type {
  ColumnRefusal,
  TableEvolution,
  WantedColumn,
  WarehouseTables,
} from "../loader-core/stream-table.js";
import { quoteIdent, quoteLiteral } from "../tap-postgres/postgres-connection.js";
import { classifyPostgresError, postgresError } from "../tap-postgres/postgres-errors.js";
import type { ColumnType } from "../column-type.js";
import type { ColumnFit } from "../loader-core/existing-columns.js";
import { postgresColumnFit, postgresTargetType, sameColumnType } from "./postgres-target-types.js";

/**
 * The comment that marks a table sluice created with its own types: a table without it (another
 * target's) keeps its column types (existing-columns.ts).
 * NOTE: a comment set on the table later (dbt's `persist_docs`) removes the mark; the table is then
 * continued as another target's, which changes nothing while its types are sluice's.
 */
export const SLUICE_TABLE_MARK = "sluice: created with sluice's column types";

/**
 * target-postgres's DDL for the loader core's table lifecycle (stream-table.ts), in one schema.
 * Tables with a key keep a primary key on it: INSERT ... ON CONFLICT needs a unique index.
 */
export class PostgresTargetTables implements WarehouseTables {
  constructor(
    private readonly client: pg.Client,
    private readonly schemaName: string,
  ) {}

  /** `"schema"."table"`. */
  quoted(table: string): string {
    return `${quoteIdent(this.schemaName)}.${quoteIdent(table)}`;
  }

  private where(table: string): string {
    return `${this.schemaName}.${table}`;
  }

  /** Column name → type as `format_type` prints it. */
  async columns(table: string): Promise<Map<string, string> | undefined> {
    const result = await this.client.query<{ name: string; type: string }>(
      `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
      [this.schemaName, table],
    );
    if (result.rows.length === 0) return undefined;
    return new Map(result.rows.map((r) => [r.name, r.type]));
  }

  async create(table: string, columns: readonly WantedColumn[], keys: readonly string[]): Promise<void> {
    const definitions = columns.map((c) => `${quoteIdent(c.name)} ${c.keep ?? postgresTargetType(c.type)}`);
    if (keys.length > 0) definitions.push(`PRIMARY KEY (${keys.map(quoteIdent).join(", ")})`);
    await this.client.query(`CREATE TABLE ${this.quoted(table)} (${definitions.join(", ")})`);
    if (columns.every((c) => c.keep === undefined))
      await this.client.query(`COMMENT ON TABLE ${this.quoted(table)} IS ${quoteLiteral(SLUICE_TABLE_MARK)}`);
  }

  async createdBySluice(table: string): Promise<boolean> {
    const result = await this.client.query<{ mark: string | null }>(
      "SELECT obj_description(to_regclass($1), 'pg_class') AS mark",
      [this.quoted(table)],
    );
    return result.rows[0]?.mark === SLUICE_TABLE_MARK;
  }

  async adopt(table: string): Promise<void> {
    const result = await this.client.query<{ mark: string | null }>(
      "SELECT obj_description(to_regclass($1), 'pg_class') AS mark",
      [this.quoted(table)],
    );
    if (result.rows[0]?.mark != null) return;
    await this.client.query(`COMMENT ON TABLE ${this.quoted(table)} IS ${quoteLiteral(SLUICE_TABLE_MARK)}`);
  }

  fit(type: ColumnType, current: string): ColumnFit {
    return postgresColumnFit(type, current);
  }

  spell(type: ColumnType): string {
    return postgresTargetType(type);
  }

  async addColumn(table: string, column: WantedColumn): Promise<void> {
    await this.client.query(
      `ALTER TABLE ${this.quoted(table)} ADD COLUMN ${quoteIdent(column.name)} ${postgresTargetType(column.type)}`,
    );
  }

  /**
   * One transaction: the new columns, each conversion under a savepoint (so that a column that
   * cannot be converted is noted and the others still tried), then the key. Any refusal, or a key
   * that cannot be made, rolls all of it back.
   */
  async evolve(table: string, evolution: TableEvolution): Promise<ColumnRefusal[]> {
    const changes = evolution.convert.flatMap(({ column, current }) => {
      const wanted = postgresTargetType(column.type);
      return sameColumnType(current, wanted) ? [] : [{ column, current, wanted }];
    });
    const keyChanges = evolution.keys.length > 0 ? await this.keyStatements(table, evolution.keys) : [];
    if (evolution.add.length === 0 && changes.length === 0 && keyChanges.length === 0) return [];
    const refusals: ColumnRefusal[] = [];
    let making = "changing the columns of";
    try {
      await this.client.query("BEGIN");
      for (const column of evolution.add) {
        await this.client.query(
          `ALTER TABLE ${this.quoted(table)} ADD COLUMN ${quoteIdent(column.name)} ${postgresTargetType(column.type)}`,
        );
      }
      for (const { column, current, wanted } of changes) {
        const name = quoteIdent(column.name);
        await this.client.query("SAVEPOINT sluice_convert");
        try {
          await this.client.query(
            `ALTER TABLE ${this.quoted(table)} ALTER COLUMN ${name} TYPE ${wanted} USING ${name}::${wanted}`,
          );
          await this.client.query("RELEASE SAVEPOINT sluice_convert");
        } catch (error) {
          if (classifyPostgresError(error).transient) throw error;
          await this.client.query("ROLLBACK TO SAVEPOINT sluice_convert");
          refusals.push({ column: column.name, current, wanted, reason: (error as Error).message });
        }
      }
      if (refusals.length > 0) {
        await this.client.query("ROLLBACK");
        return refusals;
      }
      making = "adding the key of";
      for (const statement of keyChanges) await this.client.query(statement);
      await this.client.query("COMMIT");
      return [];
    } catch (error) {
      await this.client.query("ROLLBACK").catch(() => undefined);
      if (making === "adding the key of" && !classifyPostgresError(error).transient) {
        throw new SchemaError(
          `target-postgres: ${this.where(table)} has no unique key on (${evolution.keys.join(", ")}) to upsert on, and one cannot be made (${(error as Error).message}), so no change was made to the table; remove the duplicate or NULL keys, or run with --full-refresh`,
          { cause: error },
        );
      }
      throw postgresError(error, `target-postgres: ${making} ${this.where(table)}`);
    }
  }

  /**
   * INSERT ... ON CONFLICT needs a unique index on exactly the key columns: the statements that
   * make one, none when there is. A primary key on other columns (the stream's key changed, as
   * Singer's `key_properties` may) is replaced.
   */
  private async keyStatements(table: string, keys: readonly string[]): Promise<string[]> {
    const target = this.quoted(table);
    const indexes = await this.client.query<{ columns: string[]; primary: string | null }>(
      `SELECT array(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)) AS columns,
              (SELECT c.conname::text FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.contype = 'p') AS primary
         FROM pg_index i WHERE i.indrelid = $1::regclass AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL`,
      [target],
    );
    const wanted = [...keys].sort().join("\u0000");
    if (indexes.rows.some((r) => [...r.columns].sort().join("\u0000") === wanted)) return [];
    const primary = indexes.rows.find((r) => r.primary !== null)?.primary;
    return [
      ...(primary ? [`ALTER TABLE ${target} DROP CONSTRAINT ${quoteIdent(primary)}`] : []),
      `ALTER TABLE ${target} ADD PRIMARY KEY (${keys.map(quoteIdent).join(", ")})`,
    ];
  }

  async isEmpty(table: string): Promise<boolean> {
    const rows = await this.client.query(`SELECT 1 FROM ${this.quoted(table)} LIMIT 1`);
    return rows.rowCount === 0;
  }

  async drop(table: string): Promise<void> {
    await this.client.query(`DROP TABLE IF EXISTS ${this.quoted(table)}`);
  }

  /** One transaction; the old table's grants and indexes are carried over to the new one. */
  async swap(staging: string, target: string): Promise<void> {
    try {
      await this.client.query("BEGIN");
      const kept = await this.grantsAndIndexes(this.quoted(target));
      await this.client.query(`DROP TABLE IF EXISTS ${this.quoted(target)}`);
      await this.client.query(`ALTER TABLE ${this.quoted(staging)} RENAME TO ${quoteIdent(target)}`);
      for (const statement of kept) await this.client.query(statement);
      await this.client.query("COMMIT");
    } catch (error) {
      await this.client.query("ROLLBACK").catch(() => undefined);
      throw error;
    }
  }

  /**
   * What people add to a warehouse table by hand and a full refresh must not take away: the
   * privileges granted on it (so readers keep access) and its indexes (but the key's, which the
   * new table has). Returned as statements that apply them to the new table once it has the
   * old one's name; `pg_get_indexdef` names the table, so it applies as it is.
   * NOTE: column privileges, comments, triggers and policies are not carried over.
   */
  private async grantsAndIndexes(target: string): Promise<string[]> {
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
      [target, target],
    );
    return result.rows.map((row) => row.statement);
  }

  async deleteAll(table: string): Promise<void> {
    await this.client.query(`DELETE FROM ${this.quoted(table)}`);
  }

  async markAllDeleted(table: string, at: Date): Promise<void> {
    const column = quoteIdent(DELETED_AT_COLUMN);
    await this.client.query(
      `UPDATE ${this.quoted(table)} SET ${column} = ${quoteLiteral(at.toISOString())}::timestamptz WHERE ${column} IS NULL`,
    );
  }

  async holdsVersion(table: string, version: number): Promise<boolean> {
    const rows = await this.client.query(
      `SELECT 1 FROM ${this.quoted(table)} WHERE ${quoteIdent(TABLE_VERSION_COLUMN)} = $1 LIMIT 1`,
      [version],
    );
    return rows.rowCount !== 0;
  }

  async deleteOtherVersions(table: string, version: number): Promise<void> {
    await this.client.query(
      `DELETE FROM ${this.quoted(table)} WHERE ${quoteIdent(TABLE_VERSION_COLUMN)} IS DISTINCT FROM $1::bigint`,
      [version],
    );
  }
}
