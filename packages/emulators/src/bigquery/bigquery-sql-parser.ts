import { invalidQuery } from "./bigquery-api-error.js";
import { position, type Token } from "./bigquery-sql-tokenizer.js";
import { duckdbType, normalizeSchema, type TableFieldSchema } from "./bigquery-types.js";

/** BigQuery's type names and aliases, as the `type` of a TableFieldSchema. */
const SIMPLE_TYPES: Record<string, { type: string }> = {
  INT64: { type: "INTEGER" },
  INT: { type: "INTEGER" },
  INTEGER: { type: "INTEGER" },
  SMALLINT: { type: "INTEGER" },
  BIGINT: { type: "INTEGER" },
  TINYINT: { type: "INTEGER" },
  BYTEINT: { type: "INTEGER" },
  FLOAT64: { type: "FLOAT" },
  BOOL: { type: "BOOLEAN" },
  BOOLEAN: { type: "BOOLEAN" },
  STRING: { type: "STRING" },
  BYTES: { type: "BYTES" },
  DATE: { type: "DATE" },
  TIME: { type: "TIME" },
  DATETIME: { type: "DATETIME" },
  TIMESTAMP: { type: "TIMESTAMP" },
  JSON: { type: "JSON" },
  GEOGRAPHY: { type: "GEOGRAPHY" },
  INTERVAL: { type: "INTERVAL" },
  NUMERIC: { type: "NUMERIC" },
  DECIMAL: { type: "NUMERIC" },
  BIGNUMERIC: { type: "BIGNUMERIC" },
  BIGDECIMAL: { type: "BIGNUMERIC" },
};

/**
 * A cursor over a statement's tokens that skips white space, and reads a BigQuery type at the
 * cursor. Errors are BigQuery's syntax errors, pointing at the query as `[line:column]`.
 */
export class SqlParser {
  i = 0;
  constructor(
    readonly tokens: Token[],
    readonly sql: string,
  ) {}

  /** Index of the next non-space token at or after `from`. */
  next(from = this.i): number {
    let j = from;
    while (j < this.tokens.length && this.tokens[j]!.kind === "space") j++;
    return j;
  }
  peek(offset = 0): Token | undefined {
    let j = this.next();
    for (let k = 0; k < offset; k++) j = this.next(j + 1);
    return this.tokens[j];
  }
  isWord(token: Token | undefined, ...words: string[]): boolean {
    return token?.kind === "word" && words.includes(token.text.toUpperCase());
  }
  isOp(token: Token | undefined, op: string): boolean {
    return token?.kind === "op" && token.text === op;
  }
  take(): Token {
    const j = this.next();
    const token = this.tokens[j];
    if (!token)
      throw invalidQuery(`Syntax error: Unexpected end of script at ${position(this.sql, this.sql.length)}`);
    this.i = j + 1;
    return token;
  }
  expectOp(op: string): void {
    const token = this.take();
    if (!this.isOp(token, op)) throw this.unexpected(token, `"${op}"`);
  }
  unexpected(token: Token | undefined, expected: string): Error {
    if (!token)
      return invalidQuery(
        `Syntax error: Expected ${expected} but got end of script at ${position(this.sql, this.sql.length)}`,
      );
    return invalidQuery(
      `Syntax error: Expected ${expected} but got "${token.text}" at ${position(this.sql, token.offset)}`,
    );
  }
  atEnd(): boolean {
    return this.next() >= this.tokens.length;
  }

  /** A BigQuery type at the cursor: its DuckDB text and its BigQuery field. */
  parseType(name: string): { duck: string; field: TableFieldSchema } {
    const token = this.take();
    if (token.kind !== "word") throw this.unexpected(token, "type name");
    const upper = token.text.toUpperCase();
    if (upper === "ARRAY") {
      this.expectOp("<");
      const element = this.parseType(name);
      this.closeAngle();
      if (element.field.mode === "REPEATED") {
        throw invalidQuery(`Data type ARRAY<ARRAY> is not supported at ${position(this.sql, token.offset)}`);
      }
      const field = { ...element.field, mode: "REPEATED" };
      return { duck: duckdbType(field), field };
    }
    if (upper === "STRUCT") {
      this.expectOp("<");
      const fields: TableFieldSchema[] = [];
      for (;;) {
        const fieldName = this.take();
        if (fieldName.kind !== "word" && fieldName.kind !== "quoted")
          throw this.unexpected(fieldName, "field name");
        fields.push(this.parseType(fieldName.value).field);
        const sep = this.peek();
        if (this.isOp(sep, ",")) {
          this.take();
          continue;
        }
        break;
      }
      this.closeAngle();
      const field = normalizeSchema([{ name, type: "RECORD", fields }], name)[0]!;
      return { duck: duckdbType(field), field };
    }
    const simple = SIMPLE_TYPES[upper];
    if (!simple) throw invalidQuery(`Type not found: ${token.text} at ${position(this.sql, token.offset)}`);
    const field: TableFieldSchema = { name, type: simple.type, mode: "NULLABLE" };
    if (this.isOp(this.peek(), "(")) {
      this.take();
      const first = this.take();
      let second: Token | undefined;
      if (this.isOp(this.peek(), ",")) {
        this.take();
        second = this.take();
      }
      this.expectOp(")");
      if (field.type === "NUMERIC" || field.type === "BIGNUMERIC") {
        field.precision = first.text;
        field.scale = second?.text ?? "0";
      } else if (field.type === "STRING" || field.type === "BYTES") {
        field.maxLength = first.text;
      } else {
        throw invalidQuery(
          `Parameterized types are not supported for ${token.text} at ${position(this.sql, token.offset)}`,
        );
      }
      normalizeSchema([field], name);
    }
    return { duck: duckdbType(field), field };
  }

  private closeAngle(): void {
    const token = this.take();
    if (this.isOp(token, ">")) return;
    if (token.kind === "op" && token.text === ">>") {
      // `ARRAY<STRUCT<a INT64>>`: split the shift operator.
      this.tokens.splice(this.i, 0, { kind: "op", text: ">", value: ">", offset: token.offset + 1 });
      return;
    }
    throw this.unexpected(token, '">"');
  }
}
