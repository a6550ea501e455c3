/**
 * A JSON parser that keeps numbers exact. `JSON.parse` turns every number into a double before a
 * reviver sees it (and Node 20 has no source text access), so `12345678901234567890.123` would
 * arrive rounded. Here numbers stay as their literal text (`JsonNumber`), and objects and arrays
 * keep the slice of source they came from, so a nested document (a jsonb value) can be written on
 * exactly as it was received. Pure data, no I/O.
 */

/** A JSON number as its literal text: exact, never through a double. */
export class JsonNumber {
  constructor(readonly text: string) {}
  /** As a double, where rounding does not matter (a version, a count). */
  toNumber(): number {
    return Number(this.text);
  }
}

export class JsonObject {
  constructor(
    readonly members: Map<string, JsonValue>,
    /** The object's text as it appeared in the input. */
    readonly source: string,
  ) {}
  get(key: string): JsonValue | undefined {
    return this.members.get(key);
  }
}

export class JsonArray {
  constructor(
    readonly items: JsonValue[],
    /** The array's text as it appeared in the input. */
    readonly source: string,
  ) {}
}

export type JsonValue = null | boolean | string | JsonNumber | JsonObject | JsonArray;

/** A syntax error with the offset where it was found. */
export class JsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
    this.name = "JsonSyntaxError";
  }
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/** Parses one JSON document; throws JsonSyntaxError. */
export function parseExactJson(text: string): JsonValue {
  let pos = 0;

  const fail = (message: string, at = pos): never => {
    throw new JsonSyntaxError(message, at);
  };
  const skipSpace = (): void => {
    for (;;) {
      const c = text.charCodeAt(pos);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) pos += 1;
      else return;
    }
  };
  const describe = (at: number): string =>
    at >= text.length ? "the end of the line" : `${JSON.stringify(text.charAt(at))}`;

  const parseString = (): string => {
    // pos is at the opening quote.
    const start = pos + 1;
    let end = start;
    let out = "";
    let chunkStart = start;
    for (;;) {
      if (end >= text.length) fail("unterminated string", pos);
      const c = text.charCodeAt(end);
      if (c === 0x22) {
        out += text.slice(chunkStart, end);
        pos = end + 1;
        return out;
      }
      if (c < 0x20) fail("control character in a string (it must be escaped)", end);
      if (c === 0x5c) {
        out += text.slice(chunkStart, end);
        const e = text.charAt(end + 1);
        switch (e) {
          case '"':
            out += '"';
            break;
          case "\\":
            out += "\\";
            break;
          case "/":
            out += "/";
            break;
          case "b":
            out += "\b";
            break;
          case "f":
            out += "\f";
            break;
          case "n":
            out += "\n";
            break;
          case "r":
            out += "\r";
            break;
          case "t":
            out += "\t";
            break;
          case "u": {
            const hex = text.slice(end + 2, end + 6);
            if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail("invalid \\u escape", end);
            out += String.fromCharCode(parseInt(hex, 16));
            end += 4;
            break;
          }
          default:
            fail(`invalid escape \\${e}`, end);
        }
        end += 2;
        chunkStart = end;
        continue;
      }
      end += 1;
    }
  };

  const parseValue = (depth: number): JsonValue => {
    if (depth > 1000) fail("nested more than 1000 levels deep");
    skipSpace();
    const c = text.charCodeAt(pos);
    switch (c) {
      case 0x7b: {
        // {
        const start = pos;
        pos += 1;
        const members = new Map<string, JsonValue>();
        skipSpace();
        if (text.charCodeAt(pos) === 0x7d) {
          pos += 1;
          return new JsonObject(members, text.slice(start, pos));
        }
        for (;;) {
          skipSpace();
          if (text.charCodeAt(pos) !== 0x22) fail(`expected a property name, found ${describe(pos)}`);
          const key = parseString();
          skipSpace();
          if (text.charCodeAt(pos) !== 0x3a) fail(`expected ":", found ${describe(pos)}`);
          pos += 1;
          // Later duplicates win, as in JSON.parse.
          members.set(key, parseValue(depth + 1));
          skipSpace();
          const next = text.charCodeAt(pos);
          pos += 1;
          if (next === 0x2c) continue;
          if (next === 0x7d) return new JsonObject(members, text.slice(start, pos));
          fail(`expected "," or "}", found ${describe(pos - 1)}`, pos - 1);
        }
      }
      case 0x5b: {
        // [
        const start = pos;
        pos += 1;
        const items: JsonValue[] = [];
        skipSpace();
        if (text.charCodeAt(pos) === 0x5d) {
          pos += 1;
          return new JsonArray(items, text.slice(start, pos));
        }
        for (;;) {
          items.push(parseValue(depth + 1));
          skipSpace();
          const next = text.charCodeAt(pos);
          pos += 1;
          if (next === 0x2c) continue;
          if (next === 0x5d) return new JsonArray(items, text.slice(start, pos));
          fail(`expected "," or "]", found ${describe(pos - 1)}`, pos - 1);
        }
      }
      case 0x22:
        return parseString();
      case 0x74:
        if (text.startsWith("true", pos)) {
          pos += 4;
          return true;
        }
        break;
      case 0x66:
        if (text.startsWith("false", pos)) {
          pos += 5;
          return false;
        }
        break;
      case 0x6e:
        if (text.startsWith("null", pos)) {
          pos += 4;
          return null;
        }
        break;
      default: {
        NUMBER.lastIndex = pos;
        const m = NUMBER.exec(text);
        if (m) {
          pos += m[0].length;
          return new JsonNumber(m[0]);
        }
      }
    }
    return fail(`unexpected ${describe(pos)}`);
  };

  const value = parseValue(0);
  skipSpace();
  if (pos < text.length) fail(`unexpected ${describe(pos)} after the JSON value`);
  return value;
}

/** Writes a value back as compact JSON; numbers from their text, so exactly. */
export function stringifyExact(value: JsonValue): string {
  if (value === null) return "null";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "string") return JSON.stringify(value);
  if (value instanceof JsonNumber) return value.text;
  if (value instanceof JsonArray) return `[${value.items.map(stringifyExact).join(",")}]`;
  let out = "{";
  let first = true;
  for (const [key, item] of value.members) {
    out += `${first ? "" : ","}${JSON.stringify(key)}:${stringifyExact(item)}`;
    first = false;
  }
  return out + "}";
}

/** The value as it was received: the source slice of objects and arrays, compact JSON otherwise. */
export function sourceOf(value: JsonValue): string {
  return value instanceof JsonObject || value instanceof JsonArray ? value.source : stringifyExact(value);
}

/**
 * Plain JavaScript values. Numbers become doubles, for schemas and settings where rounding is
 * harmless; with `keepDigits`, a number a double would change (`9007199254740993`) becomes its
 * text instead, for states whose bookmarks must not move.
 */
export function toPlain(value: JsonValue, options: { keepDigits?: boolean } = {}): unknown {
  if (value === null || typeof value !== "object") return value;
  if (value instanceof JsonNumber) {
    return options.keepDigits && !fitsDouble(value.text) ? value.text : value.toNumber();
  }
  if (value instanceof JsonArray) return value.items.map((item) => toPlain(item, options));
  const out: Record<string, unknown> = {};
  for (const [key, item] of value.members) {
    Object.defineProperty(out, key, {
      value: toPlain(item, options),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

/** Whether a double holds the literal exactly enough: a safe integer, or at most 15 significant digits. */
function fitsDouble(text: string): boolean {
  if (/^-?\d+$/.test(text)) return Number.isSafeInteger(Number(text));
  const mantissa = text
    .replace(/^-/, "")
    .replace(/[eE].*$/, "")
    .replace(".", "")
    .replace(/^0+/, "");
  return mantissa.length <= 15 && Number.isFinite(Number(text));
}
