import type { DuckDBConnection } from "@duckdb/node-api";
import type { RecordBatch } from "../batch.js";
import { duckdbLiteral } from "./duckdb-types.js";

// NOTE: DuckDB's CSV reader refuses lines over `max_line_size` (2 MB by default), and its buffer
// (16 × max_line_size by default) is memory held per thread. Each batch says how long its
// longest row is, so buffers stay small for ordinary rows and grow only for a 10 MB jsonb.
const MIN_CSV_BUFFER = 4 * 1024 * 1024;
const MB = 1024 * 1024;

/** The CSV reader's buffer for a batch: a power of two above its longest row, 4 MB at least. */
export function csvBufferBytes(batch: Pick<RecordBatch, "maxRowBytes">): number {
  let buffer = MIN_CSV_BUFFER;
  while (buffer <= batch.maxRowBytes + 1) buffer *= 2;
  return buffer;
}

/**
 * What DuckDB takes to load `batch`: its CSV reader's buffers, the insert or merge state, and
 * per-column state beyond 100 columns.
 * NOTE: merging 1,000 columns takes about 200 MB in DuckDB 1.5 (per-column aggregate and CSV
 * reader state), whatever the row count.
 */
function batchMemory(batch: Pick<RecordBatch, "maxRowBytes" | "columns">): number {
  return 8 * csvBufferBytes(batch) + 64 * MB + Math.max(0, batch.columns.length - 100) * 256 * 1024;
}

/** What a batch of ordinary rows (under 4 MB) and width (100 columns or fewer) takes. */
const ORDINARY_BATCH_BYTES = batchMemory({ maxRowBytes: 0, columns: [] });

/**
 * By how much the memory limit (`limitBytes`) must be raised while `batch` loads: 0 for most.
 * A merge gets all it takes: it joins the stored rows, which may hold huge values however small
 * the batch's own are. An append of ordinary rows runs within any limit (DuckDB evicts to disk as
 * it goes), so only what a huge row or a wide table takes beyond an ordinary batch counts, and
 * ordinary appends, the bulk of a full load, never change the limit (see SharedMemoryLimit).
 */
export function batchMemoryExtra(
  batch: Pick<RecordBatch, "maxRowBytes" | "columns">,
  limitBytes: number,
  merges: boolean,
): number {
  const floor = merges ? limitBytes : Math.max(limitBytes, ORDINARY_BATCH_BYTES);
  return Math.max(0, batchMemory(batch) - floor);
}

/**
 * DuckDB's `memory_limit` is one setting for the whole instance, so every stream loading at once
 * shares it: one budget. A batch that needs more (`batchMemoryExtra`) raises it for as long as it
 * loads; with several such batches at once the limit is the configured one plus their extras,
 * and it returns to the configured one when the last is done. Changes are made one at a time,
 * each from the current set of raises, so a late change never undoes a newer one.
 * NOTE: a change is not free: every `SET memory_limit` makes DuckDB flush its allocators
 * (jemalloc purge and malloc_trim), so the next batch's buffers are fresh pages. When every batch
 * raised and lowered the limit, a 10M-row load took 1.7 million page faults (a third of its CPU
 * on a VM where a fault costs 15 µs) and ran a quarter slower.
 */
export class SharedMemoryLimit {
  /** The configured limit in bytes, read from DuckDB (which parses the setting). */
  bytes = Number.POSITIVE_INFINITY;
  private known = false;
  private readonly raises = new Set<{ bytes: number }>();
  private changes: Promise<void> = Promise.resolve();

  constructor(private readonly configured: string) {}

  async read(connection: DuckDBConnection): Promise<void> {
    if (this.known) return;
    // Read before any raise: the instance is fresh when the first stream prepares.
    const limit = await connection.runAndReadAll("SELECT current_setting('memory_limit') AS v");
    this.bytes = parseByteSize(String(limit.getRowObjectsJS()[0]?.v ?? ""));
    this.known = true;
  }

  /** Runs `work` with the limit raised by `extra` bytes. */
  async raised<T>(connection: DuckDBConnection, extra: number, work: () => Promise<T>): Promise<T> {
    const raise = { bytes: extra };
    this.raises.add(raise);
    await this.apply(connection);
    try {
      return await work();
    } finally {
      this.raises.delete(raise);
      await this.apply(connection).catch(() => undefined);
    }
  }

  private apply(connection: DuckDBConnection): Promise<void> {
    const next = this.changes.then(async () => {
      let extra = 0;
      for (const raise of this.raises) extra += raise.bytes;
      await connection.run(
        extra > 0 && Number.isFinite(this.bytes)
          ? `SET memory_limit = '${Math.ceil((this.bytes + extra) / MB)}MiB'`
          : `SET memory_limit = ${duckdbLiteral(this.configured)}`,
      );
    });
    this.changes = next.catch(() => undefined);
    return next;
  }
}

/** `48.0 MiB`, `1.5 GiB`, `64MB` → bytes; unknown forms → infinity (never raise the limit then). */
function parseByteSize(text: string): number {
  const m = /^([\d.]+)\s*([KMGT]?)i?B?$/i.exec(text.trim());
  if (!m) return Number.POSITIVE_INFINITY;
  const power = { "": 0, K: 1, M: 2, G: 3, T: 4 }[m[2]!.toUpperCase() as "" | "K" | "M" | "G" | "T"];
  return Number(m[1]) * 1024 ** power;
}
