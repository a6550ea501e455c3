import fs from "node:fs";
import path from "node:path";
import type { RecordBatch } from "./batch.js";

export interface SpoolOptions {
  dir: string;
  streamId: string;
  columns: string[];
  /** A batch ends at the first row end past this many bytes... */
  maxBytes: number;
  /** ...or after this many rows. */
  maxRows: number;
  /** Gives the `_sdc_sequence` base of a batch of `rows` rows (bases increase across batches). */
  allocateSequence: (rows: number) => number;
}

export interface SpooledBatch {
  batch: RecordBatch;
  /** The raw CSV text of the batch's last row (without its newline), to read a bookmark from. */
  lastRow: Buffer;
}

const QUOTE = 0x22;
const NEWLINE = 0x0a;

/**
 * Cuts a stream of CSV bytes (as `COPY ... TO STDOUT (FORMAT csv)` sends them, rows split across
 * chunks at random) into spool files that end on row boundaries. Memory stays at one chunk: bytes
 * go to disk as they come. The generator is pulled by the runner, so a slow loader pauses the
 * source (backpressure through the socket) instead of filling memory.
 */
export async function* spoolCsvBatches(
  source: AsyncIterable<Buffer>,
  options: SpoolOptions,
): AsyncGenerator<SpooledBatch, void, undefined> {
  let file: SpoolFile | undefined;
  let inQuotes = false;
  // The current row's bytes that lie in earlier chunks (usually none or one piece).
  let carried: Buffer[] = [];
  let lastRow: Buffer | undefined;
  let counter = 0;

  const openFile = async (): Promise<SpoolFile> => {
    counter += 1;
    const safe = options.streamId.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 60);
    const name = path.join(options.dir, `${safe}-${process.pid}-${Date.now()}-${counter}.csv`);
    return {
      path: name,
      handle: await fs.promises.open(name, "w"),
      rows: 0,
      bytes: 0,
      maxRowBytes: 0,
      extractedAt: new Date(),
    };
  };
  const finish = async (f: SpoolFile, row: Buffer): Promise<SpooledBatch> => {
    await f.handle.close();
    return {
      batch: {
        streamId: options.streamId,
        path: f.path,
        columns: options.columns,
        rowCount: f.rows,
        byteCount: f.bytes,
        maxRowBytes: f.maxRowBytes,
        extractedAt: f.extractedAt,
        sequenceBase: options.allocateSequence(f.rows),
      },
      lastRow: row,
    };
  };

  try {
    for await (const chunk of source) {
      file ??= await openFile();
      let start = 0; // first byte of this chunk not yet written to the spool file
      let rowStart = 0; // first byte of the current row within this chunk
      // The last row that ended in this chunk, materialised once at the chunk's end.
      let pending: { carried: Buffer[]; start: number; end: number } | undefined;
      for (let i = 0; i < chunk.length; i++) {
        const byte = chunk[i];
        if (byte === QUOTE) {
          inQuotes = !inQuotes;
        } else if (byte === NEWLINE && !inQuotes) {
          file.rows += 1;
          const rowBytes = i - rowStart + (carried.length > 0 ? carriedBytes(carried) : 0);
          if (rowBytes > file.maxRowBytes) file.maxRowBytes = rowBytes;
          if (file.rows >= options.maxRows || file.bytes + (i + 1 - start) >= options.maxBytes) {
            await writeAll(file, chunk.subarray(start, i + 1));
            const row = materialise({ carried, start: rowStart, end: i }, chunk);
            yield await finish(file, row);
            file = await openFile();
            start = i + 1;
            pending = undefined;
            lastRow = undefined;
          } else {
            pending = { carried, start: rowStart, end: i };
          }
          carried = [];
          rowStart = i + 1;
        }
      }
      if (start < chunk.length) await writeAll(file, chunk.subarray(start));
      if (pending) lastRow = materialise(pending, chunk);
      if (rowStart < chunk.length) carried.push(Buffer.from(chunk.subarray(rowStart)));
    }
    if (inQuotes || carried.length > 0) {
      throw new Error(`the CSV stream of ${options.streamId} ended inside a row`);
    }
    if (file && file.rows > 0 && lastRow) {
      const done = file;
      file = undefined;
      yield await finish(done, lastRow);
    }
  } finally {
    if (file) {
      await file.handle.close().catch(() => undefined);
      await fs.promises.rm(file.path, { force: true });
    }
  }
}

function carriedBytes(pieces: Buffer[]): number {
  let n = 0;
  for (const piece of pieces) n += piece.length;
  return n;
}

/** Copies a row's bytes out of the chunk (and the pieces of it carried from earlier chunks). */
function materialise(row: { carried: Buffer[]; start: number; end: number }, chunk: Buffer): Buffer {
  const here = chunk.subarray(row.start, row.end);
  return row.carried.length > 0 ? Buffer.concat([...row.carried, here]) : Buffer.from(here);
}

interface SpoolFile {
  path: string;
  handle: fs.promises.FileHandle;
  rows: number;
  bytes: number;
  maxRowBytes: number;
  extractedAt: Date;
}

async function writeAll(file: SpoolFile, data: Buffer): Promise<void> {
  let offset = 0;
  while (offset < data.length) {
    const { bytesWritten } = await file.handle.write(data, offset, data.length - offset);
    offset += bytesWritten;
  }
  file.bytes += data.length;
}
