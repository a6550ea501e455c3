import fs from "node:fs";
import path from "node:path";
import { ConnectionError, DataError, ResourceError, SluiceError } from "../../errors.js";

/**
 * The one place that reads what DuckDB threw. Its errors are plain `Error`s whose message starts
 * with the error type (`IO Error: ...`, `Conversion Error: ...`, `TransactionContext Error: ...`),
 * so the type and a few known phrases are all there is to go on.
 *
 * - `disk-full`: the disk under the file is full (see `diskFullError`). Terminal: free space.
 * - `locked`: another process holds the file's lock (a BI tool, another pipeline writing the
 *   same file). Transient: it closes the file, and a later try opens it.
 * - `conflict`: two transactions wrote the same rows or catalog entry; DuckDB aborts the later
 *   one (optimistic concurrency). Transient: the same statement succeeds once the other is done.
 * - `out-of-memory`: the statement needs more than `memory_limit`. Terminal: the same batch
 *   needs the same memory; raise `memory_limit`.
 * - `data`: a value DuckDB cannot convert or store (conversion, constraint, invalid input).
 *   Terminal.
 * - `other`: anything else (a catalog, binder or internal error). Terminal.
 */
export type DuckdbFailureKind = "disk-full" | "locked" | "conflict" | "out-of-memory" | "data" | "other";

export interface DuckdbFailure {
  kind: DuckdbFailureKind;
  transient: boolean;
  /** DuckDB's message. */
  message: string;
}

const LOCKED = /Could not set lock on file|Conflicting lock is held/i;
// NOTE: DuckDB words these "Catalog write-write conflict on ...", "Conflict on tuple deletion!",
// "Conflict on update!", "Transaction conflict: ..."; all are TransactionContext errors.
const CONFLICT =
  /write-write conflict|Conflict on (tuple|update)|Transaction conflict|TransactionContext Error: .*conflict/i;
const DATA =
  /^(Conversion|Invalid Input|Constraint|Out of Range) Error|Could not convert|out of range|CSV Error/i;

/** What a DuckDB failure is, and whether a retry can help. `file` is the database file. */
export function classifyDuckdbError(error: unknown, file: string): DuckdbFailure {
  const message = error instanceof Error ? error.message : String(error);
  const result = (kind: DuckdbFailureKind): DuckdbFailure => ({
    kind,
    transient: kind === "locked" || kind === "conflict",
    message,
  });
  if (freeSpaceSaysFull(message, file)) return result("disk-full");
  if (LOCKED.test(message)) return result("locked");
  if (CONFLICT.test(message)) return result("conflict");
  if (/^Out of Memory Error/i.test(message)) return result("out-of-memory");
  if (DATA.test(message)) return result("data");
  return result("other");
}

/**
 * The SluiceError of a DuckDB failure while `action` (`loading s into t`), worded
 * `<failed>: <DuckDB's first line>` (`failed` defaults to `target-duckdb: <action> failed`).
 * Our own errors pass through as they are.
 */
export function duckdbError(
  error: unknown,
  context: { file: string; action: string; failed?: string },
): SluiceError {
  if (error instanceof SluiceError) return error;
  const failure = classifyDuckdbError(error, context.file);
  const failed = context.failed ?? `target-duckdb: ${context.action} failed`;
  const options = { cause: error, transient: failure.transient };
  switch (failure.kind) {
    case "disk-full":
      return diskFullError(context.file, context.action, error)!;
    case "locked":
      return new ConnectionError(
        `${failed}: ${firstLine(failure.message)}; another process has ${context.file} open: once it closes the file, a retry succeeds`,
        options,
      );
    case "conflict":
      return new ConnectionError(
        `${failed}: ${firstLine(failure.message)}; another transaction wrote the same rows at once: a retry succeeds once it is done`,
        options,
      );
    case "out-of-memory":
      return new ResourceError(
        `${failed}: ${firstLine(failure.message)}; raise \`memory_limit\` (DuckDB's buffer pool while loading)`,
        options,
      );
    default:
      return new DataError(`${failed}: ${firstLine(failure.message)}`, options);
  }
}

/**
 * The error of a DuckDB file that could not be opened (setting `path`): a full disk, a lock
 * another process holds (transient), or anything else (a folder it may not write, a file that is
 * not a DuckDB database, one written by a newer DuckDB).
 */
export function duckdbOpenError(error: unknown, file: string): SluiceError {
  const failure = classifyDuckdbError(error, file);
  if (failure.kind === "disk-full") return diskFullError(file, "opening it", error)!;
  if (failure.kind === "locked")
    return duckdbError(error, { file, action: "opening it", failed: openFailed(file) });
  return new ConnectionError(`${openFailed(file)}: ${failure.message}`, { cause: error });
}

function openFailed(file: string): string {
  return `DuckDB could not open ${file} (setting \`path\`)`;
}

/** Below this much free space under the DuckDB file, a failed write is put down to a full disk. */
const LOW_DISK_BYTES = 32 * 1024 * 1024;

function freeBytesUnder(file: string): number | undefined {
  try {
    const stats = fs.statfsSync(path.dirname(file));
    return stats.bavail * stats.bsize;
  } catch {
    // The folder is gone or unreadable: only the message can tell.
    return undefined;
  }
}

function freeSpaceSaysFull(message: string, file: string): boolean {
  if (/No space left on device|ENOSPC|disk is full/i.test(message)) return true;
  const free = freeBytesUnder(file);
  return free !== undefined && free < LOW_DISK_BYTES;
}

/**
 * The error to raise when `action` failed because the disk holding `file` is full, else undefined.
 * NOTE: DuckDB spills to `<file>.tmp` beside the database, capped at 90% of the free space, so a
 * full disk often reads "Out of Memory Error: failed to offload data block" rather than ENOSPC;
 * hence the free space is looked at too.
 */
export function diskFullError(file: string, action: string, error: unknown): ResourceError | undefined {
  const message = (error as Error | undefined)?.message ?? String(error);
  if (!freeSpaceSaysFull(message, file)) return undefined;
  const free = freeBytesUnder(file);
  const left = free === undefined ? "" : ` (${(free / 1048576).toFixed(1)} MB free)`;
  return new ResourceError(
    `target-duckdb: the disk holding ${file} is full${left}: ${action} failed: ${firstLine(message)}. ` +
      `Free space there (DuckDB also spills to ${file}.tmp) or set \`path\` to a bigger disk, then run again; ` +
      "the state stays at the last batch DuckDB committed",
    { cause: error },
  );
}

export function firstLine(text: string): string {
  return text.split("\n")[0] ?? text;
}
