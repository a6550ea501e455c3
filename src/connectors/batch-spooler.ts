import fs from "node:fs";
import path from "node:path";
import { COPY_TEXT_ESCAPES, type RecordBatch } from "./batch.js";

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
  /** The CSV quote character, when not `"` (one byte). */
  quote?: string;
  /** `copy-text`: the bytes are in COPY text format (see `RecordBatch.format`), not CSV. */
  format?: "copy-text";
}

export interface SpooledBatch {
  batch: RecordBatch;
  /** The raw CSV text of the batch's last row (without its newline), to read a bookmark from. */
  lastRow: Buffer;
}

const DOUBLE_QUOTE = 0x22;
const NEWLINE = 0x0a;
/** `quote` of a format without quoting (COPY text): every newline ends a row. */
const NO_QUOTE = -1;

/** Spool files this process opened: numbers their names. */
let spoolFiles = 0;

/**
 * Cuts a stream of CSV or COPY text bytes (as `COPY ... TO STDOUT` sends them, rows split across
 * chunks at random) into spool files that end on row boundaries. Memory stays at one chunk and a
 * write buffer (`WRITE_BYTES`): bytes go to disk as they come. The generator is pulled by the
 * runner, so a slow loader pauses the source (backpressure through the socket) instead of filling
 * memory.
 */
export async function* spoolBatches(
  source: AsyncIterable<Buffer>,
  options: SpoolOptions,
): AsyncGenerator<SpooledBatch, void, undefined> {
  let file: SpoolFile | undefined;
  // The current row's bytes that lie in earlier chunks (usually none or one piece).
  let carried: Buffer[] = [];
  // The last complete row: materialised once per chunk, not per row.
  let lastRow: Buffer | undefined;
  let pendingRow: { carried: Buffer[]; start: number; end: number } | undefined;
  const copyText = options.format === "copy-text";
  if (copyText && options.quote !== undefined) throw new Error("COPY text format has no quote character");
  const csvQuote = options.quote ?? '"';
  if (csvQuote.length !== 1 || csvQuote.charCodeAt(0) > 0x7f)
    throw new Error(`a CSV quote must be one ASCII character, not ${JSON.stringify(csvQuote)}`);
  const quote = copyText ? NO_QUOTE : csvQuote.charCodeAt(0);
  // How the files are written, told to their loader with each batch (`"` goes without saying).
  const dialect: Pick<RecordBatch, "format" | "quote"> = {};
  if (copyText) dialect.format = "copy-text";
  else if (quote !== DOUBLE_QUOTE) dialect.quote = csvQuote;

  // Reused by every file of this spooler; see WRITE_BYTES.
  const staging = Buffer.allocUnsafe(WRITE_BYTES);

  const openFile = async (): Promise<SpoolFile> => {
    const safe = options.streamId.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 60);
    // The number is the process's, not this spooler's: the parts of a split table (and streams
    // whose names sanitise alike) spool at once into one folder, and a name shared within a
    // millisecond would have two writers truncate each other's file. "wx" makes any clash loud.
    spoolFiles += 1;
    const name = path.join(options.dir, `${safe}-${process.pid}-${Date.now()}-${spoolFiles}.csv`);
    return {
      path: name,
      handle: await fs.promises.open(name, "wx"),
      rows: 0,
      bytes: 0,
      staged: 0,
      maxRowBytes: 0,
      extractedAt: new Date(),
    };
  };
  const finish = async (f: SpoolFile, row: Buffer): Promise<SpooledBatch> => {
    await flush(f, staging);
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
        ...dialect,
      },
      lastRow: row,
    };
  };

  const scan: RowScan = { inQuotes: false, rowStart: 0, rows: 0, maxRowBytes: 0, lastStart: 0, lastEnd: -1 };
  try {
    for await (const chunk of source) {
      file ??= await openFile();
      let start = 0; // first byte of this chunk not yet written to the spool file
      // A row that began in earlier chunks starts before this one: its offset is negative.
      scan.rowStart = -carriedBytes(carried);
      let from = 0;
      for (;;) {
        const cut = scanRows(
          chunk,
          from,
          scan,
          options.maxRows - file.rows,
          start + (options.maxBytes - file.bytes) - 1,
          quote,
        );
        file.rows += scan.rows;
        if (scan.maxRowBytes > file.maxRowBytes) file.maxRowBytes = scan.maxRowBytes;
        if (scan.lastEnd >= 0) {
          // Only the first row ending in a chunk can have begun in earlier ones.
          pendingRow = {
            carried: scan.lastStart < 0 ? carried : [],
            start: Math.max(0, scan.lastStart),
            end: scan.lastEnd,
          };
          carried = [];
        }
        if (cut < 0) break;
        await append(file, staging, chunk.subarray(start, cut));
        const row = materialise(pendingRow!, chunk);
        pendingRow = undefined;
        lastRow = undefined;
        yield await finish(file, row);
        file = await openFile();
        start = cut;
        from = cut;
      }
      if (start < chunk.length) await append(file, staging, chunk.subarray(start));
      if (pendingRow) {
        lastRow = materialise(pendingRow, chunk);
        pendingRow = undefined;
      }
      if (scan.rowStart < 0) {
        // No row ended in this chunk: all of it belongs to the row carried on.
        carried.push(Buffer.from(chunk));
      } else {
        carried = scan.rowStart < chunk.length ? [Buffer.from(chunk.subarray(scan.rowStart))] : [];
      }
    }
    if (scan.inQuotes || carried.length > 0) {
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

/** Where `scanRows` left off, and what it found in its last call. */
interface RowScan {
  inQuotes: boolean;
  /** Offset in the chunk where the current row began (negative: in earlier chunks). */
  rowStart: number;
  /** Rows that ended in the last call. */
  rows: number;
  /** Bytes of the longest of them. */
  maxRowBytes: number;
  /** Start and end (the newline's offset) of the last of them; `lastEnd` -1 if none. */
  lastStart: number;
  lastEnd: number;
}

/**
 * Finds the ends of rows (newlines outside quotes) in `chunk` from `from`, and returns the
 * offset just past the row end where the batch must be cut: the `maxRows`th row end, or the
 * first at or past offset `byteLimit`. -1 when the chunk ended first.
 * NOTE: a row with no quote in it (all of them, when the quote is a character text hardly holds,
 * see `RecordBatch.quote`) is found with `indexOf` (memchr); only a row with a quote is walked
 * byte by byte. Walking every byte took a tenth of a 10M-row load's CPU. The walk is a plain loop
 * in a function of its own, not in the generator: V8 compiles it to a tight loop, about 2.5 times
 * faster than the same loop inside the async generator.
 */
function scanRows(
  chunk: Buffer,
  from: number,
  scan: RowScan,
  maxRows: number,
  byteLimit: number,
  quote: number,
): number {
  let inQuotes = scan.inQuotes;
  let rowStart = scan.rowStart;
  let rows = 0;
  let maxRowBytes = 0;
  let lastStart = 0;
  let lastEnd = -1;
  let cut = -1;
  const length = chunk.length;
  let i = from;
  // The first quote at or after i (`length` if none).
  let nextQuote = quote === NO_QUOTE ? length : indexOrLength(chunk, quote, i);
  while (i < length) {
    let end = -1;
    if (!inQuotes) {
      const newline = chunk.indexOf(NEWLINE, i);
      if (newline >= 0 && newline < nextQuote) end = newline;
      else if (nextQuote === length) break; // the rest of the chunk is the start of a row
    }
    if (end < 0) {
      // A quote before the row's end, or a quoted field carried on from the last chunk.
      for (; i < length; i++) {
        const byte = chunk[i];
        if (byte === quote) {
          inQuotes = !inQuotes;
        } else if (byte === NEWLINE && !inQuotes) {
          end = i;
          break;
        }
      }
      if (end < 0) break;
      nextQuote = indexOrLength(chunk, quote, end + 1);
    }
    rows += 1;
    if (end - rowStart > maxRowBytes) maxRowBytes = end - rowStart;
    lastStart = rowStart;
    lastEnd = end;
    rowStart = end + 1;
    i = end + 1;
    if (rows >= maxRows || end >= byteLimit) {
      cut = end + 1;
      break;
    }
  }
  scan.inQuotes = inQuotes;
  scan.rowStart = rowStart;
  scan.rows = rows;
  scan.maxRowBytes = maxRowBytes;
  scan.lastStart = lastStart;
  scan.lastEnd = lastEnd;
  return cut;
}

function indexOrLength(chunk: Buffer, byte: number, from: number): number {
  const at = chunk.indexOf(byte, from);
  return at < 0 ? chunk.length : at;
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
  /** Bytes of the batch so far, written or staged. */
  bytes: number;
  /** Bytes at the start of the spooler's staging buffer not yet written to this file. */
  staged: number;
  maxRowBytes: number;
  extractedAt: Date;
}

/**
 * Bytes gathered in memory before a write. COPY arrives in chunks of about 8 KB (PostgreSQL's
 * send buffer), and one write per chunk, each a trip through libuv's thread pool with its wake-ups,
 * cost more CPU than copying the chunk into this buffer: a 10M-row table took 270,000 writes.
 */
const WRITE_BYTES = 512 * 1024;

/** Adds `data` to `file`, through `staging` unless it is as large. */
async function append(file: SpoolFile, staging: Buffer, data: Buffer): Promise<void> {
  if (file.staged + data.length > staging.length) await flush(file, staging);
  if (data.length >= staging.length) {
    await writeAll(file.handle, data);
  } else {
    data.copy(staging, file.staged);
    file.staged += data.length;
  }
  file.bytes += data.length;
}

async function flush(file: SpoolFile, staging: Buffer): Promise<void> {
  if (file.staged === 0) return;
  await writeAll(file.handle, staging.subarray(0, file.staged));
  file.staged = 0;
}

async function writeAll(handle: fs.promises.FileHandle, data: Buffer): Promise<void> {
  let offset = 0;
  while (offset < data.length) {
    const { bytesWritten } = await handle.write(data, offset, data.length - offset);
    offset += bytesWritten;
  }
}

const COMMA = 0x2c;

/**
 * Field `index` of one row as the spooler hands it back (`SpooledBatch.lastRow`), decoded; the
 * other fields are skipped with indexOf, so a 10 MB value in the row costs next to nothing (a
 * general CSV parser took seconds for one). Undefined if the row has fewer fields.
 */
export function csvRowField(row: Buffer, index: number, quote = '"'): string | undefined {
  const q = quote.charCodeAt(0);
  let at = 0;
  for (let field = 0; at <= row.length; field++) {
    if (row[at] === q) {
      // A quoted field ends at a quote that is not doubled.
      let end = at + 1;
      for (;;) {
        end = row.indexOf(q, end);
        if (end < 0) return undefined;
        if (row[end + 1] !== q) break;
        end += 2;
      }
      if (field === index)
        return row
          .subarray(at + 1, end)
          .toString("utf8")
          .replaceAll(quote + quote, quote);
      at = end + 2;
    } else {
      let end = row.indexOf(COMMA, at);
      if (end < 0) end = row.length;
      if (field === index) return row.subarray(at, end).toString("utf8");
      at = end + 1;
    }
  }
  return undefined;
}

const TAB = 0x09;
const BACKSLASH = 0x5c;

/**
 * Field `index` of a row in COPY text format (see `RecordBatch.format`), unescaped; undefined if
 * the row has fewer fields or the field is NULL (`\N`).
 */
export function copyTextRowField(row: Buffer, index: number): string | undefined {
  let at = 0;
  for (let field = 0; field < index; field++) {
    const tab = row.indexOf(TAB, at);
    if (tab < 0) return undefined;
    at = tab + 1;
  }
  let end = row.indexOf(TAB, at);
  if (end < 0) end = row.length;
  const raw = row.subarray(at, end);
  if (raw.indexOf(BACKSLASH) < 0) return raw.toString("utf8");
  if (raw.length === 2 && raw[1] === 0x4e) return undefined; // \N
  return unescapeCopyText(raw.toString("utf8"));
}

/**
 * Undoes COPY text escaping: a backslash and the character after it become that character, or
 * the control character it names (`COPY_TEXT_ESCAPES`).
 */
export function unescapeCopyText(text: string): string {
  return text.replace(/\\(.)/gsu, (_, c: string) => COPY_TEXT_ESCAPES[c] ?? c);
}
