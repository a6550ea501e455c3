import { invalidQuery } from "./bigquery-api-error.js";
import { validateColumnNames, validateTableId } from "./bigquery-names.js";
import { position, type Token } from "./bigquery-sql-tokenizer.js";
import type { StatementTranslation } from "./bigquery-statement-translation.js";
import { tableSql, type TranslatedStatement } from "./bigquery-translated-statement.js";
import { quoteIdent } from "./bigquery-types.js";

// DDL: CREATE TABLE (columns or AS query) and CREATE SCHEMA, DROP TABLE and DROP SCHEMA, ALTER TABLE.

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

export function translateCreate(statement: StatementTranslation): TranslatedStatement {
  const p = statement.parser;
  const result = statement.result;
  p.take();
  if (p.isWord(p.peek(), "OR")) {
    p.take();
    if (!p.isWord(p.take(), "REPLACE")) throw p.unexpected(p.peek(), "keyword REPLACE");
    result.orReplace = true;
  }
  if (p.isWord(p.peek(), "TEMP", "TEMPORARY")) {
    p.take();
    result.temporary = true;
  }
  const what = p.take();
  if (p.isWord(what, "SCHEMA")) {
    if (p.isWord(p.peek(), "IF")) {
      p.take();
      p.take();
      p.take();
      result.ifNotExists = true;
    }
    const name = p.take();
    result.kind = "CREATE_SCHEMA";
    result.schemaName = name.kind === "quoted" ? name.value.split(".").pop()! : name.text;
    result.sql = "";
    return result;
  }
  if (!p.isWord(what, "TABLE")) {
    throw invalidQuery(
      `The emulator does not support CREATE ${what.text} at ${position(statement.sql, what.offset)}`,
    );
  }
  if (p.isWord(p.peek(), "IF")) {
    p.take();
    p.take();
    p.take();
    result.ifNotExists = true;
  }
  const target = statement.tableName(false);
  if (result.temporary) target.datasetId = "";
  else if (!target.datasetId) {
    throw invalidQuery(`Table "${target.tableId}" must be qualified with a dataset (e.g. dataset.table).`);
  }
  validateTableId(target.tableId);
  result.target = target;
  let columns = "";
  if (p.isOp(p.peek(), "(")) {
    p.take();
    const defs: string[] = [];
    for (;;) {
      const nameToken = p.take();
      if (nameToken.kind !== "word" && nameToken.kind !== "quoted")
        throw p.unexpected(nameToken, "column name");
      checkNotReserved(nameToken, statement.sql);
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
          statement.skipParens();
        } else if (p.isWord(t, "DEFAULT")) {
          p.take();
          extra.push(`DEFAULT ${statement.emit(statement.exprUntilComma())}`);
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
      result.declaredColumns.push(field);
      defs.push(
        `${quoteIdent(name)} ${duck}${notNull ? " NOT NULL" : ""}${extra.length ? ` ${extra.join(" ")}` : ""}`,
      );
      const sep = p.take();
      if (p.isOp(sep, ",")) continue;
      if (p.isOp(sep, ")")) break;
      throw p.unexpected(sep, '"," or ")"');
    }
    validateColumnNames(
      result.declaredColumns.map((f) => f.name),
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
      result.partitioning = parsePartitionExpression(statement.exprUntilWords("CLUSTER", "OPTIONS", "AS"));
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
      result.clustering = fields;
    } else if (p.isWord(t, "OPTIONS")) {
      p.take();
      statement.skipParens();
    } else {
      break;
    }
  }
  let asQuery = "";
  if (p.isWord(p.peek(), "AS")) {
    p.take();
    asQuery = statement.rest();
    result.kind = "CREATE_TABLE_AS_SELECT";
  } else {
    statement.expectEnd();
    result.kind = "CREATE_TABLE";
    if (!columns) throw invalidQuery(`CREATE TABLE ${target.tableId} needs a column list or AS query`);
  }
  const create = `CREATE ${result.orReplace ? "OR REPLACE " : ""}${result.temporary ? "TEMP " : ""}TABLE ${result.ifNotExists ? "IF NOT EXISTS " : ""}${tableSql(target)}`;
  result.sql = asQuery
    ? columns
      ? // DuckDB has no CREATE TABLE (columns) AS: create, then insert.
        `${create} ${columns}; INSERT INTO ${tableSql(target)} ${asQuery}`
      : `${create} AS ${asQuery}`
    : `${create} ${columns}`;
  return result;
}

function parsePartitionExpression(tokens: Token[]): { type: string; field?: string } {
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

export function translateDrop(statement: StatementTranslation): TranslatedStatement {
  const p = statement.parser;
  const result = statement.result;
  p.take();
  const what = p.take();
  if (p.isWord(p.peek(), "IF")) {
    p.take();
    if (!p.isWord(p.take(), "EXISTS")) throw p.unexpected(p.peek(), "EXISTS");
    result.ifExists = true;
  }
  if (p.isWord(what, "SCHEMA")) {
    const name = p.take();
    result.kind = "DROP_SCHEMA";
    result.schemaName = name.kind === "quoted" ? name.value.split(".").pop()! : name.text;
    result.dropCascade = p.isWord(p.peek(), "CASCADE");
    result.sql = "";
    return result;
  }
  if (!p.isWord(what, "TABLE")) {
    throw invalidQuery(
      `The emulator does not support DROP ${what.text} at ${position(statement.sql, what.offset)}`,
    );
  }
  const target = statement.tableName(false);
  result.kind = "DROP_TABLE";
  result.target = target;
  result.sql = `DROP TABLE ${result.ifExists ? "IF EXISTS " : ""}${tableSql(target)}`;
  statement.expectEnd();
  return result;
}

export function translateAlter(statement: StatementTranslation): TranslatedStatement {
  const p = statement.parser;
  const result = statement.result;
  p.take();
  if (!p.isWord(p.take(), "TABLE")) throw invalidQuery("The emulator supports ALTER TABLE only");
  if (p.isWord(p.peek(), "IF")) {
    p.take();
    p.take();
    result.ifExists = true;
  }
  const target = statement.tableName(true);
  result.kind = "ALTER_TABLE";
  result.target = target;
  const table = tableSql(target);
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
      checkNotReserved(nameToken, statement.sql);
      const { duck, field } = p.parseType(nameToken.value);
      if (p.isWord(p.peek(), "NOT")) {
        throw invalidQuery(
          `Column ${nameToken.value} cannot be added as NOT NULL: ALTER TABLE ADD COLUMN cannot add a REQUIRED column`,
        );
      }
      if (p.isWord(p.peek(), "OPTIONS")) {
        p.take();
        statement.skipParens();
      }
      validateColumnNames([nameToken.value], "");
      result.declaredColumns.push(field);
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
      result.droppedColumns.push(nameToken.value);
      actions.push(
        `ALTER TABLE ${table} DROP COLUMN ${ifExists ? "IF EXISTS " : ""}${quoteIdent(nameToken.value)}`,
      );
    } else if (upper === "RENAME") {
      if (p.isWord(p.peek(), "TO")) {
        p.take();
        const name = p.take();
        validateTableId(name.value);
        result.renameTo = name.value;
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
          result.alterColumnType = { column: nameToken.value, field };
          actions.push(
            `ALTER TABLE ${table} ALTER COLUMN ${quoteIdent(nameToken.value)} SET DATA TYPE ${duck}`,
          );
        } else if (p.isWord(what, "OPTIONS")) {
          statement.skipParens();
        } else if (p.isWord(what, "DEFAULT")) {
          actions.push(
            `ALTER TABLE ${table} ALTER COLUMN ${quoteIdent(nameToken.value)} SET DEFAULT ${statement.emit(statement.exprUntilComma())}`,
          );
        } else {
          throw p.unexpected(what, "DATA TYPE, OPTIONS or DEFAULT");
        }
      } else {
        throw p.unexpected(verb, "DROP or SET");
      }
    } else if (upper === "SET") {
      if (!p.isWord(p.take(), "OPTIONS")) throw p.unexpected(p.peek(), "OPTIONS");
      statement.skipParens();
    } else {
      throw p.unexpected(action, "ADD, DROP, RENAME, ALTER or SET");
    }
    if (p.isOp(p.peek(), ",")) {
      p.take();
      continue;
    }
    break;
  }
  statement.expectEnd();
  result.sql = actions.join("; ");
  return result;
}

/** A reserved keyword names a column only in backticks (`end`, `at`, `range`). */
function checkNotReserved(token: Token, sql: string): void {
  if (token.kind === "word" && BIGQUERY_RESERVED.has(token.text.toUpperCase())) {
    throw invalidQuery(
      `Syntax error: Unexpected keyword ${token.text.toUpperCase()} at ${position(sql, token.offset)}`,
    );
  }
}
