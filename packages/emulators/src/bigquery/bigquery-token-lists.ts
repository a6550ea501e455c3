import { invalidQuery } from "./bigquery-api-error.js";
import { position, type Token } from "./bigquery-sql-tokenizer.js";

// A statement's clauses are found at parenthesis depth 0: `WHERE` inside a subquery is not the
// statement's own.

/** Index of a word at parenthesis depth 0, or -1. */
export function findTopLevel(tokens: Token[], word: string, from = 0): number {
  let depth = 0;
  for (let k = from; k < tokens.length; k++) {
    const t = tokens[k]!;
    if (t.kind === "op" && t.text === "(") depth++;
    else if (t.kind === "op" && t.text === ")") depth--;
    else if (depth === 0 && t.kind === "word" && t.text.toUpperCase() === word) return k;
  }
  return -1;
}

/** Splits tokens at commas of depth 0. */
export function splitCommas(tokens: Token[]): Token[][] {
  const parts: Token[][] = [[]];
  let depth = 0;
  for (const t of tokens) {
    if (t.kind === "op" && t.text === "(") depth++;
    if (t.kind === "op" && t.text === ")") depth--;
    if (depth === 0 && t.kind === "op" && t.text === ",") parts.push([]);
    else parts[parts.length - 1]!.push(t);
  }
  return parts.filter((part) => part.some((t) => t.kind !== "space"));
}

export function isLiteral(tokens: Token[]): boolean {
  const solid = tokens.filter((t) => t.kind !== "space");
  if (solid.length === 1) {
    const t = solid[0]!;
    return (
      t.kind === "string" || t.kind === "number" || (t.kind === "word" && t.text.toUpperCase() === "NULL")
    );
  }
  // A negative number.
  return solid.length === 2 && solid[0]!.text === "-" && solid[1]!.kind === "number";
}

/** Whether a word stands at parenthesis depth 0. */
export function hasTopLevelWord(tokens: Token[], word: string): boolean {
  return findTopLevel(tokens, word) >= 0;
}

/** Index of the `)` closing the `(` at `open`; `sql` is the script, for the error's position. */
export function matchingParen(tokens: Token[], open: number, sql: string): number {
  let depth = 0;
  for (let j = open; j < tokens.length; j++) {
    const t = tokens[j]!;
    if (t.kind === "op" && t.text === "(") depth++;
    if (t.kind === "op" && t.text === ")") depth--;
    if (depth === 0) return j;
  }
  throw invalidQuery(`Syntax error: Unclosed parenthesis at ${position(sql, tokens[open]!.offset)}`);
}
