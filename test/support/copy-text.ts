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
