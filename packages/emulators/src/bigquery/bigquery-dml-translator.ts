import { invalidQuery } from "./bigquery-api-error.js";
import { position, type Token } from "./bigquery-sql-tokenizer.js";
import type { StatementTranslation } from "./bigquery-statement-translation.js";
import {
  findTopLevel,
  hasTopLevelWord,
  isLiteral,
  matchingParen,
  splitCommas,
} from "./bigquery-token-lists.js";
import {
  tableSql,
  type Assignment,
  type StatementKind,
  type TableRef,
  type TranslatedStatement,
} from "./bigquery-translated-statement.js";
import { quoteIdent } from "./bigquery-types.js";

// DML: INSERT, UPDATE, DELETE, MERGE and TRUNCATE TABLE. Besides the DuckDB statement, each
// records what it writes into which columns (`assignments`), for the type check BigQuery makes.

export function translateTruncate(statement: StatementTranslation): TranslatedStatement {
  const p = statement.parser;
  const result = statement.result;
  p.take();
  if (!p.isWord(p.take(), "TABLE")) throw p.unexpected(p.peek(), "keyword TABLE");
  const target = statement.tableName(true);
  result.kind = "TRUNCATE_TABLE";
  result.target = target;
  result.sql = `TRUNCATE ${tableSql(target)}`;
  statement.expectEnd();
  return result;
}

export function translateInsert(statement: StatementTranslation): TranslatedStatement {
  const result = statement.result;
  const { target } = readTarget(statement, "INSERT", "INTO");
  const rest = statement.restTokens();
  const check = insertAssignment(statement, rest);
  if (check) result.assignments = [check];
  result.sql = `INSERT INTO ${tableSql(target)} ${statement.emit(rest)}`;
  return result;
}

export function translateDelete(statement: StatementTranslation): TranslatedStatement {
  const result = statement.result;
  const { target, rest } = filteredTarget(statement, "DELETE");
  result.sql = `DELETE FROM ${tableSql(target)} ${statement.emit(rest)}`;
  return result;
}

export function translateUpdate(statement: StatementTranslation): TranslatedStatement {
  const result = statement.result;
  const { target, rest } = filteredTarget(statement, "UPDATE");
  result.sql = `UPDATE ${tableSql(target)} ${statement.emit(rest)}`;
  const set = findTopLevel(rest, "SET");
  const from = findTopLevel(rest, "FROM");
  const where = findTopLevel(rest, "WHERE");
  if (set >= 0) {
    const aliasTokens = rest
      .slice(0, set)
      .filter((t) => t.kind !== "space" && !(t.kind === "word" && t.text.toUpperCase() === "AS"));
    const alias = statement.emit(aliasTokens);
    const fromItems = from >= 0 ? `, ${statement.emit(rest.slice(from + 1, where))}` : "";
    const pairs = setAssignments(statement, rest.slice(set + 1, from >= 0 ? from : where));
    result.assignments = [
      {
        query: `SELECT ${pairs.map((a) => a.expression).join(", ")} FROM ${tableSql(target)} ${alias}${fromItems}`,
        columns: pairs.map((a) => a.column),
        literal: pairs.map((a) => a.literal),
        insert: false,
      },
    ];
    if (from >= 0) {
      // UPDATE ... FROM joining a target row to two rows is refused, like such a MERGE.
      const targetAlias = aliasTokens.length > 0 ? alias : quoteIdent(target.tableId);
      result.mergeDuplicateCheck = `SELECT 1 FROM ${tableSql(target)} ${alias}${fromItems} WHERE ${statement.emit(rest.slice(where + 1))} GROUP BY ${targetAlias}.rowid HAVING count(*) > 1 LIMIT 1`;
    }
  }
  return result;
}

export function translateMerge(statement: StatementTranslation): TranslatedStatement {
  const p = statement.parser;
  const result = statement.result;
  const { target } = readTarget(statement, "MERGE", "INTO");
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
    source = statement.emit(p.tokens.slice(start, j + 1));
    p.i = j + 1;
  } else {
    source = tableSql(statement.tableName(true));
  }
  let sourceAliasSql = "";
  if (p.isWord(p.peek(), "AS")) p.take();
  if (!p.isWord(p.peek(), "ON")) sourceAliasSql = ` AS ${quoteIdent(p.take().value)}`;
  if (!p.isWord(p.take(), "ON")) throw p.unexpected(p.peek(), "ON");
  const condition = statement.emit(statement.exprUntilWords("WHEN"));
  const clauses = statement.restTokens();
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
  const clauseSql = statement.emit(clauses);
  const targetSql = tableSql(target);
  result.assignments = mergeAssignments(
    statement,
    clauses,
    `${targetSql}${targetAliasSql}, ${source}${sourceAliasSql}`,
  );
  result.sql = `MERGE INTO ${targetSql}${targetAliasSql} USING ${source}${sourceAliasSql} ON ${condition} ${clauseSql}`;
  if (
    hasTopLevelWord(clauses, "MATCHED") &&
    /\bWHEN\s+MATCHED\b/i.test(clauses.map((t) => t.text).join(""))
  ) {
    result.mergeDuplicateCheck = `SELECT 1 FROM ${targetSql}${targetAliasSql} JOIN ${source}${sourceAliasSql} ON ${condition} GROUP BY ${quoteIdent(targetAlias)}.rowid HAVING count(*) > 1 LIMIT 1`;
  }
  return result;
}

/**
 * The table of a DELETE or UPDATE and the tokens after it, which BigQuery refuses without a
 * WHERE clause (`WHERE true` changes every row).
 */
function filteredTarget(
  statement: StatementTranslation,
  kind: "DELETE" | "UPDATE",
): { target: TableRef; rest: Token[] } {
  const { keyword, target } = readTarget(statement, kind, kind === "DELETE" ? "FROM" : undefined);
  const rest = statement.restTokens();
  if (!hasTopLevelWord(rest, "WHERE")) {
    throw invalidQuery(`${kind} must have a WHERE clause at ${position(statement.sql, keyword.offset)}`);
  }
  return { target, rest };
}

/** The statement's keyword, an optional word after it (`INTO`, `FROM`), then its target table. */
function readTarget(
  statement: StatementTranslation,
  kind: StatementKind,
  optionalWord: string | undefined,
): { keyword: Token; target: TableRef } {
  const p = statement.parser;
  const keyword = p.take();
  if (optionalWord !== undefined && p.isWord(p.peek(), optionalWord)) p.take();
  const target = statement.tableName(true);
  statement.result.kind = kind;
  statement.result.target = target;
  return { keyword, target };
}

/** `a = expr, T.b = expr` as columns and DuckDB expressions. */
function setAssignments(
  statement: StatementTranslation,
  tokens: Token[],
): { column: string; expression: string; literal: boolean }[] {
  return splitCommas(tokens).map((part) => {
    const eq = part.findIndex((t) => t.kind === "op" && t.text === "=");
    const names = part.slice(0, eq).filter((t) => t.kind === "word" || t.kind === "quoted");
    const value = part.slice(eq + 1);
    return {
      column: names[names.length - 1]?.value ?? "",
      expression: statement.emit(value),
      literal: isLiteral(value),
    };
  });
}

/** The columns and values of `INSERT [(cols)] VALUES (...), ... | SELECT ...`. */
function insertAssignment(statement: StatementTranslation, tokens: Token[]): Assignment | undefined {
  let k = tokens.findIndex((t) => t.kind !== "space");
  let columns: string[] | undefined;
  if (k >= 0 && tokens[k]!.kind === "op" && tokens[k]!.text === "(") {
    const close = matchingParen(tokens, k, statement.sql);
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
        const close = matchingParen(rest, j, statement.sql);
        rows.push(splitCommas(rest.slice(j + 1, close)));
        j = close + 1;
      } else {
        j++;
      }
    }
    if (rows.length === 0) return undefined;
    const width = rows[0]!.length;
    const literal = Array.from({ length: width }, (_, i) => rows.every((row) => row[i] && isLiteral(row[i])));
    const values = rows.map((row) => `(${row.map((e) => statement.emit(e)).join(", ")})`).join(", ");
    return {
      query: `SELECT * FROM (VALUES ${values})`,
      ...(columns ? { columns } : {}),
      literal,
      insert: true,
    };
  }
  if (!first) return undefined;
  return {
    query: `SELECT * FROM (${statement.emit(rest)})`,
    ...(columns ? { columns } : {}),
    literal: [],
    insert: true,
  };
}

/** What each WHEN clause of a MERGE writes: `UPDATE SET ...` and `INSERT (cols) VALUES (...)`. */
function mergeAssignments(statement: StatementTranslation, clauses: Token[], from: string): Assignment[] {
  const out: Assignment[] = [];
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
      const pairs = setAssignments(statement, action.slice(set + 1));
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
          ? splitCommas(action.slice(open + 1, matchingParen(action, open, statement.sql))).map(
              (part) => part.find((t) => t.kind !== "space")!.value,
            )
          : undefined;
      const valuesOpen = action.findIndex((t, j) => j > values && t.kind === "op" && t.text === "(");
      const exprs = splitCommas(
        action.slice(valuesOpen + 1, matchingParen(action, valuesOpen, statement.sql)),
      );
      out.push({
        query: `SELECT ${exprs.map((e) => statement.emit(e)).join(", ")} FROM ${from}`,
        ...(columns ? { columns } : {}),
        literal: exprs.map((e) => isLiteral(e)),
        insert: true,
      });
    }
    start = end;
  }
  return out;
}
