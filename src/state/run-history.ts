import { ConfigError, StateError } from "../errors.js";
import type { StreamBookmark } from "../protocol/state.js";
import { isProcessGone } from "./process-identity.js";

export type RunStatus = "running" | "success" | "failed" | "cancelled";

export interface RunStreamStats {
  rows: number;
  bytes: number;
  seconds: number;
  /** LOG_BASED: WAL the source kept for the replication slot at the run's last checkpoint. */
  slotLagBytes?: number;
  /** The stream's bookmark in the state when the run ended (also a failed or cancelled one). */
  bookmark?: StreamBookmark;
}

export interface RunRecord {
  runId: string;
  stateId: string;
  extractor: string;
  loader: string;
  startedAt: Date;
  endedAt?: Date;
  status: RunStatus;
  streams: Record<string, RunStreamStats>;
  /** Already redacted by the runner: run history never holds a secret. */
  error?: string;
  peakRssBytes?: number;
  /** The process that ran it, recorded by `start`, so a run whose process died can be recognised. */
  pid?: number;
  hostname?: string;
}

export type RunStart = Pick<RunRecord, "runId" | "stateId" | "extractor" | "loader" | "startedAt">;

export interface RunFinish {
  status: Exclude<RunStatus, "running">;
  endedAt: Date;
  streams: Record<string, RunStreamStats>;
  error?: string;
  peakRssBytes?: number;
}

/** Error recorded for a run whose process ended (SIGKILL, OOM) without calling `finish`. */
export const ABANDONED_RUN_ERROR = "process ended without finishing";

/**
 * The record of every run, in the system database. The runner calls `start` before extracting and
 * `finish` once, whatever the outcome. Reads (`list`, `get`) mark a "running" run whose process is
 * gone from this host as "failed" with `ABANDONED_RUN_ERROR`, and store that; a run of another host
 * cannot be checked and stays "running" until it finishes.
 */
export interface RunHistory {
  /** Records a new run as "running" with this process's pid and host; a known `runId` is a StateError. */
  start(run: RunStart): Promise<void>;
  /** Records the outcome; an unknown `runId` is a StateError. */
  finish(runId: string, outcome: RunFinish): Promise<void>;
  /** Newest first (by start time), optionally of one state id, at most `limit` (default all). */
  list(options?: { stateId?: string; limit?: number }): Promise<RunRecord[]>;
  get(runId: string): Promise<RunRecord | undefined>;
  close(): Promise<void>;
}

/** The "running" runs of `records` whose process is gone; the caller stores them as failed. */
export function abandonedRuns(records: readonly RunRecord[]): RunRecord[] {
  return records.filter(
    (r) =>
      r.status === "running" &&
      r.pid !== undefined &&
      r.hostname !== undefined &&
      isProcessGone({ pid: r.pid, hostname: r.hostname }),
  );
}

export function markAbandoned(record: RunRecord): RunRecord {
  return { ...record, status: "failed", error: ABANDONED_RUN_ERROR };
}

export function checkListLimit(limit: number | undefined): number | undefined {
  if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1)) {
    throw new ConfigError(`the number of runs to list must be a whole number >= 1, got ${limit}`);
  }
  return limit;
}

/** Parses the per-stream statistics stored as JSON, so a hand-edited row cannot pass as typed data. */
export function parseRunStreams(runId: string, stored: unknown): Record<string, RunStreamStats> {
  const value: unknown = typeof stored === "string" ? JSON.parse(stored) : stored;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new StateError(`the stream statistics of run ${runId} are not a JSON object`);
  }
  const streams: Record<string, RunStreamStats> = {};
  for (const [name, stats] of Object.entries(value as Record<string, unknown>)) {
    const s = (typeof stats === "object" && stats !== null ? stats : {}) as Record<string, unknown>;
    streams[name] = {
      rows: numberOr0(s.rows),
      bytes: numberOr0(s.bytes),
      seconds: numberOr0(s.seconds),
      ...(typeof s.slotLagBytes === "number" ? { slotLagBytes: s.slotLagBytes } : {}),
      ...(typeof s.bookmark === "object" && s.bookmark !== null && !Array.isArray(s.bookmark)
        ? { bookmark: s.bookmark as StreamBookmark }
        : {}),
    };
  }
  return streams;
}

function numberOr0(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) ? value : 0;
}
