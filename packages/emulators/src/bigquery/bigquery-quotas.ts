import { BigQueryApiError } from "./bigquery-api-error.js";
import {
  BIGQUERY_LIMITS,
  DAY_MS,
  METADATA_WINDOW_MS,
  TROUBLESHOOT_QUOTAS,
  type BigQueryLimits,
} from "./bigquery-limits.js";

/**
 * The time the emulator's quotas read: real time by default; a test sets or advances it (the
 * `clock` of the emulator handle, or `POST /emulator/clock`) to live through a day in a second.
 */
export class BigQueryClock {
  private offsetMs = 0;

  now(): number {
    return Date.now() + this.offsetMs;
  }

  /** Moves the clock to `at` (and on from there at real speed). */
  set(at: Date | number): void {
    this.offsetMs = (typeof at === "number" ? at : at.getTime()) - Date.now();
  }

  advance(ms: number): void {
    this.offsetMs += ms;
  }
}

/** Events in a sliding window: how many happened in the last `windowMs`. */
class SlidingCount {
  private readonly times: number[] = [];

  constructor(private readonly windowMs: number) {}

  count(now: number): number {
    const since = now - this.windowMs;
    let drop = 0;
    while (drop < this.times.length && this.times[drop]! <= since) drop++;
    if (drop > 0) this.times.splice(0, drop);
    return this.times.length;
  }

  /** When the oldest event leaves the window (for messages: how long to wait). */
  freesAt(): number | undefined {
    const oldest = this.times[0];
    return oldest === undefined ? undefined : oldest + this.windowMs;
  }

  add(now: number): void {
    this.times.push(now);
  }
}

export type TableOperation =
  /** A load, copy or query job writing the table: a table modification and a metadata update. */
  | "job-output"
  /**
   * DML: not a table modification ("DML statements are excluded and don't count toward the number
   * of table modifications per day"); it counts toward the metadata update rate but is never
   * refused by it ("while DML statements count toward this limit, they are not subject to it").
   */
  | "dml"
  /** tables.insert/patch/update, CREATE/ALTER TABLE: a metadata update. */
  | "metadata";

/**
 * BigQuery's quotas on tables and jobs (see bigquery-limits.ts for each number and its source),
 * counted on the emulator's clock. A refused operation throws Google's error: 403 with
 * `quotaExceeded` (a longer-term quota: wait or change the workload) or `rateLimitExceeded` (a
 * short-term rate: retry with backoff).
 */
export class BigQueryQuotas {
  readonly limits: BigQueryLimits;
  private readonly modifications = new Map<string, SlidingCount>();
  private readonly metadataUpdates = new Map<string, SlidingCount>();
  private readonly inserts = new Map<string, SlidingCount>();
  private readonly loadJobs = new SlidingCount(DAY_MS);
  /** DML statements submitted and not yet finished, per table (running or waiting their turn). */
  private readonly outstanding = new Map<string, { mutating: number; insert: number }>();

  constructor(
    readonly clock: BigQueryClock,
    limits: Partial<BigQueryLimits> = {},
  ) {
    this.limits = { ...BIGQUERY_LIMITS, ...limits };
  }

  /** A load job starts: counted whether it then succeeds or fails, as BigQuery counts it. */
  chargeLoadJob(): void {
    const now = this.clock.now();
    if (this.loadJobs.count(now) >= this.limits.loadJobsPerDay) {
      throw quotaExceeded("Quota exceeded: Your project exceeded quota for imports per project.");
    }
    this.loadJobs.add(now);
  }

  /** Checks and counts one operation on `table` ("dataset.table"). */
  chargeTable(table: string, operation: TableOperation): void {
    const now = this.clock.now();
    const modifications = this.window(this.modifications, table, DAY_MS);
    const metadata = this.window(this.metadataUpdates, table, METADATA_WINDOW_MS);
    if (operation === "job-output" && modifications.count(now) >= this.limits.tableModificationsPerDay) {
      throw quotaExceeded(
        `Quota exceeded: Your table exceeded quota for imports or query appends per table. Table ${table} had ${this.limits.tableModificationsPerDay} modifications (load, copy and query jobs writing it) in the last 24 hours.`,
      );
    }
    if (operation !== "dml" && metadata.count(now) >= this.limits.tableMetadataUpdatesPer10s) {
      const wait = Math.max(0, (metadata.freesAt() ?? now) - now);
      throw new BigQueryApiError(
        403,
        "rateLimitExceeded",
        `Exceeded rate limits: too many table update operations for this table (${table}: ${this.limits.tableMetadataUpdatesPer10s} per 10 seconds; retry in ${Math.ceil(wait / 1000)} s). For more information, see ${TROUBLESHOOT_QUOTAS}`,
      );
    }
    if (operation === "job-output") modifications.add(now);
    else metadata.add(now);
  }

  /**
   * A job wrote `table`: one metadata update. Counted when the job succeeds (a failed load
   * changes no table), where the daily modification was counted when it started.
   */
  recordJobOutput(table: string): void {
    this.window(this.metadataUpdates, table, METADATA_WINDOW_MS).add(this.clock.now());
  }

  /** Table modifications (load, copy and query jobs writing it; not DML) in the last 24 h. */
  modificationsToday(table: string): number {
    return this.window(this.modifications, table, DAY_MS).count(this.clock.now());
  }

  /**
   * A DML statement on `table` was submitted: refused when the table already has as many
   * outstanding as BigQuery runs and queues. Returns the release to call when it finishes.
   * INSERT is limited only past its daily unthrottled count.
   */
  enterDml(name: string, insert: boolean): () => void {
    const now = this.clock.now();
    const table = name.toLowerCase();
    const state = this.outstanding.get(table) ?? { mutating: 0, insert: 0 };
    this.outstanding.set(table, state);
    if (insert) {
      const daily = this.window(this.inserts, table, DAY_MS);
      const throttled = daily.count(now) >= this.limits.insertDmlUnthrottledPerDay;
      const bound = this.limits.insertDmlConcurrentPerTable + this.limits.insertDmlQueuedPerTable;
      if (throttled && state.insert >= bound) {
        throw quotaExceeded(
          `Quota exceeded: Too many DML statements outstanding against table ${table}, limit is ${this.limits.insertDmlQueuedPerTable} (INSERT statements past the first ${this.limits.insertDmlUnthrottledPerDay} in 24 hours run ${this.limits.insertDmlConcurrentPerTable} at a time).`,
        );
      }
      daily.add(now);
      state.insert++;
      return () => void state.insert--;
    }
    const bound = this.limits.concurrentMutatingDmlPerTable + this.limits.queuedMutatingDmlPerTable;
    if (state.mutating >= bound) {
      throw quotaExceeded(
        `Resources exceeded during query execution: Too many DML statements outstanding against table ${table}, limit is ${this.limits.queuedMutatingDmlPerTable}.`,
      );
    }
    state.mutating++;
    return () => void state.mutating--;
  }

  private window(map: Map<string, SlidingCount>, table: string, windowMs: number): SlidingCount {
    const key = table.toLowerCase();
    let window = map.get(key);
    if (!window) {
      window = new SlidingCount(windowMs);
      map.set(key, window);
    }
    return window;
  }
}

function quotaExceeded(message: string): BigQueryApiError {
  return new BigQueryApiError(
    403,
    "quotaExceeded",
    `${message} For more information, see ${TROUBLESHOOT_QUOTAS}`,
  );
}
