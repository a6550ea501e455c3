import { invalidQuery } from "./bigquery-api-error.js";
import { translateAlter, translateCreate, translateDrop } from "./bigquery-ddl-translator.js";
import {
  translateDelete,
  translateInsert,
  translateMerge,
  translateTruncate,
  translateUpdate,
} from "./bigquery-dml-translator.js";
import { translateSelect } from "./bigquery-select-translator.js";
import { position, splitStatements, tokenize } from "./bigquery-sql-tokenizer.js";
import { StatementTranslation } from "./bigquery-statement-translation.js";
import type { TranslateContext, TranslatedStatement } from "./bigquery-translated-statement.js";

/**
 * GoogleSQL to DuckDB SQL, for the statements a loader sends: SELECT, CREATE [OR REPLACE] TABLE
 * (columns or AS SELECT, with PARTITION BY / CLUSTER BY / OPTIONS), DROP TABLE, ALTER TABLE,
 * INSERT, UPDATE, DELETE, TRUNCATE TABLE, MERGE, CREATE/DROP SCHEMA and BEGIN/COMMIT/ROLLBACK
 * TRANSACTION, one script of several statements. It works on tokens, not a grammar: names in
 * backticks become DuckDB `"dataset"."table"`, BigQuery's type names become DuckDB's, strings in
 * double quotes become strings, and everything else is passed on as written. What BigQuery would
 * refuse at parse time (an unknown type, a DELETE without WHERE, a bad name) is refused here with
 * BigQuery's message.
 *
 * This module reads a script and hands each statement, by its first keyword, to the translator
 * of its kind: bigquery-select-translator.ts, bigquery-dml-translator.ts,
 * bigquery-ddl-translator.ts; all share bigquery-expression-emitter.ts for the SQL they pass on.
 */

export { BIGQUERY_FUNCTION_MACROS } from "./bigquery-functions.js";
export { position, tokenize } from "./bigquery-sql-tokenizer.js";
export type {
  StatementKind,
  TableRef,
  TranslateContext,
  TranslatedStatement,
} from "./bigquery-translated-statement.js";
export { sqlString } from "./bigquery-types.js";

export function translateScript(sql: string, context: TranslateContext): TranslatedStatement[] {
  const statements = splitStatements(tokenize(sql));
  if (statements.length === 0) throw invalidQuery("Syntax error: Unexpected end of script at [1:1]");
  let positional = 0;
  const next = (): string => {
    const value = context.positionalParameters?.[positional++];
    if (value === undefined) throw invalidQuery("Query has more positional parameters than were provided");
    return value;
  };
  return statements.map((tokens) =>
    translateStatement(new StatementTranslation(tokens, { sql, context, nextPositional: next })),
  );
}

function translateStatement(statement: StatementTranslation): TranslatedStatement {
  const p = statement.parser;
  const result = statement.result;
  const first = p.peek();
  const head = first?.kind === "word" ? first.text.toUpperCase() : "";
  if (head === "BEGIN" || head === "START") {
    result.kind = "BEGIN_TRANSACTION";
    result.sql = "BEGIN TRANSACTION";
    return result;
  }
  if (head === "COMMIT") {
    result.kind = "COMMIT_TRANSACTION";
    result.sql = "COMMIT";
    return result;
  }
  if (head === "ROLLBACK") {
    result.kind = "ROLLBACK_TRANSACTION";
    result.sql = "ROLLBACK";
    return result;
  }
  if (head === "CREATE") return translateCreate(statement);
  if (head === "DROP") return translateDrop(statement);
  if (head === "ALTER") return translateAlter(statement);
  if (head === "TRUNCATE") return translateTruncate(statement);
  if (head === "INSERT") return translateInsert(statement);
  if (head === "DELETE") return translateDelete(statement);
  if (head === "UPDATE") return translateUpdate(statement);
  if (head === "MERGE") return translateMerge(statement);
  if (head === "SELECT" || head === "WITH" || p.isOp(first, "(")) return translateSelect(statement);
  if (
    head === "DECLARE" ||
    head === "SET" ||
    head === "IF" ||
    head === "LOOP" ||
    head === "CALL" ||
    head === "EXECUTE"
  ) {
    throw invalidQuery(
      `The emulator does not run scripting statement ${head} at ${position(statement.sql, first!.offset)}`,
    );
  }
  throw invalidQuery(
    `Syntax error: Unexpected keyword ${first?.text ?? ""} at ${position(statement.sql, first?.offset ?? 0)}`,
  );
}
