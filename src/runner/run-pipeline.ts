import fs from "node:fs";
import { PipelineError, messageOf } from "../errors.js";
import type { ExtractSession, Extractor, Loader, StreamPlan, StreamWriter } from "../connectors/connector.js";
import { emptyState, type SingerState } from "../protocol/state.js";
import type { RunHistory } from "../state/run-history.js";
import type { StateStore } from "../state/state-store.js";
import { prefetch } from "./prefetch.js";
import type { RunObserver, RunSummary, StreamStats } from "./run-events.js";

export interface RunPipelineOptions {
  runId: string;
  stateId: string;
  extractorName: string;
  loaderName: string;
  extractor: Extractor;
  loader: Loader;
  /**
   * Decides the streams to run (discovery, selection, `extractor.plan`). Called under the state
   * lock after the run is recorded, so a source that cannot be reached is a failed run in history.
   */
  plan: () => Promise<StreamPlan[]>;
  stateStore: StateStore;
  runHistory: RunHistory;
  /** Ignore the stored state and reload every stream; the new state replaces the old at the end. */
  fullRefresh: boolean;
  /** A folder of this run's own for spool files; removed when the run ends. */
  spoolDir: string;
  observer: RunObserver;
  signal?: AbortSignal;
  /** Seconds to wait for another run of the same state id to finish. */
  lockWaitSeconds?: number;
  /** Scrubs secrets out of an error message before it is stored in run history. */
  redact?: (text: string) => string;
}

/** How many batches the extractor may spool ahead of the loader. */
const PREFETCH_BATCHES = 2;

/**
 * One run of an extractor into a loader under the lock of its state id. For every batch, in
 * this order: the loader makes it durable, then the state that follows it is committed. A run
 * killed at any point therefore restarts from a state that never points past the warehouse.
 */
export async function runPipeline(options: RunPipelineOptions): Promise<RunSummary> {
  const { stateStore, runHistory, observer } = options;
  return stateStore.withLock(
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
      let session: ExtractSession | undefined;
      try {
        const plans = await options.plan();
        observer({
          type: "run-started",
          runId: options.runId,
          stateId: options.stateId,
          streams: plans.map((p) => p.schema.streamId),
        });
        // Fails now, naming the warehouse, rather than after the first batch was extracted.
        await options.loader.test();
        const stored = options.fullRefresh ? undefined : await stateStore.get(options.stateId);
        const state: SingerState = structuredClone(stored ?? emptyState());
        fs.mkdirSync(options.spoolDir, { recursive: true });
        session = await options.extractor.open({ spoolDir: options.spoolDir });
        for (const plan of plans) {
          if (options.signal?.aborted) throw new PipelineError("the run was stopped before it finished");
          streams[plan.schema.streamId] = await runStream(options, session, plan, state);
        }
        const done = summary("success");
        await runHistory.finish(options.runId, {
          status: "success",
          endedAt: new Date(),
          streams,
          peakRssBytes: done.peakRssBytes,
        });
        observer({ type: "run-finished", summary: done });
        return done;
      } catch (error) {
        const message = (options.redact ?? ((t: string) => t))(messageOf(error));
        const status = options.signal?.aborted ? "cancelled" : "failed";
        const failed = summary(status, message);
        await runHistory
          .finish(options.runId, {
            status,
            endedAt: new Date(),
            streams,
            error: message,
            peakRssBytes: failed.peakRssBytes,
          })
          .catch(() => undefined);
        observer({ type: "run-finished", summary: failed });
        throw error;
      } finally {
        await session?.close().catch(() => undefined);
        await options.extractor.close().catch(() => undefined);
        await options.loader.close().catch(() => undefined);
        fs.rmSync(options.spoolDir, { recursive: true, force: true });
      }
    },
    { waitSeconds: options.lockWaitSeconds ?? 0, runId: options.runId },
  );
}

async function runStream(
  options: RunPipelineOptions,
  session: ExtractSession,
  plan: StreamPlan,
  state: SingerState,
): Promise<StreamStats> {
  const streamId = plan.schema.streamId;
  const started = Date.now();
  const stats: StreamStats = { rows: 0, bytes: 0, seconds: 0 };
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  options.signal?.addEventListener("abort", stop, { once: true });
  let writer: StreamWriter | undefined;
  const commit = async (bookmark: SingerState["bookmarks"][string]): Promise<void> => {
    state.bookmarks[streamId] = bookmark;
    await options.stateStore.set(options.stateId, state);
    options.observer({ type: "state-committed", streamId, bookmark });
  };
  try {
    const events = prefetch(
      session.read(plan, state.bookmarks[streamId], controller.signal),
      PREFETCH_BATCHES,
    );
    for await (const event of events) {
      switch (event.type) {
        case "begin":
          writer = await options.loader.openStream(plan.schema, {
            mode: event.mode,
            version: event.version,
            distinctKeys: event.distinctKeys,
          });
          options.observer({
            type: "stream-started",
            streamId,
            method: plan.replicationMethod,
            mode: event.mode,
          });
          break;
        case "batch": {
          if (!writer)
            throw new PipelineError(`${streamId}: the extractor sent a batch before the stream began`);
          const t = Date.now();
          await writer.write(event.batch);
          await fs.promises.rm(event.batch.path, { force: true });
          stats.rows += event.batch.rowCount;
          stats.bytes += event.batch.byteCount;
          options.observer({
            type: "batch-loaded",
            streamId,
            rows: event.batch.rowCount,
            bytes: event.batch.byteCount,
            totalRows: stats.rows,
            seconds: (Date.now() - t) / 1000,
          });
          if (event.bookmark) await commit(event.bookmark);
          break;
        }
        case "end":
          if (!writer) throw new PipelineError(`${streamId}: the extractor ended a stream it never began`);
          await writer.finish();
          writer = undefined;
          await commit(event.bookmark);
          break;
      }
    }
  } catch (error) {
    controller.abort();
    await writer?.abort().catch(() => undefined);
    throw error;
  } finally {
    options.signal?.removeEventListener("abort", stop);
  }
  stats.seconds = (Date.now() - started) / 1000;
  options.observer({ type: "stream-finished", streamId, ...stats });
  return stats;
}
