import { invalidQuery } from "./bigquery-api-error.js";

/**
 * GoogleSQL's lexical structure (https://cloud.google.com/bigquery/docs/reference/standard-sql/lexical):
 * the translator works on these tokens, not on a grammar, so that everything it does not rewrite
 * passes on to DuckDB as written.
 */

export type TokenKind = "space" | "string" | "bytes" | "quoted" | "word" | "number" | "param" | "op";

export interface Token {
  kind: TokenKind;
  /** Source text. */
  text: string;
  /** Decoded value for strings and bytes, the name for quoted identifiers and parameters. */
  value: string;
  offset: number;
}

const ESCAPES: Record<string, string> = {
  a: "\x07",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
  v: "\v",
  "\\": "\\",
  "?": "?",
  '"': '"',
  "'": "'",
  "`": "`",
};

function decodeEscapes(body: string, raw: boolean): string {
  if (raw) return body;
  return body.replace(/\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)/gs, (_, e: string) => {
    if (e.length > 1 && (e[0] === "x" || e[0] === "u" || e[0] === "U"))
      return String.fromCodePoint(parseInt(e.slice(1), 16));
    if (/^[0-7]{3}$/.test(e)) return String.fromCodePoint(parseInt(e, 8));
    const decoded = ESCAPES[e];
    if (decoded === undefined) throw invalidQuery(`Illegal escape sequence: \\${e}`);
    return decoded;
  });
}

export function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const push = (kind: TokenKind, end: number, value?: string): void => {
    const text = sql.slice(i, end);
    tokens.push({ kind, text, value: value ?? text, offset: i });
    i = end;
  };
  while (i < sql.length) {
    const c = sql[i]!;
    const rest = sql.slice(i, i + 3);
    if (/\s/.test(c)) {
      let j = i;
      while (j < sql.length && /\s/.test(sql[j]!)) j++;
      push("space", j, " ");
    } else if (c === "-" && sql[i + 1] === "-") {
      const j = sql.indexOf("\n", i);
      push("space", j === -1 ? sql.length : j, " ");
    } else if (c === "#") {
      const j = sql.indexOf("\n", i);
      push("space", j === -1 ? sql.length : j, " ");
    } else if (rest.startsWith("/*")) {
      const j = sql.indexOf("*/", i + 2);
      if (j === -1) throw invalidQuery(`Syntax error: Unclosed comment at ${position(sql, i)}`);
      push("space", j + 2, " ");
    } else if (/[rRbB]/.test(c) && /^([rR][bB]?|[bB][rR]?)['"]/.test(sql.slice(i, i + 3))) {
      const prefix = /^([rRbB]{1,2})/.exec(sql.slice(i, i + 2))![1]!.replace(/['"]/g, "");
      const start = i + prefix.length;
      const { end, body } = readString(sql, start);
      const raw = /[rR]/.test(prefix);
      const bytes = /[bB]/.test(prefix);
      const value = decodeEscapes(body, raw);
      tokens.push({ kind: bytes ? "bytes" : "string", text: sql.slice(i, end), value, offset: i });
      i = end;
    } else if (c === "'" || c === '"') {
      const { end, body } = readString(sql, i);
      push("string", end, decodeEscapes(body, false));
    } else if (c === "`") {
      const j = sql.indexOf("`", i + 1);
      if (j === -1) throw invalidQuery(`Syntax error: Unclosed identifier literal at ${position(sql, i)}`);
      push("quoted", j + 1, decodeEscapes(sql.slice(i + 1, j), false));
    } else if (/[A-Za-z_]/.test(c)) {
      let j = i;
      while (j < sql.length && /[A-Za-z0-9_]/.test(sql[j]!)) j++;
      push("word", j);
    } else if (/[0-9]/.test(c) || (c === "." && /[0-9]/.test(sql[i + 1] ?? ""))) {
      const m = /^(\d*\.?\d*(?:[eE][+-]?\d+)?)/.exec(sql.slice(i))!;
      push("number", i + m[1]!.length);
    } else if (c === "@" && sql[i + 1] !== "@") {
      let j = i + 1;
      while (j < sql.length && /[A-Za-z0-9_]/.test(sql[j]!)) j++;
      push("param", j, sql.slice(i + 1, j));
    } else if (c === "?") {
      push("param", i + 1, "?");
    } else {
      const two = sql.slice(i, i + 2);
      if (["<=", ">=", "<>", "!=", "||", "<<", ">>", "=>", "->"].includes(two)) push("op", i + 2);
      else push("op", i + 1);
    }
  }
  return tokens;
}

function readString(sql: string, start: number): { end: number; body: string } {
  const quote = sql[start]!;
  const triple = sql.slice(start, start + 3) === quote.repeat(3);
  const delimiter = triple ? quote.repeat(3) : quote;
  let j = start + delimiter.length;
  while (j < sql.length) {
    if (sql[j] === "\\") {
      j += 2;
      continue;
    }
    if (sql.startsWith(delimiter, j)) {
      return { end: j + delimiter.length, body: sql.slice(start + delimiter.length, j) };
    }
    if (!triple && sql[j] === "\n") break;
    j++;
  }
  throw invalidQuery(`Syntax error: Unclosed string literal at ${position(sql, start)}`);
}

/** `[line:column]` of an offset, as BigQuery's messages point at the query. */
export function position(sql: string, offset: number): string {
  const before = sql.slice(0, offset).split("\n");
  return `[${before.length}:${before[before.length - 1]!.length + 1}]`;
}

/** Splits a script on `;` outside strings, comments and parentheses. */
export function splitStatements(tokens: Token[]): Token[][] {
  const statements: Token[][] = [];
  let current: Token[] = [];
  for (const token of tokens) {
    if (token.kind === "op" && token.text === ";") {
      if (current.some((t) => t.kind !== "space")) statements.push(current);
      current = [];
    } else {
      current.push(token);
    }
  }
  if (current.some((t) => t.kind !== "space")) statements.push(current);
  return statements;
}
