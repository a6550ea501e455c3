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

/**
 * What one connection appending ordinary batches takes, held for as long as its writer loads.
 * NOTE: measured on the 10M-row bench table: one append loads within a 24 MB limit, two at once
 * fail under 32 MB and load under 48 MB.
 */
const APPEND_BYTES = 32 * MB;

/** What a batch of ordinary rows (under 4 MB) and width (100 columns or fewer) takes. */
const ORDINARY_BATCH_BYTES = batchMemory({ maxRowBytes: 0, columns: [] });

/**
 * What one connection holds of the memory budget for as long as its writer loads. A merge takes
 * all an ordinary batch takes: it joins the stored rows, which may hold huge values however
 * small the batch's own are. An append takes less.
 */
export function connectionMemory(merges: boolean): number {
  return merges ? ORDINARY_BATCH_BYTES : APPEND_BYTES;
}

/**
 * What `batch` takes beyond its connection's share (`connectionMemory`): 0 for ordinary rows
 * (under 4 MB) and width (100 columns or fewer), the bulk of any load.
 */
export function batchMemoryExtra(
  batch: Pick<RecordBatch, "maxRowBytes" | "columns">,
  merges: boolean,
): number {
  const needed = batchMemory(batch);
  return needed <= ORDINARY_BATCH_BYTES ? 0 : needed - connectionMemory(merges);
}

/**
 * DuckDB's `memory_limit` is one setting for the whole instance, so every stream loading at once
 * shares it: one budget. Each connection loading holds its share while its writer loads, and
 * a batch that needs more (`batchMemoryExtra`) holds that too while it loads: the limit is the
 * larger of the configured one and the sum of what is held, and it returns to the configured
 * one when nothing is. Changes are made one at a time, each from the current set of holds, so a
 * late change never undoes a newer one.
 * NOTE: a change is not free: every `SET memory_limit` makes DuckDB flush its allocators
 * (jemalloc purge and malloc_trim), so the next batch's buffers are fresh pages. When every batch
 * raised and lowered the limit, a 10M-row load took 1.7 million page faults (a third of its CPU
 * on a VM where a fault costs 15 µs) and ran a quarter slower. Hence holds per connection, not
 * per batch, and no SET when the limit would not change.
 */
export class SharedMemoryLimit {
  /** The configured limit in bytes, read from DuckDB (which parses the setting). */
  bytes = Number.POSITIVE_INFINITY;
  private known = false;
  private readonly holds = new Set<{ bytes: number }>();
  /** The limit last set, in bytes (the configured one until a hold exceeds it). */
  private applied = Number.POSITIVE_INFINITY;
  private changes: Promise<void> = Promise.resolve();

  constructor(private readonly configured: string) {}

  async read(connection: DuckDBConnection): Promise<void> {
    if (this.known) return;
    // Read before any hold: the instance is fresh when the first stream prepares.
    const limit = await connection.runAndReadAll("SELECT current_setting('memory_limit') AS v");
    this.bytes = parseByteSize(String(limit.getRowObjectsJS()[0]?.v ?? ""));
    this.applied = this.bytes;
    this.known = true;
  }

  /** Holds `bytes` of the budget until the returned function is called (with a connection). */
  async hold(
    connection: DuckDBConnection,
    bytes: number,
  ): Promise<(connection: DuckDBConnection) => Promise<void>> {
    const held = { bytes };
    this.holds.add(held);
    try {
      await this.apply(connection);
    } catch (error) {
      // Not held, then: a hold nobody can release would keep the limit raised for good.
      this.holds.delete(held);
      throw error;
    }
    return async (releaseWith) => {
      if (!this.holds.delete(held)) return;
      await this.apply(releaseWith);
    };
  }

  /** Runs `work` holding `bytes` more. */
  async raised<T>(connection: DuckDBConnection, bytes: number, work: () => Promise<T>): Promise<T> {
    const release = await this.hold(connection, bytes);
    try {
      return await work();
    } finally {
      await release(connection).catch(() => undefined);
    }
  }

  private apply(connection: DuckDBConnection): Promise<void> {
    const next = this.changes.then(async () => {
      // An unreadable configured limit is left alone.
      if (!Number.isFinite(this.bytes)) return;
      let held = 0;
      for (const hold of this.holds) held += hold.bytes;
      const limit = Math.max(this.bytes, Math.ceil(held / MB) * MB);
      if (limit === this.applied) return;
      await connection.run(
        limit > this.bytes
          ? `SET memory_limit = '${limit / MB}MiB'`
          : `SET memory_limit = ${duckdbLiteral(this.configured)}`,
      );
      this.applied = limit;
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
