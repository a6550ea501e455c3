import { describe, expect, test } from "vitest";
import {
  ConfigError,
  ConnectionError,
  DataError,
  EXIT_TEMPFAIL,
  PipelineError,
  ResourceError,
  SchemaError,
  StateError,
  exitCodeOf,
  isTransient,
} from "../../src/errors.js";

describe("errors say whether a retry can help", () => {
  test("terminal by default, with the kind's exit code: 2 for configuration, 1 for the rest", () => {
    expect(exitCodeOf(new ConfigError("x"))).toBe(2);
    for (const error of [
      new ConnectionError("x"),
      new DataError("x"),
      new SchemaError("x"),
      new StateError("x"),
      new ResourceError("x"),
      new PipelineError("x"),
    ]) {
      expect(error.transient, error.name).toBe(false);
      expect(isTransient(error), error.name).toBe(false);
      expect(exitCodeOf(error), error.name).toBe(1);
    }
  });

  test("a transient error of any kind exits 75 (EX_TEMPFAIL), whatever its kind", () => {
    expect(EXIT_TEMPFAIL).toBe(75);
    for (const error of [
      new ConnectionError("x", { transient: true }),
      new DataError("x", { transient: true }),
      new StateError("x", { transient: true }),
      new ResourceError("x", { transient: true }),
    ]) {
      expect(isTransient(error), error.name).toBe(true);
      expect(error.exitCode, error.name).toBe(75);
      expect(exitCodeOf(error), error.name).toBe(75);
    }
  });

  test("anything that is not a SluiceError is a bug: terminal, exit 1", () => {
    const network = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
    expect(isTransient(network)).toBe(false);
    expect(exitCodeOf(network)).toBe(1);
    expect(exitCodeOf("thrown text")).toBe(1);
  });

  test("the cause is chained and the server's fields are kept", () => {
    const cause = new Error("deadlock detected");
    const error = new ConnectionError("loading x failed", {
      cause,
      transient: true,
      server: { code: "40P01", detail: "Process 1 waits for ShareLock", table: "events" },
    });
    expect(error.cause).toBe(cause);
    expect(error.server).toEqual({
      code: "40P01",
      detail: "Process 1 waits for ShareLock",
      table: "events",
    });
    expect(error.name).toBe("ConnectionError");
    expect(new DataError("y").cause).toBeUndefined();
  });
});
