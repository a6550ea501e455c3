import { SCENARIOS } from "./scenarios.js";
import { driftTests } from "./drift-suite.js";

/** The drift scenarios into target-duckdb, from the embedded PostgreSQL 18. */
driftTests({ loader: "duckdb", server: "postgres", scenarios: SCENARIOS });
