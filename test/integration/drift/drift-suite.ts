import { describe, test } from "vitest";
import type { BigqueryTarget } from "../connectors/bigquery-harness.js";
import type { DriftLoader, DriftServer, ReplicationMethod, Scenario } from "./drift-scenario.js";
import { playScenario } from "./drift-runner.js";

/**
 * CI plays every method into DuckDB and one into the other loaders (LOG_BASED where a scenario
 * lists it: the method where loaders differ most), into BigQuery only the `core` scenarios, to
 * stay within a few minutes;
 * SLUICE_DRIFT_MATRIX=full plays every method into every loader.
 */
const FULL_MATRIX = process.env.SLUICE_DRIFT_MATRIX === "full";

function methodsFor(scenario: Scenario, loader: DriftLoader): Scenario["methods"] {
  if (FULL_MATRIX || loader === "duckdb") return scenario.methods;
  if (loader === "bigquery" && scenario.core !== true) return [];
  return scenario.methods.includes("LOG_BASED") ? ["LOG_BASED"] : scenario.methods.slice(0, 1);
}

/**
 * Registers one test per scenario and method for `loader` on `server` (each test file one
 * loader, so that vitest spreads them over its workers). Scenarios that do not list the loader or
 * the server are left out, not skipped: they are played by the files that apply.
 */
export function driftTests(options: {
  loader: DriftLoader;
  server: DriftServer;
  scenarios: Scenario[];
  /** Only these methods (a loader's scenarios split over files, for vitest's workers). */
  methods?: ReplicationMethod[];
  bigquery?: () => BigqueryTarget;
}): void {
  const { loader, server } = options;
  const applies = options.scenarios.filter(
    (s) => (s.loaders ?? [loader]).includes(loader) && (s.servers ?? ["postgres"]).includes(server),
  );
  describe(`drift into ${loader} from ${server === "postgres" ? "PostgreSQL 18" : "PostgreSQL 15"}`, () => {
    for (const scenario of applies) {
      for (const method of methodsFor(scenario, loader).filter((m) => options.methods?.includes(m) ?? true)) {
        test(`${scenario.name} [${method}]`, { timeout: 300_000 }, async () => {
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
