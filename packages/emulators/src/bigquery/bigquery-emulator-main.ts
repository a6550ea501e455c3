#!/usr/bin/env node
/**
 * The BigQuery emulator on its own, to try target-bigquery on a laptop:
 *
 *   npm run emulator:bigquery -- [--port 9050] [--project local-project] [--data-file bq.duckdb]
 *                                [--job-duration-ms 1000]
 *
 * It prints the REST endpoint to give target-bigquery as `api_endpoint` (or
 * BIGQUERY_EMULATOR_HOST), and the gRPC endpoint once the emulator serves the Storage Write API
 * (`storageWrite.endpoint`). Quotas are production's; `POST <rest>/emulator/clock` moves its clock.
 */
import { parseArgs } from "node:util";
import { startBigQueryEmulator } from "./bigquery-emulator.js";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "9050" },
    project: { type: "string", default: "local-project" },
    "data-file": { type: "string" },
    "job-duration-ms": { type: "string", default: "0" },
  },
});

const port = Number(values.port);
const jobDurationMs = Number(values["job-duration-ms"]);
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  console.error(`--port: expected a port number, got ${values.port}`);
  process.exit(2);
}
if (!Number.isFinite(jobDurationMs) || jobDurationMs < 0) {
  console.error(`--job-duration-ms: expected a number of milliseconds, got ${values["job-duration-ms"]}`);
  process.exit(2);
}

const emulator = await startBigQueryEmulator({
  port,
  projectId: values.project,
  jobDurationMs,
  ...(values["data-file"] !== undefined ? { dataFile: values["data-file"] } : {}),
});
console.log(`BigQuery emulator for project ${emulator.projectId}`);
console.log(
  `REST  ${emulator.url}  (target-bigquery: api_endpoint: ${emulator.url}, or BIGQUERY_EMULATOR_HOST=${emulator.url})`,
);
console.log(`gRPC  ${emulator.storageWrite.endpoint} (the Storage Write API; plaintext)`);
console.log(
  `Clock POST ${emulator.url}/emulator/clock {"advanceMs": 86400000} moves it a day (quotas are production's)`,
);
console.log(values["data-file"] ? `Data  ${values["data-file"]}` : "Data  in memory (--data-file keeps it)");

const stop = (): void => {
  void emulator.close().then(() => process.exit(0));
};
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
