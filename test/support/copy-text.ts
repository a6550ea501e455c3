import fc from "fast-check";

/**
 * COPY text escaping as PostgreSQL's `COPY TO` writes it (CopyAttributeOutText): backslash and
 * the six control characters with letters become two-character escapes; others stay as they are.
 */
export function escapeCopyText(text: string): string {
  const letters: Record<string, string> = {
    "\b": "b",
    "\f": "f",
    "\n": "n",
    "\r": "r",
    "\t": "t",
    "\v": "v",
  };
  return text.replace(/[\\\b\f\n\r\t\v]/g, (c) => `\\${letters[c] ?? c}`);
}

/** Text made of what COPY text escapes, the letters of its escapes, quotes and non-ASCII. */
export function copyTextHostileText(maxLength: number): fc.Arbitrary<string> {
  const char = fc.constantFrom(
    "\\",
    "\n",
    "\r",
    "\t",
    "\b",
    "\f",
    "\v",
    "n",
    "N",
    "t",
    "x",
    "é",
    "🎉",
    '"',
    "'",
  );
  return fc.string({ unit: char, maxLength });
}
