import { PipelineError, SchemaError } from "../../../errors.js";
import type { ChangeEvent, StreamPlan } from "../../connector.js";
import { quoteLiteral } from "../postgres-connection.js";
import type { PgTypeInfo } from "../postgres-types.js";
import {
  decodePgOutput,
  pgTimestampDate,
  pgTimestampText,
  UNCHANGED_TOAST,
  type PgOutputBegin,
  type TupleField,
} from "./pgoutput-decoder.js";
import { formatLsn, type ReplicationMessage } from "./replication-message.js";
import { StreamState, type SpoolSettings } from "./change-stream.js";
import { relationColumnChange, type TableIdentity } from "./table-identity.js";

/** A column of a Relation message: its table's oid (the relation id) and its name. */
export interface ColumnRef {
  relationId: number;
  name: string;
}

/** One LOG_BASED stream the reader captures. */
export interface ChangeTable {
  plan: StreamPlan;
  /** Type of each column of the table by name (at least the plan's columns), as discovery read it. */
  pgTypes: Map<string, PgTypeInfo>;
  /**
   * Every column the table had when it was planned, selected or not: a column of a Relation
   * message outside this list was added at the source and joins the stream.
   */
  knownColumns: string[];
  /**
   * Where this table's changes start (its bookmark's `lsn`, or the consistent point of the slot
   * its snapshot came from): transactions that committed before it are in the table already.
   */
  fromLsn: bigint;
  /**
   * The table as the warehouse's copy saw it (the bookmark's `table_identity`): a Relation
   * message with another relation oid or another column type ends the stream's changes.
   */
  identity?: TableIdentity;
}

export interface ChangeReaderOptions {
  /** The replication stream: one pgoutput message per `data`; keepalives about every second while idle. */
  messages: AsyncIterable<ReplicationMessage>;
  /** Tables captured, by source schema and name; changes to other relations are ignored. */
  tables: ChangeTable[];
  spoolDir: string;
  /** A batch ends at the first row past this many bytes, or at this many rows, even inside a transaction. */
  maxBatchBytes: number;
  maxBatchRows: number;
  /** Gives the `_sdc_sequence` base of `rows` numbers; bases increase across calls. */
  allocateSequence(rows: number): number;
  /**
   * Batch mode: the server's WAL end when the run started. The reader ends once a commit or a
   * keepalive reached it, between transactions.
   */
  stopAt?: bigint;
  /**
   * Batch mode: end (between transactions) after this long in all, even short of `stopAt` (with
   * a warning saying so: the next run continues from the last checkpoint)...
   */
  maxRunSeconds: number;
  /**
   * ...or, without `stopAt`, after this long with the WAL position standing still. Never before
   * `stopAt`: a burst of WAL from tables not captured can take longer to read than this, and a
   * run that stopped then would end short of the changes committed before it started.
   */
  idleSeconds: number;
  /** Follow mode: ignore `stopAt`, `maxRunSeconds` and `idleSeconds`; end only when `signal` aborts. */
  follow: boolean;
  /** Ends the reader at the next transaction boundary (at once when between transactions), with a final checkpoint. */
  signal: AbortSignal;
  /** A checkpoint follows the commit after this many changes since the last one... */
  commitEveryChanges: number;
  /** ...or the first commit (or idle keepalive) this long after the last one. */
  commitEverySeconds: number;
  /** The type of a column added mid-stream, from its Relation message's type oid and typmod. */
  describeType(oid: number, typmod: number, column: ColumnRef): Promise<PgTypeInfo>;
  /**
   * Called before every checkpoint: the streams whose table changed in a way their changes
   * cannot follow (the catalog, compared with each `identity`). Read after the WAL up to the
   * checkpoint, so a DDL committed before it is always seen.
   */
  checkIdentities?(): Promise<{ streamId: string; reason: string }[]>;
  /**
   * Reads rows of the table now, by key: the values of fields an update left out of the WAL
   * that no warehouse row can supply (see `readChanges`). `keys` are the key properties' text,
   * `columns` the stream columns wanted; returns their text by column (null: NULL), or
   * undefined when no row has that key any more.
   */
  fetchRow?(
    table: ChangeTable,
    keys: Map<string, string>,
    columns: string[],
  ): Promise<Map<string, string | null> | undefined>;
  /** Clock in milliseconds (Date.now by default), for tests. */
  now?: () => number;
}

/**
 * Turns a pgoutput replication stream into `ChangeEvent`s (see connector.ts and the CDC section
 * of batch.ts): per stream, rows are spooled to a batch file as they arrive (a transaction of
 * any size is never held in memory) with the plan's columns and `_sdc_deleted_at`,
 * `_sdc_sequence`, `_sdc_unchanged`.
 *
 * - insert, update: the new row; unchanged TOAST values are left empty and listed in
 *   `_sdc_unchanged`. An update that changes the key also deletes the old key.
 * - delete: the old key (or the whole old row under REPLICA IDENTITY FULL), other fields
 *   unchanged, `_sdc_deleted_at` the commit time.
 * - A column of the stream that the Relation message no longer has (dropped, generated, or
 *   left out of the publication's column list) is written as unchanged: the warehouse keeps the
 *   column and its last value, and new rows get NULL there.
 * - A column added at the source: the stream's pending batch is yielded, then a `schema` event
 *   with the column appended; the rows after it carry the column.
 * - truncate: the pending batches of the truncated streams, then a `truncate` event.
 * - An update that changes the key under a key-only replica identity, with TOAST values left
 *   out: those values are read from the table by the new key (`fetchRow`).
 * - A table its changes cannot follow (a Relation message with another relation oid or column
 *   type than the table's `identity`, or `checkIdentities` before a checkpoint): its pending
 *   batch is dropped, a `recopy` event yielded, and none of its changes follow.
 *
 * A `checkpoint` comes only at a transaction boundary: after a commit (every
 * `commitEveryChanges` changes or `commitEverySeconds`), at its end LSN; or, between
 * transactions, at a keepalive's WAL end, which lets the slot advance on an idle database. Every
 * pending batch of every stream is yielded before it. The reader always ends with a checkpoint
 * when the position moved, and deletes spool files of batches it did not yield.
 *
 * Batches are cut at `maxBatchRows`; each batch reserves that many sequence numbers, row i
 * having `sequenceBase + i` in `_sdc_sequence`.
 */
export async function* readChanges(
  options: ChangeReaderOptions,
): AsyncGenerator<ChangeEvent, void, undefined> {
  const now = options.now ?? Date.now;
  const follow = options.follow;
  const streams = new Map<string, StreamState>();
  for (const table of options.tables) {
    streams.set(
      relationKey(table.plan.schema.sourceSchema, table.plan.schema.sourceTable),
      new StreamState(table),
    );
  }
  /** Streams whose changes stopped until a copy (a `recopy` event was yielded for each). */
  const stopped = new Set<StreamState>();
  const byStreamId = new Map([...streams.values()].map((s) => [s.schema.streamId, s]));
  const stop = async function* (stream: StreamState, reason: string): AsyncGenerator<ChangeEvent> {
    if (stopped.has(stream)) return;
    stopped.add(stream);
    // Its pending rows would be replaced by the copy anyway, and may not load (a type changed).
    await stream.discardBatch();
    yield { type: "recopy", streamId: stream.schema.streamId, reason };
  };
  /** By relation id: the stream it feeds, or null for a relation we do not capture. */
  const relations = new Map<number, StreamState | null>();
  const spool: SpoolSettings = {
    dir: options.spoolDir,
    maxBytes: Math.max(1, options.maxBatchBytes),
    maxRows: Math.max(1, options.maxBatchRows),
    allocateSequence: options.allocateSequence,
  };

  let checkpointed =
    options.tables.reduce<bigint | undefined>(
      (min, t) => (min === undefined || t.fromLsn < min ? t.fromLsn : min),
      undefined,
    ) ?? 0n;
  /** The latest transaction boundary seen: a commit's end, or an idle keepalive's WAL end. */
  let boundary = checkpointed;
  let transaction: { begin: PgOutputBegin; deletedAt: string | undefined } | undefined;
  let changesSinceCheckpoint = 0;
  const startedAt = now();
  let lastCheckpointAt = startedAt;
  /** When the WAL position last moved (a commit, a keepalive further on, a captured change). */
  let lastProgressAt = startedAt;
  let reachedStopAt = false;

  const pendingBatches = async function* (only?: Iterable<StreamState>): AsyncGenerator<ChangeEvent> {
    for (const stream of only ?? streams.values()) {
      const batch = await stream.finishBatch();
      if (batch) yield { type: "batch", batch };
    }
  };
  const checkpoint = async function* (position: bigint): AsyncGenerator<ChangeEvent> {
    for (const change of (await options.checkIdentities?.()) ?? []) {
      const stream = byStreamId.get(change.streamId);
      if (stream) yield* stop(stream, change.reason);
    }
    yield* pendingBatches();
    if (position > checkpointed) {
      yield { type: "checkpoint", position: position.toString() };
      checkpointed = position;
    }
    changesSinceCheckpoint = 0;
    lastCheckpointAt = now();
  };
  const commitDue = (): boolean =>
    changesSinceCheckpoint >= options.commitEveryChanges ||
    now() - lastCheckpointAt >= options.commitEverySeconds * 1000;
  let stoppedShort = false;
  const shouldStop = (): boolean => {
    if (options.signal.aborted) return true;
    if (follow) return false;
    if (reachedStopAt) return true;
    const t = now();
    if (t - startedAt >= options.maxRunSeconds * 1000) {
      stoppedShort = options.stopAt !== undefined;
      return true;
    }
    return options.stopAt === undefined && t - lastProgressAt >= options.idleSeconds * 1000;
  };

  const iterator = options.messages[Symbol.asyncIterator]();
  let waiting: Promise<IteratorResult<ReplicationMessage>> | undefined;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<"aborted">((resolve) => {
    onAbort = () => resolve("aborted");
    if (options.signal.aborted) onAbort();
    else options.signal.addEventListener("abort", onAbort, { once: true });
  });

  try {
    for (;;) {
      if (transaction === undefined && shouldStop()) break;
      waiting = iterator.next();
      // Between transactions an abort ends the reader at once; inside one, the transaction
      // is read to its commit first (its messages are already on their way).
      const next = transaction === undefined ? await Promise.race([waiting, aborted]) : await waiting;
      if (next === "aborted") break;
      waiting = undefined;
      if (next.done === true) break;
      const message = next.value;

      if (message.type === "keepalive") {
        // NOTE: a logical walsender's keepalive carries `sentPtr`, how far it has decoded and
        // sent (WalSndKeepalive), not the server's insert position: between transactions every
        // transaction committed before it has reached us, so it is a safe place to resume.
        if (transaction !== undefined) continue;
        if (message.walEnd > boundary) {
          boundary = message.walEnd;
          lastProgressAt = now();
        }
        if (options.stopAt !== undefined && boundary >= options.stopAt) reachedStopAt = true;
        // The source went quiet: changes read since the last checkpoint are made durable now
        // (latency), while a position that merely moved on is stored at most every
        // commitEverySeconds (no state write per keepalive).
        if (
          boundary > checkpointed &&
          (changesSinceCheckpoint > 0 || now() - lastCheckpointAt >= options.commitEverySeconds * 1000)
        ) {
          yield* checkpoint(boundary);
        }
        continue;
      }

      const m = decodePgOutput(message.data);
      switch (m.type) {
        case "begin":
          transaction = { begin: m, deletedAt: undefined };
          break;
        case "commit":
          transaction = undefined;
          if (m.endLsn > boundary) boundary = m.endLsn;
          lastProgressAt = now();
          if (options.stopAt !== undefined && m.endLsn >= options.stopAt) reachedStopAt = true;
          if (commitDue()) yield* checkpoint(boundary);
          break;
        case "relation": {
          const stream = streams.get(relationKey(m.namespace, m.name)) ?? null;
          const previous = relations.get(m.relationId);
          if (previous && previous !== stream) {
            // Its changes would otherwise be dropped silently from here on.
            throw new SchemaError(
              `${previous.table.plan.schema.sourceSchema}.${previous.table.plan.schema.sourceTable} was renamed to ${m.namespace}.${m.name} at the source; select the table under its new name (a new stream) or rename it back`,
            );
          }
          relations.set(m.relationId, stream);
          if (stream === null || stopped.has(stream)) break;
          const identity = stream.table.identity;
          const reason =
            identity === undefined
              ? undefined
              : identity.oid !== m.relationId
                ? `the table was dropped and created again (relation oid ${identity.oid}, now ${m.relationId})`
                : m.columns.map((c) => relationColumnChange(identity, c)).find((r) => r !== undefined);
          if (reason) yield* stop(stream, reason);
          else yield* stream.applyRelation(m, options.describeType);
          break;
        }
        case "insert":
        case "update":
        case "delete": {
          const stream = streamOf(relations, m.relationId);
          if (stream === null || transaction === undefined || stopped.has(stream)) break;
          if (stream.table.fromLsn > transaction.begin.finalLsn) break; // in the table's snapshot
          if (m.type === "insert") {
            await stream.writeRow(spool, m.newTuple, "N", undefined);
          } else if (m.type === "update") {
            if (m.oldTuple !== undefined && stream.keyChanged(m.oldTuple, m.newTuple)) {
              transaction.deletedAt ??= pgTimestampText(transaction.begin.commitTime);
              await stream.writeRow(spool, m.oldTuple, m.oldKind ?? "K", transaction.deletedAt);
            }
            // REPLICA IDENTITY FULL: the old row has the values TOAST left out of the new one.
            let newTuple =
              m.oldKind === "O" && m.oldTuple ? fillUnchanged(m.newTuple, m.oldTuple) : m.newTuple;
            if (
              m.oldKind === "K" &&
              m.oldTuple &&
              options.fetchRow &&
              stream.keyChanged(m.oldTuple, newTuple)
            ) {
              // The key changed and TOAST left values out: the new key has no warehouse row to
              // keep them from, and the old row (only its key here) does not carry them. They
              // are read from the table by the new key. What is read may be newer than this
              // change, which is still right at the end: a later update that changes such a
              // value carries it in full (a changed TOAST value is always in the WAL) and
              // applies after this one; one that leaves it out keeps what is stored, the value
              // read now; a later delete or key change removes this row anyway.
              const missing = stream.unchangedOf(newTuple);
              const values = missing && (await options.fetchRow(stream.table, missing.keys, missing.columns));
              if (values) newTuple = stream.fillUnchanged(newTuple, values);
            }
            await stream.writeRow(spool, newTuple, "N", undefined);
          } else {
            transaction.deletedAt ??= pgTimestampText(transaction.begin.commitTime);
            await stream.writeRow(spool, m.oldTuple, m.oldKind, transaction.deletedAt);
          }
          changesSinceCheckpoint += 1;
          lastProgressAt = now();
          const full = await stream.finishBatchIfFull(spool);
          if (full) yield { type: "batch", batch: full };
          break;
        }
        case "truncate": {
          if (transaction === undefined) break;
          const begin = transaction.begin;
          const truncated = [
            ...new Set(
              m.relationIds
                .map((id) => streamOf(relations, id))
                .filter(
                  (s): s is StreamState => s !== null && !stopped.has(s) && s.table.fromLsn <= begin.finalLsn,
                ),
            ),
          ];
          if (truncated.length === 0) break;
          yield* pendingBatches(truncated);
          yield {
            type: "truncate",
            streamIds: truncated.map((s) => s.schema.streamId),
            at: pgTimestampDate(begin.commitTime),
          };
          changesSinceCheckpoint += 1;
          lastProgressAt = now();
          break;
        }
        default:
          // type, origin, message: nothing to replicate.
          break;
      }
    }
    // The last checkpoint. Ending inside a transaction (the stream closed) yields its rows
    // so far, harmlessly: the position stays before it and the next run applies it again.
    yield* checkpoint(boundary);
    if (stoppedShort) {
      yield {
        type: "warning",
        message: `max_run_seconds (${options.maxRunSeconds}) ended the run at WAL position ${formatLsn(boundary)}, short of ${formatLsn(options.stopAt!)} where the WAL stood when it started; the next run continues from there`,
      };
    }
  } finally {
    if (onAbort) options.signal.removeEventListener("abort", onAbort);
    for (const stream of streams.values()) await stream.discardBatch();
    if (waiting !== undefined) {
      // A read is still pending (we stopped on abort): do not wait for it, nor for its failure.
      waiting.catch(() => undefined);
      void Promise.resolve(iterator.return?.()).catch(() => undefined);
    } else {
      await iterator.return?.();
    }
  }
}

function fillUnchanged(newTuple: TupleField[], oldTuple: TupleField[]): TupleField[] {
  return newTuple.map((field, i) => (field === UNCHANGED_TOAST ? (oldTuple[i] ?? field) : field));
}

function relationKey(schema: string, table: string): string {
  return `${schema}\u0000${table}`;
}

function streamOf(relations: Map<number, StreamState | null>, relationId: number): StreamState | null {
  const stream = relations.get(relationId);
  if (stream === undefined) {
    throw new PipelineError(
      `pgoutput sent a change of relation ${relationId} before describing it in a Relation message`,
    );
  }
  return stream;
}

/**
 * What `describeType` needs, read from the catalog as discovery reads a column (domains and
 * array elements resolved to their base types; an array's declared dimensions from the column,
 * when `column` is given and the table still has it). `query` runs one SQL statement (the simple
 * query protocol is enough, so a replication connection can run it) and returns its rows.
 */
export async function describePgType(
  query: (sql: string) => Promise<Record<string, unknown>[]>,
  oid: number,
  typmod: number,
  column?: ColumnRef,
): Promise<PgTypeInfo> {
  const oidText = String(Math.trunc(oid));
  const typmodText = String(Math.trunc(typmod));
  const dimensions =
    column === undefined
      ? "0"
      : `coalesce((SELECT a.attndims FROM pg_catalog.pg_attribute a WHERE a.attrelid = ${String(Math.trunc(column.relationId))} AND a.attname = ${quoteLiteral(column.name)} AND NOT a.attisdropped), 0)`;
  const rows = await query(`
    SELECT format_type(t.oid, ${typmodText}) AS formatted,
           CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE ${typmodText} END AS typmod,
           bt.typname AS typname, bt.typtype::text AS typtype, bt.typcategory::text AS typcategory,
           et.typname AS element_typname, et.typtype::text AS element_typtype,
           ${dimensions} AS dimensions
    FROM pg_catalog.pg_type t
    JOIN pg_catalog.pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
    LEFT JOIN pg_catalog.pg_type et0 ON bt.typcategory = 'A' AND et0.oid = bt.typelem
    LEFT JOIN pg_catalog.pg_type et ON et.oid = CASE WHEN et0.typtype = 'd' THEN et0.typbasetype ELSE et0.oid END
    WHERE t.oid = ${oidText}`);
  const row = rows[0];
  if (row === undefined) throw new PipelineError(`PostgreSQL has no type with oid ${oidText}`);
  const text = (key: string): string => String(row[key]);
  return {
    formatted: text("formatted"),
    typname: text("typname"),
    typtype: text("typtype"),
    typcategory: text("typcategory"),
    typmod: Number(row.typmod),
    dimensions: Number(row.dimensions),
    ...(row.element_typname !== null && row.element_typname !== undefined
      ? { elementTypname: text("element_typname"), elementTyptype: text("element_typtype") }
      : {}),
  };
}
