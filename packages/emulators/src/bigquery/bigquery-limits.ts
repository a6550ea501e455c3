/**
 * BigQuery's documented quotas and limits that the emulator enforces, each with the page that
 * states it and the words Google's error uses. The defaults are production's; a test may lower
 * them (`BigQueryEmulatorOptions.limits`) to prove a limit with a few jobs, and one test proves
 * each default is the number cited here.
 *
 * Windows: BigQuery's "Quota replenishment" section says daily quotas "are replenished at regular
 * intervals throughout the day ... rather than globally replenished once daily", and "Optimize
 * load jobs" says the load-job quota "refills within a rolling 24-hour period". So a daily
 * quota is a rolling 24 h window here (not a reset at midnight Pacific).
 */

const QUOTAS = "https://cloud.google.com/bigquery/quotas";
const DML = "https://cloud.google.com/bigquery/docs/data-manipulation-language";
const PRICING = "https://cloud.google.com/bigquery/pricing#on_demand_pricing";

export interface BigQueryLimits {
  /**
   * "Table modifications per day": 1,500 per table, the combined total of load jobs, copy jobs
   * and query jobs that append to or overwrite a destination table. "DML statements are excluded
   * and don't count toward the number of table modifications per day", nor does streaming (the
   * Storage Write API). Source: QUOTAS#standard_tables ("Optimize load jobs" too:
   * https://cloud.google.com/bigquery/docs/optimize-load-jobs). Error: 403 `quotaExceeded`,
   * "Quota exceeded: Your table exceeded quota for imports or query appends per table."
   */
  tableModificationsPerDay: number;
  /**
   * "Maximum rate of table metadata update operations per table": 5 per 10 seconds; includes
   * tables.insert/patch/update, DDL (ALTER TABLE, CREATE OR REPLACE TABLE), and job output (load,
   * copy, query); "while DML statements count toward this limit, they are not subject to it".
   * Source: QUOTAS#standard_tables. Error: 403 `rateLimitExceeded`, "Exceeded rate limits:
   * too many table update operations for this table."
   */
  tableMetadataUpdatesPer10s: number;
  /**
   * "Load jobs per day": 100,000 per project, failed jobs included, refilled over a rolling
   * 24 h. Source: QUOTAS#load_jobs. Error: 403 `quotaExceeded`, "Quota exceeded: Your project
   * exceeded quota for imports per project."
   */
  loadJobsPerDay: number;
  /**
   * "Number of partitions per partitioned table": 10,000. Source: QUOTAS#partitioned_tables.
   * Error: 400 `invalid`, "Too many partitions produced by query, allowed 10000".
   */
  partitionsPerTable: number;
  /**
   * "Number of partitions modified by a single job": 4,000 (load, copy, DML). Source:
   * QUOTAS#partitioned_tables. Error: 400 `invalid`, "Too many partitions produced by query,
   * allowed 4000, query produces at least N partitions".
   */
  partitionsModifiedPerJob: number;
  /**
   * INSERT DML: "During any 24 hour period, the first 1500 INSERT statements run immediately
   * after they are submitted. After this limit is reached, the concurrency of INSERT statements
   * that write to a table is limited to 10", with up to 100 more queued. Source:
   * DML#insert_dml_concurrency. Past the daily count, an INSERT finding 10 running and 100 queued
   * on its table is refused (403 `quotaExceeded`).
   */
  insertDmlUnthrottledPerDay: number;
  /** INSERT DML statements running at once per table past the throttle: 10. Source: DML#insert_dml_concurrency. */
  insertDmlConcurrentPerTable: number;
  /** INSERT DML statements queued per table past the throttle: 100. Source: DML#insert_dml_concurrency. */
  insertDmlQueuedPerTable: number;
  /**
   * "Concurrent mutating DML (UPDATE, DELETE, and MERGE) statements per table": 2, and "Queued
   * mutating DML statements per table": 20. Source: QUOTAS#data-manipulation-language-statements
   * and DML#update_delete_merge_dml_concurrency. A statement submitted while its table has 22
   * outstanding is refused: "Too many DML statements outstanding against table T, limit is 20"
   * (403 `quotaExceeded` here). DML is not a table modification (`tableModificationsPerDay`).
   */
  concurrentMutatingDmlPerTable: number;
  queuedMutatingDmlPerTable: number;
  /**
   * On-demand pricing: bytes rounded up to the MB, with "a minimum 10 MB data processed per table
   * referenced by the query, and with a minimum 10 MB data processed per query". Source: PRICING.
   */
  minimumBytesBilledPerTable: number;
  /**
   * A gzip-compressed CSV or JSON file of a load job: at most 4 GB ("a compressed file cannot be
   * read in parallel"; uncompressed files may be 5 TB). Source: QUOTAS#load_jobs and
   * https://cloud.google.com/bigquery/docs/loading-data-cloud-storage-json#limitations. Error:
   * 400 `invalid`, "Input JSON files are not splittable and at least one of the files is larger
   * than the maximum allowed size. Size is: N. Max allowed size is: 4294967296."
   */
  gzipFileBytes: number;
}

/** Production's numbers, as cited above. */
export const BIGQUERY_LIMITS: Readonly<BigQueryLimits> = Object.freeze({
  tableModificationsPerDay: 1_500,
  tableMetadataUpdatesPer10s: 5,
  loadJobsPerDay: 100_000,
  partitionsPerTable: 10_000,
  partitionsModifiedPerJob: 4_000,
  insertDmlUnthrottledPerDay: 1_500,
  insertDmlConcurrentPerTable: 10,
  insertDmlQueuedPerTable: 100,
  concurrentMutatingDmlPerTable: 2,
  queuedMutatingDmlPerTable: 20,
  minimumBytesBilledPerTable: 10 * 1024 * 1024,
  gzipFileBytes: 4 * 1024 ** 3,
});

/** Where each limit is documented, for messages and the test that checks the defaults. */
export const BIGQUERY_LIMIT_SOURCES: Readonly<Record<keyof BigQueryLimits, string>> = Object.freeze({
  tableModificationsPerDay: `${QUOTAS}#standard_tables`,
  tableMetadataUpdatesPer10s: `${QUOTAS}#standard_tables`,
  loadJobsPerDay: `${QUOTAS}#load_jobs`,
  partitionsPerTable: `${QUOTAS}#partitioned_tables`,
  partitionsModifiedPerJob: `${QUOTAS}#partitioned_tables`,
  insertDmlUnthrottledPerDay: `${DML}#insert_dml_concurrency`,
  insertDmlConcurrentPerTable: `${DML}#insert_dml_concurrency`,
  insertDmlQueuedPerTable: `${DML}#insert_dml_concurrency`,
  concurrentMutatingDmlPerTable: `${QUOTAS}#data-manipulation-language-statements`,
  queuedMutatingDmlPerTable: `${QUOTAS}#data-manipulation-language-statements`,
  minimumBytesBilledPerTable: PRICING,
  gzipFileBytes: `${QUOTAS}#load_jobs`,
});

export const DAY_MS = 24 * 60 * 60 * 1000;
export const METADATA_WINDOW_MS = 10_000;
/** Bytes are billed in whole MB (on-demand pricing: "rounded up to the nearest MB"). */
export const BILLING_UNIT_BYTES = 1024 * 1024;
/** Where a quota error sends the user, as BigQuery's own messages do. */
export const TROUBLESHOOT_QUOTAS = "https://cloud.google.com/bigquery/docs/troubleshoot-quotas";
