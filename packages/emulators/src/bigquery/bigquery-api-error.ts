/** One entry of `error.errors` (and of a job's `status.errors`), as the REST API sends it. */
export interface BigQueryErrorProto {
  reason: string;
  message: string;
  location?: string;
  locationType?: string;
  domain?: string;
  debugInfo?: string;
}

const STATUS_OF_CODE: Record<number, string> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  409: "ALREADY_EXISTS",
  412: "FAILED_PRECONDITION",
  429: "RESOURCE_EXHAUSTED",
  500: "INTERNAL",
  501: "NOT_IMPLEMENTED",
  503: "UNAVAILABLE",
};

/**
 * An error the emulator answers with, in Google's JSON error shape
 * (`{ error: { code, message, errors: [{ reason, message, location? }], status } }`).
 * Thrown anywhere below the HTTP layer; the server turns it into the response.
 */
export class BigQueryApiError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly location: string | undefined;
  /** More entries for `errors` (a failed job lists one per bad row). */
  readonly extraErrors: readonly BigQueryErrorProto[];

  constructor(
    code: number,
    reason: string,
    message: string,
    options: { location?: string; extraErrors?: readonly BigQueryErrorProto[] } = {},
  ) {
    super(message);
    this.name = "BigQueryApiError";
    this.code = code;
    this.reason = reason;
    this.location = options.location;
    this.extraErrors = options.extraErrors ?? [];
  }

  /** The first entry of `errors` (a job's `status.errorResult`). */
  get proto(): BigQueryErrorProto {
    const proto: BigQueryErrorProto = { reason: this.reason, message: this.message };
    if (this.location !== undefined) proto.location = this.location;
    return proto;
  }

  get errors(): BigQueryErrorProto[] {
    return [{ ...this.proto, domain: "global" }, ...this.extraErrors];
  }

  toJSON(): { error: { code: number; message: string; errors: BigQueryErrorProto[]; status: string } } {
    return {
      error: {
        code: this.code,
        message: this.message,
        errors: this.errors,
        status: STATUS_OF_CODE[this.code] ?? "UNKNOWN",
      },
    };
  }
}

export function invalid(message: string, location?: string): BigQueryApiError {
  return new BigQueryApiError(400, "invalid", message, location === undefined ? {} : { location });
}

export function invalidQuery(message: string): BigQueryApiError {
  return new BigQueryApiError(400, "invalidQuery", message, { location: "query" });
}

export function notFound(message: string): BigQueryApiError {
  return new BigQueryApiError(404, "notFound", `Not found: ${message}`);
}

export function duplicate(message: string): BigQueryApiError {
  return new BigQueryApiError(409, "duplicate", `Already Exists: ${message}`);
}

/** Any error as the API answers it: a BigQueryApiError as it is, anything else a 500 internalError. */
export function asApiError(error: unknown): BigQueryApiError {
  return error instanceof BigQueryApiError
    ? error
    : new BigQueryApiError(500, "internalError", error instanceof Error ? error.message : String(error));
}
