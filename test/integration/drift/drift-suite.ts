import { describe, test } from "vitest";
import type { BigqueryTarget } from "../connectors/bigquery-harness.js";
import type { DriftLoader, DriftServer, Scenario } from "./drift-scenario.js";
import { playScenario } from "./drift-runner.js";

/**
 * Registers one test per scenario and method for `loader` on `server` (each test file one
 * loader, so that vitest spreads them over its workers). Scenarios that do not list the loader or
 * the server are left out, not skipped: they are played by the files that apply.
 */
export function driftTests(options: {
  loader: DriftLoader;
  server: DriftServer;
  scenarios: Scenario[];
  bigquery?: () => BigqueryTarget;
}): void {
  const { loader, server } = options;
  const applies = options.scenarios.filter(
    (s) => (s.loaders ?? [loader]).includes(loader) && (s.servers ?? ["postgres"]).includes(server),
  );
  describe(`drift into ${loader} from ${server === "postgres" ? "PostgreSQL 18" : "PostgreSQL 15"}`, () => {
    for (const scenario of applies) {
      for (const method of scenario.methods) {
        test(`${scenario.name} [${method}]`, async () => {
          await playScenario(scenario, {
            method,
            loader,
            server,
            ...(options.bigquery ? { bigquery: options.bigquery() } : {}),
          });
        });
      }
    }
  });
}
