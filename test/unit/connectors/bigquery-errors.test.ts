import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, test } from "vitest";
import {
  BigqueryJobError,
  bigqueryError,
  isTransientBigqueryError,
  withRetry,
} from "../../../src/connectors/target-bigquery/bigquery-errors.js";
import { ndjsonChunks, rowAtOffset } from "../../../src/connectors/target-bigquery/bigquery-ndjson.js";
import { ConnectionError, DataError, ResourceError } from "../../../src/errors.js";

/** An error shaped as the client's ApiError. */
function apiError(code: number | string, reason?: string, message = "boom"): Error {
  return Object.assign(new Error(message), { code, errors: reason ? [{ reason, message }] : [] });
}

const context = {
  endpoint: "https://bigquery.googleapis.com",
  credentials: "/keys/sa.json (credentials_path)",
};

describe("BigQuery errors", () => {
  test("rate limits, 5xx, backend errors and dropped connections are transient; bad requests are not", () => {
    expect(isTransientBigqueryError(apiError(429))).toBe(true);
    expect(isTransientBigqueryError(apiError(503))).toBe(true);
    expect(isTransientBigqueryError(apiError(403, "rateLimitExceeded"))).toBe(true);
    expect(isTransientBigqueryError(apiError("ECONNRESET"))).toBe(true);
    expect(isTransientBigqueryError(apiError(400, "invalid"))).toBe(false);
    expect(isTransientBigqueryError(apiError(403, "accessDenied"))).toBe(false);
    expect(isTransientBigqueryError(new BigqueryJobError("j1", { reason: "backendError" }, []))).toBe(true);
    expect(isTransientBigqueryError(new BigqueryJobError("j1", { reason: "invalid" }, []))).toBe(false);
  });

  test("every 403 by its reason: a quota is a quota (not retried now, a later run may pass), a rate limit is retried, the rest is a permission", () => {
    const quota = apiError(
      403,
      "quotaExceeded",
      "Quota exceeded: Your project exceeded quota for imports per project.",
    );
    expect(isTransientBigqueryError(quota)).toBe(false);
    const mapped = bigqueryError(quota, "loading public-events", context);
    expect(mapped).toBeInstanceOf(ResourceError);
    expect(mapped.transient).toBe(true);
    expect(mapped.message).toMatch(
      /BigQuery quota exceeded while loading public-events: Quota exceeded: Your project exceeded quota for imports per project\. This is a quota, not a permission/,
    );
    expect(mapped.message).not.toMatch(/permission denied/);
    const failedJob = new BigqueryJobError(
      "j2",
      { reason: "quotaExceeded", message: "Quota exceeded: Your table exceeded quota" },
      [],
    );
    expect(bigqueryError(failedJob, "copying", context)).toBeInstanceOf(ResourceError);
    expect(isTransientBigqueryError(apiError(403, "jobRateLimitExceeded"))).toBe(true);
    expect(isTransientBigqueryError(new BigqueryJobError("j3", { reason: "rateLimitExceeded" }, []))).toBe(
      true,
    );
    const rate = bigqueryError(
      apiError(
        403,
        "rateLimitExceeded",
        "Exceeded rate limits: too many table update operations for this table",
      ),
      "adding columns",
      context,
    );
    expect(rate).toBeInstanceOf(ConnectionError);
    expect(rate.transient).toBe(true);
    expect(rate.message).toMatch(
      /rate limit still refused adding columns after retries with backoff: Exceeded rate limits/,
    );
    expect(bigqueryError(apiError(403, "accessDenied"), "reading", context).message).toMatch(
      /permission denied/,
    );
  });

  test("withRetry retries transient failures a bounded number of times, with growing delays", async () => {
    const delays: number[] = [];
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw apiError(503);
        },
        { maxRetries: 3, baseDelayMs: 1, onRetry: (_e, _n, delay) => delays.push(delay) },
      ),
    ).rejects.toThrow("boom");
    expect(calls).toBe(4);
    expect(delays).toHaveLength(3);
    expect(delays[2]!).toBeGreaterThan(delays[0]!);
    calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw apiError(400, "invalid");
        },
        { maxRetries: 3, baseDelayMs: 1 },
      ),
    ).rejects.toThrow();
    expect(calls).toBe(1);
  });

  test("client errors become sluice errors that say what to do", () => {
    const auth = bigqueryError(
      apiError(401, "authError", "Invalid Credentials"),
      "reading dataset d",
      context,
    );
    expect(auth).toBeInstanceOf(ConnectionError);
    expect(auth.message).toMatch(
      /refused the credentials from \/keys\/sa.json \(credentials_path\) while reading dataset d/,
    );
    const denied = bigqueryError(
      apiError(403, "accessDenied", "Access Denied"),
      "creating dataset d",
      context,
    );
    expect(denied.message).toMatch(/permission denied .*BigQuery Data Editor .*BigQuery Job User/);
    const down = bigqueryError(apiError(503, "backendError"), "loading s", context);
    expect(down).toBeInstanceOf(ConnectionError);
    expect(down.transient).toBe(true);
    expect(down.exitCode).toBe(75);
    // A rate limit says 403 too: it is not a missing permission.
    const limited = bigqueryError(
      apiError(403, "rateLimitExceeded", "Exceeded rate limits"),
      "loading s",
      context,
    );
    expect(limited.transient).toBe(true);
    expect(limited.message).not.toMatch(/permission denied/);
    expect(denied.transient).toBe(false);
    const unreachable = bigqueryError(apiError("ECONNREFUSED"), "loading s", context);
    expect(unreachable.message).toMatch(/cannot reach https:\/\/bigquery.googleapis.com while loading s/);
    const job = bigqueryError(
      new BigqueryJobError("sluice_1", { reason: "invalid", message: "too many errors" }, [
        { reason: "invalid", message: "Field: c; Value: x", location: "file-00000000" },
      ]),
      "loading s",
      context,
    );
    expect(job).toBeInstanceOf(DataError);
    expect(job.transient).toBe(false);
    const backend = bigqueryError(
      new BigqueryJobError("sluice_2", { reason: "backendError", message: "try again" }, []),
      "loading s",
      context,
    );
    expect(backend.transient).toBe(true);
    expect(job.message).toMatch(
      /job sluice_1 failed: too many errors\n {2}- invalid: Field: c; Value: x \(at file-00000000\)/,
    );
  });
});

describe("NDJSON chunks for load jobs", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-ndjson-"));
  const file = path.join(dir, "b.ndjson");
  const lines = Array.from({ length: 100 }, (_, i) => JSON.stringify({ id: i, pad: "x".repeat(i % 7) }));
  fs.writeFileSync(file, lines.map((l) => `${l}\n`).join(""));

  test("ranges of at most max bytes, cut at line ends, covering every row once", async () => {
    const chunks = await ndjsonChunks(file, 300);
    expect(chunks.length).toBeGreaterThan(5);
    const text = fs.readFileSync(file);
    let rows = 0;
    for (const [i, chunk] of chunks.entries()) {
      expect(chunk.end - chunk.start).toBeLessThanOrEqual(300);
      expect(chunk.firstRow).toBe(rows);
      if (i > 0) expect(chunk.start).toBe(chunks[i - 1]!.end);
      const piece = text.subarray(chunk.start, chunk.end).toString();
      expect(piece.endsWith("\n")).toBe(true);
      rows += piece.split("\n").length - 1;
    }
    expect(rows).toBe(100);
    expect((await ndjsonChunks(file, 1 << 20)).map((c) => [c.start, c.end, c.firstRow])).toEqual([
      [0, text.length, 0],
    ]);
  });

  test("a byte position BigQuery reports maps back to its row", async () => {
    const offsetOf = (row: number) => lines.slice(0, row).reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);
    expect(await rowAtOffset(file, 0)).toBe(0);
    expect(await rowAtOffset(file, offsetOf(42))).toBe(42);
    expect(await rowAtOffset(file, offsetOf(99))).toBe(99);
  });
});
