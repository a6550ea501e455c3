import type { RunEvent } from "../runner/run-events.js";

export type LogFormat = "text" | "json";

/** Meltano's `--log-level` names; a message below the chosen level is not printed. */
export const LOG_LEVELS = ["debug", "info", "warning", "error", "critical"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Everything sluice says while it works goes through here, to stderr, with secrets scrubbed:
 * a live progress line on a terminal, JSON lines otherwise (or with `--log-format json`).
 * Command results (a catalog, a state) go to stdout through `result`, so they can be piped.
 */
export class Output {
  readonly format: LogFormat;
  private readonly tty: boolean;
  private readonly color: boolean;
  private progressShown = false;
  private lastProgress = 0;
  private readonly streamStarted = new Map<string, number>();

  /** Messages below this level are dropped (`--log-level`); the live progress line is info. */
  readonly level: LogLevel;

  constructor(options: {
    format?: LogFormat;
    level?: LogLevel;
    redact?: (text: string) => string;
    stream?: NodeJS.WriteStream;
  }) {
    this.stream = options.stream ?? process.stderr;
    this.tty = Boolean(this.stream.isTTY);
    this.format = options.format ?? (this.tty ? "text" : "json");
    this.level = options.level ?? "info";
    this.color = this.tty && !process.env.NO_COLOR;
    this.redact = options.redact ?? ((t) => t);
  }

  private readonly stream: NodeJS.WriteStream;
  redact: (text: string) => string;

  /** Writes a command's result to stdout. */
  result(text: string): void {
    process.stdout.write(this.redact(text.endsWith("\n") ? text : `${text}\n`));
  }

  info(message: string, fields: Record<string, unknown> = {}): void {
    this.log("info", message, fields);
  }

  warn(message: string, fields: Record<string, unknown> = {}): void {
    this.log("warning", message, fields);
  }

  error(message: string, fields: Record<string, unknown> = {}): void {
    this.log("error", message, fields);
  }

  /** Whether a message of `level` is printed under `--log-level`. */
  shows(level: LogLevel): boolean {
    return LOG_LEVELS.indexOf(level) >= LOG_LEVELS.indexOf(this.level);
  }

  log(level: "info" | "warning" | "error", message: string, fields: Record<string, unknown> = {}): void {
    if (!this.shows(level)) return;
    this.clearProgress();
    if (this.format === "json") {
      const line = JSON.stringify({ timestamp: new Date().toISOString(), level, message, ...fields });
      this.stream.write(`${this.redact(line)}\n`);
      return;
    }
    const label = level === "info" ? "" : `${this.paint(level === "error" ? 31 : 33, level)}: `;
    this.stream.write(`${label}${this.redact(message)}\n`);
  }

  /** Renders runner events: a live line per stream on a terminal, one JSON object per event otherwise. */
  runEvent(event: RunEvent): void {
    if (this.format === "json") {
      if (event.type === "retrying") {
        this.log("warning", retryingMessage(event), { event: event.type, ...withoutType(event) });
      } else if (event.type === "run-finished") {
        this.log(event.summary.status === "success" ? "info" : "error", "run finished", {
          event: event.type,
          ...event.summary,
        });
      } else {
        this.log("info", event.type.replace("-", " "), { event: event.type, ...withoutType(event) });
      }
      return;
    }
    switch (event.type) {
      case "run-started":
        this.info(`run ${event.runId} (${event.stateId}): ${event.streams.length} stream(s)`);
        break;
      case "stream-started":
        this.streamStarted.set(event.streamId, Date.now());
        this.info(
          `${this.paint(1, event.streamId)}: ${event.method}${event.mode === "replace" ? " (atomic replace)" : ""}${event.parts ? `, read in ${event.parts} parts at once` : ""}`,
        );
        break;
      case "batch-loaded": {
        const now = Date.now();
        if (this.tty && this.shows("info") && now - this.lastProgress > 200) {
          this.lastProgress = now;
          const seconds = (now - (this.streamStarted.get(event.streamId) ?? now)) / 1000;
          this.stream.write(
            `\r  ${event.streamId}: ${formatCount(event.totalRows)} rows, ${formatCount(rate(event.totalRows, seconds))} rows/s, ${seconds.toFixed(1)} s\x1b[K`,
          );
          this.progressShown = true;
        }
        break;
      }
      case "stream-finished":
        this.info(
          `  ${event.streamId}: ${formatCount(event.rows)} rows, ${formatBytes(event.bytes)} in ${event.seconds.toFixed(1)} s (${formatCount(rate(event.rows, event.seconds))} rows/s)`,
        );
        break;
      case "run-finished": {
        const s = event.summary;
        const rows = Object.values(s.streams).reduce((n, x) => n + x.rows, 0);
        const status = s.status === "success" ? this.paint(32, "succeeded") : this.paint(31, s.status);
        this.info(
          `run ${status}: ${formatCount(rows)} rows in ${s.seconds.toFixed(1)} s (${formatCount(rate(rows, s.seconds))} rows/s), peak memory ${formatBytes(s.peakRssBytes)}`,
        );
        break;
      }
      case "state-committed":
        break;
      case "changes-committed":
        if (this.tty && this.shows("info")) {
          this.stream.write(
            `\r  changes committed up to WAL ${event.position}${event.lagBytes !== undefined ? `, slot lag ${formatBytes(event.lagBytes)}` : ""}\x1b[K`,
          );
          this.progressShown = true;
        }
        break;
      case "warning":
        this.warn(event.message);
        break;
      case "retrying":
        this.warn(retryingMessage(event));
        break;
    }
  }

  private clearProgress(): void {
    if (this.progressShown) {
      this.stream.write("\r\x1b[K");
      this.progressShown = false;
    }
  }

  private paint(code: number, text: string): string {
    return this.color ? `\x1b[${code}m${text}\x1b[0m` : text;
  }
}

function retryingMessage(event: Extract<RunEvent, { type: "retrying" }>): string {
  const what =
    event.scope === "batch"
      ? `a batch of ${event.streamIds.join(", ")} failed to load`
      : `${event.streamIds.length > 0 ? event.streamIds.join(", ") : "the run"} stopped`;
  const again = event.scope === "batch" ? "writing it again" : "starting again from the committed state";
  return `${what} (${event.error}); ${again} in ${event.delaySeconds.toFixed(1)} s (retry ${event.retry} of ${event.maxRetries})`;
}

function withoutType(event: RunEvent): Record<string, unknown> {
  const { type: _type, ...rest } = event;
  return rest;
}

export function rate(rows: number, seconds: number): number {
  return seconds > 0 ? Math.round(rows / seconds) : rows;
}

export function formatCount(n: number): string {
  return n.toLocaleString("en-US");
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}
