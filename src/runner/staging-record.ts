import type { StagingTable } from "../connectors/connector.js";
import type { SingerState } from "../protocol/state.js";

/**
 * The state field where a run records the staging tables (`<table>__sluice_new`) it is filling,
 * by stream id: written before a `replace` stream opens, removed when it is swapped in. A run
 * stopped in between (SIGKILL, a second Ctrl-C) leaves the record, and the next run of the same
 * state id drops those tables before it starts, whatever it selects. Only what this state id
 * recorded is dropped: another pipeline writing the same warehouse schema keeps its own.
 * Taps ignore a top-level field they do not know, as Singer states allow.
 */
export const STAGING_STATE_FIELD = "sluice_staging_tables";

/** The staging tables recorded in `state`; an entry that is not a schema and table is left out. */
export function recordedStaging(state: SingerState): Map<string, StagingTable> {
  const field = state[STAGING_STATE_FIELD];
  const found = new Map<string, StagingTable>();
  if (typeof field !== "object" || field === null || Array.isArray(field)) return found;
  for (const [streamId, value] of Object.entries(field as Record<string, unknown>)) {
    const entry = (typeof value === "object" && value !== null ? value : {}) as Record<string, unknown>;
    if (typeof entry.schema === "string" && typeof entry.table === "string") {
      found.set(streamId, { schema: entry.schema, table: entry.table });
    }
  }
  return found;
}

export function recordStaging(state: SingerState, streamId: string, table: StagingTable): void {
  state[STAGING_STATE_FIELD] = {
    ...Object.fromEntries(recordedStaging(state)),
    [streamId]: { schema: table.schema, table: table.table },
  };
}

/** Forgets the staging table of `streamId`; the field goes when it is empty. */
export function forgetStaging(state: SingerState, streamId: string): void {
  if (!(STAGING_STATE_FIELD in state)) return;
  const left = recordedStaging(state);
  left.delete(streamId);
  if (left.size === 0) delete state[STAGING_STATE_FIELD];
  else state[STAGING_STATE_FIELD] = Object.fromEntries(left);
}
