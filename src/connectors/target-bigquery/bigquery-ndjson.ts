import fs from "node:fs";
import type { DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import type { RecordBatch } from "../batch.js";
import type { NdjsonRange } from "./bigquery-client.js";
import { DUCKDB_MACROS } from "./bigquery-types.js";

/** One output field: its BigQuery column name and the DuckDB SQL computing it from a batch row. */
export interface NdjsonField {
  name: string;
  /**
   * SQL over the batch fields `c0`, `c1`, ... (VARCHAR in the wire form of `batch.ts`) and
   * `_sluice_row` (the 1-based row number in the batch).
   */
  sql: string;
}

/** A piece of the NDJSON file small enough for one load job, and the batch rows it holds. */
export interface NdjsonChunk extends NdjsonRange {
  /** 0-based index in the batch of the chunk's first row. */
  firstRow: number;
}

/**
 * Turns a batch file (sluice CSV) into newline-delimited JSON for BigQuery load jobs, inside an
 * in-memory DuckDB: `COPY (SELECT <conversions> FROM read_csv(...)) TO 'x.ndjson'`, so the batch
 * never sits in JavaScript memory and each value is converted by SQL (`bigquery-types.ts`).
 * The rows keep the file's order (row numbers in messages are the file's).
 */
export class NdjsonConverter {
  private instance: Promise<DuckDBInstance> | undefined;

  constructor(
    private readonly options: { memoryLimit: string; threads?: number } = { memoryLimit: "256MB" },
  ) {}

  /** One in-memory database for the loader's life, its macros made once. */
  private async database(): Promise<DuckDBInstance> {
    this.instance ??= (async () => {
      const { DuckDBInstance } = await import("@duckdb/node-api");
      const instance = await DuckDBInstance.create(":memory:", {
        memory_limit: this.options.memoryLimit,
        ...(this.options.threads !== undefined ? { threads: String(this.options.threads) } : {}),
      });
      const connection = await instance.connect();
      try {
        for (const macro of DUCKDB_MACROS) await connection.run(macro);
      } finally {
        connection.closeSync();
      }
      return instance;
    })();
    return this.instance;
  }

  /** Writes `<batch>.ndjson` beside the batch; the caller deletes it. Streams may convert at once. */
  async convert(batch: RecordBatch, fields: readonly NdjsonField[]): Promise<string> {
    const connection: DuckDBConnection = await (await this.database()).connect();
    try {
      const output = `${batch.path}.ndjson`;
      const columns = batch.columns.map((_, i) => `'c${i}': 'VARCHAR'`).join(", ");
      const buffer = csvBufferBytes(batch);
      const source =
        `read_csv(${literal(batch.path)}, columns = {${columns}}, header = false, auto_detect = false, ` +
        `delim = ',', quote = '"', escape = '"', new_line = '\\n', allow_quoted_nulls = false, ` +
        `max_line_size = ${buffer}, buffer_size = ${buffer})`;
      const select = fields.map((f) => `${f.sql} AS ${quoteDuckdb(f.name)}`).join(", ");
      await connection.run(
        `COPY (SELECT ${select} FROM (SELECT *, row_number() OVER () AS _sluice_row FROM ${source})) TO ${literal(output)} (FORMAT json)`,
      );
      return output;
    } finally {
      connection.closeSync();
    }
  }

  async close(): Promise<void> {
    const instance = this.instance;
    this.instance = undefined;
    if (instance) (await instance).closeSync();
  }
}

/**
 * Splits an NDJSON file into ranges of at most `maxBytes` (a row longer than that is a range of
 * its own), cut at line ends, without copying: each range is streamed into its own load job.
 */
export async function ndjsonChunks(file: string, maxBytes: number): Promise<NdjsonChunk[]> {
  const size = (await fs.promises.stat(file)).size;
  if (size <= maxBytes) return [{ path: file, start: 0, end: size, firstRow: 0 }];
  const chunks: NdjsonChunk[] = [];
  let chunkStart = 0;
  let chunkFirstRow = 0;
  let lastLineEnd = 0;
  let rows = 0;
  let offset = 0;
  for await (const piece of fs.createReadStream(file, { highWaterMark: 1 << 20 })) {
    const buffer = piece as Buffer;
    for (let i = buffer.indexOf(10); i !== -1; i = buffer.indexOf(10, i + 1)) {
      const lineEnd = offset + i + 1;
      if (lineEnd - chunkStart > maxBytes && lastLineEnd > chunkStart) {
        chunks.push({ path: file, start: chunkStart, end: lastLineEnd, firstRow: chunkFirstRow });
        chunkStart = lastLineEnd;
        chunkFirstRow = rows;
      }
      lastLineEnd = lineEnd;
      rows++;
    }
    offset += buffer.length;
  }
  if (chunkStart < size) chunks.push({ path: file, start: chunkStart, end: size, firstRow: chunkFirstRow });
  return chunks;
}

/** The 0-based row of a byte offset in an NDJSON file (BigQuery reports positions in bytes). */
export async function rowAtOffset(file: string, position: number): Promise<number> {
  let rows = 0;
  let offset = 0;
  for await (const piece of fs.createReadStream(file, {
    end: Math.max(0, position - 1),
    highWaterMark: 1 << 20,
  })) {
    const buffer = piece as Buffer;
    for (let i = buffer.indexOf(10); i !== -1; i = buffer.indexOf(10, i + 1)) rows++;
    offset += buffer.length;
  }
  return offset === 0 ? 0 : rows;
}

function csvBufferBytes(batch: RecordBatch): number {
  let buffer = 4 * 1024 * 1024;
  while (buffer <= batch.maxRowBytes + 1) buffer *= 2;
  return buffer;
}

function literal(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

function quoteDuckdb(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
