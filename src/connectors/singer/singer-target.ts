import fs from "node:fs";
import path from "node:path";
import { DataError } from "../../errors.js";
import { fileURLToPath } from "node:url";
import { createGunzip } from "node:zlib";
import { JsonObject, parseExactJson, sourceOf, type JsonValue } from "../../protocol/exact-json.js";
import { excerpt, readLines, type ReadMessage } from "../../protocol/singer-reader.js";
import type { BatchMessage, SchemaMessage } from "../../protocol/singer-messages.js";
import type { RecordBatch } from "../batch.js";
import { assertDistinctTables } from "../loader-core/distinct-tables.js";
import type { JsonSchema } from "../../protocol/catalog.js";
import type { Column, StreamSchema } from "../column-type.js";
import type { LoadMode, Loader, OpenStreamOptions, StreamWriter } from "../connector.js";
import { columnsOfJsonSchema } from "./singer-column-types.js";
import { csvField, fieldEncoderFor, FieldError, type FieldEncoder } from "./singer-record-encoder.js";

export interface SingerTargetOptions {
  loader: Loader;
  /** Names the input in messages (`target-duckdb stdin`). */
  inputName: string;
  /** A folder of this run's own for batch files. */
  spoolDir: string;
  /** Prints a state (the STATE message's value, as received) once the data before it is durable. */
  emitState: (stateJson: string) => Promise<void>;
  warn?: (message: string) => void;
  /** A batch is handed to the loader after this many rows... */
  maxBatchRows: number;
  /** ...or this many bytes of CSV. */
  maxBatchBytes: number;
}

/**
 * Runs a built-in loader as a Singer target over messages read from stdin.
 *
 * - SCHEMA declares a stream: its JSON schema becomes sluice columns (`singer-column-types.ts`);
 *   `stream` `<schema>-<table>` names the table as tap-postgres streams do (a stream without `-`
 *   goes to schema `main`, or the loader's `default_target_schema`). A repeated identical SCHEMA
 *   is ignored; a changed one finishes what was written under the old one first (the loader
 *   then adds the new columns). Inside a `replace` load that means the rows so far are swapped
 *   in at the change and the rest are merged (or appended): the table ends complete, but readers
 *   may see it part-loaded meanwhile.
 * - RECORDs are written to spool files in the sluice CSV wire form and handed to the loader in
 *   batches of `maxBatchRows` / `maxBatchBytes`. A RECORD before its stream's SCHEMA is an error.
 *   A record whose key already appears in the pending batch starts a new batch, so that each batch
 *   the loader merges holds each key once and the last record of a key always wins.
 * - Table versions, as the Singer spec means them: once a stream has a version (an
 *   ACTIVATE_VERSION, or a RECORD with `version`) its rows record it in `_sdc_table_version`, and
 *   ACTIVATE_VERSION(v) removes the rows of other versions, never rows of v, whenever it comes
 *   (the rule is the loader core's, `StreamTable`). Opening a load with it (pipelinewise-tap-postgres
 *   and SDK taps send it first) stages the stream and swaps it in at the next ACTIVATE_VERSION(v)
 *   or the end of the input, unless the table already holds rows of v (an INCREMENTAL tap keeps
 *   its version across runs): then the rows merge into the table as they come. A RECORD of a
 *   version other than the open load's ends that load first (pipelinewise's later FULL_TABLE
 *   runs send the closing ACTIVATE_VERSION only).
 * - STATE: every pending batch is loaded first, then the state is printed. While a `replace`
 *   stream is open its rows are durable but not yet visible, so states are held back until it is
 *   swapped in, and the latest is printed then. The last state is printed at the end of input.
 * - BATCH (`jsonl`, gzip or not, manifest of `file://` URIs or paths): each line of each file is
 *   a record of the stream, taken as a RECORD would be. Other formats are an error.
 * - A record property the SCHEMA does not declare is ignored, with one warning per stream.
 */
export async function runSingerTarget(
  messages: AsyncIterable<ReadMessage>,
  options: SingerTargetOptions,
): Promise<void> {
  const target = new SingerTarget(options);
  try {
    for await (const { message, line } of messages) {
      switch (message.type) {
        case "SCHEMA":
          await target.schema(message, line);
          break;
        case "RECORD": {
          const stream = target.stream(message.stream, line, "RECORD");
          await target.record(stream, message.record.members, message.version, line);
          break;
        }
        case "STATE":
          await target.state(sourceOf(message.value));
          break;
        case "ACTIVATE_VERSION":
          await target.activateVersion(
            target.stream(message.stream, line, "ACTIVATE_VERSION"),
            message.version,
          );
          break;
        case "BATCH":
          await target.batchFiles(target.stream(message.stream, line, "BATCH"), message, line);
          break;
      }
    }
    await target.finishAll();
  } catch (error) {
    await target.abortAll();
    throw error;
  }
}

/** A bytes property's `contentEncoding`, or its array items' (at any depth). */
function contentEncodingOf(property: JsonSchema | undefined): string | undefined {
  for (let node = property; node !== undefined; node = node.items) {
    if (typeof node.contentEncoding === "string") return node.contentEncoding;
  }
  return undefined;
}

interface PendingBatch {
  path: string;
  handle: fs.promises.FileHandle;
  buffer: string[];
  bufferedChars: number;
  rows: number;
  bytes: number;
  maxRowBytes: number;
  keys: Set<string>;
  extractedAt: Date;
}

interface TargetStream {
  schema: StreamSchema;
  signature: string;
  encoders: FieldEncoder[];
  keyIndexes: number[];
  warnedExtra?: boolean;
  writer?: StreamWriter;
  /** The open load fills a staging table swapped in at its end (its states are held). */
  replacing?: boolean;
  /** The open load's version (`_sdc_table_version` of its rows when `versioned`). */
  version?: number;
  /** The stream's latest version, from ACTIVATE_VERSION or a RECORD; kept across SCHEMA changes. */
  activeVersion?: number;
  batch?: PendingBatch;
}

class SingerTarget {
  private readonly streams = new Map<string, TargetStream>();
  /** The latest state not yet printed, as JSON text. */
  private heldState: string | undefined;
  private nextSequence = 0;
  private fileCounter = 0;

  constructor(private readonly options: SingerTargetOptions) {}

  stream(name: string, line: number, type: string): TargetStream {
    const stream = this.streams.get(name);
    if (!stream) {
      throw new DataError(
        `${this.options.inputName}: line ${line}: ${type} for stream "${name}" before its SCHEMA message`,
      );
    }
    return stream;
  }

  async schema(message: SchemaMessage, line: number): Promise<void> {
    const columns = columnsOfJsonSchema(message.schema, message.keyProperties);
    const names = new Set(columns.map((c) => c.name));
    const missing = message.keyProperties.filter((k) => !names.has(k));
    if (missing.length > 0) {
      throw new DataError(
        `${this.options.inputName}: line ${line}: SCHEMA of "${message.stream}" names key properties that are not among its properties: ${missing.join(", ")}`,
      );
    }
    const dash = message.stream.indexOf("-");
    const schema: StreamSchema = {
      streamId: message.stream,
      sourceSchema: dash > 0 ? message.stream.slice(0, dash) : "main",
      sourceTable: dash > 0 ? message.stream.slice(dash + 1) : message.stream,
      columns,
      keyProperties: message.keyProperties,
    };
    const loader = this.options.loader;
    if (!this.streams.has(message.stream) && loader.tableOf) {
      // The same rule as a run's (loader-core/distinct-tables.ts), for the streams seen so far:
      // a Singer tap names its streams one SCHEMA at a time.
      assertDistinctTables(
        this.options.inputName,
        [...[...this.streams.values()].map((s) => s.schema), schema],
        (each) => loader.tableOf!(each),
      );
    }
    const signature = JSON.stringify([columns, message.keyProperties]);
    const existing = this.streams.get(message.stream);
    if (existing?.signature === signature) return;
    // What was written under the old SCHEMA is finished first; a staged load is swapped in early,
    // and its closing ACTIVATE_VERSION then finds the table holding its version.
    if (existing?.writer) await this.finishStream(existing);
    const activeVersion = existing?.activeVersion;
    this.streams.set(message.stream, {
      ...(activeVersion !== undefined ? { activeVersion } : {}),
      schema,
      signature,
      encoders: columns.map((column) =>
        this.encoderFor(column, message.schema.properties?.[column.name], message.stream, line),
      ),
      keyIndexes: message.keyProperties.map((k) => columns.findIndex((c) => c.name === k)),
    });
  }

  private encoderFor(
    column: Column,
    property: JsonSchema | undefined,
    streamName: string,
    line: number,
  ): FieldEncoder {
    try {
      const contentEncoding = contentEncodingOf(property);
      return fieldEncoderFor(column, contentEncoding !== undefined ? { contentEncoding } : {});
    } catch (error) {
      if (!(error instanceof FieldError)) throw error;
      throw new DataError(
        `${this.options.inputName}: line ${line}: SCHEMA of "${streamName}": ${error.message}`,
        {
          cause: error,
        },
      );
    }
  }

  async record(
    stream: TargetStream,
    record: ReadonlyMap<string, JsonValue>,
    version: number | undefined,
    line: number,
  ): Promise<void> {
    if (version !== undefined) stream.activeVersion = version;
    const wanted = stream.activeVersion;
    // A new version without ACTIVATE_VERSION first: the load of the one before is complete.
    if (stream.writer && wanted !== undefined && wanted !== stream.version) await this.finishStream(stream);
    if (!stream.writer) {
      if (wanted === undefined) await this.open(stream, Date.now());
      else await this.open(stream, wanted, "record");
    }
    const fields: (string | null)[] = [];
    const columns = stream.schema.columns;
    let present = 0;
    for (let i = 0; i < columns.length; i++) {
      const value = record.get(columns[i]!.name);
      if (value !== undefined) present += 1;
      if (value === undefined || value === null) {
        fields.push(null);
        continue;
      }
      try {
        fields.push(stream.encoders[i]!(value));
      } catch (error) {
        if (error instanceof FieldError) {
          throw new DataError(
            `${this.options.inputName}: line ${line}: stream "${stream.schema.streamId}": ${error.message}`,
            {
              cause: error,
            },
          );
        }
        throw error;
      }
    }
    if (present < record.size && !stream.warnedExtra) {
      stream.warnedExtra = true;
      const extra = [...record.keys()].filter((k) => !columns.some((c) => c.name === k));
      this.options.warn?.(
        `${this.options.inputName}: line ${line}: stream "${stream.schema.streamId}" has properties its SCHEMA does not declare (${extra.slice(0, 5).join(", ")}); they are not loaded`,
      );
    }
    let key: string | undefined;
    if (!stream.replacing && stream.keyIndexes.length > 0) {
      key = stream.keyIndexes.map((i) => (fields[i] === null ? "\u0000" : fields[i])).join("\u0001");
      if (stream.batch?.keys.has(key)) await this.flushStream(stream);
    }
    const text = fields.map(csvField).join(",") + "\n";
    const batch = (stream.batch ??= await this.newBatch(stream));
    const bytes = Buffer.byteLength(text);
    batch.buffer.push(text);
    batch.bufferedChars += text.length;
    batch.rows += 1;
    batch.bytes += bytes;
    if (bytes - 1 > batch.maxRowBytes) batch.maxRowBytes = bytes - 1;
    if (key !== undefined) batch.keys.add(key);
    if (batch.bufferedChars >= 256 * 1024) await this.writeBuffer(batch);
    if (batch.rows >= this.options.maxBatchRows || batch.bytes >= this.options.maxBatchBytes) {
      await this.flushStream(stream);
    }
  }

  async batchFiles(stream: TargetStream, message: BatchMessage, line: number): Promise<void> {
    const where = `${this.options.inputName}: line ${line}: BATCH of "${message.stream}"`;
    const { format, compression } = message.encoding;
    if (
      format !== "jsonl" ||
      (compression !== undefined && compression !== "gzip" && compression !== "none")
    ) {
      throw new DataError(
        `${where}: encoding ${format}${compression ? `/${compression}` : ""} is not supported (jsonl, gzip or none)`,
      );
    }
    for (const uri of message.manifest) {
      const file = uri.startsWith("file://") ? fileURLToPath(uri) : uri;
      const raw = fs.createReadStream(file);
      const input = compression === "gzip" ? raw.pipe(createGunzip()) : raw;
      const name = `${where}: ${file}`;
      try {
        for await (const { text, line: fileLine } of readLines(input, { pluginName: name })) {
          let value;
          try {
            value = parseExactJson(text);
          } catch (error) {
            throw new DataError(`${name}: line ${fileLine} is not valid JSON: ${excerpt(text, 0)}`, {
              cause: error,
            });
          }
          if (!(value instanceof JsonObject)) {
            throw new DataError(`${name}: line ${fileLine} is not a JSON object: ${excerpt(text, 0)}`);
          }
          await this.record(stream, value.members, undefined, line);
        }
      } catch (error) {
        if (error instanceof DataError) throw error;
        throw new DataError(`${name}: ${(error as Error).message}`, { cause: error });
      } finally {
        raw.destroy();
      }
    }
  }

  async state(json: string): Promise<void> {
    for (const stream of this.streams.values()) await this.flushStream(stream);
    this.heldState = json;
    await this.emitHeldState();
  }

  /** Rows of other versions than `version` leave the stream's table; rows of `version` stay. */
  async activateVersion(stream: TargetStream, version: number): Promise<void> {
    stream.activeVersion = version;
    if (stream.writer && stream.version === version) {
      // The close of the open load: a staged one is swapped in, else the rest is deleted.
      await this.flushStream(stream);
      await this.versionActivated(stream);
      await this.finishStream(stream);
      return;
    }
    if (stream.writer) {
      // A new version while another's load is open (a source TRUNCATE in a change stream):
      // that load is complete, and every row it wrote is of another version now.
      await this.finishStream(stream);
      await this.open(stream, version, "record");
      await this.versionActivated(stream);
      return;
    }
    await this.open(stream, version, "activate");
    if (!stream.replacing) await this.versionActivated(stream);
  }

  async finishAll(): Promise<void> {
    for (const stream of this.streams.values()) if (stream.writer) await this.finishStream(stream);
    await this.emitHeldState();
  }

  async abortAll(): Promise<void> {
    for (const stream of this.streams.values()) {
      if (stream.batch) {
        await stream.batch.handle.close().catch(() => undefined);
        stream.batch = undefined;
      }
      await stream.writer?.abort().catch(() => undefined);
      stream.writer = undefined;
    }
  }

  private async open(
    stream: TargetStream,
    version: number,
    tableVersion?: OpenStreamOptions["tableVersion"],
  ): Promise<void> {
    const mode: LoadMode = "incremental";
    const writer = await this.options.loader.openStream(stream.schema, {
      mode,
      version,
      distinctKeys: false,
      ...(tableVersion ? { tableVersion } : {}),
    });
    stream.writer = writer;
    for (const message of writer.warnings ?? []) this.options.warn?.(message);
    stream.replacing = writer.replaces ?? false;
    stream.version = version;
  }

  private async versionActivated(stream: TargetStream): Promise<void> {
    const writer = stream.writer!;
    if (!writer.activateVersion) {
      if (stream.replacing) return;
      throw new DataError(
        `${this.options.inputName}: ACTIVATE_VERSION of "${stream.schema.streamId}": this loader cannot remove the rows of other versions`,
      );
    }
    await writer.activateVersion();
  }

  private async finishStream(stream: TargetStream): Promise<void> {
    await this.flushStream(stream);
    const writer = stream.writer;
    stream.writer = undefined;
    await writer?.finish();
    await this.emitHeldState();
  }

  /** Prints the held state unless a replace stream is open (its rows are not visible yet). */
  private async emitHeldState(): Promise<void> {
    if (this.heldState === undefined) return;
    for (const stream of this.streams.values()) {
      if (stream.writer && stream.replacing) return;
    }
    const json = this.heldState;
    this.heldState = undefined;
    await this.options.emitState(json);
  }

  private async newBatch(stream: TargetStream): Promise<PendingBatch> {
    this.fileCounter += 1;
    const safe = stream.schema.streamId.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 60);
    const file = path.join(this.options.spoolDir, `${safe}-${this.fileCounter}.csv`);
    return {
      path: file,
      handle: await fs.promises.open(file, "w"),
      buffer: [],
      bufferedChars: 0,
      rows: 0,
      bytes: 0,
      maxRowBytes: 0,
      keys: new Set(),
      extractedAt: new Date(),
    };
  }

  private async writeBuffer(batch: PendingBatch): Promise<void> {
    if (batch.buffer.length === 0) return;
    const text = batch.buffer.join("");
    batch.buffer = [];
    batch.bufferedChars = 0;
    await batch.handle.write(text);
  }

  /** Hands the pending batch to the loader; resolves once it is durable. */
  private async flushStream(stream: TargetStream): Promise<void> {
    const pending = stream.batch;
    if (!pending) return;
    stream.batch = undefined;
    try {
      await this.writeBuffer(pending);
    } finally {
      await pending.handle.close();
    }
    const batch: RecordBatch = {
      streamId: stream.schema.streamId,
      path: pending.path,
      columns: stream.schema.columns.map((c) => c.name),
      rowCount: pending.rows,
      byteCount: pending.bytes,
      maxRowBytes: pending.maxRowBytes,
      extractedAt: pending.extractedAt,
      sequenceBase: this.allocateSequence(pending.rows),
    };
    try {
      await stream.writer!.write(batch);
    } finally {
      await fs.promises.rm(pending.path, { force: true });
    }
  }

  private allocateSequence(rows: number): number {
    const base = Math.max(Date.now() * 1000, this.nextSequence);
    this.nextSequence = base + rows;
    return base;
  }
}
