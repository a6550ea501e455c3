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
 * Quotas and limits are production's (bigquery-limits.ts cites each: table modifications per
 * day, table metadata updates per 10 s, load jobs per day, outstanding DML per table), counted on
 * a clock a test can move (`clock`, or `POST /emulator/clock` with `{"advanceMs": n}` or
 * `{"time": "2026-01-01T00:00:00Z"}`); query jobs report on-demand bytes billed
 * (bigquery-billing.ts); GoogleSQL's rules on what can be grouped, partitioned and compared are
 * kept (bigquery-type-rules.ts).
 *
 * Not emulated: gs:// sources, extract jobs, views, query destination tables, scripting
 * (DECLARE/IF/LOOP), the streaming buffer's limits on DML, the Storage Write API (gRPC; `storageWrite`
 * is where its endpoint will be announced).
 *
 * This module is the HTTP server: routing, authentication, injected failures. The REST resources
 * are bigquery-{datasets,tables,tabledata,jobs}-resource.ts and bigquery-job-uploads.ts; what a job
 * does is in bigquery-{load,query,copy}-job.ts, on the catalog of bigquery-catalog.ts.
 */
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  asApiError,
  BigQueryApiError,
  invalid,
  notFound,
  type BigQueryErrorProto,
} from "./bigquery-api-error.js";
import { BigQueryAuth, TokenError } from "./bigquery-auth.js";
import { BigQueryCatalog } from "./bigquery-catalog.js";
import { DatasetsResource } from "./bigquery-datasets-resource.js";
import { drain, readBody, readJson, sendJson } from "./bigquery-http.js";
import { JobUploads } from "./bigquery-job-uploads.js";
import { JobsResource } from "./bigquery-jobs-resource.js";
import type { BigQueryLimits } from "./bigquery-limits.js";
import { BigQueryQuotas, type BigQueryClock } from "./bigquery-quotas.js";
import { BIGQUERY_FUNCTION_MACROS } from "./bigquery-sql-translator.js";
import { TabledataResource } from "./bigquery-tabledata-resource.js";
import { TablesResource } from "./bigquery-tables-resource.js";
import { startStorageWriteServer, type StorageWriteServer } from "./storage-write/storage-write-server.js";

/** Where the emulator says where its Storage Write API listens (not a BigQuery path). */
export const STORAGE_WRITE_DISCOVERY_PATH = "/emulator/storage-write";

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
  /** The time quotas and table expiration read; `set` or `advance` it to live through a day. */
  clock: BigQueryClock;
  /** The quotas in force (production's numbers unless `limits` lowered some) and their counters. */
  quotas: BigQueryQuotas;
  /**
   * The Storage Write API on gRPC (storage-write/storage-write-server.ts), on the same tables.
   * Its `endpoint` (`host:port`, plaintext) is also served at `GET <url>/emulator/storage-write`
   * (`{ "endpoint": ... }`), so a client given only `url` finds it.
   */
  storageWrite: StorageWriteServer;
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
  /** Lower quotas for a test (default: production's, bigquery-limits.ts). */
  limits?: Partial<BigQueryLimits>;
  /** Where the emulator's clock starts (default: now, at real speed). */
  clockStart?: Date | number;
  /**
   * How far each job moves the clock (default 0): a test's jobs finish in milliseconds where
   * BigQuery's take a second or more, so rate limits over seconds (5 table updates per 10 s)
   * would refuse at a pace production never sees. 1000 models the fastest real jobs.
   */
  jobDurationMs?: number;
  /** The Storage Write API's gRPC port. Default 0: any free port. */
  storageWritePort?: number;
}

interface Failure {
  pattern: RegExp;
  status: number;
  remaining: number;
  reason?: string;
}

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
  if (options.clockStart !== undefined) catalog.clock.set(options.clockStart);
  catalog.quotas = new BigQueryQuotas(catalog.clock, options.limits ?? {});
  const storageWrite = await startStorageWriteServer({
    catalog,
    ...(options.storageWritePort !== undefined ? { port: options.storageWritePort } : {}),
  });
  catalog.hooks.beforeDml = (connection) => storageWrite.changes.applyAll(connection);
  catalog.hooks.isCdcTable = (datasetId, tableId) => storageWrite.changes.isCdcTable(datasetId, tableId);
  catalog.hooks.tableGone = (datasetId, tableId) => storageWrite.changes.forget(datasetId, tableId);
  const requests: string[] = [];
  const failures: Failure[] = [];
  let url = "";
  const emulatorUrl = (): string => url;
  const auth = new BigQueryAuth(projectId, () => `${url}/token`);
  const datasets = new DatasetsResource(catalog, emulatorUrl);
  const tables = new TablesResource(catalog, emulatorUrl);
  const tabledata = new TabledataResource(catalog);
  const jobs = new JobsResource(catalog, emulatorUrl, options.jobDurationMs ?? 0);
  const uploads = new JobUploads(catalog, jobs, emulatorUrl);

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
    if (parsed.pathname === "/emulator/clock") {
      // Not BigQuery's: the test clock, for a user or a test outside this process.
      if (method === "POST") {
        const body = (await readJson(req)) as { advanceMs?: unknown; time?: unknown };
        if (typeof body.advanceMs === "number") catalog.clock.advance(body.advanceMs);
        else if (typeof body.time === "string" || typeof body.time === "number")
          catalog.clock.set(new Date(body.time));
        else throw invalid('Send {"advanceMs": <ms>} or {"time": "<ISO time>"}');
      } else await drain(req);
      sendJson(res, 200, { now: new Date(catalog.clock.now()).toISOString() });
      return;
    }
    if (method === "GET" && parsed.pathname === STORAGE_WRITE_DISCOVERY_PATH) {
      sendJson(res, 200, { endpoint: storageWrite.endpoint });
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
      await uploads.handle(req, res, project, rest, query);
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
        if (method === "GET") return sendJson(res, 200, datasets.list());
        if (method === "POST") return sendJson(res, 200, await datasets.insert(body));
      } else if (sub === undefined) {
        if (method === "GET") return sendJson(res, 200, datasets.get(id));
        if (method === "DELETE") {
          await datasets.delete(id, query.get("deleteContents") === "true");
          res.writeHead(204).end();
          return;
        }
        if (method === "PATCH" || method === "PUT")
          return sendJson(res, 200, await datasets.update(id, body, method));
      } else if (sub === "tables") {
        if (subId === undefined) {
          if (method === "GET") return sendJson(res, 200, tables.list(id, query));
          if (method === "POST") return sendJson(res, 200, await tables.insert(id, body));
        } else if (action === undefined) {
          if (method === "GET") return sendJson(res, 200, await tables.get(id, subId));
          if (method === "DELETE") {
            await tables.delete(id, subId);
            res.writeHead(204).end();
            return;
          }
          if (method === "PATCH" || method === "PUT")
            return sendJson(res, 200, await tables.update(id, subId, body, method));
        } else if (action === "data" && method === "GET") {
          return sendJson(res, 200, await tabledata.list(id, subId, query));
        } else if (action === "insertAll" && method === "POST") {
          return sendJson(res, 200, await tabledata.insertAll(id, subId, rawBody));
        }
      }
    } else if (collection === "jobs") {
      if (id === undefined) {
        if (method === "POST") return sendJson(res, 200, await jobs.insert(body, undefined));
        if (method === "GET") return sendJson(res, 200, jobs.list());
      } else if (sub === undefined && method === "GET") {
        return sendJson(res, 200, jobs.get(id, query.get("location")));
      } else if (sub === "cancel" && method === "POST") {
        return sendJson(res, 200, jobs.cancel(id, query.get("location")));
      } else if (sub === "delete" && method === "DELETE") {
        jobs.delete(id);
        res.writeHead(204).end();
        return;
      }
    } else if (collection === "queries") {
      if (id === undefined && method === "POST") return sendJson(res, 200, await jobs.query(body));
      if (id !== undefined && method === "GET") return sendJson(res, 200, jobs.getQueryResults(id, query));
    }
    throw new BigQueryApiError(404, "notFound", `Not found: ${method} ${parsed.pathname}`);
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
    clock: catalog.clock,
    get quotas() {
      return catalog.quotas;
    },
    failNext(failure) {
      failures.push({
        pattern: failure.pattern,
        status: failure.status,
        remaining: failure.times ?? 1,
        ...(failure.reason !== undefined ? { reason: failure.reason } : {}),
      });
    },
    createServiceAccountKey: () => auth.createServiceAccountKey(),
    storageWrite,
    async close() {
      await storageWrite.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      uploads.close();
      await catalog.close();
    },
  };
}

export type { BigQueryErrorProto, BigQueryLimits, BigQueryClock, StorageWriteServer };
export { BIGQUERY_LIMITS, BIGQUERY_LIMIT_SOURCES } from "./bigquery-limits.js";
