import { afterAll, beforeAll } from "vitest";
import { startBigqueryTarget, type BigqueryTarget } from "../connectors/bigquery-harness.js";
import { SCENARIOS } from "./scenarios.js";
import { driftTests } from "./drift-suite.js";

/** The drift scenarios into target-bigquery, through the BigQuery emulator the suite starts. */
let target: BigqueryTarget;

beforeAll(async () => {
  target = await startBigqueryTarget();
});

afterAll(async () => {
  await target?.close();
});

driftTests({ loader: "bigquery", server: "postgres", scenarios: SCENARIOS, bigquery: () => target });
