import { ExpressionEmitter } from "./bigquery-expression-emitter.js";
import { SqlParser } from "./bigquery-sql-parser.js";
import type { Token } from "./bigquery-sql-tokenizer.js";
import type { Script, TableRef, TranslatedStatement } from "./bigquery-translated-statement.js";

/**
 * One statement being translated, as the translators of each kind (SELECT, DML, DDL) share it:
 * a parser over its tokens, the result they fill in, and the readers every kind uses (a table
 * name, an expression up to a delimiter, the rest of the statement as DuckDB SQL).
 */
export class StatementTranslation {
  readonly parser: SqlParser;
  readonly result: TranslatedStatement;
  private readonly emitter: ExpressionEmitter;

  constructor(
    tokens: Token[],
    private readonly script: Script,
  ) {
    this.parser = new SqlParser(tokens, script.sql);
    this.result = { kind: "SELECT", sql: "", tables: [], declaredColumns: [], droppedColumns: [] };
    this.emitter = new ExpressionEmitter(script, this.result.tables);
  }

  /** The whole script, for the position in an error message. */
  get sql(): string {
    return this.script.sql;
  }

  /** Tokens as DuckDB SQL (see ExpressionEmitter); tables they name are added to the result's. */
  emit(tokens: Token[]): string {
    return this.emitter.emit(tokens);
  }

  expectEnd(): void {
    if (!this.parser.atEnd()) throw this.parser.unexpected(this.parser.peek(), "end of statement");
  }

  /**
   * A table name at the cursor: `ds.t`, `project.ds.t`, `` `project.ds.t` ``, or `t` with a default
   * dataset. With `record`, added to the tables the statement names.
   */
  tableName(record: boolean): TableRef {
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
    const ref = this.emitter.resolveTable(
      parts.map((x) => x.value),
      startToken!,
    );
    if (record) this.emitter.addTable(ref);
    return ref;
  }

  restTokens(): Token[] {
    const tokens = this.parser.tokens.slice(this.parser.i);
    this.parser.i = this.parser.tokens.length;
    return tokens;
  }

  rest(): string {
    return this.emit(this.restTokens());
  }

  skipParens(): void {
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
  exprUntilComma(): Token[] {
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

  exprUntilWords(...words: string[]): Token[] {
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
}
