/**
 * A local BigQuery for tests and the benchmark: the REST API v2 that `@google-cloud/bigquery` 8
 * speaks, on DuckDB, strict where BigQuery is strict.
 *
 * Pointing the official client at it:
 * - `new BigQuery({ projectId, apiEndpoint: emulator.url, authClient })`, or set
 *   `BIGQUERY_EMULATOR_HOST=<url>` (then the client calls `<url>/projects/...` without the
 *   `/bigquery/v2` prefix; both forms are served).
 * - NOTE: the client never skips authentication for a custom endpoint (BigQuery does not set
 *   `customEndpoint`, so `useAuthWithCustomEndpoint` plays no part): it always asks
 *   google-auth-library for headers. Without any credentials the request goes out bare, and the
 *   multipart upload of `table.load()` / `createWriteStream()` then throws inside teeny-request
 *   ("Cannot set properties of undefined (setting 'Content-Type')"). So give it an auth client
 *   even when `requireAuth` is off, e.g. `new OAuth2Client({ credentials: { access_token: "x" } })`.
 * - With `requireAuth`, use a key from `createServiceAccountKey()` through a `JWT` auth client
 *   (`new JWT({ email: key.client_email, key: key.private_key, keyId: key.private_key_id, scopes })`):
 *   either `jwt.useJWTAccessWithScope = true` (a self-signed JWT is sent as the bearer token; the
 *   emulator checks its RS256 signature against the key), or keep the token exchange and route it
 *   to `key.token_uri` with a request interceptor on `jwt.transporter`, because google-auth-library
 *   posts to https://oauth2.googleapis.com/token whatever the key's `token_uri` says. Passing
 *   `credentials: key` alone therefore cannot work offline; `clientOptions` is not handed to
 *   google-auth-library by the BigQuery client.
 *
 * Storage: one DuckDB schema per dataset (in memory, or in `dataFile`), the BigQuery schema of
 * each table in the emulator's catalog. BIGNUMERIC and GEOGRAPHY are DuckDB VARCHAR holding the
 * canonical text (DuckDB's DECIMAL stops at 38 digits): compared and returned exactly, but not
 * summed. A query result column is typed BIGNUMERIC/GEOGRAPHY when it is a plain reference to such
 * a table column (by name); an expression yielding one (`CAST(x AS BIGNUMERIC)`) comes back as
 * STRING. Jobs run to completion before jobs.insert answers (state DONE), one at a time.
 *
 * Not emulated: gs:// sources, extract jobs, views, query destination tables, scripting
 * (DECLARE/IF/LOOP), the streaming buffer's limits on DML, quotas.
 */
import type { DuckDBConnection } from "@duckdb/node-api";
import crypto from "node:crypto";
import fs from "node:fs";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import {
  asApiError,
  BigQueryApiError,
  duplicate,
  invalid,
  notFound,
  type BigQueryErrorProto,
} from "./bigquery-api-error.js";
import { BigQueryAuth, TokenError } from "./bigquery-auth.js";
import {
  BigQueryCatalog,
  checkPartitioning,
  schemaOfResource,
  type DatasetEntry,
  type TableEntry,
} from "./bigquery-catalog.js";
import { insertRows, runLoadJob, type LoadConfiguration, type LoadStatistics } from "./bigquery-load-job.js";
import { JsonArray, JsonObject, parseExactJson, type JsonValue } from "sluice/dist/protocol/exact-json.js";
import { runQuery, type QueryConfiguration, type QueryOutcome } from "./bigquery-query-job.js";
import { restRow, timestampFormatOf, type TimestampFormat } from "./bigquery-rows.js";
import { BIGQUERY_FUNCTION_MACROS } from "./bigquery-sql-translator.js";
import { findField, duckdbSchema, quoteIdent, sameType, type TableFieldSchema } from "./bigquery-types.js";

export interface BigQueryEmulator {
  /** e.g. "http://127.0.0.1:43123" — pass as `apiEndpoint` to `new BigQuery({ projectId, apiEndpoint })`, or as BIGQUERY_EMULATOR_HOST. */
  url: string;
  projectId: string;
  /** Makes the next `times` requests whose "METHOD path" matches `pattern` fail with `status` (e.g. 503, 429) and a BigQuery-shaped error body. */
  failNext(options: { pattern: RegExp; status: number; times?: number; reason?: string }): void;
  /** A service-account key file object (type, project_id, private_key, client_email, token_uri pointing at this emulator's /token) whose tokens the emulator accepts. */
  createServiceAccountKey(): Record<string, string>;
  /** Requests seen, for asserting e.g. that load jobs (not streaming inserts) were used: "METHOD path?query". */
  requests: string[];
  close(): Promise<void>;
}

export interface BigQueryEmulatorOptions {
  /** Default "test-project". */
  projectId?: string;
  /** Default 0: any free port. */
  port?: number;
  /** Default false. When true every API request needs a Bearer token the emulator issued or can verify. */
  requireAuth?: boolean;
  /** A DuckDB file to keep datasets in across restarts. Default: in memory. */
  dataFile?: string;
}

interface JobRecord {
  resource: Record<string, unknown>;
  outcome?: QueryOutcome;
  error?: BigQueryApiError;
}

interface Failure {
  pattern: RegExp;
  status: number;
  remaining: number;
  reason?: string;
}

interface ResumableUpload {
  metadata: Record<string, unknown>;
  file: string;
  received: number;
  projectId: string;
}

const JOB_ID = /^[A-Za-z0-9_-]{1,1024}$/;
const DEFAULT_LOCATION = "US";

/** What a failure injected with failNext says, by status, as BigQuery says it. */
function injectedError(status: number, reason: string | undefined): BigQueryApiError {
  if (status === 429) {
    return new BigQueryApiError(
      429,
      reason ?? "rateLimitExceeded",
      "Exceeded rate limits: too many api requests per user per method for this user_method. For more information, see https://cloud.google.com/bigquery/docs/troubleshoot-quotas",
    );
  }
  if (status === 503) {
    return new BigQueryApiError(
      503,
      reason ?? "backendError",
      "Error encountered during execution. Retrying may solve the problem.",
    );
  }
  if (status >= 500) {
    return new BigQueryApiError(
      status,
      reason ?? "backendError",
      "An internal error occurred and the request could not be completed.",
    );
  }
  return new BigQueryApiError(status, reason ?? "invalid", `Injected failure with status ${status}`);
}

/**
 * A local BigQuery: the REST API v2 that `@google-cloud/bigquery` speaks (datasets, tables,
 * tabledata.list and insertAll, jobs: load by upload, query, copy; jobs.query and
 * getQueryResults), on DuckDB.
 * It answers as BigQuery does, errors included, so tests of a loader can trust what passes here.
 */
export async function startBigQueryEmulator(
  options: BigQueryEmulatorOptions = {},
): Promise<BigQueryEmulator> {
  const projectId = options.projectId ?? "test-project";
  const catalog = await BigQueryCatalog.open({
    projectId,
    ...(options.dataFile !== undefined ? { dataFile: options.dataFile } : {}),
  });
  await catalog.exclusive(async (connection) => {
    for (const macro of BIGQUERY_FUNCTION_MACROS) await connection.run(macro);
  });
  const requests: string[] = [];
  const failures: Failure[] = [];
  const jobs = new Map<string, JobRecord>();
  const uploads = new Map<string, ResumableUpload>();
  let url = "";
  const auth = new BigQueryAuth(projectId, () => `${url}/token`);

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      const apiError = asApiError(error);
      sendJson(res, apiError.code, apiError.toJSON());
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? "GET";
    const parsed = new URL(req.url ?? "/", "http://localhost");
    requests.push(`${method} ${parsed.pathname}${parsed.search}`);
    const failure = failures.find((f) => f.remaining > 0 && f.pattern.test(`${method} ${parsed.pathname}`));
    if (failure) {
      failure.remaining--;
      if (failure.remaining === 0) failures.splice(failures.indexOf(failure), 1);
      await drain(req);
      const error = injectedError(failure.status, failure.reason);
      sendJson(res, error.code, error.toJSON());
      return;
    }
    if (method === "POST" && parsed.pathname === "/token") {
      const body = await readBody(req);
      try {
        sendJson(res, 200, auth.token(new URLSearchParams(body.toString("utf8"))));
      } catch (error) {
        if (!(error instanceof TokenError)) throw error;
        sendJson(res, error.status, { error: error.error, error_description: error.description });
      }
      return;
    }
    if (options.requireAuth) {
      try {
        auth.authorize(req.headers.authorization);
      } catch (error) {
        await drain(req);
        throw error;
      }
    }
    const upload = parsed.pathname.startsWith("/upload/bigquery/v2/");
    const route = parsed.pathname.replace(/^\/upload\/bigquery\/v2/, "").replace(/^\/bigquery\/v2/, "");
    const segments = route.split("/").filter(Boolean).map(decodeURIComponent);
    const query = parsed.searchParams;
    if (segments[0] !== "projects" || segments[1] === undefined) {
      await drain(req);
      throw notFound(`URL ${parsed.pathname}`);
    }
    const project = segments[1];
    const rest = segments.slice(2);
    if (upload) {
      await handleUpload(req, res, project, rest, query);
      return;
    }
    // insertAll is parsed exactly (a JSON number must not pass through a double).
    const rawBody = rest[4] === "insertAll" ? (await readBody(req)).toString("utf8") : "";
    const body = method === "GET" || method === "DELETE" || rawBody ? {} : await readJson(req);
    if (method === "GET" || method === "DELETE") await drain(req);
    catalog.checkProject(project);
    const [collection, id, sub, subId, action] = rest;
    if (collection === "datasets") {
      if (id === undefined) {
        if (method === "GET") return sendJson(res, 200, listDatasets());
        if (method === "POST") return sendJson(res, 200, await insertDataset(body));
      } else if (sub === undefined) {
        if (method === "GET") return sendJson(res, 200, datasetResource(catalog.dataset(id)));
        if (method === "DELETE") {
          await catalog.exclusive((c) =>
            catalog.deleteDataset(c, id, query.get("deleteContents") === "true"),
          );
          res.writeHead(204).end();
          return;
        }
        if (method === "PATCH" || method === "PUT")
          return sendJson(res, 200, await updateDataset(id, body, method));
      } else if (sub === "tables") {
        if (subId === undefined) {
          if (method === "GET") return sendJson(res, 200, listTables(id, query));
          if (method === "POST") return sendJson(res, 200, await insertTable(id, body));
        } else if (action === undefined) {
          if (method === "GET") return sendJson(res, 200, await tableResource(id, catalog.table(id, subId)));
          if (method === "DELETE") {
            await catalog.exclusive((c) => catalog.dropTable(c, id, subId));
            res.writeHead(204).end();
            return;
          }
          if (method === "PATCH" || method === "PUT")
            return sendJson(res, 200, await updateTable(id, subId, body, method));
        } else if (action === "data" && method === "GET") {
          return sendJson(res, 200, await listTableData(id, subId, query));
        } else if (action === "insertAll" && method === "POST") {
          return sendJson(res, 200, await insertAll(id, subId, rawBody));
        }
      }
    } else if (collection === "jobs") {
      if (id === undefined) {
        if (method === "POST") return sendJson(res, 200, await insertJob(body, undefined));
        if (method === "GET") return sendJson(res, 200, listJobs());
      } else if (sub === undefined && method === "GET") {
        return sendJson(res, 200, job(id, query.get("location")).resource);
      } else if (sub === "cancel" && method === "POST") {
        return sendJson(res, 200, {
          kind: "bigquery#jobCancelResponse",
          job: job(id, query.get("location")).resource,
        });
      } else if (sub === "delete" && method === "DELETE") {
        job(id);
        jobs.delete(id);
        res.writeHead(204).end();
        return;
      }
    } else if (collection === "queries") {
      if (id === undefined && method === "POST") return sendJson(res, 200, await jobsQuery(body));
      if (id !== undefined && method === "GET") return sendJson(res, 200, getQueryResults(id, query));
    }
    throw new BigQueryApiError(404, "notFound", `Not found: ${method} ${parsed.pathname}`);
  }

  // ---------------------------------------------------------------------------------- datasets

  function datasetResource(d: DatasetEntry): Record<string, unknown> {
    return {
      kind: "bigquery#dataset",
      etag: etag(d.lastModifiedTime),
      id: `${projectId}:${d.datasetId}`,
      selfLink: `${url}/bigquery/v2/projects/${projectId}/datasets/${d.datasetId}`,
      datasetReference: { datasetId: d.datasetId, projectId },
      location: d.location,
      creationTime: d.creationTime,
      lastModifiedTime: d.lastModifiedTime,
      type: "DEFAULT",
      ...(d.description !== undefined ? { description: d.description } : {}),
      ...(d.friendlyName !== undefined ? { friendlyName: d.friendlyName } : {}),
      ...(d.labels !== undefined ? { labels: d.labels } : {}),
      ...(d.defaultTableExpirationMs !== undefined
        ? { defaultTableExpirationMs: d.defaultTableExpirationMs }
        : {}),
    };
  }

  function listDatasets(): Record<string, unknown> {
    return {
      kind: "bigquery#datasetList",
      etag: etag(String(catalog.datasets.size)),
      datasets: [...catalog.datasets.values()].map((d) => ({
        kind: "bigquery#dataset",
        id: `${projectId}:${d.datasetId}`,
        datasetReference: { datasetId: d.datasetId, projectId },
        location: d.location,
        type: "DEFAULT",
      })),
    };
  }

  async function insertDataset(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const reference = (body.datasetReference ?? {}) as { datasetId?: string; projectId?: string };
    if (!reference.datasetId) throw invalid("Missing required field: datasetReference.datasetId.");
    if (reference.projectId !== undefined) catalog.checkProject(reference.projectId);
    const entry = await catalog.exclusive((c) =>
      catalog.createDataset(c, {
        datasetId: reference.datasetId!,
        location: typeof body.location === "string" ? body.location : DEFAULT_LOCATION,
        ...(typeof body.description === "string" ? { description: body.description } : {}),
        ...(typeof body.friendlyName === "string" ? { friendlyName: body.friendlyName } : {}),
        ...(body.labels !== undefined ? { labels: body.labels as Record<string, string> } : {}),
        ...(body.defaultTableExpirationMs !== undefined
          ? { defaultTableExpirationMs: String(body.defaultTableExpirationMs) }
          : {}),
      }),
    );
    return datasetResource(entry);
  }

  async function updateDataset(
    id: string,
    body: Record<string, unknown>,
    method: string,
  ): Promise<Record<string, unknown>> {
    const d = catalog.dataset(id);
    if (typeof body.location === "string" && body.location !== d.location) {
      throw invalid(`Cannot change dataset location from ${d.location} to ${body.location}`);
    }
    for (const key of ["description", "friendlyName", "labels", "defaultTableExpirationMs"] as const) {
      if (key in body) (d as unknown as Record<string, unknown>)[key] = body[key] ?? undefined;
      else if (method === "PUT") delete (d as unknown as Record<string, unknown>)[key];
    }
    d.lastModifiedTime = String(Date.now());
    await catalog.exclusive((c) => catalog.persist(c));
    return datasetResource(d);
  }

  // ------------------------------------------------------------------------------------ tables

  async function tableResource(datasetId: string, t: TableEntry): Promise<Record<string, unknown>> {
    const numRows = await catalog.exclusive(async (c) => {
      const r = await c.runAndReadAll(
        `SELECT count(*) FROM ${quoteIdent(duckdbSchema(datasetId))}.${quoteIdent(t.tableId)}`,
      );
      return String(r.getRows()[0]?.[0] ?? 0);
    });
    return {
      ...tableSummary(datasetId, t),
      etag: etag(t.lastModifiedTime),
      selfLink: `${url}/bigquery/v2/projects/${projectId}/datasets/${datasetId}/tables/${t.tableId}`,
      schema: { fields: t.schema },
      numRows,
      numBytes: "0",
      numLongTermBytes: "0",
      lastModifiedTime: t.lastModifiedTime,
      location: catalog.dataset(datasetId).location,
      ...(t.description !== undefined ? { description: t.description } : {}),
    };
  }

  function tableSummary(datasetId: string, t: TableEntry): Record<string, unknown> {
    return {
      kind: "bigquery#table",
      id: `${projectId}:${datasetId}.${t.tableId}`,
      tableReference: { projectId, datasetId, tableId: t.tableId },
      type: "TABLE",
      creationTime: t.creationTime,
      ...(t.timePartitioning !== undefined ? { timePartitioning: t.timePartitioning } : {}),
      ...(t.clustering !== undefined ? { clustering: t.clustering } : {}),
      ...(t.labels !== undefined ? { labels: t.labels } : {}),
      ...(t.friendlyName !== undefined ? { friendlyName: t.friendlyName } : {}),
      ...(t.expirationTime !== undefined ? { expirationTime: t.expirationTime } : {}),
    };
  }

  function listTables(datasetId: string, query: URLSearchParams): Record<string, unknown> {
    const tables = catalog.tables(datasetId);
    const start = Number(query.get("pageToken") ?? 0);
    const max = Number(query.get("maxResults") ?? 1000);
    const page = tables.slice(start, start + max);
    return {
      kind: "bigquery#tableList",
      etag: etag(String(tables.length)),
      tables: page.map((t) => tableSummary(datasetId, t)),
      totalItems: tables.length,
      ...(start + max < tables.length ? { nextPageToken: String(start + max) } : {}),
    };
  }

  async function insertTable(
    datasetId: string,
    body: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    const reference = (body.tableReference ?? {}) as {
      tableId?: string;
      datasetId?: string;
      projectId?: string;
    };
    if (!reference.tableId) throw invalid("Missing required field: tableReference.tableId.");
    if (body.view !== undefined || body.materializedView !== undefined) {
      throw new BigQueryApiError(501, "notImplemented", "The emulator does not implement views");
    }
    if (body.rangePartitioning !== undefined) {
      throw new BigQueryApiError(501, "notImplemented", "The emulator does not implement range partitioning");
    }
    const where = `${projectId}:${datasetId}.${reference.tableId}`;
    const schema = schemaOfResource(body, where);
    const entry = await catalog.exclusive((c) =>
      catalog.createTable(c, datasetId, {
        tableId: reference.tableId!,
        schema,
        ...(body.timePartitioning !== undefined
          ? { timePartitioning: { ...(body.timePartitioning as TableEntry["timePartitioning"])! } }
          : {}),
        ...(body.clustering !== undefined ? { clustering: body.clustering as { fields: string[] } } : {}),
        ...(typeof body.description === "string" ? { description: body.description } : {}),
        ...(typeof body.friendlyName === "string" ? { friendlyName: body.friendlyName } : {}),
        ...(body.labels !== undefined ? { labels: body.labels as Record<string, string> } : {}),
        ...(body.expirationTime !== undefined ? { expirationTime: String(body.expirationTime) } : {}),
      }),
    );
    return tableResource(datasetId, entry);
  }

  async function updateTable(
    datasetId: string,
    tableId: string,
    body: Record<string, unknown>,
    method: string,
  ): Promise<Record<string, unknown>> {
    await catalog.exclusive(async (c) => {
      const table = catalog.table(datasetId, tableId);
      const where = `${projectId}:${datasetId}.${tableId}`;
      if (body.schema !== undefined) {
        const next = schemaOfResource(body, where);
        const previous = structuredClone(table.schema);
        await c.run("BEGIN TRANSACTION");
        try {
          await catalog.evolveSchema(c, datasetId, tableId, next, { addition: true, relaxation: true });
          await c.run("COMMIT");
        } catch (error) {
          await c.run("ROLLBACK");
          table.schema = previous;
          throw error;
        }
      }
      if (body.timePartitioning !== undefined) {
        const next = body.timePartitioning as TableEntry["timePartitioning"];
        const current = table.timePartitioning;
        if (
          current === undefined ||
          next === undefined ||
          (next.type ?? "DAY") !== current.type ||
          (next.field ?? undefined) !== current.field
        ) {
          throw invalid(`Cannot change partitioning spec for ${where}.`);
        }
        table.timePartitioning = { ...current, ...next };
      }
      if (body.clustering !== undefined) {
        const clustering = body.clustering === null ? undefined : (body.clustering as { fields: string[] });
        checkPartitioning(table.schema, undefined, clustering);
        if (clustering) table.clustering = clustering;
        else delete table.clustering;
      }
      for (const key of ["description", "friendlyName", "labels", "expirationTime"] as const) {
        if (key in body) {
          const value = body[key];
          if (value === null || value === undefined) delete table[key];
          else
            (table as unknown as Record<string, unknown>)[key] =
              key === "labels" ? value : String(value as string);
        } else if (method === "PUT" && key !== "expirationTime") {
          delete table[key];
        }
      }
      table.lastModifiedTime = String(Date.now());
      await catalog.persist(c);
    });
    return tableResource(datasetId, catalog.table(datasetId, tableId));
  }

  async function listTableData(
    datasetId: string,
    tableId: string,
    query: URLSearchParams,
  ): Promise<Record<string, unknown>> {
    const table = catalog.table(datasetId, tableId);
    const timestamps = timestampFormatOf(
      query.get("formatOptions.useInt64Timestamp") ?? undefined,
      query.get("formatOptions.timestampOutputFormat") ?? undefined,
    );
    const selected = query.get("selectedFields");
    const fields = selected
      ? selected.split(",").map((name) => {
          const field = findField(table.schema, name.trim());
          if (!field) throw invalid(`Field ${name} in selected fields not found in schema`);
          return field;
        })
      : table.schema;
    const start = Number(query.get("pageToken") ?? query.get("startIndex") ?? 0);
    const max = Math.min(Number(query.get("maxResults") ?? 100_000), 100_000);
    return catalog.exclusive(async (c) => {
      const name = `${quoteIdent(duckdbSchema(datasetId))}.${quoteIdent(tableId)}`;
      const total = Number((await c.runAndReadAll(`SELECT count(*) FROM ${name}`)).getRows()[0]?.[0] ?? 0);
      const columns = fields.length ? fields.map((f) => quoteIdent(f.name)).join(", ") : "1";
      const reader = await c.runAndReadAll(
        `SELECT ${columns} FROM ${name} ORDER BY rowid LIMIT ${max} OFFSET ${start}`,
      );
      const rows = fields.length ? reader.getRows().map((row) => restRow(fields, row, timestamps)) : [];
      return {
        kind: "bigquery#tableDataList",
        etag: etag(table.lastModifiedTime),
        totalRows: String(total),
        ...(rows.length ? { rows } : {}),
        ...(start + max < total ? { pageToken: String(start + max) } : {}),
      };
    });
  }

  async function insertAll(
    datasetId: string,
    tableId: string,
    text: string,
  ): Promise<Record<string, unknown>> {
    let request: JsonValue;
    try {
      request = parseExactJson(text);
    } catch {
      throw invalid("Invalid JSON payload received.");
    }
    if (!(request instanceof JsonObject)) throw invalid("Invalid JSON payload received.");
    const rows = request.get("rows");
    if (!(rows instanceof JsonArray)) throw invalid("No rows present in the request.");
    const jsonRows = rows.items.map((row) => (row instanceof JsonObject ? (row.get("json") ?? null) : null));
    const insertErrors = await catalog.exclusive((c) =>
      insertRows(catalog, c, datasetId, tableId, jsonRows, {
        skipInvalidRows: request.get("skipInvalidRows") === true,
        ignoreUnknownValues: request.get("ignoreUnknownValues") === true,
      }),
    );
    return {
      kind: "bigquery#tableDataInsertAllResponse",
      ...(insertErrors.length > 0 ? { insertErrors } : {}),
    };
  }

  // -------------------------------------------------------------------------------------- jobs

  /** A job by id; asked for in another location than its own, BigQuery does not find it. */
  function job(id: string, location?: string | null): JobRecord {
    const record = jobs.get(id);
    const own = (record?.resource.jobReference as { location?: string } | undefined)?.location;
    if (!record || (location && own && location.toLowerCase() !== own.toLowerCase())) {
      throw notFound(`Job ${projectId}:${location || DEFAULT_LOCATION}.${id}`);
    }
    return record;
  }

  function listJobs(): Record<string, unknown> {
    return {
      kind: "bigquery#jobList",
      etag: etag(String(jobs.size)),
      jobs: [...jobs.values()].map((j) => ({
        ...j.resource,
        state: (j.resource.status as { state: string }).state,
      })),
    };
  }

  /**
   * jobs.insert: the job runs to completion before the answer (state DONE), so a poll is never
   * needed but always works. A job that fails is still created: its error is in
   * `status.errorResult` and `status.errors`, as BigQuery reports it.
   */
  async function insertJob(
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
    if (jobs.has(jobId))
      throw duplicate(`Job ${projectId}:${reference.location ?? DEFAULT_LOCATION}.${jobId}`);
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
    const location = reference.location ?? locationOf(configuration, kind);
    const created = Date.now();
    const resource: Record<string, unknown> = {
      kind: "bigquery#job",
      etag: etag(jobId),
      id: `${projectId}:${location}.${jobId}`,
      selfLink: `${url}/bigquery/v2/projects/${projectId}/jobs/${jobId}?location=${location}`,
      user_email: "emulator@example.com",
      jobReference: { projectId, jobId, location },
      configuration,
      status: { state: "RUNNING" },
      statistics: { creationTime: String(created), startTime: String(created) },
    };
    const record: JobRecord = { resource };
    jobs.set(jobId, record);
    const statistics = resource.statistics as Record<string, unknown>;
    try {
      // A load or copy names its dataset; in another location than the job's, BigQuery cannot see it.
      const destination = (configuration[kind] as { destinationTable?: { datasetId?: string } })
        .destinationTable;
      const destinationDataset = destination?.datasetId
        ? catalog.datasets.get(destination.datasetId)
        : undefined;
      if (
        kind !== "query" &&
        reference.location !== undefined &&
        destinationDataset &&
        destinationDataset.location.toLowerCase() !== reference.location.toLowerCase()
      ) {
        throw notFound(
          `Dataset ${projectId}:${destinationDataset.datasetId} was not found in location ${reference.location}`,
        );
      }
      if (kind === "load") {
        const load = configuration.load as LoadConfiguration;
        const stats: LoadStatistics = await catalog.exclusive((c) => runLoadJob(catalog, c, load, dataFile));
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
        record.outcome = await catalog.exclusive((c) =>
          runQuery(catalog, c, config, reference.location, { dryRun: configuration.dryRun === true }),
        );
        const ran = record.outcome.location;
        if (ran !== undefined && ran !== location) {
          resource.jobReference = { projectId, jobId, location: ran };
          resource.id = `${projectId}:${ran}.${jobId}`;
        }
        statistics.query = queryStatistics(record.outcome);
        statistics.totalBytesProcessed = "0";
        resource.status = { state: "DONE" };
      } else {
        statistics.copy = await catalog.exclusive((c) => runCopy(c, configuration.copy as CopyConfiguration));
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
    statistics.endTime = String(Date.now());
    return resource;
  }

  function locationOf(configuration: Record<string, unknown>, kind: string): string {
    const config = configuration[kind] as Record<string, unknown>;
    const table = (config.destinationTable ?? config.sourceTable) as { datasetId?: string } | undefined;
    const datasetId =
      table?.datasetId ?? (config.defaultDataset as { datasetId?: string } | undefined)?.datasetId;
    return (datasetId && catalog.datasets.get(datasetId)?.location) || DEFAULT_LOCATION;
  }

  function queryStatistics(outcome: QueryOutcome): Record<string, unknown> {
    return {
      statementType: outcome.statementType,
      totalBytesProcessed: "0",
      totalBytesBilled: "0",
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
  function queryResponse(
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
      totalBytesProcessed: "0",
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

  async function jobsQuery(body: Record<string, unknown>): Promise<Record<string, unknown>> {
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
    const resource = await insertJob(
      {
        jobReference: typeof body.location === "string" ? { location: body.location } : {},
        configuration: { query: config, ...(body.dryRun === true ? { dryRun: true } : {}) },
      },
      undefined,
    );
    const jobId = (resource.jobReference as { jobId: string }).jobId;
    const record = job(jobId);
    if (record.error) throw record.error;
    const format = (body.formatOptions ?? {}) as {
      useInt64Timestamp?: boolean;
      timestampOutputFormat?: string;
    };
    return queryResponse("bigquery#queryResponse", record, {
      startIndex: 0,
      maxResults: typeof body.maxResults === "number" ? body.maxResults : 100_000,
      timestamps: timestampFormatOf(format.useInt64Timestamp, format.timestampOutputFormat),
    });
  }

  function getQueryResults(jobId: string, query: URLSearchParams): Record<string, unknown> {
    const record = job(jobId, query.get("location"));
    if (record.error) throw record.error;
    if (!record.outcome) throw invalid(`Job ${projectId}:${jobId} is not a query job`);
    return queryResponse("bigquery#getQueryResultsResponse", record, {
      startIndex: Number(query.get("pageToken") ?? query.get("startIndex") ?? 0),
      maxResults: Number(query.get("maxResults") ?? 100_000),
      timestamps: timestampFormatOf(
        query.get("formatOptions.useInt64Timestamp") ?? undefined,
        query.get("formatOptions.timestampOutputFormat") ?? undefined,
      ),
    });
  }

  // ----------------------------------------------------------------------------------- copying

  interface CopyConfiguration {
    sourceTable?: TableReference;
    sourceTables?: TableReference[];
    destinationTable?: TableReference;
    writeDisposition?: string;
    createDisposition?: string;
  }
  interface TableReference {
    projectId?: string;
    datasetId?: string;
    tableId?: string;
  }

  /**
   * A copy job, atomic as BigQuery's: the destination takes the source's rows (and, on
   * WRITE_TRUNCATE or creation, its schema) in one transaction, or is left as it was.
   */
  async function runCopy(c: DuckDBConnection, config: CopyConfiguration): Promise<Record<string, unknown>> {
    const sources = config.sourceTables ?? (config.sourceTable ? [config.sourceTable] : []);
    const destination = config.destinationTable;
    if (sources.length === 0 || !destination?.datasetId || !destination.tableId) {
      throw invalid("Copy configuration must specify source and destination tables");
    }
    const source = catalog.table(sources[0]!.datasetId ?? "", sources[0]!.tableId ?? "");
    const sourceDataset = sources[0]!.datasetId!;
    for (const other of sources.slice(1)) {
      const t = catalog.table(other.datasetId ?? "", other.tableId ?? "");
      if (!sameSchema(t.schema, source.schema)) {
        throw invalid(
          `Copy sources must have the same schema: ${other.tableId} differs from ${source.tableId}`,
        );
      }
    }
    const where = `${projectId}:${destination.datasetId}.${destination.tableId}`;
    const writeDisposition = config.writeDisposition ?? "WRITE_EMPTY";
    const existing = catalog.findTable(destination.datasetId, destination.tableId);
    if (!existing && config.createDisposition === "CREATE_NEVER") throw notFound(`Table ${where}`);
    const snapshot = existing ? structuredClone(existing) : undefined;
    const destName = `${quoteIdent(duckdbSchema(destination.datasetId))}.${quoteIdent(destination.tableId)}`;
    await c.run("BEGIN TRANSACTION");
    try {
      if (existing) {
        if (!samePartitioning(existing, source)) {
          throw invalid(
            `Incompatible table partitioning specification. Expects partitioning specification ${partitioningText(existing)}, but input partitioning specification is ${partitioningText(source)}`,
          );
        }
        if (writeDisposition === "WRITE_EMPTY") {
          const n = Number(
            (await c.runAndReadAll(`SELECT count(*) FROM ${destName}`)).getRows()[0]?.[0] ?? 0,
          );
          if (n > 0) throw duplicate(`Table ${where}`);
        }
        if (writeDisposition === "WRITE_TRUNCATE") {
          await catalog.createTable(
            c,
            destination.datasetId,
            { ...existing, schema: source.schema },
            { replace: true },
          );
        } else if (!sameSchema(existing.schema, source.schema)) {
          const missing = existing.schema.find((f) => !findField(source.schema, f.name));
          const added = source.schema.find((f) => !findField(existing.schema, f.name));
          const changed = source.schema.find((f) => {
            const old = findField(existing.schema, f.name);
            return old && !sameType(old, f);
          });
          throw invalid(
            `Provided Schema does not match Table ${where}. ${
              missing
                ? `Field ${missing.name} is missing in new schema`
                : added
                  ? `Cannot add fields (field: ${added.name})`
                  : changed
                    ? `Field ${changed.name} has changed type`
                    : "Field modes differ"
            }`,
          );
        }
      } else {
        await catalog.createTable(c, destination.datasetId, {
          tableId: destination.tableId,
          schema: source.schema,
          ...(source.timePartitioning ? { timePartitioning: source.timePartitioning } : {}),
          ...(source.clustering ? { clustering: source.clustering } : {}),
        });
      }
      const columns = source.schema.map((f) => quoteIdent(f.name)).join(", ");
      let copied = 0;
      for (const s of sources) {
        const r = await c.run(
          `INSERT INTO ${destName} (${columns}) SELECT ${columns} FROM ${quoteIdent(duckdbSchema(s.datasetId ?? sourceDataset))}.${quoteIdent(s.tableId!)}`,
        );
        copied += r.rowsChanged;
      }
      await c.run("COMMIT");
      catalog.table(destination.datasetId, destination.tableId).lastModifiedTime = String(Date.now());
      await catalog.persist(c);
      return { copiedRows: String(copied), copiedLogicalBytes: "0" };
    } catch (error) {
      await c.run("ROLLBACK");
      if (snapshot) catalog.dataset(destination.datasetId).tables.set(destination.tableId, snapshot);
      else catalog.forgetTable(destination.datasetId, destination.tableId);
      throw error;
    }
  }

  // ---------------------------------------------------------------------------------- uploads

  /**
   * `POST /upload/bigquery/v2/projects/{p}/jobs`: `uploadType=multipart` (the job resource and the
   * data in one multipart/related body; what `table.load()` and `createWriteStream()` send) and
   * `uploadType=resumable` (the resource first, then the data by PUT, in one piece or in chunks
   * with Content-Range).
   */
  async function handleUpload(
    req: IncomingMessage,
    res: ServerResponse,
    project: string,
    rest: string[],
    query: URLSearchParams,
  ): Promise<void> {
    if (rest[0] !== "jobs" || rest.length !== 1) {
      await drain(req);
      throw notFound(`URL ${req.url ?? ""}`);
    }
    catalog.checkProject(project);
    const uploadType = query.get("uploadType");
    const method = req.method ?? "POST";
    if (uploadType === "multipart" && method === "POST") {
      const { metadata, file } = await receiveMultipart(req);
      try {
        sendJson(res, 200, await insertJob(metadata, file));
      } finally {
        fs.rmSync(file, { force: true });
      }
      return;
    }
    if (uploadType === "resumable") {
      const uploadId = query.get("upload_id");
      if (method === "POST" && uploadId === null) {
        const metadata = await readJson(req);
        const id = crypto.randomBytes(16).toString("hex");
        const file = tempFile("upload");
        fs.writeFileSync(file, "");
        uploads.set(id, { metadata, file, received: 0, projectId: project });
        res.writeHead(200, {
          Location: `${url}/upload/bigquery/v2/projects/${encodeURIComponent(project)}/jobs?uploadType=resumable&upload_id=${id}`,
          "Content-Length": "0",
        });
        res.end();
        return;
      }
      const upload = uploadId === null ? undefined : uploads.get(uploadId);
      if (!upload) {
        await drain(req);
        throw new BigQueryApiError(404, "notFound", "No such upload session");
      }
      if (method === "PUT" || method === "POST") {
        const range = req.headers["content-range"];
        const m = typeof range === "string" ? /^bytes (?:(\d+)-(\d+)|\*)\/(\d+|\*)$/.exec(range) : null;
        const chunk = await readBody(req);
        if (m?.[1] !== undefined && Number(m[1]) !== upload.received) {
          throw invalid(`Chunk starts at ${m[1]} but ${upload.received} bytes were received`);
        }
        fs.appendFileSync(upload.file, chunk);
        upload.received += chunk.length;
        const total = m?.[3];
        if (m && (total === "*" || total === undefined || Number(total) > upload.received)) {
          res.writeHead(308, upload.received > 0 ? { Range: `bytes=0-${upload.received - 1}` } : {});
          res.end();
          return;
        }
        uploads.delete(uploadId!);
        try {
          sendJson(res, 200, await insertJob(upload.metadata, upload.file));
        } finally {
          fs.rmSync(upload.file, { force: true });
        }
        return;
      }
    }
    await drain(req);
    throw invalid(`Unsupported upload: ${method} uploadType=${uploadType ?? ""}`);
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    projectId,
    requests,
    failNext(failure) {
      failures.push({
        pattern: failure.pattern,
        status: failure.status,
        remaining: failure.times ?? 1,
        ...(failure.reason !== undefined ? { reason: failure.reason } : {}),
      });
    },
    createServiceAccountKey: () => auth.createServiceAccountKey(),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      for (const upload of uploads.values()) fs.rmSync(upload.file, { force: true });
      await catalog.close();
    },
  };
}

function sameSchema(a: readonly TableFieldSchema[], b: readonly TableFieldSchema[]): boolean {
  return (
    a.length === b.length &&
    a.every((f, i) => {
      const g = b[i]!;
      return (
        f.name.toLowerCase() === g.name.toLowerCase() &&
        sameType(f, g) &&
        (f.mode ?? "NULLABLE") === (g.mode ?? "NULLABLE")
      );
    })
  );
}

function samePartitioning(a: TableEntry, b: TableEntry): boolean {
  return partitioningText(a) === partitioningText(b);
}

function partitioningText(t: TableEntry): string {
  const p = t.timePartitioning;
  return p ? `interval(type:${p.type.toLowerCase()}${p.field ? `,field:${p.field}` : ""})` : "none";
}

function etag(seed: string): string {
  return crypto.createHash("md5").update(seed).digest("base64");
}

function tempFile(kind: string): string {
  return path.join(
    os.tmpdir(),
    `bq-emulator-${kind}-${process.pid}-${crypto.randomBytes(8).toString("hex")}`,
  );
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "Content-Type": "application/json; charset=UTF-8",
    "Content-Length": Buffer.byteLength(text),
  });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function drain(req: IncomingMessage): Promise<void> {
  if (req.readableEnded) return;
  for await (const chunk of req as AsyncIterable<Buffer>) void chunk;
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const body = await readBody(req);
  if (body.length === 0) return {};
  try {
    const value = JSON.parse(body.toString("utf8")) as unknown;
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("not an object");
    return value as Record<string, unknown>;
  } catch {
    throw invalid("Invalid JSON payload received.");
  }
}

/**
 * Receives a multipart/related upload into a file without holding it in memory: the whole body
 * goes to disk, then the JSON part is read from its head and the data part copied out by range.
 */
async function receiveMultipart(
  req: IncomingMessage,
): Promise<{ metadata: Record<string, unknown>; file: string }> {
  const contentType = req.headers["content-type"] ?? "";
  const boundary = /boundary="?([^";]+)"?/i.exec(contentType)?.[1];
  if (!boundary) {
    await drain(req);
    throw invalid("Multipart upload needs a multipart/related Content-Type with a boundary");
  }
  const raw = tempFile("multipart");
  await pipeline(req, fs.createWriteStream(raw));
  try {
    const size = fs.statSync(raw).size;
    const fd = fs.openSync(raw, "r");
    let head: Buffer;
    let tail: Buffer;
    try {
      head = Buffer.alloc(Math.min(size, 4 << 20));
      fs.readSync(fd, head, 0, head.length, 0);
      tail = Buffer.alloc(Math.min(size, boundary.length + 64));
      fs.readSync(fd, tail, 0, tail.length, size - tail.length);
    } finally {
      fs.closeSync(fd);
    }
    const delimiter = Buffer.from(`--${boundary}`);
    const first = head.indexOf(delimiter);
    const metaStart = head.indexOf("\r\n\r\n", first) + 4;
    const second = head.indexOf(Buffer.from(`\r\n--${boundary}`), metaStart);
    if (first === -1 || metaStart < 4 || second === -1) throw invalid("Malformed multipart body");
    const metadata = JSON.parse(head.subarray(metaStart, second).toString("utf8")) as Record<string, unknown>;
    const dataStart = head.indexOf("\r\n\r\n", second + 2) + 4;
    const closing = tail.lastIndexOf(Buffer.from(`\r\n--${boundary}--`));
    if (dataStart < 4 || closing === -1) throw invalid("Malformed multipart body");
    const dataEnd = size - tail.length + closing;
    const file = tempFile("data");
    if (dataEnd > dataStart) {
      await pipeline(
        fs.createReadStream(raw, { start: dataStart, end: dataEnd - 1 }),
        fs.createWriteStream(file),
      );
    } else {
      fs.writeFileSync(file, "");
    }
    return { metadata, file };
  } finally {
    fs.rmSync(raw, { force: true });
  }
}

export type { BigQueryErrorProto };
