import fs from "node:fs";
import path from "node:path";
import { ResourceError } from "../../errors.js";

/** Below this much free space under the DuckDB file, a failed write is put down to a full disk. */
const LOW_DISK_BYTES = 32 * 1024 * 1024;

/**
 * The error to raise when `action` failed because the disk holding `file` is full, else undefined.
 * NOTE: DuckDB spills to `<file>.tmp` beside the database, capped at 90% of the free space, so a
 * full disk often reads "Out of Memory Error: failed to offload data block" rather than ENOSPC;
 * hence the free space is looked at too.
 */
export function diskFullError(file: string, action: string, error: unknown): ResourceError | undefined {
  const message = (error as Error | undefined)?.message ?? String(error);
  let free: number | undefined;
  try {
    const stats = fs.statfsSync(path.dirname(file));
    free = stats.bavail * stats.bsize;
  } catch {
    // The folder is gone or unreadable: only the message can tell.
  }
  const says = /No space left on device|ENOSPC|disk is full/i.test(message);
  if (!says && !(free !== undefined && free < LOW_DISK_BYTES)) return undefined;
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
