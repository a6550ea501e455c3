/**
 * Shell-style globs as Python's `fnmatch.fnmatchcase` reads them, because Meltano matches `select`,
 * `metadata` and `schema` keys with `fnmatch` and a project must select the same streams under
 * sluice as under Meltano.
 *
 * `*` any run of characters (dots included), `?` one character, `[abc]` / `[a-z]` one of a set,
 * `[!abc]` one character not in the set. There is no escape character: `[*]` matches a literal `*`.
 * A `[` without a closing `]` is literal. Matching is case-sensitive (fnmatch on POSIX) and on
 * whole strings.
 */

const compiled = new Map<string, RegExp>();

/** Whether `value` matches the glob `pattern` as a whole. */
export function matchesGlob(value: string, pattern: string): boolean {
  let regExp = compiled.get(pattern);
  if (regExp === undefined) {
    regExp = new RegExp(`^(?:${globSource(pattern)})$`, "su");
    compiled.set(pattern, regExp);
  }
  return regExp.test(value);
}

/** Whether `pattern` contains a wildcard or a set, i.e. may match something other than itself. */
export function isGlob(pattern: string): boolean {
  return /[*?[]/.test(pattern);
}

/**
 * The regular expression source (for the `su` flags, unanchored) of a glob. Follows the steps of
 * CPython's `fnmatch.translate` so the edge cases agree: a `]` right after `[` or `[!` belongs to
 * the set, a `-` first or last in a set is literal, reversed ranges (`[z-a]`) are dropped.
 */
export function globSource(pattern: string): string {
  // Code points, not UTF-16 units: `?` must consume one character of a unicode table name.
  const chars = Array.from(pattern);
  let source = "";
  let i = 0;
  while (i < chars.length) {
    const c = chars[i]!;
    i += 1;
    if (c === "*") {
      if (!source.endsWith(".*")) source += ".*";
    } else if (c === "?") {
      source += ".";
    } else if (c === "[") {
      let j = i;
      if (chars[j] === "!") j += 1;
      if (chars[j] === "]") j += 1;
      while (j < chars.length && chars[j] !== "]") j += 1;
      if (j >= chars.length) {
        source += "\\[";
      } else {
        source += characterClass(chars.slice(i, j));
        i = j + 1;
      }
    } else {
      source += literal(c);
    }
  }
  return source;
}

function characterClass(body: string[]): string {
  const negated = body[0] === "!";
  const members = negated ? body.slice(1) : body;
  let items = "";
  let k = 0;
  while (k < members.length) {
    const first = members[k]!;
    const last = members[k + 2];
    if (members[k + 1] === "-" && last !== undefined) {
      // NOTE: fnmatch drops an empty range instead of failing like a RegExp would.
      if (first.codePointAt(0)! <= last.codePointAt(0)!) items += `${codePoint(first)}-${codePoint(last)}`;
      k += 3;
    } else {
      items += codePoint(first);
      k += 1;
    }
  }
  if (items === "") return negated ? "." : "(?!)";
  return `[${negated ? "^" : ""}${items}]`;
}

function codePoint(c: string): string {
  return `\\u{${c.codePointAt(0)!.toString(16)}}`;
}

function literal(c: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(c) ? `\\${c}` : c;
}
