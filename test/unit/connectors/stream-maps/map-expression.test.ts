import { createHash } from "node:crypto";
import { describe, expect, test } from "vitest";
import type { JsonObject } from "../../../../src/protocol/exact-json.js";
import { JsonNumber, parseExactJson, type JsonValue } from "../../../../src/protocol/exact-json.js";
import { evaluateExpression, toJson } from "../../../../src/connectors/stream-maps/evaluate-expression.js";
import {
  MapExpressionError,
  parseMapExpression,
} from "../../../../src/connectors/stream-maps/map-expression.js";

function record(json: string): ReadonlyMap<string, JsonValue> {
  return (parseExactJson(json) as JsonObject).members;
}

function evaluate(text: string, json = "{}", config: Record<string, unknown> = {}) {
  return evaluateExpression(parseMapExpression(text, { selfName: "me" }), { record: record(json), config });
}

const md5 = (text: string): string => createHash("md5").update(text, "utf8").digest("hex");

describe("the expression subset, evaluated as Python would", () => {
  test.each([
    ["country != 'XX'", '{"country":"FR"}', true],
    ["country != 'XX'", '{"country":"XX"}', false],
    ["country != 'XX'", '{"country":null}', true],
    ["amount >= 100 and not vip", '{"amount":100,"vip":false}', true],
    ["amount >= 100 and not vip", '{"amount":99.5,"vip":false}', false],
    ["amount is not None and amount > 1", '{"amount":null}', false],
    ["amount is None or amount > 1", '{"amount":null}', true],
    ["id % 2 == 1", '{"id":-3}', true],
    ["1 == 1.0", "{}", true],
    ["True == 1", "{}", true],
    ["'1' == 1", "{}", false],
    ["name < 'b'", '{"name":"abc"}', true],
    ["record['na-me'] == 'x'", '{"na-me":"x"}', true],
    ["config['cut'] < n", '{"n":5}', true],
    ["(a or b) and c", '{"a":0,"b":"","c":true}', ""],
    ["not (x > 3)", '{"x":2}', true],
  ])("%s on %s", (text, json, expected) => {
    expect(evaluate(text, json, { cut: 3 })).toBe(expected);
  });

  test("md5() digests a string as the SDK does; NULL stays NULL; numbers are refused", () => {
    expect(evaluate("md5(email)", '{"email":"a@b.c"}')).toBe(md5("a@b.c"));
    expect(evaluate("md5(str(id))", '{"id":12345678901234567890}')).toBe(md5("12345678901234567890"));
    expect(evaluate("md5(email)", '{"email":null}')).toBeNull();
    expect(() => evaluate("md5(id)", '{"id":7}')).toThrow(
      "md5() takes a string, got int: write md5(str(...))",
    );
  });

  test("integers stay exact, str() prints as Python, int() and float() convert", () => {
    expect(toJson(evaluate("big + 1", '{"big":12345678901234567890}'))).toEqual(
      new JsonNumber("12345678901234567891"),
    );
    expect(evaluate("str(x)", '{"x":1.0}')).toBe("1.0");
    expect(evaluate("str(x)", '{"x":true}')).toBe("True");
    expect(evaluate("str(x)", '{"x":null}')).toBe("None");
    expect(evaluate("int(' 42 ')")).toBe(42n);
    expect(evaluate("int(x)", '{"x":-2.9}')).toBe(-2n);
    expect(evaluate("float('2.5') * 2")).toBe(5);
    expect(evaluate("7 / 2")).toBe(3.5);
    expect(evaluate("bool(x)", '{"x":[]}')).toBe(false);
    expect(evaluate("first + ' ' + last", '{"first":"Ada","last":"L"}')).toBe("Ada L");
    expect(evaluate("-x", '{"x":3}')).toBe(-3n);
    expect(evaluate("self", '{"me":"mine"}')).toBe("mine");
  });

  test("a comparison Python refuses is an error that says what to do", () => {
    expect(() => evaluate("amount > 100", '{"amount":null}')).toThrow(
      "'>' not supported between NoneType and int (a NULL value: test `x is not None and ...` first)",
    );
    expect(() => evaluate("'a' + 1")).toThrow("unsupported operand types for +: str and int");
    expect(() => evaluate("int('x')")).toThrow('int() cannot convert "x"');
    expect(() => evaluate("1 / 0")).toThrow("division by zero");
  });
});

describe("what is outside the subset is refused when parsed, saying what", () => {
  test.each([
    [
      "email.lower()",
      "methods and attributes (`x.lower()`, `x.attr`) are not in sluice's built-in subset",
      5,
    ],
    ["datetime.datetime.now()", "the datetime module is not in sluice's built-in subset", 0],
    ["fake.email()", "Faker (`fake`) is not in sluice's built-in subset", 0],
    ["len(name)", "len() is not in sluice's built-in subset (md5, str, int, float, bool)", 0],
    ["sha256(x)", "sha256() is not in sluice's built-in subset (md5, str, int, float, bool)", 0],
    ["a if b else c", "conditional expressions (`a if c else b`) are not in sluice's built-in subset", 2],
    ["x in ('a', 'b')", "`in` is not in sluice's built-in subset", 2],
    [
      "1 < x < 3",
      "chained comparisons (`a < b < c`) are not in sluice's built-in subset; join them with `and`",
      6,
    ],
    ["x is 3", "`is` is supported only as `is None` or `is not None`", 5],
    ["x ** 2", "`**` is not in sluice's built-in subset", 2],
    ["record", "`record` is supported only as `record['property']`", 0],
    ["record[name]", "`record[...]` needs a quoted name, as `record['name']`", 7],
    ["md5(a, b)", "md5() takes one argument here", 5],
    ["x == ", "the expression ends too early", 5],
    ["'open", "a string is not closed", 0],
    ["a $ b", 'unexpected character "$"', 2],
  ])("%s", (text, message, offset) => {
    let error: unknown;
    try {
      parseMapExpression(text);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(MapExpressionError);
    expect((error as MapExpressionError).message).toBe(message);
    expect((error as MapExpressionError).offset).toBe(offset);
  });

  test("self is refused in a filter (no property is being mapped)", () => {
    expect(() => parseMapExpression("self == 1")).toThrow("`self` means the property being mapped");
  });
});
