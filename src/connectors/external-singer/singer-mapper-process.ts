import { readSingerMessages, type ReadMessage } from "../../protocol/singer-reader.js";
import { SingerWriter } from "../../protocol/singer-writer.js";
import type { Mapper } from "../connector.js";
import type { ExternalPlugin } from "./external-plugin.js";
import { PluginFiles, SingerProcess } from "./singer-process.js";

/**
 * An external Singer mapper (meltano-map-transformer installed from its pip_url, or any program
 * that reads Singer messages on stdin and prints Singer messages on stdout) run as Meltano runs
 * one: `<mapper> --config <file>` between the tap and the target. Its config is the mapper's
 * `config` with the mapping's over it.
 *
 * Memory stays bounded: messages are written to its stdin as it drains them, and its stdout is
 * read only when the next stage takes a message. When its output ends, its exit status is
 * checked before its last messages count as complete: a mapper that failed throws (with its
 * stderr tail), so no state after the failure is committed.
 */
export class SingerMapperProcess implements Mapper {
  constructor(readonly plugin: ExternalPlugin) {}

  get name(): string {
    return this.plugin.name;
  }

  async *map(
    messages: AsyncIterable<ReadMessage>,
    options: { signal?: AbortSignal },
  ): AsyncGenerator<ReadMessage> {
    const files = new PluginFiles(this.plugin.name);
    const mapper = new SingerProcess({
      pluginName: this.plugin.name,
      executable: this.plugin.executable,
      args: ["--config", files.write("config.json", this.plugin.config)],
      env: this.plugin.env,
      ...(this.plugin.cwd ? { cwd: this.plugin.cwd } : {}),
      stdin: true,
      ...(this.plugin.log
        ? { onStderrLine: (line: string) => this.plugin.log!(`${this.plugin.name}: ${line}`) }
        : {}),
      ...(this.plugin.redact ? { redact: this.plugin.redact } : {}),
    });
    const stop = (): void => mapper.stop();
    options.signal?.addEventListener("abort", stop, { once: true });
    // What fails upstream (the tap) stops the mapper, and is the error the run reports.
    let upstreamError: unknown;
    const writer = new SingerWriter(mapper.stdin!, `${this.plugin.name}'s stdin`);
    const feeding = (async () => {
      try {
        for await (const read of messages) await writer.line(read.text);
        await writer.flush();
        mapper.stdin!.end();
      } catch (error) {
        upstreamError = error;
        mapper.stop();
      }
    })();
    try {
      yield* readSingerMessages(mapper.stdout, {
        pluginName: this.plugin.name,
        ...(this.plugin.warn ? { warn: this.plugin.warn } : {}),
      });
      if (await mapper.exitedNonZero()) await mapper.wait();
      await feeding;
      if (upstreamError !== undefined) throw upstreamError;
      await mapper.wait();
    } finally {
      options.signal?.removeEventListener("abort", stop);
      mapper.stop();
      files.remove();
    }
  }
}
