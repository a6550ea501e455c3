/**
 * A drift scenario is data: SQL run on the source and runs of `sluice run`, in order. The runner
 * (`drift-runner.ts`) plays it once per replication method it lists, loader and server, and after
 * every run compares the warehouse with the source, value by value, for every stream the run
 * selected (rows, keys and every column the source has now).
 */
export type ReplicationMethod = "FULL_TABLE" | "INCREMENTAL" | "LOG_BASED";

/** The loaders a scenario is played against. */
export type DriftLoader = "duckdb" | "postgres" | "bigquery";

/** The servers a scenario is played on: the embedded 18, Debian's 15 (see `global-setup.ts`). */
export type DriftServer = "postgres" | "postgres15";

/**
 * How a run is ended early: SIGKILL once it logged its first loaded batch (`mid-copy`: data is
 * moving) or `run-started` (`at-start`: the lock is held, nothing loaded).
 */
export type Kill = "sigkill-mid-copy" | "sigkill-at-start";

export interface RunStep {
  run: {
    /** Tables (of `public`) this run selects with `--select`; default every table. */
    select?: string[];
    fullRefresh?: boolean;
    kill?: Kill;
    /**
     * The run must fail (exit code not 0) with a message matching this, which should name the
     * table and say what to do; the stored state must not move. The warehouse is then not
     * compared: the next run after the fix must converge.
     */
    fails?: RegExp;
  };
  /** Only for these methods (e.g. a run that fails only under LOG_BASED). Default: all. */
  methods?: ReplicationMethod[];
}

export interface SqlStep {
  /** SQL run on the source database (one or more statements). */
  sql: string;
  /** Only for these methods (INCREMENTAL cannot see a delete: a scenario says so here). */
  methods?: ReplicationMethod[];
}

export type Step = RunStep | SqlStep;

export interface Scenario {
  name: string;
  /** SQL creating the source tables (all in `public`) before anything runs. */
  setup: string;
  steps: Step[];
  methods: ReplicationMethod[];
  /** INCREMENTAL: the replication key of each table (default `updated_at`). */
  replicationKeys?: Record<string, string>;
  /** Default every loader. */
  loaders?: DriftLoader[];
  /**
   * Played into BigQuery in CI too (the others only with SLUICE_DRIFT_MATRIX=full): the scenarios
   * where BigQuery's path differs most (merge rules, DDL, key changes), as each of its runs costs
   * seconds of load jobs on the emulator's clock.
   */
  core?: boolean;
  /** Default the embedded PostgreSQL 18 only; list both where behaviour differs. */
  servers?: DriftServer[];
  /** tap-postgres settings beside the defaults (`batch_size_rows` for a copy that can be killed). */
  tap?: Record<string, unknown>;
  /** Tables compared as the source has them, when they differ from every table of `public`. */
  compare?: string[];
  /**
   * A run may refuse what the scenario did (exit not 0) instead of converging, as the promise
   * allows, when its message names the table and the state and the slot did not move; the
   * runner then plays `--full-refresh` of the same streams, which must converge. For DDL a
   * warehouse may not follow in place (a type it cannot convert). Default false: a run that fails
   * fails the test.
   */
  mayRefuse?: boolean;
  /** The source database's `TimeZone` (ALTER DATABASE ... SET), for sessions that do not set theirs. */
  timeZone?: string;
}

export function isRun(step: Step): step is RunStep {
  return "run" in step;
}
