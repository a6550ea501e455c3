import type { JsonSchema } from "../../protocol/catalog.js";
import type { MapExpression } from "./map-expression.js";

/** A schema the expression's type cannot be told (mixed branches of `and`/`or`). */
export class ExpressionTypeError extends Error {}

type Scalar = "string" | "integer" | "number" | "boolean";

/**
 * The JSON schema of a property an expression makes, as the SDK infers it: a property taken as
 * it is keeps its schema (type, format, SQL type); `md5()` and `str()` make strings, `int()`
 * integers, `float()` and `/` numbers, comparisons and `bool()` booleans. Every computed property
 * may be null.
 */
export function schemaOfExpression(
  expression: MapExpression,
  inputProperties: Readonly<Record<string, JsonSchema>>,
  config: Readonly<Record<string, unknown>>,
): JsonSchema {
  if (expression.kind === "property") {
    const schema = inputProperties[expression.name];
    if (schema) return schema;
  }
  return { type: [scalarOf(expression, inputProperties, config), "null"] };
}

function scalarOf(
  node: MapExpression,
  inputProperties: Readonly<Record<string, JsonSchema>>,
  config: Readonly<Record<string, unknown>>,
): Scalar {
  const of = (child: MapExpression): Scalar => scalarOf(child, inputProperties, config);
  switch (node.kind) {
    case "literal":
      return node.value === null || typeof node.value === "string"
        ? "string"
        : typeof node.value === "boolean"
          ? "boolean"
          : typeof node.value === "bigint"
            ? "integer"
            : "number";
    case "property": {
      const schema = inputProperties[node.name];
      const types = (Array.isArray(schema?.type) ? schema.type : [schema?.type]).filter(
        (t): t is string => typeof t === "string" && t !== "null",
      );
      const only = types.length === 1 ? types[0] : undefined;
      return only === "integer" || only === "number" || only === "boolean" ? only : "string";
    }
    case "config": {
      const value = config[node.key];
      return typeof value === "boolean"
        ? "boolean"
        : typeof value === "number"
          ? Number.isInteger(value)
            ? "integer"
            : "number"
          : "string";
    }
    case "call":
      return node.fn === "md5" || node.fn === "str"
        ? "string"
        : node.fn === "int"
          ? "integer"
          : node.fn === "float"
            ? "number"
            : "boolean";
    case "not":
    case "compare":
    case "isNone":
      return "boolean";
    case "negate": {
      const operand = of(node.operand);
      return operand === "boolean" ? "integer" : operand;
    }
    case "logical": {
      const left = of(node.left);
      const right = of(node.right);
      if (left !== right) {
        throw new ExpressionTypeError(
          `its two sides have different types (${left} and ${right}); convert one with str(), int(), float() or bool()`,
        );
      }
      return left;
    }
    case "arithmetic": {
      const left = of(node.left);
      const right = of(node.right);
      if (node.operator === "+" && left === "string" && right === "string") return "string";
      if (node.operator !== "/" && left !== "number" && right !== "number") return "integer";
      return "number";
    }
  }
}
