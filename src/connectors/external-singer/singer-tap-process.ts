import { DataError, PipelineError } from "../../errors.js";
import { streamMetadata, type Catalog, type CatalogStream } from "../../protocol/catalog.js";
import { selectedProperties, selectedStreams } from "../../protocol/selection.js";
import { readSingerMessages, type ReadMessage } from "../../protocol/singer-reader.js";
import type { SingerState } from "../../protocol/state.js";
import type { ExternalTap, ExtractSession, Extractor, ReplicationMethod, StreamPlan } from "../connector.js";
import { columnsOfJsonSchema } from "../singer/singer-column-types.js";
import type { ExternalPlugin } from "./external-plugin.js";
import { PluginFiles, SingerProcess } from "./singer-process.js";

/**
 * An external Singer tap (any executable following the Singer spec) as an extractor.
 *
 * `discover` runs `<tap> --config c --discover`; `plan` lists the selected streams of a catalog
 * the project's `select`/`metadata`/`schema` were applied to. A tap decides itself how its
 * streams interleave and what its state looks like, so a run does not go through `open`/`read`
 * (one stream at a time, per-stream bookmarks) but through `messages`: the tap's Singer messages,
 * which `runSingerPipeline` hands to a loader as a Singer target would, committing each STATE
 * once the data before it is durable.
 */
export class SingerTapProcess implements Extractor, ExternalTap {
  /** An external tap: runs take its `messages`. */
  readonly externalTap: ExternalTap = this;

  constructor(readonly plugin: ExternalPlugin) {}

  /** Discovery is the one thing every tap can do without a catalog: it proves config and access. */
  async test(): Promise<void> {
    await this.discover();
  }

  async discover(): Promise<Catalog> {
    const files = new PluginFiles(this.plugin.name);
    try {
      const config = files.write("config.json", this.plugin.config);
      const tap = this.start(["--config", config, "--discover"]);
      const chunks: Buffer[] = [];
      for await (const chunk of tap.stdout) chunks.push(chunk as Buffer);
      await tap.wait();
      return parseCatalog(this.plugin.name, Buffer.concat(chunks).toString("utf8"));
    } finally {
      files.remove();
    }
  }

  async plan(catalog: Catalog): Promise<StreamPlan[]> {
    return selectedStreams(catalog).map((stream) => planOf(stream));
  }

  open(): Promise<ExtractSession> {
    return Promise.reject(
      new PipelineError(
        `${this.plugin.name} is an external Singer tap: its streams are read with messages(), not one at a time`,
      ),
    );
  }

  async close(): Promise<void> {}

  /**
   * Starts `<tap> --config c --catalog k [--state s]` and yields its messages as it prints them.
   * Reading is pulled: while the consumer is busy (a loader writing), stdout is not read, the
   * pipe fills and the tap blocks, so memory stays bounded. When the tap's output ends, its exit
   * status is checked before the last message is taken as complete: a tap that failed throws
   * (with its stderr tail), so nothing after its last good STATE is committed.
   */
  async *messages(options: {
    catalog: Catalog;
    state: SingerState | undefined;
    /** Stops the tap (SIGTERM) and ends the messages with an error: nothing after is committed. */
    signal?: AbortSignal;
  }): AsyncGenerator<ReadMessage> {
    const files = new PluginFiles(this.plugin.name);
    let tap: SingerProcess | undefined;
    const stop = (): void => tap?.stop();
    options.signal?.addEventListener("abort", stop, { once: true });
    try {
      const args = ["--config", files.write("config.json", this.plugin.config)];
      const capabilities = this.plugin.capabilities;
      const propertiesOnly =
        capabilities !== undefined &&
        capabilities.includes("properties") &&
        !capabilities.includes("catalog");
      args.push(propertiesOnly ? "--properties" : "--catalog", files.write("catalog.json", options.catalog));
      if (options.state && (capabilities === undefined || capabilities.includes("state"))) {
        args.push("--state", files.write("state.json", options.state));
      }
      tap = this.start(args);
      const started = tap;
      try {
        yield* readSingerMessages(started.stdout, {
          pluginName: this.plugin.name,
          ...(this.plugin.warn ? { warn: this.plugin.warn } : {}),
        });
      } catch (error) {
        // A bad line: what the tap printed on stderr may say why.
        started.stop();
        if (error instanceof DataError)
          throw new DataError(error.message + started.stderrTail(), { cause: error });
        throw error;
      }
      await started.wait();
      if (options.signal?.aborted)
        throw new PipelineError(`${this.plugin.name} was stopped before it finished`);
    } finally {
      options.signal?.removeEventListener("abort", stop);
      tap?.stop();
      files.remove();
    }
  }

  private start(args: string[]): SingerProcess {
    return new SingerProcess({
      pluginName: this.plugin.name,
      executable: this.plugin.executable,
      args,
      env: this.plugin.env,
      ...(this.plugin.cwd ? { cwd: this.plugin.cwd } : {}),
      stdin: false,
      ...(this.plugin.log
        ? { onStderrLine: (line: string) => this.plugin.log!(`${this.plugin.name}: ${line}`) }
        : {}),
      ...(this.plugin.redact ? { redact: this.plugin.redact } : {}),
    });
  }
}

function parseCatalog(pluginName: string, text: string): Catalog {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new DataError(
      `${pluginName} --discover did not print a JSON catalog: ${text.slice(0, 80).replace(/\s+/g, " ")}`,
      { cause: error },
    );
  }
  const streams = (value as { streams?: unknown } | null)?.streams;
  if (!Array.isArray(streams)) {
    throw new DataError(`${pluginName} --discover printed JSON without a "streams" list`);
  }
  return {
    streams: streams.map((raw: unknown, index) => {
      const stream = raw as Partial<CatalogStream> | null;
      const id = stream?.tap_stream_id ?? stream?.stream;
      if (typeof id !== "string" || typeof stream?.schema !== "object" || stream.schema === null) {
        throw new DataError(
          `${pluginName} --discover: streams[${index}] needs a "tap_stream_id" (or "stream") and a "schema"`,
        );
      }
      return {
        ...stream,
        tap_stream_id: id,
        stream: stream.stream ?? id,
        schema: stream.schema,
        metadata: Array.isArray(stream.metadata) ? stream.metadata : [],
      };
    }),
  };
}

function planOf(stream: CatalogStream): StreamPlan {
  const meta = streamMetadata(stream);
  const keyProperties = (
    (meta["table-key-properties"] as string[] | undefined) ??
    stream.key_properties ??
    []
  ).filter((k): k is string => typeof k === "string");
  const selected = new Set(selectedProperties(stream));
  const properties = Object.fromEntries(
    Object.entries(stream.schema.properties ?? {}).filter(([name]) => selected.has(name)),
  );
  const method = String(
    meta["replication-method"] ?? stream.replication_method ?? "FULL_TABLE",
  ).toUpperCase();
  const replicationKey = meta["replication-key"] ?? stream.replication_key;
  const dash = stream.tap_stream_id.indexOf("-");
  return {
    schema: {
      streamId: stream.tap_stream_id,
      sourceSchema: dash > 0 ? stream.tap_stream_id.slice(0, dash) : "main",
      sourceTable: dash > 0 ? stream.tap_stream_id.slice(dash + 1) : stream.tap_stream_id,
      columns: columnsOfJsonSchema({ ...stream.schema, properties }, keyProperties),
      keyProperties,
    },
    replicationMethod: (["FULL_TABLE", "INCREMENTAL", "LOG_BASED"].includes(method)
      ? method
      : "FULL_TABLE") as ReplicationMethod,
    ...(typeof replicationKey === "string" ? { replicationKey } : {}),
  };
}
