import { messageOf } from "../errors.js";
import type { SingerState } from "../protocol/state.js";
import type { RunRecord, RunStatus } from "../state/run-history.js";
import type { StateAndRunHistory } from "../state/open-system-database.js";

/** One stream of a run as the page shows it. `rowsPerSecond` is null when no time was measured. */
export interface StreamView {
  streamId: string;
  rows: number;
  bytes: number;
  seconds: number;
  rowsPerSecond: number | null;
  slotLagBytes?: number;
}

/** A run with what the page derives from it: duration, totals and rates. Times are ISO 8601. */
export interface RunView {
  runId: string;
  stateId: string;
  extractor: string;
  loader: string;
  status: RunStatus;
  startedAt: string;
  endedAt: string | null;
  /** Null while the run is still running. */
  durationSeconds: number | null;
  rows: number;
  bytes: number;
  rowsPerSecond: number | null;
  streams: StreamView[];
  error: string | null;
  peakRssBytes: number | null;
  hostname: string | null;
  pid: number | null;
}

/** The stored state of one state id, or why it could not be read (a hand-edited row). */
export interface StateView {
  stateId: string;
  updatedAt: string;
  state: SingerState | null;
  error: string | null;
}

/**
 * Read-only queries over run history and state for `sluice ui`, built on the `RunHistory` and
 * `StateStore` contracts alone (so every system database backend serves the page). It never
 * writes, except what `RunHistory.list` itself does: marking runs whose process died as failed.
 */
export class RunHistoryView {
  constructor(private readonly stores: Pick<StateAndRunHistory, "runHistory" | "stateStore">) {}

  /** Newest first, as `RunHistory.list`. */
  async runs(options: { stateId?: string; limit?: number } = {}): Promise<RunView[]> {
    const records = await this.stores.runHistory.list(options);
    return records.map(toRunView);
  }

  async run(runId: string): Promise<RunView | undefined> {
    const record = await this.stores.runHistory.get(runId);
    return record && toRunView(record);
  }

  /** Every state id with its state, sorted by id; one unreadable state does not hide the others. */
  async states(): Promise<StateView[]> {
    const ids = await this.stores.stateStore.list();
    const views: StateView[] = [];
    for (const { stateId, updatedAt } of ids) {
      try {
        const state = await this.stores.stateStore.get(stateId);
        // Cleared between list and get: nothing to show.
        if (state === undefined) continue;
        views.push({ stateId, updatedAt: updatedAt.toISOString(), state, error: null });
      } catch (error) {
        views.push({ stateId, updatedAt: updatedAt.toISOString(), state: null, error: messageOf(error) });
      }
    }
    return views;
  }
}

export function toRunView(record: RunRecord): RunView {
  const streams: StreamView[] = Object.entries(record.streams).map(([streamId, s]) => ({
    streamId,
    rows: s.rows,
    bytes: s.bytes,
    seconds: s.seconds,
    rowsPerSecond: rateOf(s.rows, s.seconds),
    ...(s.slotLagBytes !== undefined ? { slotLagBytes: s.slotLagBytes } : {}),
  }));
  const rows = streams.reduce((n, s) => n + s.rows, 0);
  const durationSeconds = record.endedAt
    ? Math.max(0, (record.endedAt.getTime() - record.startedAt.getTime()) / 1000)
    : null;
  return {
    runId: record.runId,
    stateId: record.stateId,
    extractor: record.extractor,
    loader: record.loader,
    status: record.status,
    startedAt: record.startedAt.toISOString(),
    endedAt: record.endedAt ? record.endedAt.toISOString() : null,
    durationSeconds,
    rows,
    bytes: streams.reduce((n, s) => n + s.bytes, 0),
    rowsPerSecond: durationSeconds === null ? null : rateOf(rows, durationSeconds),
    streams,
    error: record.error ?? null,
    peakRssBytes: record.peakRssBytes ?? null,
    hostname: record.hostname ?? null,
    pid: record.pid ?? null,
  };
}

function rateOf(rows: number, seconds: number): number | null {
  return seconds > 0 ? Math.round(rows / seconds) : null;
}
