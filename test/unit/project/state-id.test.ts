import { describe, expect, test } from "vitest";
import { stateIdFor } from "../../../src/project/state-id.js";

describe("stateIdFor", () => {
  test("is Meltano's <environment>:<extractor>-to-<loader>", () => {
    expect(stateIdFor("prod", "tap-postgres", "target-bigquery")).toBe(
      "prod:tap-postgres-to-target-bigquery",
    );
  });

  test("has no prefix without an environment", () => {
    expect(stateIdFor(undefined, "tap-postgres", "target-duckdb")).toBe("tap-postgres-to-target-duckdb");
  });

  test("appends an environment's state_id_suffix", () => {
    expect(stateIdFor("dev", "tap-postgres", "target-duckdb", "blue")).toBe(
      "dev:tap-postgres-to-target-duckdb:blue",
    );
  });
});
