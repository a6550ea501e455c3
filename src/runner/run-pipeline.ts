import fs from "node:fs";
import { PipelineError, SchemaError, messageOf } from "../errors.js";
import type { RecordBatch } from "../connectors/batch.js";
import type {
  ExtractSession,
  Extractor,
  Loader,
  StagingTable,
  StreamPlan,
  StreamWriter,
} from "../connectors/connector.js";
import { assertDistinctTables } from "../connectors/loader-core/distinct-tables.js";
import {
  advanceLogPosition,
  emptyState,
  recordedSlotOf,
  refreshedState,
  type SingerState,
} from "../protocol/state.js";
import { forEachConcurrently } from "./for-each-concurrently.js";
import { LoadWindow } from "./load-window.js";
import { prefetch } from "./prefetch.js";
import { recordedRun, type RecordedRunOptions } from "./recorded-run.js";
import { forgetStaging, recordStaging, recordedStaging } from "./staging-record.js";
import {
  NO_RETRIES,
  retriableInRun,
  retryDelayMs,
  waitBeforeRetry,
  type RetryPolicy,
} from "./retry-policy.js";
import type { RunSummary, StreamStats } from "./run-events.js";
import { withSlotSharers } from "./with-slot-sharers.js";

export interface RunPipelineOptions extends RecordedRunOptions {
  extractor: Extractor;
  loader: Loader;
  /**
   * Decides the streams to run (discovery, selection, `extractor.plan`). Called under the state
   * lock after the run is recorded, so a source that cannot be reached is a failed run in history.
   * With the LOG_BASED plans `--select` left out, those holding a position are read too
   * (`withSlotSharers`).
   */
  plan: () => Promise<StreamPlan[] | { plans: StreamPlan[]; unselectedLogBased: StreamPlan[] }>;
  /** Read this run's streams from the start (their bookmarks dropped); other streams keep theirs. */
  fullRefresh: boolean;
  /** LOG_BASED: keep streaming changes until `signal` aborts, instead of stopping at the WAL end. */
  follow?: boolean;
  /** A folder of this run's own for spool files; removed when the run ends. */
  spoolDir: string;
  /** How transient failures are retried within the run. Default: not at all (`NO_RETRIES`). */
  retry?: RetryPolicy;
}

/** How many batches the extractor may spool ahead of the loader. */
const PREFETCH_BATCHES = 2;

/** How long a retry waits for the failed read session to close before it opens the next. */
const SESSION_CLOSE_MS = 10_000;
/** Copy passes after the first within one run, for streams whose table changed under their changes. */
const MAX_COPY_PASSES = 2;

/**
 * One run of an extractor into a loader under the lock of its state id. For every batch, in
 * this order: the loader makes it durable, then the state that follows it is committed. A run
 * killed at any point therefore restarts from a state that never points past the warehouse.
 *
 * A transient failure (see `errors.ts`; the state store's excepted, see `retriableInRun`) is
 * retried within the run, up to `retry.maxRetries` times with a growing wait, at the smallest
 * level that can get past it without losing or repeating data:
 * - a batch the loader failed to write is written again, from the same batch file, where the
 *   loader says a failed write left nothing behind (`Loader.retryableWrites`: one transaction in
 *   DuckDB; BigQuery's jobs found again by their ids). Each batch has the whole budget.
 * - otherwise (the source connection lost mid-COPY, which cannot resume; target-postgres, whose
 *   connection may be what broke; the replication stream ended), the read session is closed and
 *   the streams that had not finished start again, in a new session, from the state committed
 *   so far: exactly what the next run would do, without losing this run's finished streams or
 *   its lock. A FULL_TABLE stream copies again into a fresh staging table (its batches so far
 *   were never visible); an INCREMENTAL one reads from its last committed bookmark (rows sharing
 *   the bookmark's key value are read again, as on any rerun); LOG_BASED changes resume from the
 *   last committed `lsn`, the slot having been acknowledged no further. Failures in a row share
 *   the budget; a commit in between starts it again (a new outage).
 * A run still failing transiently fails with that error (exit 75).
 */
export async function runPipeline(options: RunPipelineOptions): Promise<RunSummary> {
  const { stateStore, observer } = options;
  const policy = options.retry ?? NO_RETRIES;
  let session: ExtractSession | undefined;
  return recordedRun(
    options,
    async (streams) => {
      /** The run's plans: a `--select` subset reads its pipeline's other LOG_BASED streams too. */
      const planShared = async (current: SingerState | undefined) => {
        const planned = await options.plan();
        const selected = Array.isArray(planned) ? planned : planned.plans;
        const withSharers = Array.isArray(planned)
          ? { plans: planned }
          : withSlotSharers(planned.plans, planned.unselectedLogBased, current);
        return { ...withSharers, selected };
      };
      const stored = await stateStore.get(options.stateId);
      const shared = await planShared(stored);
      let { plans } = shared;
      /** Passes that copied streams again after their changes stopped (a `recopy`). */
      let copyPasses = 0;
      observer({
        type: "run-started",
        runId: options.runId,
        stateId: options.stateId,
        streams: plans.map((p) => p.schema.streamId),
      });
      if (shared.warning) observer({ type: "warning", message: shared.warning });
      const { loader } = options;
      if (loader.tableOf) {
        assertDistinctTables(
          options.loaderName,
          plans.map((p) => p.schema),
          (schema) => loader.tableOf!(schema),
        );
      }
      // Fails now, naming the warehouse, rather than after the first batch was extracted.
      await options.loader.test();
      // Only the streams `--select` named start again; those read for their changes keep theirs.
      const refreshed = shared.selected;
      const state: SingerState = options.fullRefresh
        ? refreshedState(
            stored,
            refreshed.map((p) => p.schema.streamId),
          )
        : structuredClone(stored ?? emptyState());
      fs.mkdirSync(options.spoolDir, { recursive: true });
      const commits = new CommitQueue(options, state, stored);
      await dropLeftStaging(options, commits);
      /** Streams whose read ended (and its last bookmark committed): a retry leaves them be. */
      const finished = new Set<string>();
      /** Rows loaded by tries of a stream that failed, carried into its next try's stats. */
      const carried: Record<string, StreamStats> = {};
      let retries = 0;
      let commitsAtLastFailure = 0;
      for (;;) {
        // A LOG_BASED stream without a position (its changes stopped for a copy: a `recopy`,
        // whether a retry or a copy pass comes next) is read whole again.
        for (const plan of plans) {
          const id = plan.schema.streamId;
          if (plan.replicationMethod === "LOG_BASED" && state.bookmarks[id]?.lsn === undefined) {
            finished.delete(id);
          }
        }
        try {
          const recordedSlot = recordedSlotOf(state);
          session = await options.extractor.open({
            spoolDir: options.spoolDir,
            plans,
            bookmarks: state.bookmarks,
            ...(options.loader.preferredCsvQuote !== undefined
              ? { csvQuote: options.loader.preferredCsvQuote }
              : {}),
            ...(options.loader.readsCopyText === true ? { copyText: true } : {}),
            pipeline: {
              stateId: options.stateId,
              ...(recordedSlot !== undefined ? { recordedSlot } : {}),
            },
          });
          // Recorded before any position is stored (every commit writes the whole state), so
          // the next run reads the slot these positions come from.
          if (session.replicationSlot !== undefined) state.replication_slot = session.replicationSlot;
          const opened = session;
          await forEachConcurrently(
            plans.filter((p) => !finished.has(p.schema.streamId)),
            Math.max(1, options.extractor.maxParallelStreams ?? 1),
            options.signal,
            async (plan, signal) => {
              const id = plan.schema.streamId;
              const stats = (carried[id] ??= { rows: 0, bytes: 0, seconds: 0 });
              // In the run's record from the start: a run stopped midway records what it committed.
              streams[id] = stats;
              await runStream(options, opened, plan, commits, signal, stats);
              finished.add(id);
            },
          );
          const logical = plans.filter((p) => p.replicationMethod === "LOG_BASED");
          if (logical.length === 0) return;
          const recopy = await runChanges(options, opened, logical, state, streams, commits);
          if (recopy.size === 0) return;
          // A follow run copies each time a table changes under it; a batch run a few times at most.
          if (
            (copyPasses >= MAX_COPY_PASSES && options.follow !== true) ||
            options.signal?.aborted === true
          ) {
            options.observer({
              type: "warning",
              message: `${[...recopy].join(", ")}: the table changed again while it was copied; the next run copies it again`,
            });
            return;
          }
          // Streams whose changes could not follow their table are copied again now, in a new
          // snapshot, then every LOG_BASED stream reads on to the new end of the WAL: the run
          // ends with the warehouse equal to the source. Plans are made again: columns changed.
          copyPasses += 1;
          await opened.close();
          session = undefined;
          plans = (await planShared(state)).plans;
          const gone = [...recopy].filter((id) => !plans.some((p) => p.schema.streamId === id));
          if (gone.length > 0) {
            throw new SchemaError(
              `${gone.join(", ")}: the source table no longer exists under its name (dropped, renamed or moved), so it cannot be copied again; select the table under its new name (a new stream), or deselect this one`,
            );
          }
          continue;
        } catch (error) {
          if (!retriableInRun(error) || options.signal?.aborted === true) throw error;
          // A commit since the last failure: this is a new outage, with a budget of its own.
          if (commits.count > commitsAtLastFailure) retries = 0;
          commitsAtLastFailure = commits.count;
          retries += 1;
          if (retries > policy.maxRetries) throw error;
          const delay = retryDelayMs(policy, retries);
          const unfinished = plans.map((p) => p.schema.streamId).filter((id) => !finished.has(id));
          observer({
            type: "retrying",
            scope: "streams",
            // Every copy done: it was the change stream (LOG_BASED) that broke.
            streamIds:
              unfinished.length > 0
                ? unfinished
                : plans.filter((p) => p.replicationMethod === "LOG_BASED").map((p) => p.schema.streamId),
            retry: retries,
            maxRetries: policy.maxRetries,
            delaySeconds: delay / 1000,
            error: messageOf(error),
          });
          const closing = session?.close().catch(() => undefined);
          session = undefined;
          // NOTE: connections that died (the server restarted under them) may never answer a
          // goodbye (see abandonClient in postgres-connection.ts): the next try does not wait on
          // them longer than this.
          await Promise.race([
            closing,
            new Promise((resolve) => setTimeout(resolve, SESSION_CLOSE_MS).unref()),
          ]);
          // Every reader and writer has stopped: what is left in the spool was never loaded.
          fs.rmSync(options.spoolDir, { recursive: true, force: true });
          fs.mkdirSync(options.spoolDir, { recursive: true });
          if (!(await waitBeforeRetry(delay, options.signal))) throw error;
        }
      }
    },
    async () => {
      await session?.close().catch(() => undefined);
      await options.extractor.close().catch(() => undefined);
      await options.loader.close().catch(() => undefined);
      fs.rmSync(options.spoolDir, { recursive: true, force: true });
    },
  );
}

/**
 * Writes `batch`, and writes it again after a transient failure where the loader allows it
 * (`Loader.retryableWrites`), up to the policy's retries; `signal` cuts a wait short.
 */
async function writeBatch(
  options: RunPipelineOptions,
  writer: StreamWriter,
  batch: RecordBatch,
  signal: AbortSignal | undefined,
): Promise<void> {
  const policy = options.retry ?? NO_RETRIES;
  for (let retry = 1; ; retry++) {
    try {
      await writer.write(batch);
      return;
    } catch (error) {
      if (options.loader.retryableWrites !== true || !retriableInRun(error) || retry > policy.maxRetries)
        throw error;
      const delay = retryDelayMs(policy, retry);
      options.observer({
        type: "retrying",
        scope: "batch",
        streamIds: [batch.streamId],
        retry,
        maxRetries: policy.maxRetries,
        delaySeconds: delay / 1000,
        error: messageOf(error),
      });
      if (!(await waitBeforeRetry(delay, signal))) throw error;
    }
  }
}

/**
 * Drops the staging tables a stopped run of this state id left (see `staging-record.ts`), before
 * any stream starts. One that cannot be dropped now stays recorded, with a warning, for the next.
 */
async function dropLeftStaging(options: RunPipelineOptions, commits: CommitQueue): Promise<void> {
  const { loader } = options;
  if (!loader.dropStaging) return;
  for (const [streamId, table] of recordedStaging(commits.state)) {
    try {
      await loader.dropStaging(table);
    } catch (error) {
      options.observer({
        type: "warning",
        message: `${streamId}: could not drop ${table.schema}.${table.table}, left by a stopped run (the next run tries again): ${messageOf(error)}`,
      });
      continue;
    }
    await commits.updateStaging((state) => forgetStaging(state, streamId));
  }
}

/**
 * Commits bookmarks of streams running at once one after another: each write stores the whole
 * state, so two in flight could land out of order and the older one would hide the newer.
 */
class CommitQueue {
  private last: Promise<void> = Promise.resolve();
  /** State writes that succeeded so far: bookmarks here, CDC positions counted by `runChanges`. */
  count = 0;

  constructor(
    private readonly options: RunPipelineOptions,
    readonly state: SingerState,
    /** The state stored when the run began. */
    private readonly stored: SingerState | undefined,
  ) {}

  /** Stores `bookmark`; `swapped`: the stream's staging table was swapped in, forget it. */
  commit(
    streamId: string,
    bookmark: SingerState["bookmarks"][string],
    options: { swapped?: boolean } = {},
  ): Promise<void> {
    return this.update((state) => {
      state.bookmarks[streamId] = bookmark;
      if (options.swapped === true) forgetStaging(state, streamId);
    }).then(() => {
      this.count += 1;
      this.options.observer({ type: "state-committed", streamId, bookmark });
    });
  }

  /**
   * Records or forgets a staging table (`staging-record.ts`) and stores that alone: bookmarks a
   * `--full-refresh` dropped from the run's state stay stored until the run commits new ones.
   */
  updateStaging(change: (state: SingerState) => void): Promise<void> {
    return this.update(change, (state) => {
      const stored = structuredClone(state);
      for (const [id, bookmark] of Object.entries(this.stored?.bookmarks ?? {})) {
        if (!(id in stored.bookmarks)) stored.bookmarks[id] = bookmark;
      }
      return stored;
    });
  }

  /** Changes the state and stores it (or what `toStore` makes of it), after every write before it. */
  private update(
    change: (state: SingerState) => void,
    toStore: (state: SingerState) => SingerState = (state) => state,
  ): Promise<void> {
    const next = this.last.then(async () => {
      change(this.state);
      await this.options.stateStore.set(this.options.stateId, toStore(this.state));
    });
    // A failed write fails its own stream; the queue goes on for the others' rollback paths.
    this.last = next.catch(() => undefined);
    return next;
  }
}

/**
 * One stream's read into its writer. `stats` carries what earlier tries of the stream loaded
 * (incremental rows stay in the table; a replaced table starts from nothing) and is updated as
 * batches load.
 */
async function runStream(
  options: RunPipelineOptions,
  session: ExtractSession,
  plan: StreamPlan,
  commits: CommitQueue,
  runSignal: AbortSignal,
  stats: StreamStats,
): Promise<void> {
  const streamId = plan.schema.streamId;
  const started = Date.now();
  const earlierSeconds = stats.seconds;
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  runSignal.addEventListener("abort", stop, { once: true });
  if (runSignal.aborted) controller.abort();
  let writer: StreamWriter | undefined;
  let loads: LoadWindow | undefined;
  let began = false;
  const commit = (bookmark: SingerState["bookmarks"][string], swapped = false): Promise<void> =>
    commits.commit(streamId, bookmark, { swapped });
  /** The staging table this stream fills, recorded in the state until it is swapped in or dropped. */
  let staging: StagingTable | undefined;
  try {
    const events = prefetch(
      session.read(plan, commits.state.bookmarks[streamId], controller.signal),
      PREFETCH_BATCHES,
    );
    for await (const event of events) {
      switch (event.type) {
        case "begin": {
          began = true;
          if (event.mode === "replace") {
            // A new copy into a new staging table: what earlier tries loaded is gone with theirs.
            stats.rows = 0;
            stats.bytes = 0;
          }
          const opening = {
            mode: event.mode,
            version: event.version,
            distinctKeys: event.distinctKeys,
            fullRefresh: options.fullRefresh,
          };
          // Recorded before it exists: a run killed from here on leaves it to the next run to drop.
          staging = options.loader.stagingOf?.(plan.schema, opening);
          if (staging) {
            const table = staging;
            await commits.updateStaging((state) => recordStaging(state, streamId, table));
          }
          writer = await options.loader.openStream(plan.schema, opening);
          for (const message of writer.warnings ?? []) options.observer({ type: "warning", message });
          loads = new LoadWindow(writer.concurrentWrites ?? 1, stop);
          options.observer({
            type: "stream-started",
            streamId,
            method: plan.replicationMethod,
            mode: event.mode,
            ...(event.parts !== undefined && event.parts > 1 ? { parts: event.parts } : {}),
          });
          break;
        }
        case "batch": {
          if (!writer || !loads)
            throw new PipelineError(`${streamId}: the extractor sent a batch before the stream began`);
          const { batch } = event;
          const into = writer;
          // A mapping's filter may leave a batch with no rows: nothing to load, its bookmark holds.
          if (batch.rowCount === 0) await fs.promises.rm(batch.path, { force: true });
          else
            await loads.add(async () => {
              const t = Date.now();
              await writeBatch(options, into, batch, controller.signal);
              await fs.promises.rm(batch.path, { force: true });
              stats.rows += batch.rowCount;
              stats.bytes += batch.byteCount;
              options.observer({
                type: "batch-loaded",
                streamId,
                rows: batch.rowCount,
                bytes: batch.byteCount,
                totalRows: stats.rows,
                seconds: (Date.now() - t) / 1000,
              });
            });
          // A bookmark follows every batch before it: all of them durable first.
          if (event.bookmark) {
            await loads.drain();
            await commit(event.bookmark);
          }
          break;
        }
        case "warning":
          options.observer({ type: "warning", message: event.message });
          break;
        case "end":
          if (!writer || !loads)
            throw new PipelineError(`${streamId}: the extractor ended a stream it never began`);
          await loads.drain();
          await writer.finish();
          writer = undefined;
          staging = undefined;
          await commit(event.bookmark, true);
          break;
      }
    }
    // A failed load stops the reader, which may then end quietly: the failure is the stream's.
    await loads?.drain();
  } catch (error) {
    controller.abort();
    await loads?.settle();
    await writer?.abort().catch(() => undefined);
    if (staging) {
      // None of the copy was kept. Dropped again to know it is gone (`abort` does not say), then
      // forgotten; if that fails too, the record stays for the next run.
      stats.rows = 0;
      stats.bytes = 0;
      const table = staging;
      await options.loader
        .dropStaging?.(table)
        .then(() => commits.updateStaging((state) => forgetStaging(state, streamId)))
        .catch(() => undefined);
    }
    // The reader stopped because a load failed: that failure is what went wrong.
    throw loads?.failed?.error ?? error;
  } finally {
    runSignal.removeEventListener("abort", stop);
  }
  stats.seconds = earlierSeconds + (Date.now() - started) / 1000;
  // A LOG_BASED stream with a position has nothing to copy: its changes come in `runChanges`.
  if (began) options.observer({ type: "stream-finished", streamId, ...stats });
}

/**
 * Change data capture for the LOG_BASED streams, after their copies. Per checkpoint, in this
 * order: the batches before it are loaded, the position is committed as every stream's `lsn`,
 * then the source is told (the slot may then drop that WAL). A stop (SIGTERM, or the WAL end in
 * batch mode) ends the reader at a checkpoint, so nothing read is lost.
 */
async function runChanges(
  options: RunPipelineOptions,
  session: ExtractSession,
  plans: StreamPlan[],
  state: SingerState,
  streams: Record<string, StreamStats>,
  commits: CommitQueue,
): Promise<Set<string>> {
  /** Streams whose changes stopped: copied again before any change applies to them again. */
  const recopy = new Set<string>();
  if (!session.readChanges) {
    throw new PipelineError(`${options.extractorName} cannot read changes: LOG_BASED is not supported by it`);
  }
  const started = Date.now();
  const writers = new Map<string, StreamWriter>();
  const open = async (schema: StreamPlan["schema"]): Promise<void> => {
    const bookmark = state.bookmarks[schema.streamId];
    const writer = await options.loader.openStream(schema, {
      mode: "incremental",
      version: bookmark?.version ?? Date.now(),
      distinctKeys: false,
    });
    writers.set(schema.streamId, writer);
    for (const message of writer.warnings ?? []) options.observer({ type: "warning", message });
  };
  const statsOf = (streamId: string): StreamStats => {
    const existing = streams[streamId] ?? { rows: 0, bytes: 0, seconds: 0 };
    streams[streamId] = existing;
    return existing;
  };
  const writerOf = (streamId: string): StreamWriter => {
    const writer = writers.get(streamId);
    if (!writer)
      throw new PipelineError(`${streamId}: the extractor sent changes of a stream it did not plan`);
    return writer;
  };
  // The reader stops cleanly on this signal (a last checkpoint), so it gets its own: the run's
  // signal must not also tear the loader down mid-batch.
  const stop = new AbortController();
  const onStop = (): void => stop.abort();
  options.signal?.addEventListener("abort", onStop, { once: true });
  if (options.signal?.aborted) stop.abort();
  try {
    for (const plan of plans) {
      await open(plan.schema);
      options.observer({
        type: "stream-started",
        streamId: plan.schema.streamId,
        method: "LOG_BASED",
        mode: "incremental",
      });
    }
    const bookmarks = Object.fromEntries(
      plans.map((p) => [p.schema.streamId, state.bookmarks[p.schema.streamId] ?? {}]),
    );
    const events = prefetch(
      session.readChanges(plans, bookmarks, { follow: options.follow ?? false, signal: stop.signal }),
      PREFETCH_BATCHES,
    );
    for await (const event of events) {
      switch (event.type) {
        case "batch": {
          const { batch } = event;
          const t = Date.now();
          await writeBatch(options, writerOf(batch.streamId), batch, options.signal);
          await fs.promises.rm(batch.path, { force: true });
          const stats = statsOf(batch.streamId);
          stats.rows += batch.rowCount;
          stats.bytes += batch.byteCount;
          options.observer({
            type: "batch-loaded",
            streamId: batch.streamId,
            rows: batch.rowCount,
            bytes: batch.byteCount,
            totalRows: stats.rows,
            seconds: (Date.now() - t) / 1000,
          });
          break;
        }
        case "schema": {
          // A column was added at the source: the loader adds it before the next batch.
          await writerOf(event.schema.streamId).finish();
          await open(event.schema);
          break;
        }
        case "truncate":
          for (const streamId of event.streamIds) {
            const writer = writerOf(streamId);
            if (!writer.truncate) {
              throw new PipelineError(
                `${streamId} was truncated at the source, and ${options.loaderName} cannot apply a truncate; the state stays before it`,
              );
            }
            await writer.truncate(event.at);
          }
          break;
        case "checkpoint": {
          advanceLogPosition(
            state,
            plans.map((plan) => plan.schema.streamId).filter((id) => !recopy.has(id)),
            event.position,
          );
          if (event.lagBytes !== undefined) {
            for (const plan of plans) statsOf(plan.schema.streamId).slotLagBytes = event.lagBytes;
          }
          await options.stateStore.set(options.stateId, state);
          commits.count += 1;
          options.observer({
            type: "changes-committed",
            position: event.position,
            ...(event.lagBytes !== undefined ? { lagBytes: event.lagBytes } : {}),
          });
          await session.acknowledge?.(event.position);
          break;
        }
        case "warning":
          options.observer({ type: "warning", message: event.message });
          break;
        case "recopy": {
          options.observer({
            type: "warning",
            message: `${event.streamId}: ${event.reason}; its changes stop here and the table is copied again`,
          });
          // Committed before any later checkpoint lets the source recycle the changes this
          // stream did not apply: without a position, the stream is copied whole, whatever
          // happens to this run.
          recopy.add(event.streamId);
          const { lsn: _lsn, ...rest } = state.bookmarks[event.streamId] ?? {};
          state.bookmarks[event.streamId] = rest;
          await options.stateStore.set(options.stateId, state);
          // The reader ends at its next transaction boundary, so that the copy comes soon (in
          // follow mode, the stream would otherwise wait for the process to stop).
          stop.abort();
          break;
        }
      }
    }
    for (const writer of writers.values()) await writer.finish();
    writers.clear();
  } catch (error) {
    for (const writer of writers.values()) await writer.abort().catch(() => undefined);
    throw error;
  } finally {
    options.signal?.removeEventListener("abort", onStop);
  }
  const seconds = (Date.now() - started) / 1000;
  for (const plan of plans) {
    const stats = statsOf(plan.schema.streamId);
    stats.seconds += seconds;
    options.observer({ type: "stream-finished", streamId: plan.schema.streamId, ...stats });
  }
  return recopy;
}
