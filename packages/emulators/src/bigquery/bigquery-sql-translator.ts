import { invalidQuery } from "./bigquery-api-error.js";
import { FUNCTION_RENAMES, FUNCTION_REWRITES } from "./bigquery-functions.js";
import { SqlParser } from "./bigquery-sql-parser.js";
import { position, splitStatements, tokenize, type Token } from "./bigquery-sql-tokenizer.js";
import {
  findTopLevel,
  hasTopLevelWord,
  isLiteral,
  matchingParen,
  splitCommas,
} from "./bigquery-token-lists.js";
import { validateColumnNames, validateTableId } from "./bigquery-names.js";
import { duckdbSchema, quoteIdent, type TableFieldSchema } from "./bigquery-types.js";

/**
 * GoogleSQL to DuckDB SQL, for the statements a loader sends: SELECT, CREATE [OR REPLACE] TABLE
 * (columns or AS SELECT, with PARTITION BY / CLUSTER BY / OPTIONS), DROP TABLE, ALTER TABLE,
 * INSERT, UPDATE, DELETE, TRUNCATE TABLE, MERGE, CREATE/DROP SCHEMA and BEGIN/COMMIT/ROLLBACK
 * TRANSACTION, one script of several statements. It works on tokens, not a grammar: names in
 * backticks become DuckDB `"dataset"."table"`, BigQuery's type names become DuckDB's, strings in
 * double quotes become strings, and everything else is passed on as written. What BigQuery would
 * refuse at parse time (an unknown type, a DELETE without WHERE, a bad name) is refused here with
 * BigQuery's message.
 */

export { position, tokenize } from "./bigquery-sql-tokenizer.js";
export { BIGQUERY_FUNCTION_MACROS } from "./bigquery-functions.js";

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
  /**
   * Values a DML statement writes into columns, for BigQuery's assignment type check (which
   * DuckDB, casting implicitly, would skip): the DuckDB query whose result column i is written
   * into `columns[i]` (or the table's columns in order), and whether each is a bare literal.
   */
  assignments?: { query: string; columns?: string[]; literal: boolean[]; insert: boolean }[];
}

export interface TranslateContext {
  projectId: string;
  defaultDataset?: string;
  /** Query parameters by name (`@name`) or position (`?`), already as DuckDB SQL expressions. */
  namedParameters?: Map<string, string>;
  positionalParameters?: string[];
}

/** Words that start a typed literal (`DATE '2024-01-01'`). */
const LITERAL_TYPES = new Set([
  "DATE",
  "TIME",
  "DATETIME",
  "TIMESTAMP",
  "NUMERIC",
  "BIGNUMERIC",
  "DECIMAL",
  "BIGDECIMAL",
  "JSON",
]);

// ---------------------------------------------------------------------------------------------
// Statements

export function translateScript(sql: string, context: TranslateContext): TranslatedStatement[] {
  const statements = splitStatements(tokenize(sql));
  if (statements.length === 0) throw invalidQuery("Syntax error: Unexpected end of script at [1:1]");
  let positional = 0;
  const next = (): string => {
    const value = context.positionalParameters?.[positional++];
    if (value === undefined) throw invalidQuery("Query has more positional parameters than were provided");
    return value;
  };
  return statements.map((tokens) => new StatementTranslator(tokens, sql, context, next).translate());
}

const TABLE_KEYWORDS = new Set([
  "FROM",
  "JOIN",
  "INTO",
  "UPDATE",
  "TABLE",
  "USING",
  "MERGE",
  "EXISTS",
  "DELETE",
  "INSERT",
  "TRUNCATE",
]);

class StatementTranslator {
  private readonly parser: SqlParser;
  private readonly result: TranslatedStatement;

  constructor(
    tokens: Token[],
    private readonly sql: string,
    private readonly context: TranslateContext,
    private readonly nextPositional: () => string,
  ) {
    this.parser = new SqlParser(tokens, sql);
    this.result = { kind: "SELECT", sql: "", tables: [], declaredColumns: [], droppedColumns: [] };
  }

  translate(): TranslatedStatement {
    const p = this.parser;
    const first = p.peek();
    const w = (t: Token | undefined): string => (t?.kind === "word" ? t.text.toUpperCase() : "");
    const head = w(first);
    if (head === "BEGIN" || head === "START") {
      this.result.kind = "BEGIN_TRANSACTION";
      this.result.sql = "BEGIN TRANSACTION";
      return this.result;
    }
    if (head === "COMMIT") {
      this.result.kind = "COMMIT_TRANSACTION";
      this.result.sql = "COMMIT";
      return this.result;
    }
    if (head === "ROLLBACK") {
      this.result.kind = "ROLLBACK_TRANSACTION";
      this.result.sql = "ROLLBACK";
      return this.result;
    }
    if (head === "CREATE") return this.translateCreate();
    if (head === "DROP") return this.translateDrop();
    if (head === "ALTER") return this.translateAlter();
    if (head === "TRUNCATE") {
      p.take();
      if (!p.isWord(p.take(), "TABLE")) throw p.unexpected(p.peek(), "keyword TABLE");
      const target = this.tableName(true);
      this.result.kind = "TRUNCATE_TABLE";
      this.result.target = target;
      this.result.sql = `TRUNCATE ${this.tableSql(target)}`;
      this.expectEnd();
      return this.result;
    }
    if (head === "INSERT") {
      p.take();
      if (p.isWord(p.peek(), "INTO")) p.take();
      const target = this.tableName(true);
      this.result.kind = "INSERT";
      this.result.target = target;
      const rest = this.restTokens();
      const check = this.insertAssignment(rest);
      if (check) this.result.assignments = [check];
      this.result.sql = `INSERT INTO ${this.tableSql(target)} ${this.emit(rest)}`;
      return this.result;
    }
    if (head === "DELETE") {
      p.take();
      if (p.isWord(p.peek(), "FROM")) p.take();
      const target = this.tableName(true);
      this.result.kind = "DELETE";
      this.result.target = target;
      const rest = this.restTokens();
      if (!hasTopLevelWord(rest, "WHERE")) {
        throw invalidQuery(`DELETE must have a WHERE clause at ${position(this.sql, first!.offset)}`);
      }
      this.result.sql = `DELETE FROM ${this.tableSql(target)} ${this.emit(rest)}`;
      return this.result;
    }
    if (head === "UPDATE") {
      p.take();
      const target = this.tableName(true);
      this.result.kind = "UPDATE";
      this.result.target = target;
      const rest = this.restTokens();
      if (!hasTopLevelWord(rest, "WHERE")) {
        throw invalidQuery(`UPDATE must have a WHERE clause at ${position(this.sql, first!.offset)}`);
      }
      this.result.sql = `UPDATE ${this.tableSql(target)} ${this.emit(rest)}`;
      const set = findTopLevel(rest, "SET");
      const from = findTopLevel(rest, "FROM");
      const where = findTopLevel(rest, "WHERE");
      if (set >= 0) {
        const aliasTokens = rest
          .slice(0, set)
          .filter((t) => t.kind !== "space" && !(t.kind === "word" && t.text.toUpperCase() === "AS"));
        const alias = this.emit(aliasTokens);
        const fromItems = from >= 0 ? `, ${this.emit(rest.slice(from + 1, where))}` : "";
        const pairs = this.setAssignments(rest.slice(set + 1, from >= 0 ? from : where));
        this.result.assignments = [
          {
            query: `SELECT ${pairs.map((a) => a.expression).join(", ")} FROM ${this.tableSql(target)} ${alias}${fromItems}`,
            columns: pairs.map((a) => a.column),
            literal: pairs.map((a) => a.literal),
            insert: false,
          },
        ];
        if (from >= 0) {
          // UPDATE ... FROM joining a target row to two rows is refused, like such a MERGE.
          const targetAlias = aliasTokens.length > 0 ? alias : quoteIdent(target.tableId);
          this.result.mergeDuplicateCheck = `SELECT 1 FROM ${this.tableSql(target)} ${alias}${fromItems} WHERE ${this.emit(rest.slice(where + 1))} GROUP BY ${targetAlias}.rowid HAVING count(*) > 1 LIMIT 1`;
        }
      }
      return this.result;
    }
    if (head === "MERGE") return this.translateMerge();
    if (head === "SELECT" || head === "WITH" || this.parser.isOp(first, "(")) {
      this.result.kind = "SELECT";
      const rest = this.restTokens();
      this.result.computedColumns = this.computedColumns(rest);
      this.result.sql = this.emit(rest);
      return this.result;
    }
    if (
      head === "DECLARE" ||
      head === "SET" ||
      head === "IF" ||
      head === "LOOP" ||
      head === "CALL" ||
      head === "EXECUTE"
    ) {
      throw invalidQuery(
        `The emulator does not run scripting statement ${head} at ${position(this.sql, first!.offset)}`,
      );
    }
    throw invalidQuery(
      `Syntax error: Unexpected keyword ${first?.text ?? ""} at ${position(this.sql, first?.offset ?? 0)}`,
    );
  }

  private expectEnd(): void {
    if (!this.parser.atEnd()) throw this.parser.unexpected(this.parser.peek(), "end of statement");
  }

  private tableName(record: boolean): TableRef {
    const p = this.parser;
    const parts: { value: string; token: Token }[] = [];
    const startToken = p.peek();
    for (;;) {
      const token = p.take();
      if (token.kind === "quoted") {
        for (const part of token.value.split(".")) parts.push({ value: part, token });
      } else if (token.kind === "word") {
        parts.push({ value: token.text, token });
        // `my-project.ds.t` unquoted: a project id may contain dashes.
        while (
          p.isOp(p.tokens[p.i], "-") &&
          (p.tokens[p.i + 1]?.kind === "word" || p.tokens[p.i + 1]?.kind === "number")
        ) {
          parts[parts.length - 1]!.value += `-${p.tokens[p.i + 1]!.text}`;
          p.i += 2;
        }
      } else {
        throw p.unexpected(token, "table name");
      }
      if (p.isOp(p.tokens[p.i], ".")) {
        p.i++;
        continue;
      }
      break;
    }
    const ref = this.resolveTable(
      parts.map((x) => x.value),
      startToken!,
    );
    if (record) this.addTable(ref);
    return ref;
  }

  private resolveTable(parts: string[], at: Token): TableRef {
    let names = parts;
    if (names.length === 3) {
      if (names[0] !== this.context.projectId) {
        throw invalidQuery(`Not found: Project ${names[0]!} at ${position(this.sql, at.offset)}`);
      }
      names = names.slice(1);
    }
    if (names.length === 1) {
      if (this.context.defaultDataset === undefined) {
        return { datasetId: "", tableId: names[0]! };
      }
      return { datasetId: this.context.defaultDataset, tableId: names[0]! };
    }
    if (names.length !== 2) {
      throw invalidQuery(`Invalid table name: ${parts.join(".")} at ${position(this.sql, at.offset)}`);
    }
    return { datasetId: names[0]!, tableId: names[1]! };
  }

  private addTable(ref: TableRef): void {
    if (
      ref.datasetId &&
      !this.result.tables.some((t) => t.datasetId === ref.datasetId && t.tableId === ref.tableId)
    ) {
      this.result.tables.push(ref);
    }
  }

  private tableSql(ref: TableRef): string {
    return ref.datasetId
      ? `${quoteIdent(duckdbSchema(ref.datasetId))}.${quoteIdent(ref.tableId)}`
      : quoteIdent(ref.tableId);
  }

  private restTokens(): Token[] {
    const tokens = this.parser.tokens.slice(this.parser.i);
    this.parser.i = this.parser.tokens.length;
    return tokens;
  }

  private rest(): string {
    return this.emit(this.restTokens());
  }

  private translateCreate(): TranslatedStatement {
    const p = this.parser;
    p.take();
    if (p.isWord(p.peek(), "OR")) {
      p.take();
      if (!p.isWord(p.take(), "REPLACE")) throw p.unexpected(p.peek(), "keyword REPLACE");
      this.result.orReplace = true;
    }
    if (p.isWord(p.peek(), "TEMP", "TEMPORARY")) {
      p.take();
      this.result.temporary = true;
    }
    const what = p.take();
    if (p.isWord(what, "SCHEMA")) {
      if (p.isWord(p.peek(), "IF")) {
        p.take();
        p.take();
        p.take();
        this.result.ifNotExists = true;
      }
      const name = p.take();
      this.result.kind = "CREATE_SCHEMA";
      this.result.schemaName = name.kind === "quoted" ? name.value.split(".").pop()! : name.text;
      this.result.sql = "";
      return this.result;
    }
    if (!p.isWord(what, "TABLE")) {
      throw invalidQuery(
        `The emulator does not support CREATE ${what.text} at ${position(this.sql, what.offset)}`,
      );
    }
    if (p.isWord(p.peek(), "IF")) {
      p.take();
      p.take();
      p.take();
      this.result.ifNotExists = true;
    }
    const target = this.tableName(false);
    if (this.result.temporary) target.datasetId = "";
    else if (!target.datasetId) {
      throw invalidQuery(`Table "${target.tableId}" must be qualified with a dataset (e.g. dataset.table).`);
    }
    validateTableId(target.tableId);
    this.result.target = target;
    let columns = "";
    if (p.isOp(p.peek(), "(")) {
      p.take();
      const defs: string[] = [];
      for (;;) {
        const nameToken = p.take();
        if (nameToken.kind !== "word" && nameToken.kind !== "quoted")
          throw p.unexpected(nameToken, "column name");
        this.checkNotReserved(nameToken);
        const name = nameToken.value;
        const { duck, field } = p.parseType(name);
        let notNull = false;
        const extra: string[] = [];
        // Column options: NOT NULL, OPTIONS(...), DEFAULT expr.
        for (;;) {
          const t = p.peek();
          if (p.isWord(t, "NOT")) {
            p.take();
            if (!p.isWord(p.take(), "NULL")) throw p.unexpected(t, "NULL");
            notNull = true;
          } else if (p.isWord(t, "OPTIONS")) {
            p.take();
            this.skipParens();
          } else if (p.isWord(t, "DEFAULT")) {
            p.take();
            extra.push(`DEFAULT ${this.emit(this.exprUntilComma())}`);
          } else {
            break;
          }
        }
        if (notNull) {
          if (field.mode === "REPEATED") {
            throw invalidQuery(`NOT NULL cannot be applied to ARRAY column ${name}`);
          }
          field.mode = "REQUIRED";
        }
        this.result.declaredColumns.push(field);
        defs.push(
          `${quoteIdent(name)} ${duck}${notNull ? " NOT NULL" : ""}${extra.length ? ` ${extra.join(" ")}` : ""}`,
        );
        const sep = p.take();
        if (p.isOp(sep, ",")) continue;
        if (p.isOp(sep, ")")) break;
        throw p.unexpected(sep, '"," or ")"');
      }
      validateColumnNames(
        this.result.declaredColumns.map((f) => f.name),
        "",
      );
      columns = `(${defs.join(", ")})`;
    }
    // PARTITION BY, CLUSTER BY, OPTIONS, in any order, then AS query.
    for (;;) {
      const t = p.peek();
      if (p.isWord(t, "PARTITION")) {
        p.take();
        if (!p.isWord(p.take(), "BY")) throw p.unexpected(t, "BY");
        this.result.partitioning = this.parsePartitionExpression(
          this.exprUntilWords("CLUSTER", "OPTIONS", "AS"),
        );
      } else if (p.isWord(t, "CLUSTER")) {
        p.take();
        if (!p.isWord(p.take(), "BY")) throw p.unexpected(t, "BY");
        const fields: string[] = [];
        for (;;) {
          const f = p.take();
          fields.push(f.value);
          if (!p.isOp(p.peek(), ",")) break;
          p.take();
        }
        this.result.clustering = fields;
      } else if (p.isWord(t, "OPTIONS")) {
        p.take();
        this.skipParens();
      } else {
        break;
      }
    }
    let asQuery = "";
    if (p.isWord(p.peek(), "AS")) {
      p.take();
      asQuery = this.rest();
      this.result.kind = "CREATE_TABLE_AS_SELECT";
    } else {
      this.expectEnd();
      this.result.kind = "CREATE_TABLE";
      if (!columns) throw invalidQuery(`CREATE TABLE ${target.tableId} needs a column list or AS query`);
    }
    const create = `CREATE ${this.result.orReplace ? "OR REPLACE " : ""}${this.result.temporary ? "TEMP " : ""}TABLE ${this.result.ifNotExists ? "IF NOT EXISTS " : ""}${this.tableSql(target)}`;
    this.result.sql = asQuery
      ? columns
        ? // DuckDB has no CREATE TABLE (columns) AS: create, then insert.
          `${create} ${columns}; INSERT INTO ${this.tableSql(target)} ${asQuery}`
        : `${create} AS ${asQuery}`
      : `${create} ${columns}`;
    return this.result;
  }

  private parsePartitionExpression(tokens: Token[]): { type: string; field?: string } {
    const words = tokens.filter(
      (t) => t.kind !== "space" && !(t.kind === "op" && (t.text === "(" || t.text === ")" || t.text === ",")),
    );
    if (words.length === 1) {
      const name = words[0]!.value;
      if (name.toUpperCase() === "_PARTITIONDATE") return { type: "DAY" };
      return { type: "DAY", field: name };
    }
    const fn = words[0]?.text.toUpperCase();
    const field = words[1]?.value;
    if (fn === "DATE" && field) return { type: "DAY", field };
    if ((fn === "DATE_TRUNC" || fn === "TIMESTAMP_TRUNC" || fn === "DATETIME_TRUNC") && field && words[2]) {
      return { type: words[2].text.toUpperCase(), field };
    }
    throw invalidQuery(
      `PARTITION BY expression must be DATE(<timestamp_column>), DATE(<datetime_column>), DATETIME_TRUNC(<datetime_column>, DAY/HOUR/MONTH/YEAR), a DATE column, TIMESTAMP_TRUNC(<timestamp_column>, DAY/HOUR/MONTH/YEAR), DATE_TRUNC(<date_column>, MONTH/YEAR), or RANGE_BUCKET(<int64_column>, GENERATE_ARRAY(<int64_value>, <int64_value>[, <int64_value>]))`,
    );
  }

  private skipParens(): void {
    const p = this.parser;
    p.expectOp("(");
    let depth = 1;
    while (depth > 0) {
      const t = p.take();
      if (p.isOp(t, "(")) depth++;
      else if (p.isOp(t, ")")) depth--;
    }
  }

  /** Tokens of an expression up to a top-level `,` or `)` (not consumed). */
  private exprUntilComma(): Token[] {
    const p = this.parser;
    const out: Token[] = [];
    let depth = 0;
    while (p.i < p.tokens.length) {
      const t = p.tokens[p.i]!;
      if (depth === 0 && t.kind === "op" && (t.text === "," || t.text === ")")) break;
      if (p.isOp(t, "(")) depth++;
      if (p.isOp(t, ")")) depth--;
      out.push(t);
      p.i++;
    }
    return out;
  }

  private exprUntilWords(...words: string[]): Token[] {
    const p = this.parser;
    const out: Token[] = [];
    let depth = 0;
    while (p.i < p.tokens.length) {
      const t = p.tokens[p.i]!;
      if (depth === 0 && p.isWord(t, ...words)) break;
      if (p.isOp(t, "(")) depth++;
      if (p.isOp(t, ")")) depth--;
      out.push(t);
      p.i++;
    }
    return out;
  }

  private translateDrop(): TranslatedStatement {
    const p = this.parser;
    p.take();
    const what = p.take();
    if (p.isWord(p.peek(), "IF")) {
      p.take();
      if (!p.isWord(p.take(), "EXISTS")) throw p.unexpected(p.peek(), "EXISTS");
      this.result.ifExists = true;
    }
    if (p.isWord(what, "SCHEMA")) {
      const name = p.take();
      this.result.kind = "DROP_SCHEMA";
      this.result.schemaName = name.kind === "quoted" ? name.value.split(".").pop()! : name.text;
      this.result.dropCascade = p.isWord(p.peek(), "CASCADE");
      this.result.sql = "";
      return this.result;
    }
    if (!p.isWord(what, "TABLE")) {
      throw invalidQuery(
        `The emulator does not support DROP ${what.text} at ${position(this.sql, what.offset)}`,
      );
    }
    const target = this.tableName(false);
    this.result.kind = "DROP_TABLE";
    this.result.target = target;
    this.result.sql = `DROP TABLE ${this.result.ifExists ? "IF EXISTS " : ""}${this.tableSql(target)}`;
    this.expectEnd();
    return this.result;
  }

  private translateAlter(): TranslatedStatement {
    const p = this.parser;
    p.take();
    if (!p.isWord(p.take(), "TABLE")) throw invalidQuery("The emulator supports ALTER TABLE only");
    if (p.isWord(p.peek(), "IF")) {
      p.take();
      p.take();
      this.result.ifExists = true;
    }
    const target = this.tableName(true);
    this.result.kind = "ALTER_TABLE";
    this.result.target = target;
    const table = this.tableSql(target);
    const actions: string[] = [];
    for (;;) {
      const action = p.take();
      const upper = action.text.toUpperCase();
      if (upper === "ADD") {
        if (p.isWord(p.peek(), "COLUMN")) p.take();
        let ifNotExists = false;
        if (p.isWord(p.peek(), "IF")) {
          p.take();
          p.take();
          p.take();
          ifNotExists = true;
        }
        const nameToken = p.take();
        this.checkNotReserved(nameToken);
        const { duck, field } = p.parseType(nameToken.value);
        if (p.isWord(p.peek(), "NOT")) {
          throw invalidQuery(
            `Column ${nameToken.value} cannot be added as NOT NULL: ALTER TABLE ADD COLUMN cannot add a REQUIRED column`,
          );
        }
        if (p.isWord(p.peek(), "OPTIONS")) {
          p.take();
          this.skipParens();
        }
        validateColumnNames([nameToken.value], "");
        this.result.declaredColumns.push(field);
        actions.push(
          `ALTER TABLE ${table} ADD COLUMN ${ifNotExists ? "IF NOT EXISTS " : ""}${quoteIdent(nameToken.value)} ${duck}`,
        );
      } else if (upper === "DROP") {
        if (p.isWord(p.peek(), "COLUMN")) p.take();
        let ifExists = false;
        if (p.isWord(p.peek(), "IF")) {
          p.take();
          p.take();
          ifExists = true;
        }
        const nameToken = p.take();
        this.result.droppedColumns.push(nameToken.value);
        actions.push(
          `ALTER TABLE ${table} DROP COLUMN ${ifExists ? "IF EXISTS " : ""}${quoteIdent(nameToken.value)}`,
        );
      } else if (upper === "RENAME") {
        if (p.isWord(p.peek(), "TO")) {
          p.take();
          const name = p.take();
          validateTableId(name.value);
          this.result.renameTo = name.value;
          actions.push(`ALTER TABLE ${table} RENAME TO ${quoteIdent(name.value)}`);
        } else {
          if (p.isWord(p.peek(), "COLUMN")) p.take();
          const from = p.take();
          if (!p.isWord(p.take(), "TO")) throw p.unexpected(p.peek(), "TO");
          const to = p.take();
          validateColumnNames([to.value], "");
          actions.push(
            `ALTER TABLE ${table} RENAME COLUMN ${quoteIdent(from.value)} TO ${quoteIdent(to.value)}`,
          );
        }
      } else if (upper === "ALTER") {
        if (p.isWord(p.peek(), "COLUMN")) p.take();
        const nameToken = p.take();
        const verb = p.take();
        if (p.isWord(verb, "DROP")) {
          const what = p.take();
          if (p.isWord(what, "NOT")) {
            p.take();
            actions.push(`ALTER TABLE ${table} ALTER COLUMN ${quoteIdent(nameToken.value)} DROP NOT NULL`);
          } else if (p.isWord(what, "DEFAULT")) {
            actions.push(`ALTER TABLE ${table} ALTER COLUMN ${quoteIdent(nameToken.value)} DROP DEFAULT`);
          } else {
            throw p.unexpected(what, "NOT NULL or DEFAULT");
          }
        } else if (p.isWord(verb, "SET")) {
          const what = p.take();
          if (p.isWord(what, "DATA")) {
            p.take();
            const { duck, field } = p.parseType(nameToken.value);
            this.result.alterColumnType = { column: nameToken.value, field };
            actions.push(
              `ALTER TABLE ${table} ALTER COLUMN ${quoteIdent(nameToken.value)} SET DATA TYPE ${duck}`,
            );
          } else if (p.isWord(what, "OPTIONS")) {
            this.skipParens();
          } else if (p.isWord(what, "DEFAULT")) {
            actions.push(
              `ALTER TABLE ${table} ALTER COLUMN ${quoteIdent(nameToken.value)} SET DEFAULT ${this.emit(this.exprUntilComma())}`,
            );
          } else {
            throw p.unexpected(what, "DATA TYPE, OPTIONS or DEFAULT");
          }
        } else {
          throw p.unexpected(verb, "DROP or SET");
        }
      } else if (upper === "SET") {
        if (!p.isWord(p.take(), "OPTIONS")) throw p.unexpected(p.peek(), "OPTIONS");
        this.skipParens();
      } else {
        throw p.unexpected(action, "ADD, DROP, RENAME, ALTER or SET");
      }
      if (p.isOp(p.peek(), ",")) {
        p.take();
        continue;
      }
      break;
    }
    this.expectEnd();
    this.result.sql = actions.join("; ");
    return this.result;
  }

  private translateMerge(): TranslatedStatement {
    const p = this.parser;
    p.take();
    if (p.isWord(p.peek(), "INTO")) p.take();
    const target = this.tableName(true);
    this.result.kind = "MERGE";
    this.result.target = target;
    let targetAlias = target.tableId;
    let targetAliasSql = "";
    if (p.isWord(p.peek(), "AS")) p.take();
    if (!p.isWord(p.peek(), "USING")) {
      const alias = p.take();
      targetAlias = alias.value;
      targetAliasSql = ` AS ${quoteIdent(alias.value)}`;
    }
    if (!p.isWord(p.take(), "USING")) throw p.unexpected(p.peek(), "USING");
    // The source: a table name or a parenthesized query, then an optional alias.
    let source: string;
    if (p.isOp(p.peek(), "(")) {
      const start = p.next();
      let depth = 0;
      let j = start;
      for (; j < p.tokens.length; j++) {
        const t = p.tokens[j]!;
        if (p.isOp(t, "(")) depth++;
        if (p.isOp(t, ")")) depth--;
        if (depth === 0) break;
      }
      source = this.emit(p.tokens.slice(start, j + 1));
      p.i = j + 1;
    } else {
      source = this.tableSql(this.tableName(true));
    }
    let sourceAliasSql = "";
    if (p.isWord(p.peek(), "AS")) p.take();
    if (!p.isWord(p.peek(), "ON")) sourceAliasSql = ` AS ${quoteIdent(p.take().value)}`;
    if (!p.isWord(p.take(), "ON")) throw p.unexpected(p.peek(), "ON");
    const condition = this.emit(this.exprUntilWords("WHEN"));
    const clauses = this.restTokens();
    // `INSERT ROW` is BigQuery's `INSERT *`.
    for (let k = 0; k < clauses.length; k++) {
      const t = clauses[k]!;
      if (t.kind === "word" && t.text.toUpperCase() === "ROW") {
        let b = k - 1;
        while (b >= 0 && clauses[b]!.kind === "space") b--;
        if (b >= 0 && clauses[b]!.kind === "word" && clauses[b]!.text.toUpperCase() === "INSERT") {
          clauses[k] = { ...t, kind: "op", text: "*", value: "*" };
        }
      }
    }
    const clauseSql = this.emit(clauses);
    const targetSql = this.tableSql(target);
    this.result.assignments = this.mergeAssignments(
      clauses,
      `${targetSql}${targetAliasSql}, ${source}${sourceAliasSql}`,
    );
    this.result.sql = `MERGE INTO ${targetSql}${targetAliasSql} USING ${source}${sourceAliasSql} ON ${condition} ${clauseSql}`;
    if (
      hasTopLevelWord(clauses, "MATCHED") &&
      /\bWHEN\s+MATCHED\b/i.test(clauses.map((t) => t.text).join(""))
    ) {
      this.result.mergeDuplicateCheck = `SELECT 1 FROM ${targetSql}${targetAliasSql} JOIN ${source}${sourceAliasSql} ON ${condition} GROUP BY ${quoteIdent(targetAlias)}.rowid HAVING count(*) > 1 LIMIT 1`;
    }
    return this.result;
  }

  /** A reserved keyword names a column only in backticks (`end`, `at`, `range`). */
  private checkNotReserved(token: Token): void {
    if (token.kind === "word" && BIGQUERY_RESERVED.has(token.text.toUpperCase())) {
      throw invalidQuery(
        `Syntax error: Unexpected keyword ${token.text.toUpperCase()} at ${position(this.sql, token.offset)}`,
      );
    }
  }

  /** The aliases of the main SELECT list's items that are expressions, not column references. */
  private computedColumns(tokens: Token[]): string[] {
    const select = findTopLevel(tokens, "SELECT");
    if (select < 0) return [];
    const from = findTopLevel(tokens, "FROM", select + 1);
    let items = tokens.slice(select + 1, from < 0 ? tokens.length : from);
    const firstWord = items.find((t) => t.kind !== "space");
    if (firstWord?.kind === "word" && ["DISTINCT", "ALL"].includes(firstWord.text.toUpperCase())) {
      items = items.slice(items.indexOf(firstWord) + 1);
    }
    const computed: string[] = [];
    for (const item of splitCommas(items)) {
      const solid = item.filter((t) => t.kind !== "space");
      const as = findTopLevel(solid, "AS");
      const expression = as >= 0 ? solid.slice(0, as) : solid;
      const alias = as >= 0 ? solid[as + 1] : undefined;
      const reference = expression.every((t, k) =>
        k % 2 === 0 ? t.kind === "word" || t.kind === "quoted" : t.kind === "op" && t.text === ".",
      );
      if (!reference && alias) computed.push(alias.value.toLowerCase());
    }
    return computed;
  }

  /** `a = expr, T.b = expr` as columns and DuckDB expressions. */
  private setAssignments(tokens: Token[]): { column: string; expression: string; literal: boolean }[] {
    return splitCommas(tokens).map((part) => {
      const eq = part.findIndex((t) => t.kind === "op" && t.text === "=");
      const names = part.slice(0, eq).filter((t) => t.kind === "word" || t.kind === "quoted");
      const value = part.slice(eq + 1);
      return {
        column: names[names.length - 1]?.value ?? "",
        expression: this.emit(value),
        literal: isLiteral(value),
      };
    });
  }

  /** The columns and values of `INSERT [(cols)] VALUES (...), ... | SELECT ...`. */
  private insertAssignment(
    tokens: Token[],
  ): { query: string; columns?: string[]; literal: boolean[]; insert: boolean } | undefined {
    let k = tokens.findIndex((t) => t.kind !== "space");
    let columns: string[] | undefined;
    if (k >= 0 && tokens[k]!.kind === "op" && tokens[k]!.text === "(") {
      const close = matchingParen(tokens, k, this.sql);
      const inner = tokens.slice(k + 1, close);
      // `INSERT INTO t (SELECT ...)`: a parenthesized query, not a column list.
      if (!inner.some((t) => t.kind === "word" && ["SELECT", "WITH"].includes(t.text.toUpperCase()))) {
        columns = splitCommas(inner).map((part) => part.find((t) => t.kind !== "space")!.value);
        k = close + 1;
      }
    }
    const rest = tokens.slice(k);
    const first = rest.find((t) => t.kind !== "space");
    if (first?.kind === "word" && first.text.toUpperCase() === "VALUES") {
      const rows: Token[][][] = [];
      let j = rest.indexOf(first) + 1;
      while (j < rest.length) {
        const t = rest[j]!;
        if (t.kind === "op" && t.text === "(") {
          const close = matchingParen(rest, j, this.sql);
          rows.push(splitCommas(rest.slice(j + 1, close)));
          j = close + 1;
        } else {
          j++;
        }
      }
      if (rows.length === 0) return undefined;
      const width = rows[0]!.length;
      const literal = Array.from({ length: width }, (_, i) =>
        rows.every((row) => row[i] && isLiteral(row[i])),
      );
      const values = rows.map((row) => `(${row.map((e) => this.emit(e)).join(", ")})`).join(", ");
      return {
        query: `SELECT * FROM (VALUES ${values})`,
        ...(columns ? { columns } : {}),
        literal,
        insert: true,
      };
    }
    if (!first) return undefined;
    return {
      query: `SELECT * FROM (${this.emit(rest)})`,
      ...(columns ? { columns } : {}),
      literal: [],
      insert: true,
    };
  }

  /** What each WHEN clause of a MERGE writes: `UPDATE SET ...` and `INSERT (cols) VALUES (...)`. */
  private mergeAssignments(
    clauses: Token[],
    from: string,
  ): { query: string; columns?: string[]; literal: boolean[]; insert: boolean }[] {
    const out: { query: string; columns?: string[]; literal: boolean[]; insert: boolean }[] = [];
    let start = findTopLevel(clauses, "WHEN");
    while (start >= 0) {
      const end = findTopLevel(clauses, "WHEN", start + 1);
      const clause = clauses.slice(start, end < 0 ? clauses.length : end);
      const then = findTopLevel(clause, "THEN");
      const action = clause.slice(then + 1);
      const set = findTopLevel(action, "SET");
      const insert = findTopLevel(action, "INSERT");
      const values = findTopLevel(action, "VALUES");
      if (set >= 0 && findTopLevel(action, "UPDATE") >= 0) {
        const pairs = this.setAssignments(action.slice(set + 1));
        out.push({
          query: `SELECT ${pairs.map((a) => a.expression).join(", ")} FROM ${from}`,
          columns: pairs.map((a) => a.column),
          literal: pairs.map((a) => a.literal),
          insert: false,
        });
      } else if (insert >= 0 && values >= 0) {
        const open = action.findIndex((t, j) => j > insert && t.kind === "op" && t.text === "(");
        const columns =
          open >= 0 && open < values
            ? splitCommas(action.slice(open + 1, matchingParen(action, open, this.sql))).map(
                (part) => part.find((t) => t.kind !== "space")!.value,
              )
            : undefined;
        const valuesOpen = action.findIndex((t, j) => j > values && t.kind === "op" && t.text === "(");
        const exprs = splitCommas(action.slice(valuesOpen + 1, matchingParen(action, valuesOpen, this.sql)));
        out.push({
          query: `SELECT ${exprs.map((e) => this.emit(e)).join(", ")} FROM ${from}`,
          ...(columns ? { columns } : {}),
          literal: exprs.map((e) => isLiteral(e)),
          insert: true,
        });
      }
      start = end;
    }
    return out;
  }

  /**
   * Tokens back to text in DuckDB's dialect: table paths in table positions resolved, backtick
   * names double-quoted, double-quoted strings single-quoted, BigQuery types and functions renamed.
   */
  private emit(tokens: Token[]): string {
    const out: string[] = [];
    const p = new SqlParser(tokens, this.sql);
    // For each open parenthesis: the index in `out` of the CAST/SAFE_CAST it belongs to (then
    // `AS` starts a type), or -1.
    const parens: number[] = [];
    let lastWord = "";
    // Paren depth of a FROM list whose items are tables, or -1.
    let fromListDepth = -1;
    let pendingCast = -1;
    while (p.i < tokens.length) {
      const t = tokens[p.i]!;
      if (t.kind === "space") {
        out.push(" ");
        p.i++;
        continue;
      }
      if (t.kind === "string") {
        out.push(sqlString(t.value));
        p.i++;
        lastWord = "";
        continue;
      }
      if (t.kind === "bytes") {
        out.push(`unhex('${Buffer.from(t.value, "latin1").toString("hex")}')`);
        p.i++;
        lastWord = "";
        continue;
      }
      if (t.kind === "param") {
        out.push(this.parameter(t));
        p.i++;
        continue;
      }
      if (t.kind === "op") {
        if (t.text === "(") parens.push(pendingCast);
        if (t.text === ")") parens.pop();
        pendingCast = -1;
        // `SELECT * EXCEPT (a)` is DuckDB's `* EXCLUDE (a)`.
        if (t.text === "*" && p.isWord(p.peek(1), "EXCEPT") && p.isOp(p.peek(2), "(")) {
          out.push("* EXCLUDE");
          p.i = p.next(p.next(p.i + 1) + 1);
          continue;
        }
        out.push(t.text);
        p.i++;
        if (t.text !== ".") lastWord = "";
        // `FROM a.t1 x, a.t2 y`: after a comma of the same FROM list, a table again.
        if (t.text === "," && fromListDepth === parens.length) lastWord = "FROM";
        if (parens.length < fromListDepth) fromListDepth = -1;
        continue;
      }
      if (t.kind === "number") {
        out.push(t.text);
        p.i++;
        lastWord = "";
        continue;
      }
      const upper = t.kind === "word" ? t.text.toUpperCase() : "";
      // A type after AS inside CAST(...).
      const castIndex = parens[parens.length - 1] ?? -1;
      if (upper === "AS" && castIndex >= 0) {
        p.i++;
        const { duck, field } = p.parseType("_");
        if (field.type === "STRING" && field.mode !== "REPEATED" && field.maxLength === undefined) {
          // NOTE: DuckDB prints DECIMAL with all its scale ('3.50'); BigQuery prints '3.5'.
          out[castIndex] = "bq_string";
        } else {
          out.push(`AS ${duck}`);
        }
        continue;
      }
      if (upper === "EXTRACT" && p.isOp(tokens[p.next(p.i + 1)], "(")) {
        out.push("EXTRACT");
        pendingCast = EXTRACT_PAREN;
        p.i++;
        lastWord = "";
        continue;
      }
      if (upper === "CAST" || upper === "SAFE_CAST") {
        pendingCast = out.length;
        out.push(upper === "CAST" ? "CAST" : "TRY_CAST");
        p.i++;
        lastWord = upper;
        continue;
      }
      // Typed literals: DATE '2024-01-01', TIMESTAMP '...', NUMERIC '1.5', JSON '{}'.
      if (LITERAL_TYPES.has(upper)) {
        const following = p.tokens[p.next(p.i + 1)];
        if (following?.kind === "string") {
          const saved = p.i;
          const { duck } = p.parseType("_");
          if (p.tokens[p.next()]?.kind === "string") {
            const literal = p.take();
            out.push(`CAST(${sqlString(literal.value)} AS ${duck})`);
            lastWord = "";
            continue;
          }
          p.i = saved;
        }
      }
      if (upper === "INTERVAL") {
        out.push("INTERVAL");
        p.i++;
        continue;
      }
      // Function renames.
      const next = p.tokens[p.next(p.i + 1)];
      if (p.isOp(next, "(") && t.kind === "word") {
        if (upper === "STRUCT" || (upper === "UNNEST" && TABLE_KEYWORDS.has(lastWord))) {
          const open = p.next(p.i + 1);
          const close = matchingParen(tokens, open, this.sql);
          const raw = splitCommas(tokens.slice(open + 1, close));
          p.i = close + 1;
          if (upper === "STRUCT") {
            // STRUCT(1 AS a, x) is DuckDB's struct_pack(a := 1, _field_2 := x).
            const fields = raw.map((arg, k) => {
              const as = findTopLevel(arg, "AS");
              const name =
                as >= 0 ? arg.slice(as + 1).find((x) => x.kind !== "space")!.value : `_field_${k + 1}`;
              return `${quoteIdent(name)} := ${this.emit(as >= 0 ? arg.slice(0, as) : arg)}`;
            });
            out.push(`struct_pack(${fields.join(", ")})`);
            lastWord = "";
            continue;
          }
          // FROM UNNEST(array) AS x: in BigQuery x is the element; in DuckDB, a column alias.
          const asIndex = p.next();
          let alias: Token | undefined;
          if (p.isWord(tokens[asIndex], "AS")) {
            alias = tokens[p.next(asIndex + 1)];
            p.i = p.next(asIndex + 1) + 1;
          } else if (
            tokens[asIndex]?.kind === "word" &&
            !FROM_LIST_END.has(tokens[asIndex]!.text.toUpperCase()) &&
            !p.isWord(tokens[asIndex], "WITH", "LEFT", "RIGHT", "INNER", "CROSS", "FULL")
          ) {
            alias = tokens[asIndex];
            p.i = asIndex + 1;
          }
          const unnest = `unnest(${raw.map((arg) => this.emit(arg)).join(", ")})`;
          out.push(
            alias
              ? `${unnest} AS ${quoteIdent(`${alias.value}__unnest`)}(${quoteIdent(alias.value)})`
              : unnest,
          );
          if (fromListDepth < 0 && lastWord === "FROM") fromListDepth = parens.length;
          lastWord = "";
          continue;
        }
        const rewrite = FUNCTION_REWRITES[upper];
        if (rewrite) {
          const open = p.next(p.i + 1);
          let depth = 0;
          let close = open;
          for (; close < tokens.length; close++) {
            if (p.isOp(tokens[close], "(")) depth++;
            if (p.isOp(tokens[close], ")")) depth--;
            if (depth === 0) break;
          }
          const raw = splitCommas(tokens.slice(open + 1, close));
          const args = raw.map((arg) => `(${this.emit(arg)})`);
          const words = raw.map((arg) => {
            const solid = arg.filter((x) => x.kind !== "space");
            return solid.length === 1 && solid[0]!.kind === "word" ? solid[0]!.text.toLowerCase() : "";
          });
          const sql = rewrite(args, words);
          if (sql === undefined) {
            throw invalidQuery(
              `No matching signature for function ${upper} with ${args.length} argument(s) at ${position(this.sql, t.offset)}`,
            );
          }
          out.push(sql);
          p.i = close + 1;
          lastWord = "";
          continue;
        }
        const renamed = FUNCTION_RENAMES[upper];
        if (renamed !== undefined) {
          out.push(renamed);
          p.i++;
          lastWord = upper;
          continue;
        }
      }
      // A name or a path.
      if (t.kind === "word" || t.kind === "quoted") {
        const inTablePosition = TABLE_KEYWORDS.has(lastWord);
        const parts: Token[] = [t];
        let j = p.i + 1;
        while (
          p.isOp(tokens[j], ".") &&
          (tokens[j + 1]?.kind === "word" || tokens[j + 1]?.kind === "quoted")
        ) {
          parts.push(tokens[j + 1]!);
          j += 2;
        }
        const names = parts.flatMap((x) => (x.kind === "quoted" ? x.value.split(".") : [x.text]));
        const isTable =
          (inTablePosition &&
            (names.length >= 2 || parts[0]!.kind === "quoted") &&
            !p.isOp(tokens[p.next(j)], "(")) ||
          (names.length === 3 && names[0] === this.context.projectId);
        if (isTable) {
          const ref = this.resolveTable(names, t);
          this.addTable(ref);
          out.push(this.tableSql(ref));
          p.i = j;
          if (lastWord === "FROM") fromListDepth = parens.length;
          lastWord = "";
          continue;
        }
        if (FROM_LIST_END.has(upper)) fromListDepth = -1;
        const previous = out.length > 0 ? out[out.length - 1] : "";
        out.push(
          parts
            .map((x, k) => {
              if (x.kind === "quoted") return x.value.split(".").map(quoteIdent).join(".");
              const word = x.text.toUpperCase();
              // A DuckDB-only keyword, or `offset` after a dot, is a column here.
              if (DUCKDB_ONLY_RESERVED.has(word) || (word === "OFFSET" && (k > 0 || previous === "."))) {
                return quoteIdent(x.text);
              }
              return x.text;
            })
            .join("."),
        );
        p.i = j;
        // FROM in `EXTRACT(DAY FROM x)` and `a IS DISTINCT FROM b` is followed by a value, not a table.
        const valueFrom =
          upper === "FROM" && (lastWord === "DISTINCT" || parens[parens.length - 1] === EXTRACT_PAREN);
        lastWord = t.kind === "word" && parts.length === 1 && !valueFrom ? upper : "";
        continue;
      }
      out.push(t.text);
      p.i++;
    }
    return out.join("").replace(/ {2,}/g, " ").trim();
  }

  /** Positional parameters by token offset: a token emitted twice takes its value once. */
  private readonly positionalByOffset = new Map<number, string>();

  private parameter(t: Token): string {
    if (t.value === "?") {
      let value = this.positionalByOffset.get(t.offset);
      if (value === undefined) {
        value = this.nextPositional();
        this.positionalByOffset.set(t.offset, value);
      }
      return value;
    }
    const value = this.context.namedParameters?.get(t.value.toLowerCase());
    if (value === undefined) {
      throw invalidQuery(`Query parameter '${t.value}' not found at ${position(this.sql, t.offset)}`);
    }
    return value;
  }
}

/** GoogleSQL's reserved keywords (https://cloud.google.com/bigquery/docs/reference/standard-sql/lexical#reserved_keywords). */
const BIGQUERY_RESERVED = new Set(
  (
    "ALL AND ANY ARRAY AS ASC ASSERT_ROWS_MODIFIED AT BETWEEN BY CASE CAST COLLATE CONTAINS CREATE CROSS CUBE " +
    "CURRENT DEFAULT DEFINE DESC DISTINCT ELSE END ENUM ESCAPE EXCEPT EXCLUDE EXISTS EXTRACT FALSE FETCH " +
    "FOLLOWING FOR FROM FULL GROUP GROUPING GROUPS HASH HAVING IF IGNORE IN INNER INTERSECT INTERVAL INTO IS " +
    "JOIN LATERAL LEFT LIKE LIMIT LOOKUP MERGE NATURAL NEW NO NOT NULL NULLS OF ON OR ORDER OUTER OVER " +
    "PARTITION PRECEDING PROTO QUALIFY RANGE RECURSIVE RESPECT RIGHT ROLLUP ROWS SELECT SET SOME STRUCT " +
    "TABLESAMPLE THEN TO TREAT TRUE UNBOUNDED UNION UNNEST USING WHEN WHERE WINDOW WITH WITHIN"
  ).split(" "),
);

/**
 * Words DuckDB reserves and BigQuery does not, so in GoogleSQL they are plain column names
 * (`user`, `primary`, `check`): passed to DuckDB quoted.
 */
const DUCKDB_ONLY_RESERVED = new Set(
  "analyse analyze asymmetric both check column constraint deferrable describe do foreign initially lambda leading only pivot pivot_longer pivot_wider placing primary references returning show summarize symmetric trailing unique unpivot variadic"
    .toUpperCase()
    .split(" "),
);

/** Marks, on the stack of open parentheses, the one of EXTRACT(part FROM value). */
const EXTRACT_PAREN = -2;

/** Words that end a FROM list. */
const FROM_LIST_END = new Set(
  "WHERE GROUP HAVING ORDER LIMIT QUALIFY WINDOW UNION INTERSECT EXCEPT ON USING JOIN SELECT SET WHEN".split(
    " ",
  ),
);

export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}
