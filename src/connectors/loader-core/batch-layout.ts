import { SchemaError } from "../../errors.js";
import { DELETED_AT_COLUMN, SEQUENCE_COLUMN, UNCHANGED_COLUMN, type RecordBatch } from "../batch.js";
import type { ColumnType, StreamSchema } from "../column-type.js";

/**
 * Where each part of a batch is (see batch.ts): the stream's columns with their position in the
 * file (which `_sdc_unchanged` counts in) and type, and the positions of the three CDC columns
 * when the batch has them.
 */
export interface BatchLayout {
  columns: { name: string; type: ColumnType; index: number }[];
  deletedAt?: number;
  sequence?: number;
  unchanged?: number;
}

/** Lays out `batch` against its stream; a column the stream does not have is a SchemaError. */
export function batchLayout(batch: RecordBatch, schema: StreamSchema): BatchLayout {
  const types = new Map<string, ColumnType>(schema.columns.map((c) => [c.name, c.type]));
  const layout: BatchLayout = { columns: [] };
  for (const [index, name] of batch.columns.entries()) {
    if (name === DELETED_AT_COLUMN) layout.deletedAt = index;
    else if (name === SEQUENCE_COLUMN) layout.sequence = index;
    else if (name === UNCHANGED_COLUMN) layout.unchanged = index;
    else {
      const type = types.get(name);
      if (!type)
        throw new SchemaError(`${batch.streamId}: batch column "${name}" is not in the stream's schema`);
      layout.columns.push({ name, type, index });
    }
  }
  return layout;
}
