import { duckdbSchema, quoteIdent, type TableFieldSchema } from "./bigquery-types.js";

/** What the translator makes of a statement, and what it needs to know to do it. */

export interface TableRef {
  datasetId: string;
  tableId: string;
}

export type StatementKind =
  | "SELECT"
  | "CREATE_TABLE"
  | "CREATE_TABLE_AS_SELECT"
  | "DROP_TABLE"
  | "ALTER_TABLE"
  | "INSERT"
  | "UPDATE"
  | "DELETE"
  | "MERGE"
  | "TRUNCATE_TABLE"
  | "CREATE_SCHEMA"
  | "DROP_SCHEMA"
  | "BEGIN_TRANSACTION"
  | "COMMIT_TRANSACTION"
  | "ROLLBACK_TRANSACTION";

export interface TranslatedStatement {
  kind: StatementKind;
  /** The statement in DuckDB's dialect. */
  sql: string;
  /** The table a DDL or DML statement changes. */
  target?: TableRef;
  /** Every table the statement names (for column types of results). */
  tables: TableRef[];
  /** BigQuery types of columns the statement declares (CREATE TABLE, ADD COLUMN). */
  declaredColumns: TableFieldSchema[];
  partitioning?: { type: string; field?: string };
  clustering?: string[];
  /** For MERGE and UPDATE ... FROM: a query returning a row when a target row matches several source rows. */
  mergeDuplicateCheck?: string;
  ifExists?: boolean;
  ifNotExists?: boolean;
  orReplace?: boolean;
  temporary?: boolean;
  /** For CREATE/DROP SCHEMA. */
  schemaName?: string;
  dropCascade?: boolean;
  /** For ALTER TABLE ... RENAME TO. */
  renameTo?: string;
  /** For ALTER TABLE ... ALTER COLUMN ... SET DATA TYPE: the column and its new type. */
  alterColumnType?: { column: string; field: TableFieldSchema };
  droppedColumns: string[];
  /**
   * For SELECT: lower-cased names of result columns computed by an expression (not a plain column
   * reference), whose type must not be taken from a table column of the same name.
   */
  computedColumns?: string[];
  /** What a DML statement writes into columns, for BigQuery's assignment type check. */
  assignments?: Assignment[];
}

/**
 * Values a DML statement writes into columns, for BigQuery's assignment type check (which
 * DuckDB, casting implicitly, would skip): the DuckDB query whose result column i is written
 * into `columns[i]` (or the table's columns in order), and whether each is a bare literal.
 */
export interface Assignment {
  query: string;
  columns?: string[];
  literal: boolean[];
  insert: boolean;
}

export interface TranslateContext {
  projectId: string;
  defaultDataset?: string;
  /** Query parameters by name (`@name`) or position (`?`), already as DuckDB SQL expressions. */
  namedParameters?: Map<string, string>;
  positionalParameters?: string[];
}

/**
 * A script as the statements of it share it: its text (error messages point into it), the
 * context, and the next positional parameter (`?` are numbered across the whole script).
 */
export interface Script {
  sql: string;
  context: TranslateContext;
  nextPositional: () => string;
}

/** A table as DuckDB names it: the dataset's schema and the table, or a temporary table alone. */
export function tableSql(ref: TableRef): string {
  return ref.datasetId
    ? `${quoteIdent(duckdbSchema(ref.datasetId))}.${quoteIdent(ref.tableId)}`
    : quoteIdent(ref.tableId);
}
