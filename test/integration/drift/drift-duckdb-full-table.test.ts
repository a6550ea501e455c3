import { SCENARIOS } from "./scenarios.js";
import { driftTests } from "./drift-suite.js";

/** The drift scenarios into target-duckdb by FULL_TABLE, from the embedded PostgreSQL 18 (one file per method: they run in parallel). */
driftTests({ loader: "duckdb", server: "postgres", scenarios: SCENARIOS, methods: ["FULL_TABLE"] });
