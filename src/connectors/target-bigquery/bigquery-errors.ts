import { ConnectionError, DataError, ResourceError, SluiceError } from "../../errors.js";

/**
 * The one place that reads what the BigQuery client throws (as dlt does per destination):
 * `isTransientBigqueryError` decides what `withRetry` retries (each request and job, up to the
 * loader's `max_retries`), and `bigqueryError` maps what is left onto sluice's errors, transient
 * or not, so the runner and the exit code (75) know whether a later retry can help. The client's
 * errors are `ApiError`s (`code` = HTTP status, `errors` = BigQuery's `[{reason, message,
 * location}]`), Node's network errors (`ECONNREFUSED`), or a job's own (`BigqueryJobError`).
 */

/** One entry of BigQuery's `errors` list (a job's `status.errors`, or an API error's). */
export interface BigqueryErrorProto {
  reason?: string;
  message?: string;
  location?: string;
}

interface ApiErrorLike {
  code?: number | string;
  message?: string;
  errors?: BigqueryErrorProto[];
}

/**
 * Reasons worth retrying at once (with backoff): BigQuery's own failures and its short-term rate
 * limits ("rateLimitExceeded ... retry the operation after a few seconds. Use exponential
 * backoff", https://cloud.google.com/bigquery/docs/troubleshoot-quotas; `jobRateLimitExceeded`
 * is the per-table job rate, https://cloud.google.com/bigquery/docs/error-messages).
 * `quotaExceeded` is not: a longer-term quota ("wait 10 minutes or longer").
 */
const TRANSIENT_REASONS = new Set([
  "backendError",
  "internalError",
  "rateLimitExceeded",
  "jobRateLimitExceeded",
  "backendErrorRetriable",
  "jobBackendError",
  "jobInternalError",
]);
const TRANSIENT_NETWORK = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ETIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
  "ENOTFOUND",
]);

function asApiError(error: unknown): ApiErrorLike {
  return typeof error === "object" && error !== null ? (error as ApiErrorLike) : { message: String(error) };
}

export function httpStatusOf(error: unknown): number | undefined {
  const code = asApiError(error).code;
  return typeof code === "number" ? code : undefined;
}

/** The reasons BigQuery gave (`errors[].reason`, a job's `errorResult.reason`). */
export function reasonsOf(error: unknown): string[] {
  const list =
    error instanceof BigqueryJobError
      ? [error.errorResult, ...error.errors]
      : (asApiError(error).errors ?? []);
  return list.flatMap((e) => (e.reason ? [e.reason] : []));
}

/** A quota or rate limit refused it (BigQuery's `quotaExceeded`, `rateLimitExceeded`, `jobRateLimitExceeded`). */
export function isQuotaError(error: unknown): boolean {
  return reasonsOf(error).some((r) => QUOTA_REASONS.has(r));
}

const QUOTA_REASONS = new Set(["quotaExceeded", "rateLimitExceeded", "jobRateLimitExceeded"]);

/**
 * Rate limits (429, or 403 with `rateLimitExceeded`), 5xx and BigQuery's backend errors are worth
 * retrying; a dropped or refused connection too. A 400 (invalid), 401, 403 (access denied or a
 * quota exceeded) or 404 is not: the same request fails the same way.
 */
export function isTransientBigqueryError(error: unknown): boolean {
  if (error instanceof SluiceError) return error.transient;
  if (error instanceof BigqueryJobError) return error.transient;
  const api = asApiError(error);
  if (typeof api.code === "string" && TRANSIENT_NETWORK.has(api.code)) return true;
  if (reasonsOf(error).includes("quotaExceeded")) return false;
  const status = httpStatusOf(error);
  if (status === 429 || (status !== undefined && status >= 500)) return true;
  if ((api.errors ?? []).some((e) => e.reason !== undefined && TRANSIENT_REASONS.has(e.reason))) return true;
  // A 403 is transient only as a rate limit (BigQuery says "rateLimitExceeded" with 403).
  return false;
}

export interface RetryOptions {
  maxRetries: number;
  /** First delay; each retry doubles it (with jitter), up to `maxDelayMs`. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Called before each retry, for logs and tests. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

/** Runs `attempt` until it succeeds, a non-transient error, or `maxRetries` retries. */
export async function withRetry<T>(attempt: (n: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const base = options.baseDelayMs ?? 250;
  const max = options.maxDelayMs ?? 16_000;
  for (let n = 0; ; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      if (n >= options.maxRetries || !isTransientBigqueryError(error)) throw error;
      const delay = Math.min(max, base * 2 ** n) * (0.75 + Math.random() * 0.5);
      options.onRetry?.(error, n + 1, delay);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/** An error BigQuery reported in a job's status; transient when its reason is a backend one. */
export class BigqueryJobError extends Error {
  constructor(
    readonly jobId: string,
    readonly errorResult: BigqueryErrorProto,
    readonly errors: BigqueryErrorProto[],
  ) {
    super(`job ${jobId} failed: ${errorResult.message ?? errorResult.reason ?? "no message"}`);
    this.name = "BigqueryJobError";
  }

  get transient(): boolean {
    return this.errorResult.reason !== undefined && TRANSIENT_REASONS.has(this.errorResult.reason);
  }

  /** The first errors, one per line, as BigQuery worded them. */
  describe(limit = 5): string {
    const list = this.errors.length > 0 ? this.errors : [this.errorResult];
    const lines = list
      .slice(0, limit)
      .map(
        (e) =>
          `  - ${e.reason ? `${e.reason}: ` : ""}${e.message ?? ""}${e.location ? ` (at ${e.location})` : ""}`,
      );
    if (list.length > limit) lines.push(`  - ... ${list.length - limit} more`);
    return lines.join("\n");
  }
}

/** `withRetry` treats a job that failed for a backend reason as transient: it is run again. */
export function isTransientJobError(error: unknown): boolean {
  return error instanceof BigqueryJobError && error.transient;
}

/**
 * Maps a client error raised while doing `action` (`creating table x`), after the client's own
 * retries, onto sluice's errors; transient where `isTransientBigqueryError` says so (a later run
 * may find BigQuery back). `credentials` says where the credentials came from, for an
 * authentication failure. Our own errors pass through as they are.
 */
export function bigqueryError(
  error: unknown,
  action: string,
  context: { endpoint: string; credentials: string },
): SluiceError {
  if (error instanceof SluiceError) return error;
  const api = asApiError(error);
  const status = httpStatusOf(error);
  const message = firstLine(api.message ?? String(error));
  if (typeof api.code === "string" && TRANSIENT_NETWORK.has(api.code)) {
    return new ConnectionError(
      `target-bigquery: cannot reach ${context.endpoint} while ${action}: ${message}`,
      {
        cause: error,
        transient: true,
      },
    );
  }
  const reasons = reasonsOf(error);
  if (reasons.includes("quotaExceeded")) {
    // A quota, not a permission: 403 too, but the account may do this, just not this often.
    return new ResourceError(
      `target-bigquery: BigQuery quota exceeded while ${action}: ${quotaMessage(error, message)}. This is a quota, not a permission: daily quotas refill over 24 hours, so run again later; to use fewer, load bigger batches (batch_size_rows / batch_size_mb on the extractor, max_cache here) or fewer runs a day. See https://cloud.google.com/bigquery/docs/troubleshoot-quotas`,
      { cause: error, transient: true },
    );
  }
  if (
    status === 401 ||
    /invalid_grant|invalid_client|Could not load the default credentials|unauthorized/i.test(message)
  ) {
    return new ConnectionError(
      `target-bigquery: BigQuery refused the credentials from ${context.credentials} while ${action}: ${message}. Check setting credentials_path (a service-account key file) or GOOGLE_APPLICATION_CREDENTIALS.`,
      { cause: error },
    );
  }
  if (reasons.includes("rateLimitExceeded") || reasons.includes("jobRateLimitExceeded")) {
    return new ConnectionError(
      `target-bigquery: BigQuery's rate limit still refused ${action} after retries with backoff: ${quotaMessage(error, message)}. Run again later, or load bigger batches so a table is written less often.`,
      { cause: error, transient: true },
    );
  }
  if (status === 403 && !isTransientBigqueryError(error)) {
    return new ConnectionError(
      `target-bigquery: permission denied while ${action} (credentials from ${context.credentials}): ${message}. The account needs BigQuery Data Editor on the dataset and BigQuery Job User on the project.`,
      { cause: error },
    );
  }
  if (status === 429 || status === 403 || (status !== undefined && status >= 500)) {
    return new ConnectionError(
      `target-bigquery: BigQuery failed while ${action} (HTTP ${status}), after retries: ${message}`,
      {
        cause: error,
        transient: true,
      },
    );
  }
  if (error instanceof BigqueryJobError) {
    // A job that failed for a reason of BigQuery's own (backendError) may pass on a later try.
    return new DataError(`target-bigquery: ${action}: ${error.message}\n${error.describe()}`, {
      cause: error,
      transient: error.transient,
    });
  }
  return new DataError(`target-bigquery: ${action} failed${status ? ` (HTTP ${status})` : ""}: ${message}`, {
    cause: error,
  });
}

/** The quota's own words, as BigQuery names it ("Quota exceeded: Your table exceeded quota for ..."). */
function quotaMessage(error: unknown, fallback: string): string {
  const list =
    error instanceof BigqueryJobError
      ? [error.errorResult, ...error.errors]
      : (asApiError(error).errors ?? []);
  const entry = list.find(
    (e) => e.reason === "quotaExceeded" || /RateLimitExceeded$|^rateLimitExceeded$/.test(e.reason ?? ""),
  );
  return firstLine(entry?.message ?? fallback).replace(/\.$/, "");
}

function firstLine(text: string): string {
  return text.split("\n")[0] ?? text;
}
