import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Readable, Writable } from "node:stream";
import { ConfigError, PipelineError } from "../../errors.js";

/** How many of a plugin's last stderr lines an error shows. */
const STDERR_TAIL_LINES = 20;

/** What starting an external Singer executable needs. */
export interface SingerProcessOptions {
  /** The plugin's name, in every message. */
  pluginName: string;
  /** The executable: a path, or a name found in the plugin's virtualenv or on PATH. */
  executable: string;
  args: readonly string[];
  /** Variables added to sluice's own environment (the plugin's `env:`). */
  env?: Readonly<Record<string, string>>;
  cwd?: string;
  /** Whether the process reads stdin (a target) or gets none (a tap). */
  stdin: boolean;
  /** Where its stderr lines go as they come (the log), after redaction by the caller. */
  onStderrLine?: (line: string) => void;
  /** Scrubs secrets from the stderr tail an error shows. */
  redact?: (text: string) => string;
}

/**
 * One run of an external Singer executable. Its stdout is read by the caller (which pauses it by
 * not reading, so a fast tap waits for a slow loader); its stderr is passed on line by line and
 * its last lines kept for the error shown when it fails.
 */
export class SingerProcess {
  readonly child: ChildProcess;
  readonly stdout: Readable;
  readonly stdin: Writable | undefined;
  private readonly tail: string[] = [];
  private partial = "";
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private spawnError: Error | undefined;
  private killedByUs = false;

  constructor(private readonly options: SingerProcessOptions) {
    this.child = spawn(options.executable, options.args, {
      env: { ...process.env, ...options.env },
      ...(options.cwd ? { cwd: options.cwd } : {}),
      stdio: [options.stdin ? "pipe" : "ignore", "pipe", "pipe"],
    });
    this.stdout = this.child.stdout!;
    this.stdin = this.child.stdin ?? undefined;
    // Writes after the process died fail with EPIPE; the exit error says why, so keep it quiet.
    this.stdin?.on("error", () => undefined);
    this.child.stderr!.setEncoding("utf8").on("data", (chunk: string) => this.stderr(chunk));
    this.exited = new Promise((resolve) => {
      this.child.on("error", (error) => {
        this.spawnError = error;
        resolve({ code: null, signal: null });
      });
      this.child.on("close", (code, signal) => {
        if (this.partial !== "") this.keep(this.partial);
        this.partial = "";
        resolve({ code, signal });
      });
    });
  }

  /**
   * Resolves when the process ended with status 0; otherwise throws an error naming the plugin,
   * its exit status and the tail of its stderr (secrets redacted).
   */
  async wait(): Promise<void> {
    const { code, signal } = await this.exited;
    if (this.spawnError) throw this.startError(this.spawnError);
    if (code === 0) return;
    if (this.killedByUs) return;
    const status = code !== null ? `exited with status ${code}` : `was killed by ${signal ?? "a signal"}`;
    throw new PipelineError(`${this.options.pluginName} ${status}${this.stderrTail()}`);
  }

  /** Whether it has ended, and how; undefined while it runs. */
  async exitedNonZero(): Promise<boolean> {
    const { code } = await this.exited;
    return this.spawnError !== undefined || (code !== 0 && !this.killedByUs);
  }

  /** Stops a process whose output is no longer wanted (the run failed elsewhere). */
  stop(): void {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.killedByUs = true;
    this.child.kill("SIGTERM");
  }

  /** The last stderr lines, redacted, as text to append to a message ("" when there are none). */
  stderrTail(): string {
    if (this.tail.length === 0) return "";
    const redact = this.options.redact ?? ((t: string) => t);
    return `; its last stderr lines:\n${this.tail.map((line) => `  ${redact(line)}`).join("\n")}`;
  }

  private startError(error: Error): Error {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "EACCES") {
      return new ConfigError(
        `${this.options.pluginName}: cannot run "${this.options.executable}" (${code === "ENOENT" ? "not found" : "not executable"}): run \`sluice install ${this.options.pluginName}\`, or set the plugin's \`executable\``,
        { cause: error },
      );
    }
    return new PipelineError(`${this.options.pluginName}: could not start: ${error.message}`, {
      cause: error,
    });
  }

  private stderr(chunk: string): void {
    const lines = (this.partial + chunk).split("\n");
    this.partial = lines.pop() ?? "";
    for (const line of lines) this.keep(line.endsWith("\r") ? line.slice(0, -1) : line);
  }

  private keep(line: string): void {
    // A line may be huge (a tap dumping a record); an error shows its start.
    const shown = line.length > 2000 ? `${line.slice(0, 2000)}…` : line;
    this.tail.push(shown);
    if (this.tail.length > STDERR_TAIL_LINES) this.tail.shift();
    this.options.onStderrLine?.(shown);
  }
}

/**
 * A private folder for the config, catalog and state files of one process: mode 0700, files
 * 0600 (the config holds passwords), removed by `remove`.
 */
export class PluginFiles {
  readonly dir: string;

  constructor(pluginName: string) {
    const safe = pluginName.replace(/[^A-Za-z0-9_.-]/g, "_");
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `sluice-${safe}-`));
    fs.chmodSync(this.dir, 0o700);
  }

  write(name: string, value: unknown): string {
    const file = path.join(this.dir, name);
    fs.writeFileSync(file, JSON.stringify(value), { mode: 0o600 });
    return file;
  }

  remove(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
