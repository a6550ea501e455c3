import { describe, expect, test } from "vitest";
import { ConfigError, ConnectionError, DataError, StateError } from "../../../src/errors.js";
import { readProjectFile } from "../../../src/project/project-file.js";
import {
  DEFAULT_RETRY_POLICY,
  retriableInRun,
  retryDelayMs,
  retryPolicyOf,
  waitBeforeRetry,
} from "../../../src/runner/retry-policy.js";
import { problemsOf, projectDirWith } from "../project/project-test-support.js";

function project(yaml: string) {
  const dir = projectDirWith({ "sluice.yml": yaml });
  return readProjectFile(`${dir}/sluice.yml`);
}

describe("the retry policy", () => {
  test("waits double each time, give or take a fifth, up to the longest wait", () => {
    const policy = { maxRetries: 10, firstDelayMs: 1000, maxDelayMs: 10_000 };
    for (let i = 0; i < 50; i++) {
      const waits = [1, 2, 3, 4, 5].map((retry) => retryDelayMs(policy, retry));
      expect(waits[0]).toBeGreaterThanOrEqual(800);
      expect(waits[0]).toBeLessThanOrEqual(1200);
      expect(waits[2]).toBeGreaterThanOrEqual(3200);
      expect(waits[2]).toBeLessThanOrEqual(4800);
      // 16 s doubled from 1 s is over the longest wait: 10 s, give or take a fifth.
      expect(waits[4]).toBeLessThanOrEqual(12_000);
    }
  });

  test("from the project file, with --max-retries winning", () => {
    expect(retryPolicyOf(project("plugins: {}\n"))).toEqual(DEFAULT_RETRY_POLICY);
    const set = project("plugins: {}\nmax_retries: 2\nretry_delay_seconds: 0.5\n");
    expect(retryPolicyOf(set)).toMatchObject({ maxRetries: 2, firstDelayMs: 500 });
    expect(retryPolicyOf(set, { maxRetries: 0 })).toMatchObject({ maxRetries: 0, firstDelayMs: 500 });
    expect(() => retryPolicyOf(set, { maxRetries: -1 })).toThrow(ConfigError);
  });

  test("a wrong max_retries or retry_delay_seconds is a problem at its path", () => {
    expect(problemsOf(() => project("plugins: {}\nmax_retries: -1\nretry_delay_seconds: soon\n"))).toEqual([
      "max_retries: expected 0 or more, got -1 (0 turns retries off)",
      'retry_delay_seconds: expected a number of seconds above 0, got "soon"',
    ]);
    expect(problemsOf(() => project("plugins: {}\nmax_retries: 1.5\n"))).toEqual([
      "max_retries: expected an integer, got 1.5",
    ]);
  });

  test("retried within the run: transient errors, but not the state store's (its lock may be gone)", () => {
    expect(retriableInRun(new ConnectionError("lost", { transient: true }))).toBe(true);
    expect(retriableInRun(new DataError("backendError", { transient: true }))).toBe(true);
    expect(retriableInRun(new ConnectionError("refused password"))).toBe(false);
    expect(retriableInRun(new StateError("unreachable", { transient: true }))).toBe(false);
    expect(retriableInRun(new Error("a bug"))).toBe(false);
  });

  test("a stop cuts a wait short", async () => {
    const controller = new AbortController();
    const started = Date.now();
    const waiting = waitBeforeRetry(60_000, controller.signal);
    setTimeout(() => controller.abort(), 20);
    expect(await waiting).toBe(false);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await waitBeforeRetry(10, undefined)).toBe(true);
  });
});
