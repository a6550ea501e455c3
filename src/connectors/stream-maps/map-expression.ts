/**
 * The expressions of `stream_maps` that sluice evaluates itself: a small, defined subset of the
 * Python that meltano/sdk evaluates with simpleeval. It is parsed here by hand (never `eval`) into
 * a tree; anything outside the subset is a MapExpressionError that says what is not supported,
 * so that a mapping either runs exactly as the SDK would or is refused before any data moves.
 *
 * The subset:
 * - literals: numbers (`1`, `2.5`), strings (`'a'`, `"a"`), `True`, `False`, `None`;
 * - a property of the record by its name (`email`), `record['na-me']`, `self` (the property
 *   being mapped), `config['key']` (the mapping's `stream_map_config`);
 * - `md5(x)`, `str(x)`, `int(x)`, `float(x)`, `bool(x)`;
 * - `== != < <= > >=` (one per comparison, no chains), `x is None`, `x is not None`;
 * - `and`, `or`, `not`, `+ - * / %`, unary `-`, parentheses.
 */

export type MapFunction = "md5" | "str" | "int" | "float" | "bool";
export type ComparisonOperator = "==" | "!=" | "<" | "<=" | ">" | ">=";
export type ArithmeticOperator = "+" | "-" | "*" | "/" | "%";

/** A value of the subset: Python's None, bool, str, int (exact, as bigint) and float. */
export type LiteralValue = null | boolean | string | bigint | number;

export type MapExpression =
  | { kind: "literal"; value: LiteralValue }
  | { kind: "property"; name: string }
  | { kind: "config"; key: string }
  | { kind: "call"; fn: MapFunction; argument: MapExpression }
  | { kind: "not"; operand: MapExpression }
  | { kind: "negate"; operand: MapExpression }
  | { kind: "logical"; operator: "and" | "or"; left: MapExpression; right: MapExpression }
  | { kind: "compare"; operator: ComparisonOperator; left: MapExpression; right: MapExpression }
  | { kind: "isNone"; negated: boolean; operand: MapExpression }
  | { kind: "arithmetic"; operator: ArithmeticOperator; left: MapExpression; right: MapExpression };

/** Why an expression is not in the subset (or not an expression), and where in its text. */
export class MapExpressionError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
    this.name = "MapExpressionError";
  }
}

const FUNCTIONS: ReadonlySet<string> = new Set<MapFunction>(["md5", "str", "int", "float", "bool"]);

/** Names the SDK offers that the subset leaves out, with what to say about each. */
const UNSUPPORTED_NAMES: Readonly<Record<string, string>> = {
  datetime: "the datetime module is not in sluice's built-in subset",
  fake: "Faker (`fake`) is not in sluice's built-in subset",
  _: "`_` (the previous value) is not in sluice's built-in subset",
  record: "`record` is supported only as `record['property']`",
  config: "`config` is supported only as `config['key']`",
  json: "the json module is not in sluice's built-in subset",
  rand: "rand() is not in sluice's built-in subset",
  randint: "randint() is not in sluice's built-in subset",
  len: "len() is not in sluice's built-in subset",
};

type Token =
  | { type: "number"; text: string; at: number }
  | { type: "string"; value: string; at: number }
  | { type: "name"; text: string; at: number }
  | { type: "op"; text: string; at: number }
  | { type: "end"; at: number };

const OPERATORS = [
  "==",
  "!=",
  "<=",
  ">=",
  "//",
  "**",
  "<",
  ">",
  "+",
  "-",
  "*",
  "/",
  "%",
  "(",
  ")",
  "[",
  "]",
  ",",
  ".",
  ":",
];

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let pos = 0;
  while (pos < text.length) {
    const ch = text[pos]!;
    if (/\s/.test(ch)) {
      pos += 1;
      continue;
    }
    const number = /(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?/y;
    number.lastIndex = pos;
    const numberMatch = /\d|\.\d/.test(text.slice(pos, pos + 2)) ? number.exec(text) : null;
    if (numberMatch) {
      tokens.push({ type: "number", text: numberMatch[0], at: pos });
      pos += numberMatch[0].length;
      continue;
    }
    if (ch === "'" || ch === '"') {
      const string = readString(text, pos);
      tokens.push(string);
      pos = string.end;
      continue;
    }
    const name = /[A-Za-z_][A-Za-z0-9_]*/y;
    name.lastIndex = pos;
    const nameMatch = name.exec(text);
    if (nameMatch) {
      tokens.push({ type: "name", text: nameMatch[0], at: pos });
      pos += nameMatch[0].length;
      continue;
    }
    const op = OPERATORS.find((candidate) => text.startsWith(candidate, pos));
    if (op) {
      tokens.push({ type: "op", text: op, at: pos });
      pos += op.length;
      continue;
    }
    throw new MapExpressionError(`unexpected character ${JSON.stringify(ch)}`, pos);
  }
  tokens.push({ type: "end", at: text.length });
  return tokens;
}

function readString(text: string, start: number): Token & { end: number } {
  const quote = text[start]!;
  if (text.startsWith(quote.repeat(3), start)) {
    throw new MapExpressionError("triple-quoted strings are not in sluice's built-in subset", start);
  }
  let value = "";
  let pos = start + 1;
  const escapes: Record<string, string> = { n: "\n", t: "\t", r: "\r", "\\": "\\", "'": "'", '"': '"' };
  while (pos < text.length && text[pos] !== quote) {
    if (text[pos] === "\\") {
      const next = text[pos + 1];
      const escaped = next === undefined ? undefined : escapes[next];
      if (escaped === undefined) {
        throw new MapExpressionError(`the escape \\${next ?? ""} is not in sluice's built-in subset`, pos);
      }
      value += escaped;
      pos += 2;
      continue;
    }
    value += text[pos];
    pos += 1;
  }
  if (pos >= text.length) throw new MapExpressionError("a string is not closed", start);
  return { type: "string", value, at: start, end: pos + 1 };
}

/**
 * Parses one expression. `self` stands for the property `selfName` (the property being mapped);
 * without it (a `__filter__`), `self` is refused.
 */
export function parseMapExpression(text: string, options: { selfName?: string } = {}): MapExpression {
  const tokens = tokenize(text);
  let index = 0;
  const peek = (): Token => tokens[index]!;
  const next = (): Token => tokens[index++]!;
  const isOp = (token: Token, op: string): boolean => token.type === "op" && token.text === op;
  const isWord = (token: Token, word: string): boolean => token.type === "name" && token.text === word;
  const expect = (op: string): void => {
    const token = next();
    if (!isOp(token, op)) throw new MapExpressionError(`expected \`${op}\``, token.at);
  };

  const orExpression = (): MapExpression => {
    let left = andExpression();
    while (isWord(peek(), "or")) {
      next();
      left = { kind: "logical", operator: "or", left, right: andExpression() };
    }
    return left;
  };
  const andExpression = (): MapExpression => {
    let left = notExpression();
    while (isWord(peek(), "and")) {
      next();
      left = { kind: "logical", operator: "and", left, right: notExpression() };
    }
    return left;
  };
  const notExpression = (): MapExpression => {
    if (isWord(peek(), "not")) {
      next();
      return { kind: "not", operand: notExpression() };
    }
    return comparison();
  };
  const comparison = (): MapExpression => {
    const left = additive();
    const token = peek();
    let result: MapExpression = left;
    if (token.type === "op" && ["==", "!=", "<", "<=", ">", ">="].includes(token.text)) {
      next();
      result = { kind: "compare", operator: token.text as ComparisonOperator, left, right: additive() };
    } else if (isWord(token, "is")) {
      next();
      const negated = isWord(peek(), "not");
      if (negated) next();
      const none = next();
      if (!isWord(none, "None")) {
        throw new MapExpressionError("`is` is supported only as `is None` or `is not None`", none.at);
      }
      result = { kind: "isNone", negated, operand: left };
    } else if (isWord(token, "in") || (isWord(token, "not") && isWord(tokens[index + 1]!, "in"))) {
      throw new MapExpressionError("`in` is not in sluice's built-in subset", token.at);
    }
    const after = peek();
    if (
      (after.type === "op" && ["==", "!=", "<", "<=", ">", ">="].includes(after.text)) ||
      isWord(after, "is")
    ) {
      throw new MapExpressionError(
        "chained comparisons (`a < b < c`) are not in sluice's built-in subset; join them with `and`",
        after.at,
      );
    }
    return result;
  };
  const additive = (): MapExpression => {
    let left = term();
    for (;;) {
      const token = peek();
      if (!isOp(token, "+") && !isOp(token, "-")) return left;
      next();
      left = { kind: "arithmetic", operator: (token as { text: "+" | "-" }).text, left, right: term() };
    }
  };
  const term = (): MapExpression => {
    let left = unary();
    for (;;) {
      const token = peek();
      if (isOp(token, "//") || isOp(token, "**")) {
        throw new MapExpressionError(
          `\`${(token as { text: string }).text}\` is not in sluice's built-in subset`,
          token.at,
        );
      }
      if (!isOp(token, "*") && !isOp(token, "/") && !isOp(token, "%")) return left;
      next();
      left = {
        kind: "arithmetic",
        operator: (token as { text: "*" | "/" | "%" }).text,
        left,
        right: unary(),
      };
    }
  };
  const unary = (): MapExpression => {
    if (isOp(peek(), "-")) {
      next();
      return { kind: "negate", operand: unary() };
    }
    if (isOp(peek(), "+")) {
      next();
      return unary();
    }
    return postfix();
  };
  const postfix = (): MapExpression => {
    const expression = primary();
    const token = peek();
    if (isOp(token, ".")) {
      throw new MapExpressionError(
        "methods and attributes (`x.lower()`, `x.attr`) are not in sluice's built-in subset",
        token.at,
      );
    }
    if (isOp(token, "(") || isOp(token, "[")) {
      throw new MapExpressionError(
        isOp(token, "(")
          ? "only md5(), str(), int(), float() and bool() may be called"
          : "only `record['...']` and `config['...']` may be subscripted",
        token.at,
      );
    }
    return expression;
  };
  const subscriptKey = (owner: string): string => {
    expect("[");
    const key = next();
    if (key.type !== "string") {
      throw new MapExpressionError(`\`${owner}[...]\` needs a quoted name, as \`${owner}['name']\``, key.at);
    }
    expect("]");
    return key.value;
  };
  const primary = (): MapExpression => {
    const token = next();
    switch (token.type) {
      case "number":
        return { kind: "literal", value: /^\d+$/.test(token.text) ? BigInt(token.text) : Number(token.text) };
      case "string":
        return { kind: "literal", value: token.value };
      case "op":
        if (token.text === "(") {
          const inner = orExpression();
          expect(")");
          return inner;
        }
        if (token.text === "[")
          throw new MapExpressionError("lists are not in sluice's built-in subset", token.at);
        throw new MapExpressionError(`unexpected \`${token.text}\``, token.at);
      case "end":
        throw new MapExpressionError("the expression ends too early", token.at);
      case "name": {
        const name = token.text;
        if (name === "True" || name === "False") return { kind: "literal", value: name === "True" };
        if (name === "None") return { kind: "literal", value: null };
        if (["and", "or", "not", "is", "in", "if", "else", "lambda", "for"].includes(name)) {
          throw new MapExpressionError(`unexpected \`${name}\``, token.at);
        }
        if (isOp(peek(), "(")) {
          if (!FUNCTIONS.has(name)) {
            throw new MapExpressionError(
              `${name}() is not in sluice's built-in subset (md5, str, int, float, bool)`,
              token.at,
            );
          }
          next();
          const argument = orExpression();
          if (isOp(peek(), ",")) throw new MapExpressionError(`${name}() takes one argument here`, peek().at);
          expect(")");
          return { kind: "call", fn: name as MapFunction, argument };
        }
        if ((name === "record" || name === "config") && isOp(peek(), "[")) {
          const key = subscriptKey(name);
          return name === "record" ? { kind: "property", name: key } : { kind: "config", key };
        }
        if (name === "self") {
          if (options.selfName === undefined)
            throw new MapExpressionError(
              "`self` means the property being mapped: not in `__filter__`",
              token.at,
            );
          return { kind: "property", name: options.selfName };
        }
        const unsupported = UNSUPPORTED_NAMES[name];
        if (unsupported !== undefined) throw new MapExpressionError(unsupported, token.at);
        return { kind: "property", name };
      }
    }
  };

  const expression = orExpression();
  const rest = peek();
  if (rest.type !== "end") {
    if (isWord(rest, "if")) {
      throw new MapExpressionError(
        "conditional expressions (`a if c else b`) are not in sluice's built-in subset",
        rest.at,
      );
    }
    throw new MapExpressionError("unexpected text after the expression", rest.at);
  }
  return expression;
}

/** The properties of the record an expression reads. */
export function propertiesRead(expression: MapExpression): string[] {
  const names = new Set<string>();
  const visit = (node: MapExpression): void => {
    switch (node.kind) {
      case "property":
        names.add(node.name);
        return;
      case "literal":
      case "config":
        return;
      case "call":
      case "not":
      case "negate":
      case "isNone":
        visit(node.kind === "call" ? node.argument : node.operand);
        return;
      default:
        visit(node.left);
        visit(node.right);
    }
  };
  visit(expression);
  return [...names];
}
