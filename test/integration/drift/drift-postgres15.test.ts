import { SCENARIOS } from "./scenarios.js";
import { driftTests } from "./drift-suite.js";

/**
 * The drift scenarios that list PostgreSQL 15 (Debian's, as production runs it today), into
 * target-duckdb: those where the versions differ (generated columns, pgoutput's protocol).
 */
driftTests({ loader: "duckdb", server: "postgres15", scenarios: SCENARIOS });
