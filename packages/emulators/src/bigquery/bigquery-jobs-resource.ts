import crypto from "node:crypto";
import { asApiError, BigQueryApiError, duplicate, invalid, notFound } from "./bigquery-api-error.js";
import type { BigQueryCatalog } from "./bigquery-catalog.js";
import { runCopyJob, type CopyConfiguration } from "./bigquery-copy-job.js";
import { DEFAULT_LOCATION } from "./bigquery-datasets-resource.js";
import { etag } from "./bigquery-http.js";
import { runLoadJob, type LoadConfiguration, type LoadStatistics } from "./bigquery-load-job.js";
import { runQuery, type QueryConfiguration, type QueryOutcome } from "./bigquery-query-job.js";
import { restRow, timestampFormatOf, type TimestampFormat } from "./bigquery-rows.js";

interface JobRecord {
  resource: Record<string, unknown>;
  outcome?: QueryOutcome;
  error?: BigQueryApiError;
}

const JOB_ID = /^[A-Za-z0-9_-]{1,1024}$/;

/**
 * The REST resource `jobs`: insert (load, query, copy), get, list, cancel, delete, and the
 * query shortcuts jobs.query and jobs.getQueryResults. Jobs are kept until the emulator closes.
 */
export class JobsResource {
  private readonly jobs = new Map<string, JobRecord>();

  /** `url` is the emulator's, known once it listens. */
  constructor(
    private readonly catalog: BigQueryCatalog,
    private readonly url: () => string,
    private readonly jobDurationMs = 0,
  ) {}

  list(): Record<string, unknown> {
    return {
      kind: "bigquery#jobList",
      etag: etag(String(this.jobs.size)),
      jobs: [...this.jobs.values()].map((j) => ({
        ...j.resource,
        state: (j.resource.status as { state: string }).state,
      })),
    };
  }

  get(id: string, location: string | null): Record<string, unknown> {
    return this.job(id, location).resource;
  }

  /** Jobs run to completion before jobs.insert answers, so there is never one to cancel. */
  cancel(id: string, location: string | null): Record<string, unknown> {
    return { kind: "bigquery#jobCancelResponse", job: this.job(id, location).resource };
  }

  delete(id: string): void {
    this.job(id);
    this.jobs.delete(id);
  }

  /**
   * jobs.insert: the job runs to completion before the answer (state DONE), so a poll is never
   * needed but always works. A job that fails is still created: its error is in
   * `status.errorResult` and `status.errors`, as BigQuery reports it.
   */
  async insert(
    body: Record<string, unknown>,
    dataFile: string | undefined,
  ): Promise<Record<string, unknown>> {
    const reference = {
      ...((body.jobReference ?? {}) as { jobId?: string; projectId?: string; location?: string }),
    };
    const jobId = reference.jobId ?? `job_${crypto.randomBytes(12).toString("base64url").replace(/-/g, "_")}`;
    if (!JOB_ID.test(jobId)) {
      throw invalid(
        `Invalid job ID "${jobId}". Job IDs must be alphanumeric (plus underscores and dashes) and must be at most 1024 characters long.`,
      );
    }
    if (this.jobs.has(jobId))
      throw duplicate(`Job ${this.catalog.projectId}:${reference.location ?? DEFAULT_LOCATION}.${jobId}`);
    const configuration = { ...((body.configuration ?? {}) as Record<string, unknown>) };
    const kinds = (["load", "query", "copy", "extract"] as const).filter(
      (k) => configuration[k] !== undefined,
    );
    if (kinds.length !== 1)
      throw invalid(
        "Job configuration must contain exactly one job-specific configuration object (e.g., query, load, extract, spreadsheetExtract), but there were " +
          kinds.length,
      );
    const kind = kinds[0]!;
    if (kind === "extract")
      throw new BigQueryApiError(501, "notImplemented", "The emulator does not implement extract jobs");
    configuration.jobType = kind.toUpperCase();
    const location = reference.location ?? this.locationOf(configuration, kind);
    // A job takes time in BigQuery (about a second for the smallest): the emulator's clock
    // moves by `jobDurationMs`, so rate windows see what a real run would.
    if (this.jobDurationMs > 0) this.catalog.clock.advance(this.jobDurationMs);
    const created = this.catalog.now();
    const resource: Record<string, unknown> = {
      kind: "bigquery#job",
      etag: etag(jobId),
      id: `${this.catalog.projectId}:${location}.${jobId}`,
      selfLink: `${this.url()}/bigquery/v2/projects/${this.catalog.projectId}/jobs/${jobId}?location=${location}`,
      user_email: "emulator@example.com",
      jobReference: { projectId: this.catalog.projectId, jobId, location },
      configuration,
      status: { state: "RUNNING" },
      statistics: { creationTime: String(created), startTime: String(created) },
    };
    const record: JobRecord = { resource };
    this.jobs.set(jobId, record);
    const statistics = resource.statistics as Record<string, unknown>;
    try {
      // A load or copy names its dataset; in another location than the job's, BigQuery cannot see it.
      const destination = (configuration[kind] as { destinationTable?: { datasetId?: string } })
        .destinationTable;
      const destinationDataset = destination?.datasetId
        ? this.catalog.datasets.get(destination.datasetId)
        : undefined;
      if (
        kind !== "query" &&
        reference.location !== undefined &&
        destinationDataset &&
        destinationDataset.location.toLowerCase() !== reference.location.toLowerCase()
      ) {
        throw notFound(
          `Dataset ${this.catalog.projectId}:${destinationDataset.datasetId} was not found in location ${reference.location}`,
        );
      }
      if (kind === "load") {
        const load = configuration.load as LoadConfiguration;
        const stats: LoadStatistics = await this.catalog.exclusive((c) =>
          runLoadJob(this.catalog, c, load, dataFile),
        );
        const { warnings, ...loadStats } = stats;
        statistics.load = loadStats;
        resource.status = warnings.length ? { state: "DONE", errors: warnings } : { state: "DONE" };
      } else if (kind === "query") {
        const config = configuration.query as QueryConfiguration;
        if (config.destinationTable !== undefined) {
          throw new BigQueryApiError(
            501,
            "notImplemented",
            "The emulator does not implement query destination tables; use CREATE TABLE AS or INSERT ... SELECT",
          );
        }
        // A DML statement waits its turn from the moment it is submitted: BigQuery refuses one
        // when the table already has as many running and queued as it allows.
        const dml = configuration.dryRun === true ? undefined : dmlTarget(config);
        const release = dml ? this.catalog.quotas.enterDml(dml.table, dml.insert) : undefined;
        try {
          record.outcome = await this.catalog.exclusive((c) =>
            runQuery(this.catalog, c, config, reference.location, { dryRun: configuration.dryRun === true }),
          );
        } finally {
          release?.();
        }
        const ran = record.outcome.location;
        if (ran !== undefined && ran !== location) {
          resource.jobReference = { projectId: this.catalog.projectId, jobId, location: ran };
          resource.id = `${this.catalog.projectId}:${ran}.${jobId}`;
        }
        statistics.query = this.queryStatistics(record.outcome, configuration.dryRun === true);
        statistics.totalBytesProcessed = String(record.outcome.bytesProcessed);
        resource.status = { state: "DONE" };
      } else {
        statistics.copy = await this.catalog.exclusive((c) =>
          runCopyJob(this.catalog, c, configuration.copy as CopyConfiguration),
        );
        resource.status = { state: "DONE" };
      }
    } catch (error) {
      const apiError = asApiError(error);
      record.error = apiError;
      resource.status = {
        state: "DONE",
        errorResult: apiError.proto,
        errors: [apiError.proto, ...apiError.extraErrors],
      };
    }
    statistics.endTime = String(this.catalog.now());
    return resource;
  }

  async query(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const config: QueryConfiguration = {
      query: body.query as string,
      ...(body.useLegacySql !== undefined ? { useLegacySql: body.useLegacySql as boolean } : {}),
      ...(body.defaultDataset !== undefined
        ? { defaultDataset: body.defaultDataset as QueryConfiguration["defaultDataset"] }
        : {}),
      ...(body.queryParameters !== undefined
        ? { queryParameters: body.queryParameters as QueryConfiguration["queryParameters"] }
        : {}),
      ...(body.parameterMode !== undefined ? { parameterMode: body.parameterMode as string } : {}),
    };
    const resource = await this.insert(
      {
        jobReference: typeof body.location === "string" ? { location: body.location } : {},
        configuration: { query: config, ...(body.dryRun === true ? { dryRun: true } : {}) },
      },
      undefined,
    );
    const jobId = (resource.jobReference as { jobId: string }).jobId;
    const record = this.job(jobId);
    if (record.error) throw record.error;
    const format = (body.formatOptions ?? {}) as {
      useInt64Timestamp?: boolean;
      timestampOutputFormat?: string;
    };
    return this.queryResponse("bigquery#queryResponse", record, {
      startIndex: 0,
      maxResults: typeof body.maxResults === "number" ? body.maxResults : 100_000,
      timestamps: timestampFormatOf(format.useInt64Timestamp, format.timestampOutputFormat),
    });
  }

  getQueryResults(jobId: string, query: URLSearchParams): Record<string, unknown> {
    const record = this.job(jobId, query.get("location"));
    if (record.error) throw record.error;
    if (!record.outcome) throw invalid(`Job ${this.catalog.projectId}:${jobId} is not a query job`);
    return this.queryResponse("bigquery#getQueryResultsResponse", record, {
      startIndex: Number(query.get("pageToken") ?? query.get("startIndex") ?? 0),
      maxResults: Number(query.get("maxResults") ?? 100_000),
      timestamps: timestampFormatOf(
        query.get("formatOptions.useInt64Timestamp") ?? undefined,
        query.get("formatOptions.timestampOutputFormat") ?? undefined,
      ),
    });
  }

  /** A job by id; asked for in another location than its own, BigQuery does not find it. */
  private job(id: string, location?: string | null): JobRecord {
    const record = this.jobs.get(id);
    const own = (record?.resource.jobReference as { location?: string } | undefined)?.location;
    if (!record || (location && own && location.toLowerCase() !== own.toLowerCase())) {
      throw notFound(`Job ${this.catalog.projectId}:${location || DEFAULT_LOCATION}.${id}`);
    }
    return record;
  }

  private locationOf(configuration: Record<string, unknown>, kind: string): string {
    const config = configuration[kind] as Record<string, unknown>;
    const table = (config.destinationTable ?? config.sourceTable) as { datasetId?: string } | undefined;
    const datasetId =
      table?.datasetId ?? (config.defaultDataset as { datasetId?: string } | undefined)?.datasetId;
    return (datasetId && this.catalog.datasets.get(datasetId)?.location) || DEFAULT_LOCATION;
  }

  private queryStatistics(outcome: QueryOutcome, dryRun: boolean): Record<string, unknown> {
    return {
      statementType: outcome.statementType,
      totalBytesProcessed: String(outcome.bytesProcessed),
      // A dry run is free; it reports what the query would process.
      totalBytesBilled: dryRun ? "0" : String(outcome.bytesBilled),
      cacheHit: false,
      ...(outcome.numDmlAffectedRows !== undefined ? { numDmlAffectedRows: outcome.numDmlAffectedRows } : {}),
      ...(outcome.dmlStats !== undefined ? { dmlStats: outcome.dmlStats } : {}),
      ...(outcome.ddlOperationPerformed !== undefined
        ? { ddlOperationPerformed: outcome.ddlOperationPerformed }
        : {}),
      ...(outcome.ddlTargetTable !== undefined ? { ddlTargetTable: outcome.ddlTargetTable } : {}),
      ...(outcome.schema !== undefined ? { schema: { fields: outcome.schema } } : {}),
    };
  }

  /** A page of a finished query's result, in the shape of jobs.query and jobs.getQueryResults. */
  private queryResponse(
    kind: string,
    record: JobRecord,
    page: { startIndex: number; maxResults: number; timestamps: TimestampFormat },
  ): Record<string, unknown> {
    const outcome = record.outcome!;
    const response: Record<string, unknown> = {
      kind,
      etag: etag(String(record.resource.id)),
      jobReference: record.resource.jobReference,
      jobComplete: true,
      totalBytesProcessed: String(outcome.bytesProcessed),
      cacheHit: false,
    };
    if (outcome.numDmlAffectedRows !== undefined) response.numDmlAffectedRows = outcome.numDmlAffectedRows;
    if (outcome.dmlStats !== undefined) response.dmlStats = outcome.dmlStats;
    if (outcome.schema && outcome.rows) {
      const rows = outcome.rows.slice(page.startIndex, page.startIndex + page.maxResults);
      response.schema = { fields: outcome.schema };
      response.totalRows = String(outcome.rows.length);
      response.rows = rows.map((row) => restRow(outcome.schema!, row, page.timestamps));
      if (page.startIndex + page.maxResults < outcome.rows.length) {
        response.pageToken = String(page.startIndex + page.maxResults);
      }
    } else {
      response.totalRows = "0";
    }
    return response;
  }
}

/**
 * The table a single DML statement writes ("dataset.table") and whether it is an INSERT; read
 * from the text before the job waits for its turn (scripts and other statements: undefined).
 */
function dmlTarget(config: QueryConfiguration): { table: string; insert: boolean } | undefined {
  const m =
    /^\s*(MERGE|UPDATE|DELETE|INSERT)\b(?:\s+(?:INTO|FROM))?\s+`?([A-Za-z0-9_.-]+?)`?(?:\s|\(|$)/i.exec(
      config.query ?? "",
    );
  if (!m) return undefined;
  const parts = m[2]!.replace(/`/g, "").split(".");
  const table = parts.slice(-2);
  if (table.length === 1) {
    const dataset = config.defaultDataset?.datasetId;
    if (!dataset) return undefined;
    table.unshift(dataset);
  }
  return { table: table.join("."), insert: m[1]!.toUpperCase() === "INSERT" };
}
