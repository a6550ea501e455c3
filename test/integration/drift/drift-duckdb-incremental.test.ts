import { SCENARIOS } from "./scenarios.js";
import { driftTests } from "./drift-suite.js";

/** The drift scenarios into target-duckdb by INCREMENTAL, from the embedded PostgreSQL 18 (one file per method: they run in parallel). */
driftTests({ loader: "duckdb", server: "postgres", scenarios: SCENARIOS, methods: ["INCREMENTAL"] });
