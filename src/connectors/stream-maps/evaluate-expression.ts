import { createHash } from "node:crypto";
import type { JsonObject } from "../../protocol/exact-json.js";
import { JsonArray, JsonNumber, sourceOf, type JsonValue } from "../../protocol/exact-json.js";
import type { LiteralValue, MapExpression } from "./map-expression.js";

/**
 * A value while an expression is evaluated: Python's None, bool, str, int (bigint, exact) and
 * float (number), or a JSON object or array taken from the record (passed on, compared, never
 * computed with).
 */
export type MapValue = LiteralValue | JsonObject | JsonArray;

/** A value the expression cannot work with, as Python would raise a TypeError or ValueError. */
export class MapEvaluationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MapEvaluationError";
  }
}

export interface EvaluationScope {
  /** The input record's properties. */
  record: ReadonlyMap<string, JsonValue>;
  /** `stream_map_config`. */
  config: Readonly<Record<string, unknown>>;
}

/** A record's JSON value as a value of the subset: integers exact, other numbers as floats. */
export function fromJson(value: JsonValue | undefined): MapValue {
  if (value === undefined) return null;
  if (value instanceof JsonNumber) {
    return /^-?\d+$/.test(value.text) ? BigInt(value.text) : value.toNumber();
  }
  return value;
}

/** A computed value as JSON for the output record. */
export function toJson(value: MapValue): JsonValue {
  if (typeof value === "bigint") return new JsonNumber(value.toString());
  if (typeof value === "number") return Number.isFinite(value) ? new JsonNumber(pythonFloat(value)) : null;
  return value;
}

/**
 * Evaluates an expression on a record, with Python's meaning of each operator for the values
 * the subset has (so a filter keeps the rows the SDK keeps). A property the record lacks is None.
 */
export function evaluateExpression(expression: MapExpression, scope: EvaluationScope): MapValue {
  const evaluate = (node: MapExpression): MapValue => {
    switch (node.kind) {
      case "literal":
        return node.value;
      case "property":
        return fromJson(scope.record.get(node.name));
      case "config":
        return fromPlain(scope.config[node.key], node.key);
      case "call":
        return call(node.fn, evaluate(node.argument));
      case "not":
        return !truthy(evaluate(node.operand));
      case "negate": {
        const value = evaluate(node.operand);
        if (typeof value === "bigint") return -value;
        if (typeof value === "number") return -value;
        if (typeof value === "boolean") return value ? -1n : 0n;
        throw new MapEvaluationError(`bad operand type for unary -: ${typeName(value)}`);
      }
      case "logical": {
        // Python returns the deciding operand, not a bool.
        const left = evaluate(node.left);
        if (node.operator === "and") return truthy(left) ? evaluate(node.right) : left;
        return truthy(left) ? left : evaluate(node.right);
      }
      case "isNone": {
        const isNone = evaluate(node.operand) === null;
        return node.negated ? !isNone : isNone;
      }
      case "compare":
        return compare(node.operator, evaluate(node.left), evaluate(node.right));
      case "arithmetic":
        return arithmetic(node.operator, evaluate(node.left), evaluate(node.right));
    }
  };
  return evaluate(expression);
}

/** Python's truth value. */
export function truthy(value: MapValue): boolean {
  if (value === null) return false;
  if (typeof value === "boolean") return value;
  if (typeof value === "bigint") return value !== 0n;
  if (typeof value === "number") return value !== 0;
  if (typeof value === "string") return value.length > 0;
  if (value instanceof JsonArray) return value.items.length > 0;
  return value.members.size > 0;
}

function fromPlain(value: unknown, key: string): MapValue {
  if (value === undefined)
    throw new MapEvaluationError(`config['${key}']: stream_map_config has no key "${key}"`);
  if (value === null || typeof value === "boolean" || typeof value === "string") return value;
  if (typeof value === "number") return Number.isSafeInteger(value) ? BigInt(value) : value;
  throw new MapEvaluationError(`config['${key}']: only a string, number, boolean or null may be used`);
}

function call(fn: string, value: MapValue): MapValue {
  switch (fn) {
    case "md5":
      // The SDK's md5() digests a str; a NULL stays NULL rather than failing the run (documented).
      if (value === null) return null;
      if (typeof value !== "string") {
        throw new MapEvaluationError(`md5() takes a string, got ${typeName(value)}: write md5(str(...))`);
      }
      return createHash("md5").update(value, "utf8").digest("hex");
    case "str":
      return pythonStr(value);
    case "bool":
      return truthy(value);
    case "int":
      if (typeof value === "bigint") return value;
      if (typeof value === "boolean") return value ? 1n : 0n;
      if (typeof value === "number") {
        if (!Number.isFinite(value))
          throw new MapEvaluationError(`cannot convert ${pythonFloat(value)} to int`);
        return BigInt(Math.trunc(value));
      }
      if (typeof value === "string" && /^\s*[+-]?\d+(_\d+)*\s*$/.test(value)) {
        return BigInt(value.trim().replace(/_/g, ""));
      }
      throw new MapEvaluationError(`int() cannot convert ${describe(value)}`);
    case "float":
      if (typeof value === "number") return value;
      if (typeof value === "bigint") return Number(value);
      if (typeof value === "boolean") return value ? 1 : 0;
      if (typeof value === "string") {
        const text = value.trim().toLowerCase();
        if (/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(text)) return Number(text);
        if (/^[+-]?(inf|infinity)$/.test(text)) return text.startsWith("-") ? -Infinity : Infinity;
        if (/^[+-]?nan$/.test(text)) return Number.NaN;
      }
      throw new MapEvaluationError(`float() cannot convert ${describe(value)}`);
    default:
      throw new MapEvaluationError(`unknown function ${fn}()`);
  }
}

/** Python's `==`: numbers by value (True is 1), str by text, JSON documents by their text. */
function equal(left: MapValue, right: MapValue): boolean {
  const l = numeric(left);
  const r = numeric(right);
  if (l !== undefined && r !== undefined) return compareNumbers(l, r) === 0;
  if (left === null || right === null) return left === right;
  if (typeof left === "string" || typeof right === "string") return left === right;
  if (typeof left === "object" && typeof right === "object") {
    return left.constructor === right.constructor && sourceOf(left) === sourceOf(right);
  }
  return false;
}

function compare(operator: string, left: MapValue, right: MapValue): boolean {
  if (operator === "==") return equal(left, right);
  if (operator === "!=") return !equal(left, right);
  let order: number;
  const l = numeric(left);
  const r = numeric(right);
  if (l !== undefined && r !== undefined) order = compareNumbers(l, r);
  else if (typeof left === "string" && typeof right === "string")
    order = left < right ? -1 : left > right ? 1 : 0;
  else {
    throw new MapEvaluationError(
      `'${operator}' not supported between ${typeName(left)} and ${typeName(right)}${left === null || right === null ? " (a NULL value: test `x is not None and ...` first)" : ""}`,
    );
  }
  if (Number.isNaN(order)) return false;
  switch (operator) {
    case "<":
      return order < 0;
    case "<=":
      return order <= 0;
    case ">":
      return order > 0;
    default:
      return order >= 0;
  }
}

function arithmetic(operator: string, left: MapValue, right: MapValue): MapValue {
  if (operator === "+" && typeof left === "string" && typeof right === "string") return left + right;
  const l = numeric(left);
  const r = numeric(right);
  if (l === undefined || r === undefined) {
    throw new MapEvaluationError(
      `unsupported operand types for ${operator}: ${typeName(left)} and ${typeName(right)}`,
    );
  }
  if (typeof l === "bigint" && typeof r === "bigint" && operator !== "/") {
    switch (operator) {
      case "+":
        return l + r;
      case "-":
        return l - r;
      case "*":
        return l * r;
      default:
        if (r === 0n) throw new MapEvaluationError("integer modulo by zero");
        // Python's % takes the sign of the divisor.
        return ((l % r) + r) % r;
    }
  }
  const a = Number(l);
  const b = Number(r);
  switch (operator) {
    case "+":
      return a + b;
    case "-":
      return a - b;
    case "*":
      return a * b;
    case "/":
      if (b === 0) throw new MapEvaluationError("division by zero");
      return a / b;
    default:
      if (b === 0) throw new MapEvaluationError("float modulo");
      return ((a % b) + b) % b;
  }
}

function numeric(value: MapValue): bigint | number | undefined {
  if (typeof value === "bigint" || typeof value === "number") return value;
  if (typeof value === "boolean") return value ? 1n : 0n;
  return undefined;
}

function compareNumbers(a: bigint | number, b: bigint | number): number {
  if (typeof a === "bigint" && typeof b === "bigint") return a < b ? -1 : a > b ? 1 : 0;
  const x = Number(a);
  const y = Number(b);
  if (Number.isNaN(x) || Number.isNaN(y)) return Number.NaN;
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Python's `str()` of a value (a JSON document: its JSON text). */
export function pythonStr(value: MapValue): string {
  if (value === null) return "None";
  if (typeof value === "boolean") return value ? "True" : "False";
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number") return pythonFloat(value);
  if (typeof value === "string") return value;
  return sourceOf(value);
}

/** Python's repr of a float: `1.0`, `2.5`, `1e+20`, `inf`, `nan`. */
function pythonFloat(value: number): string {
  if (Number.isNaN(value)) return "nan";
  if (!Number.isFinite(value)) return value > 0 ? "inf" : "-inf";
  const text = String(value);
  if (/e/.test(text)) return text;
  return Number.isInteger(value) ? `${text}.0` : text;
}

function typeName(value: MapValue): string {
  if (value === null) return "NoneType";
  if (typeof value === "boolean") return "bool";
  if (typeof value === "bigint") return "int";
  if (typeof value === "number") return "float";
  if (typeof value === "string") return "str";
  return value instanceof JsonArray ? "list" : "dict";
}

function describe(value: MapValue): string {
  return typeof value === "string"
    ? JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value)
    : typeName(value);
}
