import { describe, expect, it } from "vitest";

import { isGlob, matchesGlob } from "../../../src/protocol/glob.js";

// Expected values are what CPython's fnmatch.fnmatchcase returns for the same arguments.
describe("matchesGlob (fnmatch semantics)", () => {
  it.each([
    ["public-events", "*", true],
    ["public-events", "public-*", true],
    ["public-events", "*-events", true],
    ["public-events", "public", false],
    ["public-events", "Public-*", false],
    ["a.b.c", "a*c", true],
    ["properties.a.properties.b", "properties.*", true],
    ["public-events", "public-event?", true],
    ["public-event", "public-event?", false],
    ["événements", "?v*", true],
    ["x😀y", "x?y", true],
    ["b", "[abc]", true],
    ["d", "[abc]", false],
    ["d", "[!abc]", true],
    ["a", "[!abc]", false],
    ["m", "[a-z]", true],
    ["M", "[a-z]", false],
    ["-", "[a-]", true],
    ["-", "[-a]", true],
    ["]", "[]]", true],
    ["a", "[!]]", true],
    ["[ab", "[ab", true],
    ["*", "[*]", true],
    ["x", "[*]", false],
    ["a", "[z-a]", false],
    ["b", "[z-ab]", true],
    ["a.b", "a.b", true],
    ["axb", "a.b", false],
    ["a(b)", "a(b)", true],
    ["a\\b", "a\\b", true],
    ["a$b^", "a$b^", true],
    ["line\nbreak", "line*", true],
    ["", "", true],
    ["", "*", true],
  ])("%j against %j is %s", (value, pattern, expected) => {
    expect(matchesGlob(value, pattern)).toBe(expected);
  });

  it("tells a glob from a plain name", () => {
    expect(isGlob("created_*")).toBe(true);
    expect(isGlob("id?")).toBe(true);
    expect(isGlob("[ab]")).toBe(true);
    expect(isGlob("created_at")).toBe(false);
  });
});
