import { PipelineError, messageOf } from "../errors.js";
import type { RunHistory, RunStreamStats } from "../state/run-history.js";
import type { StateStore } from "../state/state-store.js";
import type { RunObserver, RunSummary, StreamStats } from "./run-events.js";

export interface RecordedRunOptions {
  runId: string;
  stateId: string;
  extractorName: string;
  loaderName: string;
  stateStore: StateStore;
  runHistory: RunHistory;
  observer: RunObserver;
  signal?: AbortSignal;
  /** Seconds to wait for another run of the same state id to finish. */
  lockWaitSeconds?: number;
  /** Scrubs secrets out of an error message before it is stored in run history. */
  redact?: (text: string) => string;
}

/**
 * The life of one run, whatever moves its data: under the lock of its state id, recorded in run
 * history when it starts and when it ends (success, failed, or cancelled when `signal` stopped
 * it), with a `run-finished` event either way. `body` moves the data and fills `streams`;
 * `cleanup` runs last, whatever happened.
 */
export async function recordedRun(
  options: RecordedRunOptions,
  body: (streams: Record<string, StreamStats>) => Promise<void>,
  cleanup: () => Promise<void>,
): Promise<RunSummary> {
  const { runHistory, observer } = options;
  return options.stateStore.withLock(
    options.stateId,
    async () => {
      const startedAt = new Date();
      const streams: Record<string, StreamStats> = {};
      await runHistory.start({
        runId: options.runId,
        stateId: options.stateId,
        extractor: options.extractorName,
        loader: options.loaderName,
        startedAt,
      });
      const summary = (status: RunSummary["status"], error?: string): RunSummary => ({
        runId: options.runId,
        stateId: options.stateId,
        status,
        seconds: (Date.now() - startedAt.getTime()) / 1000,
        streams,
        peakRssBytes: process.resourceUsage().maxRSS * 1024,
        ...(error !== undefined ? { error } : {}),
      });
      try {
        await body(streams);
        const done = summary("success");
        await runHistory.finish(options.runId, {
          status: "success",
          endedAt: new Date(),
          streams: await withBookmarks(options, streams),
          peakRssBytes: done.peakRssBytes,
        });
        observer({ type: "run-finished", summary: done });
        return done;
      } catch (caught) {
        const stopped = options.signal?.aborted === true;
        // A stop surfaces as whatever it interrupted (a cancelled COPY reads as "reading ...
        // failed: cancelled"); say what happened instead, and what the user does next.
        const error = stopped ? stoppedError(caught) : caught;
        const message = (options.redact ?? ((t: string) => t))(messageOf(error));
        const status = stopped ? "cancelled" : "failed";
        const failed = summary(status, message);
        await runHistory
          .finish(options.runId, {
            status,
            endedAt: new Date(),
            streams: await withBookmarks(options, streams).catch(() => streams),
            error: message,
            peakRssBytes: failed.peakRssBytes,
          })
          .catch(() => undefined);
        observer({ type: "run-finished", summary: failed });
        throw error;
      } finally {
        await cleanup();
      }
    },
    { waitSeconds: options.lockWaitSeconds ?? 0, runId: options.runId },
  );
}

/**
 * The run's streams, each with its bookmark as the state holds it at the end: what a stopped
 * run committed is in its record, not only in the state that later runs move on.
 */
async function withBookmarks(
  options: RecordedRunOptions,
  streams: Record<string, StreamStats>,
): Promise<Record<string, RunStreamStats>> {
  const state = await options.stateStore.get(options.stateId);
  return Object.fromEntries(
    Object.entries(streams).map(([id, stats]) => {
      const bookmark = state?.bookmarks[id];
      return [id, bookmark !== undefined ? { ...stats, bookmark } : stats];
    }),
  );
}

function stoppedError(cause: unknown): PipelineError {
  return new PipelineError(
    "the run was stopped before it finished (SIGTERM, Ctrl-C or its scheduler stopping); the batches it committed are kept with their state: run again to continue from there",
    { cause },
  );
}
