import type { ReplicationMethod } from "../connectors/connector.js";

/** What a run reports while it goes; the CLI turns these into a progress line or JSON logs. */
export type RunEvent =
  | { type: "run-started"; runId: string; stateId: string; streams: string[] }
  | {
      type: "stream-started";
      streamId: string;
      method: ReplicationMethod;
      mode: "replace" | "incremental";
      /** Row ranges read at once (a large table split), when more than one. */
      parts?: number;
    }
  | {
      type: "batch-loaded";
      streamId: string;
      rows: number;
      bytes: number;
      totalRows: number;
      seconds: number;
    }
  | { type: "state-committed"; streamId: string; bookmark: unknown }
  /** LOG_BASED: changes up to `position` are in the warehouse and the state; the slot was told. */
  | { type: "changes-committed"; position: string; lagBytes?: number }
  | { type: "warning"; message: string }
  /**
   * A transient failure (see `errors.ts`) is tried again after `delaySeconds`: one batch written
   * again (`scope: "batch"`), or the streams that had not finished started again from their
   * committed state in a new read session (`"streams"`). `retry` counts from 1 to `maxRetries`.
   */
  | {
      type: "retrying";
      scope: "batch" | "streams";
      streamIds: string[];
      retry: number;
      maxRetries: number;
      delaySeconds: number;
      error: string;
    }
  | { type: "stream-finished"; streamId: string; rows: number; bytes: number; seconds: number }
  | { type: "run-finished"; summary: RunSummary };

export interface StreamStats {
  rows: number;
  bytes: number;
  seconds: number;
  /** LOG_BASED: WAL the source kept for the slot at the last checkpoint, in bytes. */
  slotLagBytes?: number;
}

export interface RunSummary {
  runId: string;
  stateId: string;
  status: "success" | "failed" | "cancelled";
  seconds: number;
  streams: Record<string, StreamStats>;
  peakRssBytes: number;
  error?: string;
}

export type RunObserver = (event: RunEvent) => void;
