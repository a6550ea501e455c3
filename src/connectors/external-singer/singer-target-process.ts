import fs from "node:fs";
import path from "node:path";
import type { Writable } from "node:stream";
import { ConfigError, DataError, PipelineError } from "../../errors.js";
import { readLines } from "../../protocol/singer-reader.js";
import { SingerWriter } from "../../protocol/singer-writer.js";
import type { ExternalTarget, ExternalTargetRun, Loader, StreamWriter } from "../connector.js";
import type { ExternalPlugin } from "./external-plugin.js";
import { PluginFiles, SingerProcess } from "./singer-process.js";

/**
 * An external Singer target (any executable following the Singer spec) as a loader.
 *
 * A Singer target says what is durable by printing the state it was given once the data before
 * it is written; it cannot say so per batch. So a run does not go through `openStream`/`write`
 * (durable when `write` resolves) but through `start`: sluice writes Singer messages to the
 * target's stdin and commits each state the target prints back, as Meltano does.
 */
export class SingerTargetProcess implements Loader, ExternalTarget {
  /** An external target: runs `start` it and write Singer messages to it. */
  readonly externalTarget: ExternalTarget = this;

  constructor(readonly plugin: ExternalPlugin) {}

  /** Checks that the executable can be found; a target has no way to test its connection alone. */
  async test(): Promise<void> {
    const exe = this.plugin.executable;
    const found = exe.includes("/")
      ? isExecutable(exe)
      : (process.env.PATH ?? "")
          .split(path.delimiter)
          .some((dir) => dir && isExecutable(path.join(dir, exe)));
    if (!found) {
      throw new ConfigError(
        `${this.plugin.name}: cannot run "${exe}" (not found): run \`sluice install ${this.plugin.name}\`, or set the plugin's \`executable\``,
      );
    }
  }

  openStream(): Promise<StreamWriter> {
    return Promise.reject(
      new PipelineError(
        `${this.plugin.name} is an external Singer target: it is fed Singer messages with start(), not batches`,
      ),
    );
  }

  async close(): Promise<void> {}

  /**
   * Starts `<target> --config c`. `onState` gets each state the target prints (a state value,
   * or a STATE message, one per line), in order, awaited before the next is read. Lines that are
   * not JSON are logged and skipped.
   */
  start(options: { onState: (stateJson: string) => Promise<void> }): SingerTargetRun {
    return new SingerTargetRun(this.plugin, options.onState);
  }
}

/** One running target: write messages with `writer`, then `finish` (or `stop` on failure). */
export class SingerTargetRun implements ExternalTargetRun {
  readonly writer: SingerWriter;
  private readonly process: SingerProcess;
  private readonly files: PluginFiles;
  private readonly states: Promise<void>;

  constructor(
    private readonly plugin: ExternalPlugin,
    onState: (stateJson: string) => Promise<void>,
  ) {
    this.files = new PluginFiles(plugin.name);
    this.process = new SingerProcess({
      pluginName: plugin.name,
      executable: plugin.executable,
      args: ["--config", this.files.write("config.json", plugin.config)],
      env: plugin.env,
      ...(plugin.cwd ? { cwd: plugin.cwd } : {}),
      stdin: true,
      ...(plugin.log ? { onStderrLine: (line: string) => plugin.log!(`${plugin.name}: ${line}`) } : {}),
      ...(plugin.redact ? { redact: plugin.redact } : {}),
    });
    this.writer = new SingerWriter(this.process.stdin!, `${plugin.name} stdin`);
    this.states = this.readStates(onState);
    // Read whether or not anyone awaits yet; the failure is reported by `finish`.
    this.states.catch(() => undefined);
  }

  /**
   * Ends the input, then waits for the target to print its last states and exit. Throws if it
   * failed (its stderr tail shown); states it printed before were committed, nothing after.
   */
  async finish(): Promise<void> {
    try {
      await this.writer.flush();
      await endInput(this.process.stdin!);
      await this.states;
      await this.process.wait();
    } catch (error) {
      const explained = await this.explain(error);
      this.process.stop();
      throw explained;
    } finally {
      this.files.remove();
    }
  }

  /** Stops the target after a failure elsewhere; the state stays where the target last left it. */
  async stop(): Promise<void> {
    this.process.stop();
    await this.states.catch(() => undefined);
    this.files.remove();
  }

  /**
   * A write that failed because the target died says less than the target's own exit status and
   * stderr: wait for it (briefly) and report that instead.
   */
  async explain(error: unknown): Promise<unknown> {
    // A failure elsewhere (the tap) gets a moment's grace only, in case the target died too.
    const writeFailed = error instanceof DataError && error.message.includes(`${this.plugin.name} stdin`);
    const exited = await Promise.race([
      this.process.wait().then(
        () => undefined,
        (failure: unknown) => failure,
      ),
      new Promise<undefined>((resolve) =>
        setTimeout(() => resolve(undefined), writeFailed ? 5000 : 200).unref(),
      ),
    ]);
    return exited ?? error;
  }

  private async readStates(onState: (stateJson: string) => Promise<void>): Promise<void> {
    for await (const { text, line } of readLines(this.process.stdout, { pluginName: this.plugin.name })) {
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        this.plugin.warn?.(`${this.plugin.name}: stdout line ${line} is not a JSON state; ignored`);
        continue;
      }
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        this.plugin.warn?.(`${this.plugin.name}: stdout line ${line} is not a JSON object state; ignored`);
        continue;
      }
      const message = value as { type?: unknown; value?: unknown };
      const state = message.type === "STATE" && "value" in message ? message.value : value;
      await onState(JSON.stringify(state));
    }
  }
}

/**
 * Closes a child's stdin. NOTE: `end(callback)` on a pipe the child already closed may never call
 * back (nothing then keeps Node's event loop alive), so wait for whichever comes first.
 */
function endInput(stream: Writable): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || stream.writableFinished) {
      resolve();
      return;
    }
    const done = (): void => resolve();
    stream.once("finish", done);
    stream.once("close", done);
    stream.once("error", done);
    stream.end();
  });
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}
