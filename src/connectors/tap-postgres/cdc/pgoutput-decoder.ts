import { PipelineError } from "../../../errors.js";

/**
 * Decodes the messages of PostgreSQL's built-in logical decoding plugin, pgoutput ("Logical
 * Replication Message Formats" in the protocol chapter of the PostgreSQL docs; the writer is
 * src/backend/replication/logical/proto.c). Pure: one Buffer in (the payload of one XLogData
 * message, or one `data` row of `pg_logical_slot_get_binary_changes`), one typed message out.
 *
 * Protocol versions 1 to 4 share every message decoded here as long as `streaming` is off (the
 * only difference is an xid prefix on messages of streamed transactions). Streamed and two-phase
 * transactions are refused with an error that says how the slot was misconfigured.
 */

/** A tuple field the WAL did not carry: an unchanged TOASTed value ('u'). Never the same as null. */
export const UNCHANGED_TOAST: unique symbol = Symbol("unchanged TOAST value");
export type UnchangedToast = typeof UNCHANGED_TOAST;

/**
 * One column value of a tuple, in the relation's column order: null ('n'), unchanged TOAST ('u'),
 * the type output function's text ('t', kept as received, never parsed), or the type's binary
 * send form ('b', only with the `binary` option).
 */
export type TupleField = string | Buffer | null | UnchangedToast;

export interface RelationColumn {
  /** Part of the replica identity (flags bit 1). */
  key: boolean;
  name: string;
  typeOid: number;
  /** atttypmod; -1 when the type has none. */
  typmod: number;
}

export interface PgOutputBegin {
  type: "begin"; // B
  /** LSN of the transaction's commit record. */
  finalLsn: bigint;
  /** Microseconds since 2000-01-01 00:00:00 UTC. */
  commitTime: bigint;
  xid: number;
}

export interface PgOutputCommit {
  type: "commit"; // C
  flags: number;
  /** LSN of the commit record. */
  commitLsn: bigint;
  /** End of the commit record: where a client that processed the transaction resumes. */
  endLsn: bigint;
  commitTime: bigint;
}

export interface PgOutputOrigin {
  type: "origin"; // O
  originLsn: bigint;
  name: string;
}

export interface PgOutputRelation {
  type: "relation"; // R
  relationId: number;
  /** Empty for pg_catalog, as the server sends it. */
  namespace: string;
  name: string;
  /** relreplident: d default, n nothing, f full, i index. */
  replicaIdentity: string;
  columns: RelationColumn[];
}

export interface PgOutputType {
  type: "type"; // Y
  typeOid: number;
  namespace: string;
  name: string;
}

export interface PgOutputInsert {
  type: "insert"; // I
  relationId: number;
  newTuple: TupleField[];
}

export interface PgOutputUpdate {
  type: "update"; // U
  relationId: number;
  /** 'K': the old replica identity key (other fields null); 'O': the whole old row (REPLICA IDENTITY FULL). */
  oldKind?: "K" | "O";
  oldTuple?: TupleField[];
  newTuple: TupleField[];
}

export interface PgOutputDelete {
  type: "delete"; // D
  relationId: number;
  oldKind: "K" | "O";
  oldTuple: TupleField[];
}

export interface PgOutputTruncate {
  type: "truncate"; // T
  cascade: boolean;
  restartIdentity: boolean;
  relationIds: number[];
}

export interface PgOutputMessage {
  type: "message"; // M
  transactional: boolean;
  lsn: bigint;
  prefix: string;
  content: Buffer;
}

export type PgOutput =
  | PgOutputBegin
  | PgOutputCommit
  | PgOutputOrigin
  | PgOutputRelation
  | PgOutputType
  | PgOutputInsert
  | PgOutputUpdate
  | PgOutputDelete
  | PgOutputTruncate
  | PgOutputMessage;

const UNSUPPORTED: Record<string, string> = {
  S: "Stream Start",
  E: "Stream Stop",
  c: "Stream Commit",
  A: "Stream Abort",
  p: "Stream Prepare",
  b: "Begin Prepare",
  P: "Prepare",
  K: "Commit Prepared",
  r: "Rollback Prepared",
};

/** Decodes one pgoutput message. Throws a PipelineError for a malformed or unsupported message. */
export function decodePgOutput(data: Buffer): PgOutput {
  const reader = new Reader(data);
  const tag = String.fromCharCode(reader.byte());
  switch (tag) {
    case "B": // Begin
      return { type: "begin", finalLsn: reader.lsn(), commitTime: reader.int64(), xid: reader.uint32() };
    case "C": // Commit
      return {
        type: "commit",
        flags: reader.byte(),
        commitLsn: reader.lsn(),
        endLsn: reader.lsn(),
        commitTime: reader.int64(),
      };
    case "O": // Origin
      return { type: "origin", originLsn: reader.lsn(), name: reader.string() };
    case "R": {
      // Relation
      const relationId = reader.uint32();
      const namespace = reader.string();
      const name = reader.string();
      const replicaIdentity = String.fromCharCode(reader.byte());
      const count = reader.int16();
      const columns: RelationColumn[] = [];
      for (let i = 0; i < count; i++) {
        const flags = reader.byte();
        columns.push({
          key: (flags & 1) === 1,
          name: reader.string(),
          typeOid: reader.uint32(),
          typmod: reader.int32(),
        });
      }
      return { type: "relation", relationId, namespace, name, replicaIdentity, columns };
    }
    case "Y": // Type
      return { type: "type", typeOid: reader.uint32(), namespace: reader.string(), name: reader.string() };
    case "I": {
      // Insert
      const relationId = reader.uint32();
      reader.expect("N");
      return { type: "insert", relationId, newTuple: reader.tuple() };
    }
    case "U": {
      // Update
      const relationId = reader.uint32();
      const kind = String.fromCharCode(reader.byte());
      if (kind === "K" || kind === "O") {
        const oldTuple = reader.tuple();
        reader.expect("N");
        return { type: "update", relationId, oldKind: kind, oldTuple, newTuple: reader.tuple() };
      }
      if (kind !== "N") throw reader.malformed(`an update with tuple kind '${kind}'`);
      return { type: "update", relationId, newTuple: reader.tuple() };
    }
    case "D": {
      // Delete
      const relationId = reader.uint32();
      const kind = String.fromCharCode(reader.byte());
      if (kind !== "K" && kind !== "O") throw reader.malformed(`a delete with tuple kind '${kind}'`);
      return { type: "delete", relationId, oldKind: kind, oldTuple: reader.tuple() };
    }
    case "T": {
      // Truncate
      const count = reader.uint32();
      const options = reader.byte();
      const relationIds: number[] = [];
      for (let i = 0; i < count; i++) relationIds.push(reader.uint32());
      return {
        type: "truncate",
        cascade: (options & 1) !== 0,
        restartIdentity: (options & 2) !== 0,
        relationIds,
      };
    }
    case "M": {
      // Message (pg_logical_emit_message, with the `messages` option)
      const transactional = (reader.byte() & 1) === 1;
      const lsn = reader.lsn();
      const prefix = reader.string();
      const length = reader.uint32();
      return { type: "message", transactional, lsn, prefix, content: reader.bytes(length) };
    }
    default: {
      const name = UNSUPPORTED[tag];
      if (name !== undefined) {
        throw new PipelineError(
          `pgoutput sent a ${name} message ('${tag}'): sluice starts replication with streaming and two_phase off, so the slot or the START_REPLICATION options are not the ones sluice set up`,
        );
      }
      throw reader.malformed(`an unknown message type '${tag}' (byte ${data[0]})`);
    }
  }
}

/** A cursor over one message; every read checks the bounds so a short message fails clearly. */
class Reader {
  private offset = 0;
  constructor(private readonly data: Buffer) {}

  malformed(what: string): PipelineError {
    const tag = this.data.length > 0 ? String.fromCharCode(this.data[0]!) : "(empty)";
    return new PipelineError(
      `malformed pgoutput message '${tag}' (${this.data.length} bytes): ${what} at byte ${this.offset}`,
    );
  }

  private need(bytes: number): void {
    if (this.offset + bytes > this.data.length) throw this.malformed(`${bytes} more bytes expected`);
  }

  byte(): number {
    this.need(1);
    return this.data[this.offset++]!;
  }

  int16(): number {
    this.need(2);
    const value = this.data.readInt16BE(this.offset);
    this.offset += 2;
    return value;
  }

  int32(): number {
    this.need(4);
    const value = this.data.readInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  uint32(): number {
    this.need(4);
    const value = this.data.readUInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  /** Timestamps (signed). */
  int64(): bigint {
    this.need(8);
    const value = this.data.readBigInt64BE(this.offset);
    this.offset += 8;
    return value;
  }

  /** LSNs (unsigned). */
  lsn(): bigint {
    this.need(8);
    const value = this.data.readBigUInt64BE(this.offset);
    this.offset += 8;
    return value;
  }

  string(): string {
    const end = this.data.indexOf(0, this.offset);
    if (end < 0) throw this.malformed("a string without its terminating zero byte");
    const value = this.data.toString("utf8", this.offset, end);
    this.offset = end + 1;
    return value;
  }

  bytes(length: number): Buffer {
    this.need(length);
    const value = this.data.subarray(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }

  expect(kind: string): void {
    const got = String.fromCharCode(this.byte());
    if (got !== kind) throw this.malformed(`tuple kind '${kind}' expected, got '${got}'`);
  }

  tuple(): TupleField[] {
    const count = this.int16();
    const fields: TupleField[] = new Array<TupleField>(count);
    for (let i = 0; i < count; i++) {
      const kind = this.byte();
      switch (kind) {
        case 0x6e: // n: null
          fields[i] = null;
          break;
        case 0x75: // u: unchanged TOAST value
          fields[i] = UNCHANGED_TOAST;
          break;
        case 0x74: {
          // t: text
          const length = this.uint32();
          this.need(length);
          fields[i] = this.data.toString("utf8", this.offset, this.offset + length);
          this.offset += length;
          break;
        }
        case 0x62: // b: binary
          fields[i] = Buffer.from(this.bytes(this.uint32()));
          break;
        default:
          throw this.malformed(`an unknown tuple field kind '${String.fromCharCode(kind)}'`);
      }
    }
    return fields;
  }
}

const MICROS_PER_DAY = 86_400_000_000n;
/** Days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch. */
const PG_EPOCH_UNIX_DAYS = 10_957n;
const PG_EPOCH_UNIX_MS = 946_684_800_000;

/**
 * A PostgreSQL timestamp (microseconds since 2000-01-01 UTC) as `timestamptz` prints it with
 * DateStyle ISO in UTC: `2024-01-31 12:00:00.123456+00`, trailing zeros of the fraction dropped
 * (and the fraction with them when zero), ` BC` for years before 1. Exact to the microsecond,
 * which a JavaScript Date is not.
 */
export function pgTimestampText(micros: bigint): string {
  let days = micros / MICROS_PER_DAY;
  let rest = micros % MICROS_PER_DAY;
  if (rest < 0n) {
    rest += MICROS_PER_DAY;
    days -= 1n;
  }
  const [year, month, day] = civilFromDays(Number(days + PG_EPOCH_UNIX_DAYS));
  const seconds = Number(rest / 1_000_000n);
  const fraction = Number(rest % 1_000_000n);
  const time = `${pad(Math.floor(seconds / 3600), 2)}:${pad(Math.floor(seconds / 60) % 60, 2)}:${pad(seconds % 60, 2)}`;
  const fractionText = fraction === 0 ? "" : `.${pad(fraction, 6).replace(/0+$/, "")}`;
  const bc = year <= 0;
  return `${pad(bc ? 1 - year : year, 4)}-${pad(month, 2)}-${pad(day, 2)} ${time}${fractionText}+00${bc ? " BC" : ""}`;
}

/** A PostgreSQL timestamp as a Date (millisecond precision). */
export function pgTimestampDate(micros: bigint): Date {
  return new Date(PG_EPOCH_UNIX_MS + Number(micros / 1000n));
}

function pad(value: number, width: number): string {
  return String(value).padStart(width, "0");
}

/** Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm). */
function civilFromDays(daysSinceUnixEpoch: number): [number, number, number] {
  const z = daysSinceUnixEpoch + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  return [year, month, day];
}
