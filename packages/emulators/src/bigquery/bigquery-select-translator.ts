import type { Token } from "./bigquery-sql-tokenizer.js";
import type { StatementTranslation } from "./bigquery-statement-translation.js";
import { findTopLevel, splitCommas } from "./bigquery-token-lists.js";
import type { TranslatedStatement } from "./bigquery-translated-statement.js";

/** A query (`SELECT`, `WITH`, or parenthesized), passed on as DuckDB SQL. */
export function translateSelect(statement: StatementTranslation): TranslatedStatement {
  const result = statement.result;
  result.kind = "SELECT";
  const rest = statement.restTokens();
  result.computedColumns = computedColumns(rest);
  result.sql = statement.emit(rest);
  return result;
}

/** The aliases of the main SELECT list's items that are expressions, not column references. */
function computedColumns(tokens: Token[]): string[] {
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
