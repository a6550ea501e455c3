/**
 * sluice's own type model: what a column holds, independent of any engine. Extractors map their
 * source types onto it; loaders map it onto warehouse types. `sqlType` keeps the source's own name
 * (`numeric(12,2)`, `inet`, `money`) for catalogs and messages.
 *
 * The wire form of each kind (how a value is written in a batch file) is documented in
 * `batch.ts`: batches carry text, and every loader converts that text with these kinds.
 */
export type ColumnType =
  | { kind: "integer"; bits: 16 | 32 | 64; sqlType: string }
  | { kind: "decimal"; precision?: number; scale?: number; sqlType: string }
  | { kind: "float"; bits: 32 | 64; sqlType: string }
  | { kind: "boolean"; sqlType: string }
  | { kind: "string"; sqlType: string; maxLength?: number }
  | { kind: "uuid"; sqlType: string }
  | { kind: "json"; sqlType: string }
  | { kind: "date"; sqlType: string }
  | { kind: "time"; sqlType: string }
  | { kind: "timetz"; sqlType: string }
  | { kind: "timestamp"; sqlType: string }
  | { kind: "timestamptz"; sqlType: string }
  | { kind: "interval"; sqlType: string }
  | { kind: "bytes"; sqlType: string }
  | { kind: "array"; element: ColumnType; dimensions: number; sqlType: string };

export type ColumnKind = ColumnType["kind"];

export interface Column {
  name: string;
  type: ColumnType;
  nullable: boolean;
}

/** What a loader needs to know about one stream before its data arrives. */
export interface StreamSchema {
  /** Singer tap_stream_id, `<schema>-<table>` for PostgreSQL. */
  streamId: string;
  /** Source namespace and table name, used by loaders to name the target table. */
  sourceSchema: string;
  sourceTable: string;
  /** Selected columns, in batch column order. */
  columns: Column[];
  keyProperties: string[];
  /**
   * LOG_BASED: every change of the stream carries its whole row, so a loader never needs the
   * stored row to apply one: PostgreSQL's REPLICA IDENTITY FULL (a delete carries the deleted row,
   * an update the TOASTed values it left unchanged) on a plain table with no selected generated
   * column (logical replication does not send those). Absent when the source does not say
   * (Singer taps, other methods): a loader must not assume it.
   */
  wholeRowChanges?: boolean;
}
