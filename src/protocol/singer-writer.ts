import { DataError } from "../errors.js";

/** What the writer needs of a stream (`process.stdout` fits). */
export interface LineSink {
  write(chunk: string, callback: (error?: Error | null) => void): boolean;
  once(event: "drain", listener: () => void): unknown;
  on(event: "error", listener: (error: Error) => void): unknown;
}

/**
 * Writes JSON lines to a stream in chunks of about 64 KB, waiting for `drain` when the reader is
 * slower (so memory stays bounded), and turns a closed pipe (EPIPE) into an error that says who
 * stopped reading. `flush` resolves once everything written so far has been handed to the OS.
 */
export class SingerWriter {
  private buffer: string[] = [];
  private size = 0;
  private failure: Error | undefined;

  constructor(
    private readonly sink: LineSink,
    private readonly describe = "stdout",
  ) {
    sink.on("error", (error) => {
      this.failure ??= this.wrap(error);
    });
  }

  /** Adds one line (without its newline); flushes when the buffer is full. */
  async line(text: string): Promise<void> {
    this.buffer.push(text, "\n");
    this.size += text.length + 1;
    if (this.size >= 64 * 1024) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.size === 0) return;
    const chunk = this.buffer.join("");
    this.buffer = [];
    this.size = 0;
    await new Promise<void>((resolve, reject) => {
      let drained = false;
      let written = false;
      const settle = (): void => {
        if (this.failure) reject(this.failure);
        else if (drained && written) resolve();
      };
      const ok = this.sink.write(chunk, (error) => {
        if (error) this.failure ??= this.wrap(error);
        written = true;
        settle();
      });
      if (ok) drained = true;
      else
        this.sink.once("drain", () => {
          drained = true;
          settle();
        });
    });
  }

  private wrap(error: Error): Error {
    const code = (error as NodeJS.ErrnoException).code;
    return new DataError(
      code === "EPIPE"
        ? `${this.describe} was closed: the process reading the Singer messages stopped`
        : `writing to ${this.describe} failed: ${error.message}`,
      { cause: error },
    );
  }
}
