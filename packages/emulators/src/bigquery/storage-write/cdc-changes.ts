import type { DuckDBConnection } from "@duckdb/node-api";
import type { JsonObject, JsonValue } from "sluice/dist/protocol/exact-json.js";
import type { BigQueryCatalog, TableEntry } from "../bigquery-catalog.js";
import { insertRows } from "../bigquery-load-job.js";
import { canonicalScalar } from "../bigquery-value-parser.js";
import { duckdbSchema, duckdbType, findField, quoteIdent, sqlString } from "../bigquery-types.js";
import { compareChangeSequenceNumbers, type ChangeSequenceNumber } from "./change-sequence-number.js";

/** One change received on a table's default stream, not yet applied. */
export interface PendingChange {
  type: "UPSERT" | "DELETE";
  /** The primary key's canonical values, joined: the identity of the row. */
  key: string;
  keyValues: JsonValue[];
  row: JsonObject;
  sequence?: ChangeSequenceNumber;
  /** Arrival order: with no (or an equal) sequence number, the later change wins. */
  arrival: number;
}

/** What the emulator counted, for the benchmark: what BigQuery would bill or meter. */
export interface StorageWriteStats {
  appendRequests: number;
  /** Rows received by AppendRows (every stream). */
  rowsAppended: number;
  /** `serialized_rows` bytes received: what Storage Write API ingestion is priced on. */
  bytesReceived: number;
  /** Background apply jobs that applied at least one change. */
  applyJobs: number;
  /**
   * Bytes those jobs processed: the logical bytes of each table they rewrote, as a MERGE of the
   * changes into the table would scan it (the emulator's estimate: the text length of each row).
   */
  applyBytesProcessed: number;
}

/**
 * The change data capture state of the emulator's tables: changes received on default streams
 * with `_CHANGE_TYPE`, applied to the table's rows later, as BigQuery applies them:
 * - a table without `max_staleness` answers every query with every change applied (BigQuery
 *   applies them when the query starts): here they are applied as soon as they are received;
 * - a table with `max_staleness` may answer with data up to that old: background apply jobs run
 *   at that interval, and queries read the table as the last one left it. `applyPending()` runs
 *   one now (a test waiting for BigQuery's background job).
 * - a table that received changes is a CDC-enabled table, on which BigQuery refuses mutating DML
 *   (UPDATE, DELETE, MERGE: "CDC-enabled tables don't support ... mutating data manipulation
 *   language (DML) statements", https://cloud.google.com/bigquery/docs/change-data-capture#limitations);
 *   the query job asks `isCdcTable` and refuses them. The other statements that may still run
 *   (INSERT, TRUNCATE TABLE) see every change applied first.
 * Per key, the change with the greatest `_CHANGE_SEQUENCE_NUMBER` wins, also against the changes
 * already applied (so a change resent after a retry, at-least-once, cannot undo a newer one);
 * without sequence numbers the later arrival wins.
 */
export class CdcChanges {
  readonly stats: StorageWriteStats = {
    appendRequests: 0,
    rowsAppended: 0,
    bytesReceived: 0,
    applyJobs: 0,
    applyBytesProcessed: 0,
  };
  private readonly pending = new Map<string, PendingChange[]>();
  /** Tables that received changes (`dataset.table`): CDC-enabled, until dropped or replaced. */
  private readonly cdcTables = new Set<string>();
  /** Per table, per key: the sequence number of the change applied last. */
  private readonly applied = new Map<string, Map<string, ChangeSequenceNumber | undefined>>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private arrivals = 0;

  constructor(private readonly catalog: BigQueryCatalog) {}

  nextArrival(): number {
    return ++this.arrivals;
  }

  /** Queues `changes` for the table; applies them now unless the table has `max_staleness`. */
  async receive(
    connection: DuckDBConnection,
    datasetId: string,
    table: TableEntry,
    changes: PendingChange[],
  ): Promise<void> {
    const id = `${datasetId}.${table.tableId}`;
    this.cdcTables.add(id);
    const queue = this.pending.get(id) ?? [];
    queue.push(...changes);
    this.pending.set(id, queue);
    const staleness = maxStalenessMs(table.maxStaleness);
    if (staleness === undefined || staleness === 0) {
      await this.applyTable(connection, datasetId, table.tableId);
      return;
    }
    if (!this.timers.has(id)) {
      const timer = setInterval(() => {
        void this.catalog
          .exclusive((c) => this.applyTable(c, datasetId, table.tableId))
          .catch(() => undefined);
      }, staleness);
      timer.unref();
      this.timers.set(id, timer);
    }
  }

  /** Runs the background apply of every table now (inside `catalog.exclusive`). */
  async applyAll(connection: DuckDBConnection): Promise<void> {
    for (const id of [...this.pending.keys()]) {
      const [datasetId, tableId] = id.split(".") as [string, string];
      await this.applyTable(connection, datasetId, tableId);
    }
  }

  /** Forgets a table's changes (the table was dropped or replaced). */
  forget(datasetId: string, tableId: string): void {
    const id = `${datasetId}.${tableId}`;
    this.pending.delete(id);
    this.applied.delete(id);
    this.cdcTables.delete(id);
    clearInterval(this.timers.get(id));
    this.timers.delete(id);
  }

  /** Whether the table received change data capture changes (and is still the same table). */
  isCdcTable(datasetId: string, tableId: string): boolean {
    return this.cdcTables.has(`${datasetId}.${tableId}`);
  }

  hasPending(): boolean {
    return [...this.pending.values()].some((q) => q.length > 0);
  }

  close(): void {
    for (const timer of this.timers.values()) clearInterval(timer);
    this.timers.clear();
  }

  private async applyTable(connection: DuckDBConnection, datasetId: string, tableId: string): Promise<void> {
    const id = `${datasetId}.${tableId}`;
    const queue = this.pending.get(id);
    if (!queue || queue.length === 0) return;
    this.pending.set(id, []);
    const table = this.catalog.findTable(datasetId, tableId);
    if (!table) return this.forget(datasetId, tableId);
    const keys = table.tableConstraints?.primaryKey?.columns ?? [];
    const applied = this.applied.get(id) ?? new Map<string, ChangeSequenceNumber | undefined>();
    this.applied.set(id, applied);
    const winners = new Map<string, PendingChange>();
    for (const change of queue) {
      const current = winners.get(change.key);
      if (!current || wins(change, current)) winners.set(change.key, change);
    }
    const effective = [...winners.values()].filter((change) => {
      if (!applied.has(change.key)) return true;
      const last = applied.get(change.key);
      return !(last && change.sequence && compareChangeSequenceNumbers(change.sequence, last) < 0);
    });
    if (effective.length === 0) return;
    const name = `${quoteIdent(duckdbSchema(datasetId))}.${quoteIdent(tableId)}`;
    await connection.run("BEGIN TRANSACTION");
    try {
      const fields = keys.map((k) => findField(table.schema, k)!);
      for (let i = 0; i < effective.length; i += 500) {
        const conditions = effective.slice(i, i + 500).map(
          (change) =>
            `(${fields
              .map((field, j) => {
                const value = change.keyValues[j] ?? null;
                if (value === null) return `${quoteIdent(field.name)} IS NULL`;
                const text = canonicalScalar(field, value, field.name);
                return `${quoteIdent(field.name)} = CAST(${sqlString(text)} AS ${duckdbType(field)})`;
              })
              .join(" AND ")})`,
        );
        await connection.run(`DELETE FROM ${name} WHERE ${conditions.join(" OR ")}`);
      }
      const upserts = effective.filter((c) => c.type === "UPSERT").map((c) => c.row);
      if (upserts.length > 0) {
        const errors = await insertRows(this.catalog, connection, datasetId, tableId, upserts, {
          skipInvalidRows: false,
          ignoreUnknownValues: false,
        });
        if (errors.length > 0) throw new Error(`background apply failed: ${JSON.stringify(errors[0])}`);
      }
      const size = await connection.runAndReadAll(
        `SELECT coalesce(sum(strlen(CAST(t AS VARCHAR))), 0) FROM ${name} AS t`,
      );
      this.stats.applyBytesProcessed += Number(size.getRows()[0]?.[0] ?? 0);
      this.stats.applyJobs++;
      await connection.run("COMMIT");
    } catch (error) {
      await connection.run("ROLLBACK");
      this.pending.set(id, [...queue, ...(this.pending.get(id) ?? [])]);
      throw error;
    }
    for (const change of effective) applied.set(change.key, change.sequence);
    table.lastModifiedTime = String(Date.now());
  }
}

function wins(change: PendingChange, current: PendingChange): boolean {
  if (change.sequence && current.sequence) {
    const order = compareChangeSequenceNumbers(change.sequence, current.sequence);
    if (order !== 0) return order > 0;
  }
  return change.arrival > current.arrival;
}

/**
 * A table's `maxStaleness` (the REST API's IntervalValue text, `Y-M D H:M:S`, e.g. `0-0 0 0:15:0`)
 * in milliseconds; undefined when the table has none.
 */
export function maxStalenessMs(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const match = /^(\d+)-(\d+) (\d+) (\d+):(\d+):(\d+(?:\.\d+)?)$/.exec(text.trim());
  if (!match) return undefined;
  const [, years, months, days, hours, minutes, seconds] = match.map(Number) as number[];
  const totalDays = years! * 360 + months! * 30 + days!;
  return Math.round((((totalDays * 24 + hours!) * 60 + minutes!) * 60 + seconds!) * 1000);
}
