/**
 * `_CHANGE_SEQUENCE_NUMBER`, as BigQuery's change data capture documents it ("Manage custom
 * ordering", https://cloud.google.com/bigquery/docs/change-data-capture#manage_custom_ordering):
 * a STRING of one to four sections separated by `/`, each section up to 16 hexadecimal digits
 * (an unsigned 64-bit number; either case). Of two changes to one key, the greater number wins,
 * compared section by section as numbers. NOTE: the documentation does not say how numbers with a
 * different count of sections compare; here a missing section is less than any present one
 * ("FF" < "FF/0"), which keeps the order of every number that only ever grows by appending.
 * A PostgreSQL LSN printed as PostgreSQL prints it (`16/B374D848`) is such a number.
 */
export type ChangeSequenceNumber = readonly bigint[];

/** The parsed number, or an error message saying what is wrong with `text`. */
export function parseChangeSequenceNumber(text: string): ChangeSequenceNumber | { error: string } {
  const sections = text.split("/");
  if (text === "" || sections.length > 4) {
    return {
      error: `_CHANGE_SEQUENCE_NUMBER '${text}' must have one to four hexadecimal sections separated by '/'`,
    };
  }
  const parsed: bigint[] = [];
  for (const section of sections) {
    if (!/^[0-9A-Fa-f]{1,16}$/.test(section)) {
      return {
        error: `_CHANGE_SEQUENCE_NUMBER '${text}' has an invalid section '${section}': each is 1 to 16 hexadecimal digits`,
      };
    }
    parsed.push(BigInt(`0x${section}`));
  }
  return parsed;
}

/** < 0 when `a` orders before `b`, 0 when equal, > 0 after. */
export function compareChangeSequenceNumbers(a: ChangeSequenceNumber, b: ChangeSequenceNumber): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}
