import { mergedState, toSingerState, type SingerState } from "./state.js";

/**
 * Meltano's state export format: one entry per state id, the state of the last completed run
 * and the bookmarks a failed run left behind (`partial`), each wrapped as `singer_state`.
 * `{"dev:tap-postgres-to-target-duckdb": {"completed": {"singer_state": {...}}, "partial": {}}}`
 */
export type MeltanoStateExport = Record<
  string,
  { completed: { singer_state: SingerState }; partial: Record<string, unknown> }
>;

export function toMeltanoExport(states: ReadonlyMap<string, SingerState>): MeltanoStateExport {
  const out: MeltanoStateExport = {};
  for (const [id, state] of states) out[id] = { completed: { singer_state: state }, partial: {} };
  return out;
}

/**
 * Reads an export back: for each state id, the completed state with the partial one's bookmark
 * keys laid over it, stream by stream (what Meltano hands the next run). Also accepts
 * `{"<id>": {"singer_state": ...}}` and `{"<id>": {"bookmarks": ...}}`. Throws a TypeError naming the state id that is malformed, or
 * saying that the value is one state without its state id (`{"singer_state": ...}`).
 */
export function fromMeltanoExport(value: unknown): Map<string, SingerState> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError("a state export must be a JSON object keyed by state id");
  }
  if ("singer_state" in value || "bookmarks" in value) {
    // One state, as `meltano state get <id>` prints it: its state id is not in it.
    throw new TypeError(
      "this is one state (as `meltano state get <id>` prints it), not states by state id: store it with `sluice state set <state id> --input <file> --force`",
    );
  }
  const states = new Map<string, SingerState>();
  for (const [id, entry] of Object.entries(value as Record<string, unknown>)) {
    try {
      if (typeof entry !== "object" || entry === null || Array.isArray(entry))
        throw new TypeError("not an object");
      const record = entry as Record<string, unknown>;
      if ("completed" in record || "partial" in record) {
        // As Meltano merges them: the partial state's keys win, stream by stream.
        states.set(
          id,
          mergedState(toSingerState(record.completed ?? {}), toSingerState(record.partial ?? {})),
        );
      } else {
        states.set(id, toSingerState(record));
      }
    } catch (error) {
      throw new TypeError(`state "${id}": ${(error as Error).message}`, { cause: error });
    }
  }
  return states;
}
