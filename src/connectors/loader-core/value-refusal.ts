/**
 * What to do about a value a warehouse column cannot hold (NaN in a DECIMAL, a year 0 date), said
 * once for every loader: the run stops before its state moves, and a LOG_BASED change stays in
 * the WAL, so the next run meets it again until the stream is copied again.
 */
export function valueRefusalAdvice(streamId: string): string {
  return `change the value at the source (or the warehouse column's type), then run again; a LOG_BASED stream meets the same change in the WAL on every run: after fixing the source, run with --full-refresh --select ${streamId}`;
}
