import type { Catalog } from "../protocol/catalog.js";
import type { ReadMessage } from "../protocol/singer-reader.js";
import type { SingerWriter } from "../protocol/singer-writer.js";
import type { SingerState, StreamBookmark } from "../protocol/state.js";
import type { RecordBatch } from "./batch.js";
import type { StreamSchema } from "./column-type.js";
import type { TargetTable } from "./loader-core/distinct-tables.js";
import type { StreamVerifier } from "../verify/stream-verifier.js";
import type { PluginIdentity } from "./plugin-identity.js";
import type { CompiledMapping } from "./stream-maps/stream-maps-config.js";

/**
 * The contract every built-in connector implements. An extractor yields batches of a stream;
 * a loader makes each batch durable before `write` resolves. The runner commits state only
 * after that, and (for CDC) acknowledges the source only after the state is stored:
 * load the batch, commit the state, then acknowledge the source.
 */

export type SettingKind = "string" | "integer" | "boolean" | "array" | "object";

export interface SettingDefinition {
  name: string;
  kind: SettingKind;
  description: string;
  required?: boolean;
  default?: unknown;
  /** Never printed, logged or stored; `sluice config` shows it redacted. */
  secret?: boolean;
  /** Allowed values for a string setting. */
  choices?: readonly string[];
  /** Other names accepted for the same setting (another variant's spelling). */
  aliases?: readonly string[];
  /** A string is accepted for an array setting and split on commas (`filter_schemas: a,b`). */
  commaSeparated?: boolean;
  /**
   * A file or folder the plugin writes on the machine that runs sluice: what lands there is gone
   * with a pod's disk (`sluice deploy` warns).
   */
  localPath?: boolean;
}

/** Settings after the project file, environment overrides and defaults were merged and typed. */
export type PluginConfig = Record<string, unknown>;

export type ReplicationMethod = "FULL_TABLE" | "INCREMENTAL" | "LOG_BASED";

/** One selected stream and how to replicate it, decided from the catalog and its metadata. */
export interface StreamPlan {
  schema: StreamSchema;
  replicationMethod: ReplicationMethod;
  replicationKey?: string;
}

/**
 * What an extractor says about one stream, in order: `begin` once, `batch` any number of times,
 * `end` once. A `batch` with a bookmark may be committed as soon as the loader made it durable;
 * `end` carries the final bookmark.
 */
export type StreamEvent =
  | {
      type: "begin";
      mode: LoadMode;
      version: number;
      distinctKeys: boolean;
      /** How many row ranges the source reads at once for this stream (a large table), if more than one. */
      parts?: number;
    }
  | { type: "batch"; batch: RecordBatch; bookmark?: StreamBookmark }
  | { type: "end"; bookmark: StreamBookmark }
  /** Something the user should know about the stream that does not stop it. */
  | { type: "warning"; message: string };

/**
 * `distinctKeys` on `begin`: no key value appears twice in this run of the stream (true for
 * FULL_TABLE and INCREMENTAL reads of one snapshot, false for change data capture), so a loader
 * may append into a table that was empty when the stream began instead of merging.
 *
 * `replace`: the stream's rows arrive whole (FULL_TABLE); the loader keeps them apart and swaps
 * them in atomically on `finish`. `incremental`: rows are merged (or appended) batch by batch.
 */
export type LoadMode = "replace" | "incremental";

export interface ExtractSession {
  /**
   * Reads one stream from where `bookmark` says it stopped. For a LOG_BASED stream this is its
   * initial copy (a bookmark without `lsn`), consistent with the point its changes start from;
   * the `end` bookmark then carries that `lsn`. A LOG_BASED stream whose bookmark has an `lsn`
   * is not read here but in `readChanges`.
   */
  read(
    plan: StreamPlan,
    bookmark: StreamBookmark | undefined,
    signal: AbortSignal,
  ): AsyncIterable<StreamEvent>;
  /**
   * Change data capture for the LOG_BASED streams (all with an `lsn` bookmark by now), after
   * every `read`. Ends by itself in batch mode; in follow mode when `signal` aborts, after a last
   * checkpoint (a clean stop, nothing lost).
   */
  readChanges?(
    plans: StreamPlan[],
    bookmarks: Record<string, StreamBookmark>,
    options: ChangeReadOptions,
  ): AsyncIterable<ChangeEvent>;
  /**
   * Tells the source that everything up to `position` is durable in the warehouse and in the
   * state store (PostgreSQL may then recycle that WAL). Called by the runner after a checkpoint's
   * state was committed, never before.
   */
  acknowledge?(position: string): Promise<void>;
  /**
   * The replication slot this session reads changes from (LOG_BASED streams planned), set once
   * `open` resolves. The runner records it in the state (`replication_slot`) before any position
   * is stored, so the pipeline's next run reads the same slot.
   */
  readonly replicationSlot?: string;
  close(): Promise<void>;
}

export interface ChangeReadOptions {
  /** Stream until stopped (`sluice run --follow`) instead of stopping at the WAL end. */
  follow: boolean;
  signal: AbortSignal;
}

/**
 * What change data capture yields, in source commit order:
 * - `batch`: changes of one stream (`batch.streamId`) as rows in the wire form of `batch.ts`,
 *   with the CDC columns `_sdc_deleted_at`, `_sdc_sequence` and `_sdc_unchanged` (see there).
 * - `schema`: a stream's columns changed at the source (a column added); the runner reopens
 *   the stream's writer with it before the next batch.
 * - `truncate`: the source tables were truncated at `at` (commit time); the runner asks each
 *   writer to empty its table.
 * - `checkpoint`: every change up to `position` was yielded. Once the runner has loaded the
 *   batches before it, it stores `position` as the `lsn` of every LOG_BASED stream, then calls
 *   `acknowledge(position)`. `lagBytes` is the WAL the source retains for the slot.
 * - `warning`: something the user should know that does not stop the run (slot lag).
 * - `recopy`: the stream's changes can no longer make its table equal the source (the table was
 *   created again, a column's type changed, ...: `reason`); none of its changes follow. The
 *   runner drops the stream's position at once, so that the stream is copied again (in this run
 *   when it can, else in the next) before changes apply to it again.
 */
export type ChangeEvent =
  | { type: "batch"; batch: RecordBatch }
  | { type: "schema"; schema: StreamSchema }
  | { type: "truncate"; streamIds: string[]; at: Date }
  | { type: "checkpoint"; position: string; lagBytes?: number }
  | { type: "warning"; message: string }
  | { type: "recopy"; streamId: string; reason: string };

/**
 * The pipeline change data capture works for: a slot belongs to one pipeline (one state id), so
 * that no run confirms changes another has not stored. Absent fields: the extractor's default
 * (tap-postgres: pipelinewise's slot name, as `sluice tap` without `--state-id` reads).
 */
export interface ChangeCapturePipeline {
  stateId?: string;
  /** The slot the pipeline's state recorded (`replication_slot`): it keeps reading that one. */
  recordedSlot?: string;
  /** The pipeline's stored bookmarks: positions already read tie it to the slot they came from. */
  bookmarks?: Record<string, StreamBookmark>;
}

/** One replication slot as `sluice cdc status` shows it. */
export interface ChangeCaptureSlotStatus {
  slot: string;
  exists: boolean;
  /** The state ids whose pipelines read this slot, as far as the state store tells. */
  stateIds: string[];
  active?: boolean;
  lost?: boolean;
  /** WAL the server keeps for the slot, in bytes. */
  retainedBytes?: number;
  confirmedPosition?: string;
  publication: string;
}

export interface ChangeCaptureStatus {
  slots: ChangeCaptureSlotStatus[];
}

/**
 * A mapping run between a tap and a target (Meltano's `mappers:`): Singer messages in, Singer
 * messages out, in order. Built in (`stream-maps/`) or an external Singer mapper process.
 * States pass through, so a state is still committed only once the target has the data before it.
 */
export interface Mapper {
  /** The mapping's name in the project, in messages. */
  readonly name: string;
  /** A built-in mapping's stream maps, which a run between built-ins applies to batches instead. */
  readonly streamMaps?: CompiledMapping;
  map(messages: AsyncIterable<ReadMessage>, options: { signal?: AbortSignal }): AsyncIterable<ReadMessage>;
}

export interface Extractor {
  /**
   * Connects and checks access; throws a ConnectionError or ConfigError that says what is wrong.
   * Given the plans of a run, also checks what their replication methods need (LOG_BASED:
   * wal_level, privileges, a free slot, keys).
   */
  test(plans?: StreamPlan[]): Promise<void>;
  discover(): Promise<Catalog>;
  /** Turns a selected catalog into plans, checking replication keys exist (ConfigError if not). */
  plan(catalog: Catalog): Promise<StreamPlan[]>;
  /**
   * Opens a read session (one consistent snapshot for the run where the source allows). `plans`
   * and `bookmarks` tell it which LOG_BASED streams need an initial copy, so it can take that
   * snapshot where their changes start.
   */
  open(options: {
    spoolDir: string;
    plans?: StreamPlan[];
    bookmarks?: Record<string, StreamBookmark>;
    /** The loader's `preferredCsvQuote`, for batches of copies; extractors may ignore it. */
    csvQuote?: string;
    /** The loader's `readsCopyText`: copies may be written in COPY text format (wins over `csvQuote`). */
    copyText?: boolean;
    /** The pipeline the session reads for: LOG_BASED reads its slot (its bookmarks are `bookmarks`). */
    pipeline?: Omit<ChangeCapturePipeline, "bookmarks">;
  }): Promise<ExtractSession>;
  /**
   * Change data capture: every replication slot of the source that is sluice's (or pipelinewise's),
   * which of `pipelines` reads each, and how much WAL each holds back.
   */
  changeCaptureStatus?(pipelines: ChangeCapturePipeline[]): Promise<ChangeCaptureStatus>;
  /**
   * Removes what change data capture set up in the source for `pipeline` (its slot, the
   * publication managed for it) and nothing of other pipelines; says what it removed.
   */
  teardownChangeCapture?(pipeline?: ChangeCapturePipeline): Promise<string[]>;
  /** `sluice verify`: checksums of a stream's source table, computed in the source. Optional. */
  verifier?(): StreamVerifier;
  /**
   * How many streams of a run may be read at once (each on its own connection, in the same
   * snapshot). Absent: one at a time.
   */
  readonly maxParallelStreams?: number;
  /**
   * Present when the extractor is an external Singer tap run as a process. Such a tap decides
   * itself how its streams interleave and what its state looks like, so a run does not `open` it
   * and `read` stream by stream but takes its Singer messages (`runSingerPipeline`). Absent (every
   * built-in extractor): runs go through `open`.
   */
  readonly externalTap?: ExternalTap;
  close(): Promise<void>;
}

export interface StreamWriter {
  /** Resolves once the batch is durable (in `replace` mode: durable but not yet visible). */
  write(batch: RecordBatch): Promise<void>;
  /**
   * Whether rows go to a staging table swapped in at `finish` (known once opened: a
   * `tableVersion: "activate"` stream decides it from the table). Absent: as `mode` said.
   */
  readonly replaces?: boolean;
  /**
   * What the user should know about the table once it is opened (columns of another target's
   * table kept with their types, existing-columns.ts), each said once per run. Absent: nothing.
   */
  readonly warnings?: readonly string[];
  /**
   * Singer ACTIVATE_VERSION of this writer's `version` (opened with a `tableVersion`): removes
   * every row of another version, or of none, from the table, durably before resolving; rows of
   * `version` stay. A `replace` does it at `finish` (the swap). Called after the batches before it
   * resolved.
   */
  activateVersion?(): Promise<void>;
  /** Called after the last batch; in `replace` mode swaps the new table in atomically. */
  finish(): Promise<void>;
  /** Called when the stream failed; leaves what was visible before untouched. */
  abort(): Promise<void>;
  /**
   * Change data capture: the source table was truncated at `at`. Removes every row (with
   * `hard_delete`) or sets `_sdc_deleted_at = at` on rows not yet deleted, durably before
   * resolving. Loaders without it cannot apply a truncate; the runner then fails the run,
   * naming the table, before the state moves past it.
   */
  truncate?(at: Date): Promise<void>;
  /**
   * How many `write` calls may run at once (1 when absent). More than one only where batches
   * may land in any order: appends to a table swapped in whole at `finish`. The runner still
   * waits for every earlier batch before it commits a bookmark or calls `finish`.
   */
  readonly concurrentWrites?: number;
}

/** A staging table as the loader named it: its schema (BigQuery: dataset) and table. */
export interface StagingTable {
  schema: string;
  table: string;
}

export interface OpenStreamOptions {
  mode: LoadMode;
  version: number;
  distinctKeys: boolean;
  /**
   * Singer table versions (`sluice target`, ACTIVATE_VERSION). Absent (every run of sluice's own
   * extractors): versions are not kept, but `add_metadata_columns` writes `_sdc_table_version`.
   * - `"record"`: each row records `version` in `_sdc_table_version` (added to a table that lacks
   *   it), so that rows of other versions can be told apart, in this run or a later one
   *   (`StreamWriter.activateVersion`).
   * - `"activate"`: as `"record"`, and the stream begins with ACTIVATE_VERSION(`version`). When the
   *   table holds no row of `version` the stream is a `replace` (staged, swapped in at `finish`,
   *   which removes the other versions' rows atomically); when it does (an INCREMENTAL run
   *   continuing its version), rows go into the table and nothing it holds of `version` is lost.
   */
  tableVersion?: "record" | "activate";
  /**
   * The run reads the stream from the start (`--full-refresh`): with `distinctKeys`, every row of
   * the source comes in this opening. Under `existing_tables: rebuild` such a stream replaces a
   * table another target created. Absent: false.
   */
  fullRefresh?: boolean;
}

export interface Loader {
  test(): Promise<void>;
  /** Creates or evolves the target table for the stream and returns its writer. */
  openStream(schema: StreamSchema, options: OpenStreamOptions): Promise<StreamWriter>;
  /**
   * `sluice verify`: checksums of the table this loader writes for a stream, computed in the
   * warehouse, rows marked deleted (`_sdc_deleted_at`) left out. Optional: without it a loader
   * cannot be verified. Closed by the caller.
   */
  verifier?(): StreamVerifier;
  /**
   * The warehouse table a stream's rows go to, for the runner to refuse two streams of one run
   * landing in the same table before anything is written. Optional: loaders without tables
   * (files) leave it out.
   */
  tableOf?(schema: StreamSchema): TargetTable;
  /**
   * The staging table (`<table>__sluice_new`) a stream opened with `options` fills before it is
   * swapped in, or undefined when it loads into its table directly. The runner records it in the
   * state before `openStream`, so that a run stopped before the swap (SIGKILL, a second Ctrl-C)
   * leaves a record the next run of the same state id removes with `dropStaging`, whatever that
   * run selects. Optional, with `dropStaging`: loaders without tables leave both out.
   */
  stagingOf?(schema: StreamSchema, options: OpenStreamOptions): StagingTable | undefined;
  /** Drops a staging table `stagingOf` named, if it is still there. */
  dropStaging?(table: StagingTable): Promise<void>;
  /**
   * A CSV quote character this loader reads faster than `"` (see `RecordBatch.quote`). The
   * runner asks the extractor to write batches with it; batches may still come with `"`.
   */
  readonly preferredCsvQuote?: string;
  /**
   * Reads batches in PostgreSQL's COPY text format (`RecordBatch.format`) as well as CSV. The
   * runner asks the extractor to write copies so; other batches (CDC) still come as CSV.
   */
  readonly readsCopyText?: boolean;
  /**
   * A writer of this loader whose `write` rejected with a transient error may be given the same
   * batch again, and that leaves the table as one successful write would: the failed write
   * changed nothing (one transaction, rolled back) or repeating it adds nothing (a job that ran
   * is found again by its id), and the writer outlives the failure (its connections still work).
   * The runner then retries the batch in place. Absent (false): a transient failure of a write
   * restarts the stream from its committed state with a new writer, as when the source broke.
   */
  readonly retryableWrites?: boolean;
  /**
   * Present when the loader is an external Singer target run as a process. A target says what is
   * durable by printing back the states it was given, not per batch, so a run does not call
   * `openStream` but writes Singer messages to it (`runSingerPipeline`). Absent (every built-in
   * loader): runs go through `openStream`.
   */
  readonly externalTarget?: ExternalTarget;
  close(): Promise<void>;
}

/** What a run needs of an external Singer tap (`Extractor.externalTap`). */
export interface ExternalTap {
  /**
   * Starts the tap with `catalog` and `state` and yields its messages as it prints them, pulled:
   * while the consumer is busy the tap's output is not read, so memory stays bounded. Throws when
   * the tap failed (its exit status checked before the last message counts) or `signal` stopped
   * it, so that nothing after its last good STATE is committed.
   */
  messages(options: {
    catalog: Catalog;
    state: SingerState | undefined;
    signal?: AbortSignal;
  }): AsyncIterable<ReadMessage>;
}

/** What a run needs of an external Singer target (`Loader.externalTarget`). */
export interface ExternalTarget {
  /**
   * Starts the target. `onState` gets each state it prints back (once the data before it is
   * durable), in order, awaited before the next is read.
   */
  start(options: { onState: (stateJson: string) => Promise<void> }): ExternalTargetRun;
}

/** One running target: write messages with `writer`, then `finish` (or `stop` on failure). */
export interface ExternalTargetRun {
  readonly writer: SingerWriter;
  /** Ends the input and waits for the last states and the exit; throws if the target failed. */
  finish(): Promise<void>;
  /** Stops the target after a failure elsewhere; the state stays where it last left it. */
  stop(): Promise<void>;
  /** The error to report for `error`: the target's own exit status and stderr if it died. */
  explain(error: unknown): Promise<unknown>;
}

interface PluginDefinitionBase {
  name: string;
  description: string;
  settings: readonly SettingDefinition[];
}

export interface ExtractorDefinition extends PluginDefinitionBase {
  type: "extractor";
  /**
   * Imports the connector's code on first use: listing or checking settings loads no driver.
   * `plugin` is the project's plugin it runs as, named in its errors (default: its own name).
   */
  create(config: PluginConfig, context?: { plugin?: PluginIdentity }): Promise<Extractor>;
}

export interface LoaderDefinition extends PluginDefinitionBase {
  type: "loader";
  /**
   * `projectDir` resolves relative paths in settings; `plugin` is the project's plugin it runs
   * as, named in its errors (default: its own name); `warn` is where it says what the user should
   * know that does not stop the run (the run's warnings; none when absent).
   */
  create(
    config: PluginConfig,
    context: { projectDir: string; plugin?: PluginIdentity; warn?: (message: string) => void },
  ): Promise<Loader>;
}

export type PluginDefinition = ExtractorDefinition | LoaderDefinition;
