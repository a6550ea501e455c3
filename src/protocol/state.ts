/**
 * Singer state as pipelinewise-tap-postgres and Meltano keep it. Fields we do not know are kept
 * as they are, so a state imported from another tool survives a round trip through sluice.
 */
export interface StreamBookmark {
  replication_key?: string;
  replication_key_value?: string | number | null;
  /** Table version: the start time (ms) of the full load that produced the current table. */
  version?: number;
  /** LOG_BASED: the last WAL position whose changes are durable in the warehouse. */
  lsn?: number | string;
  xmin?: number | string;
  last_replication_method?: string;
  [extra: string]: unknown;
}

export interface SingerState {
  bookmarks: Record<string, StreamBookmark>;
  currently_syncing?: string | null;
  /**
   * sluice's own: the replication slot the LOG_BASED positions (`lsn`) of this state were read
   * from, recorded before the first of them is stored, so the pipeline keeps reading that slot
   * whatever its name rule says later. Other Singer tools keep unknown keys, and read none.
   */
  replication_slot?: string;
  [extra: string]: unknown;
}

/** The slot a state recorded (`replication_slot`), when it is a name. */
export function recordedSlotOf(state: SingerState | undefined): string | undefined {
  const slot = state?.replication_slot;
  return typeof slot === "string" && slot !== "" ? slot : undefined;
}

/**
 * A change-data checkpoint: every change up to `position` is durable, so each LOG_BASED stream's
 * `lsn` becomes `position`, but never moves back (a stream copied later than the others already
 * starts further on). The one place this rule is written.
 */
export function advanceLogPosition(state: SingerState, streamIds: Iterable<string>, position: string): void {
  for (const id of streamIds) {
    const previous = Number(state.bookmarks[id]?.lsn ?? 0);
    state.bookmarks[id] = {
      ...state.bookmarks[id],
      lsn: Math.max(previous, Number(position)),
      last_replication_method: "LOG_BASED",
    };
  }
}

/**
 * The state a `--full-refresh` run starts from: the stored one without the bookmarks of the
 * streams it runs, which start from nothing. Streams the run does not touch (outside its
 * `--select`) keep theirs: a refresh of one table must not make the next run read every other
 * table again.
 */
export function refreshedState(stored: SingerState | undefined, streamIds: Iterable<string>): SingerState {
  const state = structuredClone(stored ?? emptyState());
  for (const id of streamIds) delete state.bookmarks[id];
  if (state.currently_syncing !== undefined) state.currently_syncing = null;
  return state;
}

/**
 * The replication slot a state is tied to, if any: the one it recorded, or, for positions
 * (`lsn`) with none recorded (pipelinewise's, an older sluice's), "unrecorded". Two state ids
 * must never be tied to one slot: the first to run would confirm changes the other never loaded.
 */
export function slotTieOf(state: SingerState | undefined): string | "unrecorded" | undefined {
  const recorded = recordedSlotOf(state);
  if (recorded !== undefined) return recorded;
  const positions = Object.values(state?.bookmarks ?? {}).some((b) => b.lsn !== undefined && b.lsn !== null);
  return positions ? "unrecorded" : undefined;
}

/**
 * `extra` merged into `base` as `meltano state merge` does: each stream's bookmark keys and the
 * top-level keys of `extra` win, everything else of `base` stays.
 */
export function mergedState(base: SingerState | undefined, extra: SingerState): SingerState {
  const merged: SingerState = { ...structuredClone(base ?? emptyState()), ...structuredClone(extra) };
  merged.bookmarks = structuredClone(base?.bookmarks ?? {});
  for (const [stream, bookmark] of Object.entries(extra.bookmarks)) {
    merged.bookmarks[stream] = { ...merged.bookmarks[stream], ...structuredClone(bookmark) };
  }
  return merged;
}

export function emptyState(): SingerState {
  return { bookmarks: {} };
}

/** Reads any JSON value as a Singer state, keeping unknown fields. */
export function toSingerState(value: unknown): SingerState {
  if (value === null || value === undefined) return emptyState();
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new TypeError(
      `state must be a JSON object, got ${Array.isArray(value) ? "an array" : typeof value}`,
    );
  }
  const record = value as Record<string, unknown>;
  // Meltano wraps the Singer state: {"singer_state": {...}}.
  if ("singer_state" in record && typeof record.singer_state === "object") {
    return toSingerState(record.singer_state);
  }
  const bookmarks = record.bookmarks ?? {};
  if (typeof bookmarks !== "object" || bookmarks === null || Array.isArray(bookmarks)) {
    throw new TypeError("state.bookmarks must be a JSON object");
  }
  return { ...record, bookmarks: bookmarks as Record<string, StreamBookmark> };
}
