import { suggestionSuffix } from "./did-you-mean.js";
import { describeValue, joinPath, type ProblemList } from "./problem-list.js";
import type { ConfigMap } from "./project-file.js";

export function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Reads the values of a parsed YAML file: each reader returns the value when it has the expected
 * shape, else records a problem at its path (after `prefix`, which names an included file) and
 * returns undefined or an empty value, so that one pass finds every problem of the file.
 */
export class ValueReader {
  constructor(
    protected readonly problems: ProblemList,
    protected readonly prefix: string,
  ) {}

  protected add(path: string, message: string): void {
    this.problems.add(`${this.prefix}${path}`, message);
  }

  protected checkKeys(
    value: Record<string, unknown>,
    allowed: ReadonlySet<string>,
    path: string,
    options: { allowUnderscore?: boolean } = {},
  ): void {
    for (const key of Object.keys(value)) {
      if (allowed.has(key) || (options.allowUnderscore && key.startsWith("_"))) continue;
      this.add(joinPath(path, key), `unknown key${suggestionSuffix(key, allowed)}`);
    }
  }

  protected list<T>(
    value: unknown,
    path: string,
    readItem: (item: unknown, path: string) => T | undefined,
  ): T[] {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) {
      this.add(path, `expected a list, got ${describeValue(value)}`);
      return [];
    }
    const items: T[] = [];
    value.forEach((item, index) => {
      const read = readItem(item, joinPath(path, index));
      if (read !== undefined) items.push(read);
    });
    return items;
  }

  protected mapping(value: unknown, path: string): Record<string, unknown> | undefined {
    if (value === undefined || value === null) return undefined;
    if (isMapping(value)) return value;
    this.add(path, `expected a mapping, got ${describeValue(value)}`);
    return undefined;
  }

  protected requiredName(item: Record<string, unknown>, path: string): string | undefined {
    const name = item.name;
    if (name === undefined || name === null || name === "") {
      this.add(joinPath(path, "name"), "missing; every entry needs a `name`");
      return undefined;
    }
    if (typeof name !== "string") {
      this.add(joinPath(path, "name"), `expected a string, got ${describeValue(name)}`);
      return undefined;
    }
    return name;
  }

  protected optionalString(item: Record<string, unknown>, key: string, path: string): string | undefined {
    const value = item[key];
    if (value === undefined || value === null) return undefined;
    // YAML reads `project_id: 12345` or `variant: 2` as numbers; the user meant the text.
    if (typeof value === "number") return String(value);
    if (typeof value !== "string") {
      this.add(joinPath(path, key), `expected a string, got ${describeValue(value)}`);
      return undefined;
    }
    return value;
  }

  protected optionalBoolean(item: Record<string, unknown>, key: string, path: string): boolean | undefined {
    const value = item[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "boolean") {
      this.add(joinPath(path, key), `expected true or false, got ${describeValue(value)}`);
      return undefined;
    }
    return value;
  }

  protected optionalInteger(item: Record<string, unknown>, key: string, path: string): number | undefined {
    const value = item[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "number" || !Number.isInteger(value)) {
      this.add(joinPath(path, key), `expected an integer, got ${describeValue(value)}`);
      return undefined;
    }
    return value;
  }

  protected readStringList(value: unknown, path: string): string[] | undefined {
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value)) {
      this.add(path, `expected a list of strings, got ${describeValue(value)}`);
      return undefined;
    }
    const strings: string[] = [];
    value.forEach((item, index) => {
      if (typeof item === "string") strings.push(item);
      else this.add(joinPath(path, index), `expected a string, got ${describeValue(item)}`);
    });
    return strings;
  }

  /** `env:` maps variable names to strings; YAML numbers and booleans are taken as their text. */
  protected readEnv(value: unknown, path: string): Record<string, string> {
    const env: Record<string, string> = {};
    const map = this.mapping(value, path);
    if (!map) return env;
    for (const [name, item] of Object.entries(map)) {
      if (typeof item === "string") env[name] = item;
      else if (typeof item === "number" || typeof item === "boolean") env[name] = String(item);
      else if (item === null) env[name] = "";
      else this.add(joinPath(path, name), `expected a string, got ${describeValue(item)}`);
    }
    return env;
  }

  /** `metadata` and `schema`: stream (or stream pattern) → mapping of keys. */
  protected readStreamMap(value: unknown, path: string): Record<string, ConfigMap> | undefined {
    const map = this.mapping(value, path);
    if (!map) return undefined;
    const result: Record<string, ConfigMap> = {};
    for (const [stream, entry] of Object.entries(map)) {
      const entryMap = this.mapping(entry, joinPath(path, stream));
      if (entryMap) result[stream] = entryMap;
    }
    return result;
  }
}
