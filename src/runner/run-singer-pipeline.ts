import fs from "node:fs";
import path from "node:path";
import { PassThrough } from "node:stream";
import { PipelineError } from "../errors.js";
import type {
  ExternalTap,
  ExternalTarget,
  Extractor,
  Loader,
  Mapper,
  StreamPlan,
} from "../connectors/connector.js";
import { runSingerTap } from "../connectors/singer/singer-tap.js";
import { runSingerTarget } from "../connectors/singer/singer-target.js";
import type { Catalog } from "../protocol/catalog.js";
import { readSingerMessages, type ReadMessage } from "../protocol/singer-reader.js";
import { SingerWriter } from "../protocol/singer-writer.js";
import { refreshedState, toSingerState, type SingerState } from "../protocol/state.js";
import { recordedRun, type RecordedRunOptions } from "./recorded-run.js";
import { withSlotSharers } from "./with-slot-sharers.js";
import type { RunSummary, StreamStats } from "./run-events.js";

export interface RunSingerPipelineOptions extends RecordedRunOptions {
  /** A built-in extractor or an external tap (one with `externalTap`). */
  extractor: Extractor;
  /** A built-in loader or an external target (one with `externalTarget`); not both built in without mappers. */
  loader: Loader;
  /** Mappings between the tap and the target, in order (Meltano's mappers). */
  mappers?: Mapper[];
  /** Discovery and selection, called under the state lock: the catalog given to the tap and its plans. */
  plan: () => Promise<{ catalog: Catalog; plans: StreamPlan[]; unselectedLogBased?: StreamPlan[] }>;
  /** Start the run's streams without their stored bookmarks; other streams keep theirs. */
  fullRefresh: boolean;
  /** A folder of this run's own for spool files; removed when the run ends. */
  spoolDir: string;
  /** A built-in loader fed by an external tap gets batches of this many rows or bytes. */
  maxBatchRows?: number;
  maxBatchBytes?: number;
}

/**
 * A run with an external Singer tap or target on either side, or mappings between, as Meltano
 * runs one: Singer messages flow from the tap (a process, or a built-in extractor speaking
 * Singer) through the mappings to the target (a process, or a built-in loader reading Singer),
 * and a state is committed only once the target has said the data before it is durable: a
 * built-in loader when its batches are written, an external target when it prints the state
 * back on its stdout. Whatever fails (a tap, mapper or target exiting non-zero, a malformed
 * line), the state stays at the last such point.
 *
 * Memory stays bounded whichever side is slower: the tap's stdout is read only when the target
 * side takes the next message, and writes to a target's stdin wait for the pipe to drain.
 */
export async function runSingerPipeline(options: RunSingerPipelineOptions): Promise<RunSummary> {
  const { stateStore, observer } = options;
  const ends = externalEnds(options.extractor, options.loader, (options.mappers ?? []).length > 0);
  return recordedRun(
    options,
    async (streams) => {
      const { catalog, plans, unselectedLogBased } = await options.plan();
      const found = await stateStore.get(options.stateId);
      // A built-in tap reads the pipeline's slot: the LOG_BASED streams `--select` left out too.
      const shared = ends.tap ? { plans } : withSlotSharers(plans, unselectedLogBased ?? [], found);
      const sharers = shared.plans.slice(plans.length);
      observer({
        type: "run-started",
        runId: options.runId,
        stateId: options.stateId,
        streams: shared.plans.map((p) => p.schema.streamId),
      });
      if (shared.warning) observer({ type: "warning", message: shared.warning });
      await options.loader.test();
      // A tap hands back the bookmarks it was given for streams it does not sync, so the other
      // streams keep theirs through a refresh too.
      const stored = options.fullRefresh
        ? refreshedState(
            found,
            plans.map((p) => p.schema.streamId),
          )
        : found;
      fs.mkdirSync(options.spoolDir, { recursive: true });
      const commit = async (stateJson: string): Promise<void> => {
        const state = toSingerState(JSON.parse(stateJson) as unknown);
        await stateStore.set(options.stateId, state);
        observer({ type: "state-committed", streamId: "*", bookmark: state });
      };
      await moveMessages(options, ends, catalog, stored, commit, streams, sharers);
      for (const [streamId, stats] of Object.entries(streams)) {
        observer({ type: "stream-finished", streamId, ...stats });
      }
    },
    async () => {
      await options.extractor.close().catch(() => undefined);
      await options.loader.close().catch(() => undefined);
      fs.rmSync(options.spoolDir, { recursive: true, force: true });
    },
  );
}

/** The external Singer processes of a run: a target, a tap, both, or (with mappers) neither. */
interface ExternalEnds {
  target: ExternalTarget | undefined;
  tap: ExternalTap | undefined;
}

function externalEnds(extractor: Extractor, loader: Loader, mapped: boolean): ExternalEnds {
  const tap = extractor.externalTap;
  const target = loader.externalTarget;
  if (!tap && !target && !mapped) {
    throw new PipelineError(
      "runSingerPipeline needs an external tap or target, or mappers; use runPipeline for built-ins",
    );
  }
  return { target, tap };
}

async function moveMessages(
  options: RunSingerPipelineOptions,
  ends: ExternalEnds,
  catalog: Catalog,
  state: SingerState | undefined,
  commit: (stateJson: string) => Promise<void>,
  streams: Record<string, StreamStats>,
  sharers: StreamPlan[],
): Promise<void> {
  const { extractor, loader } = options;
  const mappers = options.mappers ?? [];
  const started = Date.now();
  const count = (streamId: string, bytes: number): void => {
    const stats = (streams[streamId] ??= { rows: 0, bytes: 0, seconds: 0 });
    stats.rows += 1;
    stats.bytes += bytes;
    stats.seconds = (Date.now() - started) / 1000;
  };
  const stopped = (): void => {
    if (options.signal?.aborted) throw new PipelineError("the run was stopped before it finished");
  };
  const signalOption = options.signal ? { signal: options.signal } : {};
  const tapOptions = {
    extractor,
    catalog,
    state,
    // A folder of the tap's own: it removes it when it ends, while a built-in target may still
    // be loading from the run's.
    spoolDir: path.join(options.spoolDir, "tap"),
    stateId: options.stateId,
    sharers,
    ...signalOption,
  };

  /** The tap's messages (rows counted as they leave it), through every mapping in order. */
  const mappedMessages = (): AsyncIterable<ReadMessage> => {
    const tap = ends.tap;
    async function* counted(): AsyncGenerator<ReadMessage> {
      const source = tap
        ? tap.messages({ catalog, state, ...signalOption })
        : builtinTapMessages(tapOptions, options.extractorName);
      for await (const read of source) {
        stopped();
        if (read.message.type === "RECORD") count(read.message.stream, read.text.length);
        yield read;
      }
    }
    return mappers.reduce<AsyncIterable<ReadMessage>>(
      (messages, mapper) => mapper.map(messages, signalOption),
      counted(),
    );
  };

  if (ends.target) {
    const target = ends.target.start({ onState: commit });
    try {
      if (ends.tap || mappers.length > 0) {
        for await (const { text } of mappedMessages()) {
          stopped();
          await target.writer.line(text);
        }
      } else {
        // A built-in tap writes straight into the target: nothing to parse on the way.
        await runSingerTap({ ...tapOptions, writer: new CountingWriter(target.writer, count) });
      }
    } catch (error) {
      const explained = await target.explain(error);
      await target.stop();
      throw explained;
    }
    await target.finish();
    return;
  }

  await runSingerTarget(mappedMessages(), {
    loader,
    inputName: mappers.length > 0 ? `mapping ${mappers.at(-1)!.name}` : options.extractorName,
    spoolDir: options.spoolDir,
    emitState: commit,
    warn: (message) => options.observer({ type: "warning", message }),
    maxBatchRows: options.maxBatchRows ?? 100_000,
    maxBatchBytes: options.maxBatchBytes ?? 64 * 1024 * 1024,
  });
}

/**
 * A built-in extractor's Singer messages as a stream to read (for the mappings after it): its
 * lines go through a pipe, so the tap waits while the mappings and the target are busy.
 */
async function* builtinTapMessages(
  options: Omit<Parameters<typeof runSingerTap>[0], "writer">,
  pluginName: string,
): AsyncGenerator<ReadMessage> {
  const pipe = new PassThrough({ highWaterMark: 1024 * 1024 });
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  const tap = runSingerTap({
    ...options,
    signal,
    writer: new SingerWriter(pipe, `${pluginName}'s output`),
  }).then(
    () => {
      pipe.end();
    },
    (error: unknown) => {
      pipe.destroy(error instanceof Error ? error : new Error(String(error)));
    },
  );
  try {
    yield* readSingerMessages(pipe, { pluginName });
  } finally {
    // Stopped early (a mapping or the target failed): the tap stops and its session closes.
    stop.abort();
    pipe.destroy();
    await tap;
  }
}

/**
 * The writer a built-in tap writes to, counting RECORDs per stream on the way. A RECORD line is
 * made by `formatRecordMessage`, so its stream name is the JSON string right after its type.
 */
class CountingWriter extends SingerWriter {
  constructor(
    private readonly inner: SingerWriter,
    private readonly count: (streamId: string, bytes: number) => void,
  ) {
    super({ write: () => true, once: () => undefined, on: () => undefined });
  }

  override async line(text: string): Promise<void> {
    const prefix = '{"type":"RECORD","stream":';
    if (text.startsWith(prefix)) {
      const end = text.indexOf('","record":', prefix.length);
      if (end > 0) this.count(JSON.parse(text.slice(prefix.length, end + 1)) as string, text.length);
    }
    await this.inner.line(text);
  }

  override flush(): Promise<void> {
    return this.inner.flush();
  }
}
