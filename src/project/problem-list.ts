import { ConfigError } from "../errors.js";

/**
 * Collects configuration problems so that a user sees every one of them in a single run instead
 * of fixing the file one error at a time.
 */
export class ProblemList {
  readonly #problems: string[] = [];

  /** `path` is where the problem is in the project file (`plugins.extractors[0].config.port`). */
  add(path: string, message: string): void {
    this.#problems.push(path === "" ? message : `${path}: ${message}`);
  }

  addAll(problems: readonly string[]): void {
    this.#problems.push(...problems);
  }

  get size(): number {
    return this.#problems.length;
  }

  get all(): readonly string[] {
    return this.#problems;
  }

  /** Throws a ConfigError listing every problem, if there is any. */
  throwIfAny(): void {
    if (this.#problems.length > 0) throw new ConfigError([...this.#problems]);
  }
}

/**
 * A value as an error message shows it: short, and quoted when a string, so that `"5432"` and
 * `5432` are told apart. Callers never pass a secret's value here.
 */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  if (typeof value === "string") {
    const shown = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    return JSON.stringify(shown);
  }
  return String(value);
}

/** The kind of a value without the value itself, for secrets. */
export function describeKind(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return `a ${typeof value}`;
}

/** `plugins.extractors` + `0` → `plugins.extractors[0]`; `a` + `b` → `a.b`. */
export function joinPath(base: string, key: string | number): string {
  if (typeof key === "number") return `${base}[${key}]`;
  const segment = /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) ? key : JSON.stringify(key);
  return base === "" ? segment : `${base}.${segment}`;
}
