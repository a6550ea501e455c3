import type { Catalog } from "../protocol/catalog.js";
import type { StreamBookmark } from "../protocol/state.js";
import type { RecordBatch } from "./batch.js";
import type { StreamSchema } from "./column-type.js";

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
  | { type: "begin"; mode: LoadMode; version: number; distinctKeys: boolean }
  | { type: "batch"; batch: RecordBatch; bookmark?: StreamBookmark }
  | { type: "end"; bookmark: StreamBookmark };

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
  /** Reads one stream from where `bookmark` says it stopped. */
  read(
    plan: StreamPlan,
    bookmark: StreamBookmark | undefined,
    signal: AbortSignal,
  ): AsyncIterable<StreamEvent>;
  close(): Promise<void>;
}

export interface Extractor {
  /** Connects and checks access; throws a ConnectionError or ConfigError that says what is wrong. */
  test(): Promise<void>;
  discover(): Promise<Catalog>;
  /** Turns a selected catalog into plans, checking replication keys exist (ConfigError if not). */
  plan(catalog: Catalog): Promise<StreamPlan[]>;
  /** Opens a read session (one consistent snapshot for the run where the source allows). */
  open(options: { spoolDir: string }): Promise<ExtractSession>;
  close(): Promise<void>;
}

export interface StreamWriter {
  /** Resolves once the batch is durable (in `replace` mode: durable but not yet visible). */
  write(batch: RecordBatch): Promise<void>;
  /** Called after the last batch; in `replace` mode swaps the new table in atomically. */
  finish(): Promise<void>;
  /** Called when the stream failed; leaves what was visible before untouched. */
  abort(): Promise<void>;
}

export interface OpenStreamOptions {
  mode: LoadMode;
  version: number;
  distinctKeys: boolean;
}

export interface Loader {
  test(): Promise<void>;
  /** Creates or evolves the target table for the stream and returns its writer. */
  openStream(schema: StreamSchema, options: OpenStreamOptions): Promise<StreamWriter>;
  close(): Promise<void>;
}

interface PluginDefinitionBase {
  name: string;
  description: string;
  settings: readonly SettingDefinition[];
}

export interface ExtractorDefinition extends PluginDefinitionBase {
  type: "extractor";
  create(config: PluginConfig): Extractor;
}

export interface LoaderDefinition extends PluginDefinitionBase {
  type: "loader";
  /** `projectDir` resolves relative paths in settings. */
  create(config: PluginConfig, context: { projectDir: string }): Loader;
}

export type PluginDefinition = ExtractorDefinition | LoaderDefinition;
