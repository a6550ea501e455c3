import type { SettingDefinition } from "../connectors/connector.js";
import { suggestionSuffix } from "./did-you-mean.js";
import { describeKind, describeValue, type ProblemList } from "./problem-list.js";
import { isMapping } from "./value-reader.js";

const TRUE_STRINGS = new Set(["true", "1"]);
const FALSE_STRINGS = new Set(["false", "0"]);

/**
 * `value` as the setting's kind, or undefined with a problem added. Strings are accepted for
 * every kind because `$VAR` expansion and environment variables only produce strings.
 */
export function coerceSetting(
  setting: SettingDefinition,
  value: unknown,
  where: string,
  problems: ProblemList,
): unknown {
  // A secret is described by its kind only: the value itself never reaches a message.
  const shown = setting.secret ? describeKind(value) : describeValue(value);
  const fail = (expected: string): undefined => {
    problems.add(where, `expected ${expected}, got ${shown}`);
    return undefined;
  };
  switch (setting.kind) {
    case "string": {
      let text: string;
      if (typeof value === "string") text = value;
      else if (typeof value === "number" && Number.isFinite(value)) text = String(value);
      else return fail("string");
      if (setting.choices && !setting.choices.includes(text)) {
        const suggestion = setting.secret ? "" : suggestionSuffix(text, setting.choices);
        problems.add(where, `expected one of ${setting.choices.join(", ")}, got ${shown}${suggestion}`);
        return undefined;
      }
      return text;
    }
    case "integer": {
      if (typeof value === "number" && Number.isSafeInteger(value)) return value;
      if (typeof value === "string" && /^\s*[+-]?\d+\s*$/.test(value)) {
        const parsed = Number(value);
        if (Number.isSafeInteger(parsed)) return parsed;
      }
      return fail("integer");
    }
    case "boolean": {
      if (typeof value === "boolean") return value;
      if (value === 1 || value === 0) return value === 1;
      if (typeof value === "string") {
        const lowered = value.trim().toLowerCase();
        if (TRUE_STRINGS.has(lowered)) return true;
        if (FALSE_STRINGS.has(lowered)) return false;
      }
      return fail("boolean (true or false)");
    }
    case "array": {
      if (Array.isArray(value)) return value;
      if (typeof value === "string") {
        const parsed = parseJson(value, "[");
        if (Array.isArray(parsed)) return parsed;
        if (setting.commaSeparated) {
          return value
            .split(",")
            .map((item) => item.trim())
            .filter((item) => item !== "");
        }
      }
      return fail(setting.commaSeparated ? "array (a list, or a comma-separated string)" : "array");
    }
    case "object": {
      if (isMapping(value)) return value;
      if (typeof value === "string") {
        const parsed = parseJson(value, "{");
        if (isMapping(parsed)) return parsed;
      }
      return fail("object (a mapping)");
    }
  }
}

/** Environment variables carry lists and mappings as JSON, as Meltano writes them. */
function parseJson(text: string, opening: "[" | "{"): unknown {
  if (!text.trimStart().startsWith(opening)) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
