import { invalidQuery } from "./bigquery-api-error.js";
import { FUNCTION_RENAMES, FUNCTION_REWRITES } from "./bigquery-functions.js";
import { SqlParser } from "./bigquery-sql-parser.js";
import { position, type Token } from "./bigquery-sql-tokenizer.js";
import { findTopLevel, matchingParen, splitCommas } from "./bigquery-token-lists.js";
import { tableSql, type Script, type TableRef } from "./bigquery-translated-statement.js";
import { quoteIdent, sqlString } from "./bigquery-types.js";

/** Words after which a name is a table, not a column (`FROM ds.t`, `INSERT INTO ds.t`). */
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

/**
 * Writes GoogleSQL tokens (an expression, a query, a clause) as DuckDB SQL, for every kind of
 * statement. One per statement: it records each table it meets in `tables` (the statement's), and
 * gives a positional parameter emitted twice (a clause copied into a check query) one value.
 */
export class ExpressionEmitter {
  constructor(
    private readonly script: Script,
    private readonly tables: TableRef[],
  ) {}

  /**
   * Tokens back to text in DuckDB's dialect: table paths in table positions resolved, backtick
   * names double-quoted, double-quoted strings single-quoted, BigQuery types and functions renamed.
   */
  emit(tokens: Token[]): string {
    const out: string[] = [];
    const p = new SqlParser(tokens, this.script.sql);
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
        // `arr[OFFSET(i)]` (0-based) and `arr[ORDINAL(i)]` (1-based), SAFE_ or not: DuckDB's
        // lists are 1-based. NOTE: out of range is NULL here; BigQuery fails OFFSET and ORDINAL.
        const accessor = t.text === "[" ? p.peek(1) : undefined;
        const accessorWord = accessor?.kind === "word" ? accessor.text.toUpperCase() : "";
        if (
          ["OFFSET", "SAFE_OFFSET", "ORDINAL", "SAFE_ORDINAL"].includes(accessorWord) &&
          p.isOp(p.peek(2), "(")
        ) {
          const open = p.next(p.next(p.i + 1) + 1);
          let depth = 0;
          let close = open;
          for (; close < tokens.length; close++) {
            if (p.isOp(tokens[close], "(")) depth++;
            if (p.isOp(tokens[close], ")")) depth--;
            if (depth === 0) break;
          }
          const end = p.next(close + 1);
          if (p.isOp(tokens[end], "]")) {
            const index = this.emit(tokens.slice(open + 1, close));
            out.push(accessorWord.endsWith("OFFSET") ? `[(${index}) + 1]` : `[(${index})]`);
            p.i = end + 1;
            lastWord = "";
            continue;
          }
        }
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
          const close = matchingParen(tokens, open, this.script.sql);
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
              `No matching signature for function ${upper} with ${args.length} argument(s) at ${position(this.script.sql, t.offset)}`,
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
          (names.length === 3 && names[0] === this.script.context.projectId);
        if (isTable) {
          const ref = this.resolveTable(names, t);
          this.addTable(ref);
          out.push(tableSql(ref));
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

  /**
   * A table path as BigQuery reads it: `project.ds.t` (this project only), `ds.t`, or `t` in the
   * default dataset (with none, a temporary table's name). `at` is where the path starts.
   */
  resolveTable(parts: string[], at: Token): TableRef {
    let names = parts;
    if (names.length === 3) {
      if (names[0] !== this.script.context.projectId) {
        throw invalidQuery(`Not found: Project ${names[0]!} at ${position(this.script.sql, at.offset)}`);
      }
      names = names.slice(1);
    }
    if (names.length === 1) {
      if (this.script.context.defaultDataset === undefined) {
        return { datasetId: "", tableId: names[0]! };
      }
      return { datasetId: this.script.context.defaultDataset, tableId: names[0]! };
    }
    if (names.length !== 2) {
      throw invalidQuery(`Invalid table name: ${parts.join(".")} at ${position(this.script.sql, at.offset)}`);
    }
    return { datasetId: names[0]!, tableId: names[1]! };
  }

  /** Records a table the statement names, once; a temporary table (no dataset) is not recorded. */
  addTable(ref: TableRef): void {
    if (
      ref.datasetId &&
      !this.tables.some((t) => t.datasetId === ref.datasetId && t.tableId === ref.tableId)
    ) {
      this.tables.push(ref);
    }
  }

  /** Positional parameters by token offset: a token emitted twice takes its value once. */
  private readonly positionalByOffset = new Map<number, string>();

  private parameter(t: Token): string {
    if (t.value === "?") {
      let value = this.positionalByOffset.get(t.offset);
      if (value === undefined) {
        value = this.script.nextPositional();
        this.positionalByOffset.set(t.offset, value);
      }
      return value;
    }
    const value = this.script.context.namedParameters?.get(t.value.toLowerCase());
    if (value === undefined) {
      throw invalidQuery(`Query parameter '${t.value}' not found at ${position(this.script.sql, t.offset)}`);
    }
    return value;
  }
}
