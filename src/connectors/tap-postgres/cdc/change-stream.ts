import fs from "node:fs";
import path from "node:path";
import { PipelineError } from "../../../errors.js";
import type { RecordBatch } from "../../batch.js";
import { DELETED_AT_COLUMN, SEQUENCE_COLUMN, UNCHANGED_COLUMN } from "../../batch.js";
import type { Column, StreamSchema } from "../../column-type.js";
import type { ChangeEvent } from "../../connector.js";
import { columnTypeOf, type PgTypeInfo } from "../postgres-types.js";
import type { ChangeReaderOptions, ChangeTable } from "./change-reader.js";
import { UNCHANGED_TOAST, type PgOutputRelation, type TupleField } from "./pgoutput-decoder.js";
import { wireConverterOf, type WireConverter } from "./pgoutput-values.js";

export interface SpoolSettings {
  dir: string;
  maxBytes: number;
  maxRows: number;
  allocateSequence(rows: number): number;
}

/** One captured stream: its current columns, how the source relation maps onto them, its open batch. */
export class StreamState {
  schema: StreamSchema;
  private readonly pgTypes: Map<string, PgTypeInfo>;
  private readonly known: Set<string>;
  private converters: (WireConverter | undefined)[];
  /** Per column of the Relation message: the stream column it fills, or -1. */
  private fieldColumn: number[] = [];
  /** Per column of the Relation message: part of the replica identity. */
  private fieldIsKey: boolean[] = [];
  /** Stream columns the Relation message does not have (written as unchanged). */
  private absent: number[] = [];
  /** Per stream column name: the type oid of the last Relation message, to notice a type change. */
  private readonly typeOids = new Map<string, number>();
  /** Relation field index of each key property, when the relation has it. */
  private keyFields: number[] = [];
  /** Per column of the Relation message: its name. */
  private fieldNames: string[] = [];
  private writer: BatchFile | undefined;
  private described = false;

  constructor(readonly table: ChangeTable) {
    this.schema = table.plan.schema;
    this.pgTypes = new Map(table.pgTypes);
    this.known = new Set([...table.knownColumns, ...this.schema.columns.map((c) => c.name)]);
    this.converters = this.schema.columns.map((c) => this.converterOf(c.name));
  }

  private converterOf(name: string): WireConverter | undefined {
    const pg = this.pgTypes.get(name);
    if (pg === undefined) {
      throw new PipelineError(`${this.schema.streamId}: no PostgreSQL type known for column "${name}"`);
    }
    return wireConverterOf(pg);
  }

  get columnNames(): string[] {
    return [...this.schema.columns.map((c) => c.name), DELETED_AT_COLUMN, SEQUENCE_COLUMN, UNCHANGED_COLUMN];
  }

  /** Maps the relation's columns onto the stream's; a column new to the table joins the stream. */
  async *applyRelation(
    relation: PgOutputRelation,
    describeType: ChangeReaderOptions["describeType"],
  ): AsyncGenerator<ChangeEvent> {
    const added: Column[] = [];
    for (const column of relation.columns) {
      if (this.known.has(column.name)) {
        const previous = this.typeOids.get(column.name);
        if (previous !== undefined && previous !== column.typeOid && this.isStreamColumn(column.name)) {
          // ALTER COLUMN ... TYPE: print values by the new type; the warehouse column stays.
          this.pgTypes.set(
            column.name,
            await describeType(column.typeOid, column.typmod, {
              relationId: relation.relationId,
              name: column.name,
            }),
          );
        }
      } else {
        const pg = await describeType(column.typeOid, column.typmod, {
          relationId: relation.relationId,
          name: column.name,
        });
        this.pgTypes.set(column.name, pg);
        this.known.add(column.name);
        added.push({ name: column.name, type: columnTypeOf(pg), nullable: true });
      }
      this.typeOids.set(column.name, column.typeOid);
    }
    if (added.length > 0) {
      // The pending rows have the old columns: they go out before the schema changes.
      const batch = await this.finishBatch();
      if (batch) yield { type: "batch", batch };
      this.schema = { ...this.schema, columns: [...this.schema.columns, ...added] };
      yield { type: "schema", schema: this.schema };
    }
    this.converters = this.schema.columns.map((c) => this.converterOf(c.name));
    const index = new Map(this.schema.columns.map((c, i) => [c.name, i]));
    this.fieldColumn = relation.columns.map((c) => index.get(c.name) ?? -1);
    this.fieldIsKey = relation.columns.map((c) => c.key);
    this.fieldNames = relation.columns.map((c) => c.name);
    const present = new Set(relation.columns.map((c) => c.name));
    this.absent = this.schema.columns.flatMap((c, i) => (present.has(c.name) ? [] : [i]));
    const fieldOf = new Map(relation.columns.map((c, i) => [c.name, i]));
    this.keyFields = this.schema.keyProperties.flatMap((k) => {
      const i = fieldOf.get(k);
      return i === undefined ? [] : [i];
    });
    this.described = true;
  }

  private isStreamColumn(name: string): boolean {
    return this.schema.columns.some((c) => c.name === name);
  }

  /** An update whose old key (sent when the key changed) differs from the new one. */
  keyChanged(oldTuple: TupleField[], newTuple: TupleField[]): boolean {
    return this.keyFields.some((i) => {
      const before = oldTuple[i];
      const after = newTuple[i];
      return typeof before === "string" && typeof after === "string" && before !== after;
    });
  }

  /**
   * The stream columns a new row left out as unchanged TOAST, and its key (by name, as text);
   * undefined when it left none out or lacks a key property.
   */
  unchangedOf(tuple: TupleField[]): { keys: Map<string, string>; columns: string[] } | undefined {
    const columns = tuple.flatMap((field, i) =>
      field === UNCHANGED_TOAST && (this.fieldColumn[i] ?? -1) >= 0 ? [this.fieldNames[i]!] : [],
    );
    if (columns.length === 0 || this.keyFields.length !== this.schema.keyProperties.length) return undefined;
    const keys = new Map<string, string>();
    for (const i of this.keyFields) {
      const value = tuple[i];
      if (typeof value !== "string") return undefined;
      keys.set(this.fieldNames[i]!, value);
    }
    return { keys, columns };
  }

  /** `tuple` with the unchanged TOAST fields named in `values` replaced by those values. */
  fillUnchanged(tuple: TupleField[], values: Map<string, string | null>): TupleField[] {
    return tuple.map((field, i) => {
      if (field !== UNCHANGED_TOAST) return field;
      const value = values.get(this.fieldNames[i]!);
      return value === undefined ? field : value;
    });
  }

  /**
   * Writes one change. `kind` is the tuple's: N new row, O whole old row, K old key (its other
   * fields are not values but absent). `deletedAt` makes it a delete.
   */
  async writeRow(
    spool: SpoolSettings,
    tuple: TupleField[],
    kind: "N" | "O" | "K",
    deletedAt: string | undefined,
  ): Promise<void> {
    if (!this.described) {
      throw new PipelineError(
        `${this.schema.streamId}: a change arrived before the table's Relation message`,
      );
    }
    const width = this.schema.columns.length;
    const values: (string | null)[] = new Array<string | null>(width).fill(null);
    const unchanged: number[] = [...this.absent];
    const onlyKey = kind === "K";
    for (let i = 0; i < tuple.length; i++) {
      const column = this.fieldColumn[i];
      if (column === undefined || column < 0) continue;
      if (onlyKey && !this.fieldIsKey[i]) {
        unchanged.push(column);
        continue;
      }
      const field = tuple[i];
      if (field === null || field === undefined) continue;
      if (field === UNCHANGED_TOAST) {
        unchanged.push(column);
      } else if (typeof field === "string") {
        const convert = this.converters[column];
        values[column] = convert === undefined ? field : convert(field);
      } else {
        throw new PipelineError(
          `${this.schema.streamId}: pgoutput sent a binary value for column "${this.schema.columns[column]?.name}"; sluice starts replication without the binary option`,
        );
      }
    }
    this.writer ??= await BatchFile.open(spool, this.schema.streamId, this.columnNames);
    let line = "";
    for (let j = 0; j < width; j++) {
      if (j > 0) line += ",";
      const value = values[j];
      if (value !== null && value !== undefined) line += csvField(value);
    }
    unchanged.sort((a, b) => a - b);
    const unchangedText = unchanged.join(",");
    line += `,${deletedAt ?? ""},${this.writer.nextSequence()},${unchanged.length > 1 ? `"${unchangedText}"` : unchangedText}`;
    await this.writer.add(line);
  }

  async finishBatchIfFull(spool: SpoolSettings): Promise<RecordBatch | undefined> {
    const w = this.writer;
    if (w === undefined || (w.rows < spool.maxRows && w.bytes < spool.maxBytes)) return undefined;
    return this.finishBatch();
  }

  async finishBatch(): Promise<RecordBatch | undefined> {
    const w = this.writer;
    this.writer = undefined;
    if (w === undefined) return undefined;
    return w.finish();
  }

  async discardBatch(): Promise<void> {
    const w = this.writer;
    this.writer = undefined;
    await w?.discard();
  }
}

const NEEDS_QUOTES = /[",\n\r]/;

/** A non-NULL field as PostgreSQL's COPY CSV writes it: quoted when empty or holding `",\n\r`. */
function csvField(value: string): string {
  if (value === "") return '""';
  return NEEDS_QUOTES.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

let fileCounter = 0;
/** Rows buffered before a write to the spool file. */
const FLUSH_BYTES = 256 * 1024;

/** One batch's spool file, written through a small buffer. */
class BatchFile {
  rows = 0;
  bytes = 0;
  private maxRowBytes = 0;
  private buffered: string[] = [];
  private bufferedBytes = 0;
  private readonly extractedAt = new Date();

  private constructor(
    private readonly streamId: string,
    private readonly columns: string[],
    private readonly filePath: string,
    private readonly handle: fs.promises.FileHandle,
    private readonly sequenceBase: number,
  ) {}

  static async open(spool: SpoolSettings, streamId: string, columns: string[]): Promise<BatchFile> {
    fileCounter += 1;
    const safe = streamId.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 60);
    const name = path.join(spool.dir, `${safe}-cdc-${process.pid}-${Date.now()}-${fileCounter}.csv`);
    const handle = await fs.promises.open(name, "w");
    // A batch never holds more than maxRows rows: reserve their sequence numbers up front, so
    // each row can be written with its own.
    return new BatchFile(streamId, columns, name, handle, spool.allocateSequence(spool.maxRows));
  }

  nextSequence(): number {
    return this.sequenceBase + this.rows;
  }

  async add(line: string): Promise<void> {
    const size = Buffer.byteLength(line);
    if (size > this.maxRowBytes) this.maxRowBytes = size;
    this.rows += 1;
    this.bytes += size + 1;
    this.buffered.push(line, "\n");
    this.bufferedBytes += size + 1;
    if (this.bufferedBytes >= FLUSH_BYTES) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.buffered.length === 0) return;
    const data = Buffer.from(this.buffered.join(""));
    this.buffered = [];
    this.bufferedBytes = 0;
    let offset = 0;
    while (offset < data.length) {
      const { bytesWritten } = await this.handle.write(data, offset, data.length - offset);
      offset += bytesWritten;
    }
  }

  async finish(): Promise<RecordBatch> {
    await this.flush();
    await this.handle.close();
    return {
      streamId: this.streamId,
      path: this.filePath,
      columns: this.columns,
      rowCount: this.rows,
      byteCount: this.bytes,
      maxRowBytes: this.maxRowBytes,
      extractedAt: this.extractedAt,
      sequenceBase: this.sequenceBase,
    };
  }

  async discard(): Promise<void> {
    await this.handle.close().catch(() => undefined);
    await fs.promises.rm(this.filePath, { force: true });
  }
}
