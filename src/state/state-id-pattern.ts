/**
 * A `list` pattern as a regular expression: `*` matches any text (including `:`), everything else
 * matches itself, and the whole id must match. Matching is done in JS so that every store treats
 * `?`, `%`, `_` and `[` the same way (SQL LIKE and SQLite GLOB would not).
 */
export function stateIdPattern(pattern: string): RegExp {
  const body = pattern
    .split("*")
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
    .join(".*");
  return new RegExp(`^${body}$`, "s");
}

/** Keeps the entries whose id matches `pattern` (all when absent), sorted by id. */
export function filterStateIds<T extends { stateId: string }>(
  entries: T[],
  pattern: string | undefined,
): T[] {
  const regex = pattern === undefined ? undefined : stateIdPattern(pattern);
  return entries
    .filter((e) => regex === undefined || regex.test(e.stateId))
    .sort((a, b) => (a.stateId < b.stateId ? -1 : a.stateId > b.stateId ? 1 : 0));
}
