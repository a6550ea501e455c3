import { SCENARIOS } from "./scenarios.js";
import { driftTests } from "./drift-suite.js";

/** The drift scenarios into target-postgres (a second database on the embedded PostgreSQL 18). */
driftTests({ loader: "postgres", server: "postgres", scenarios: SCENARIOS });
