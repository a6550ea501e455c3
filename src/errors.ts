/**
 * Every public error of sluice. Two questions decide what happens after one, and each error
 * answers both:
 *
 * 1. **Can trying again help?** `transient` says so, and it is set where the error is made: each
 *    driver's failures are read in one function next to the driver (`postgres-errors.ts`,
 *    `duckdb-errors.ts`, `bigquery-errors.ts`, `sqlite-errors.ts`), which knows its codes.
 *    - transient: the failure belongs to the moment, not to the input: a server restarting,
 *      unreachable or out of connections, a connection dropped, a deadlock or serialization
 *      failure, a lock another process holds, a rate limit. Nothing has to change for the same
 *      batch, stream or run to succeed later. The runner retries these (`max_retries`), and a
 *      run that still fails transiently exits with 75 (EX_TEMPFAIL), which is what the
 *      generated Airflow DAG and Kubernetes CronJob retry on.
 *    - terminal (the default): the same input fails the same way until a person changes
 *      something (a setting, a password, a grant, the data, free disk). Retrying only repeats
 *      the failure and delays the alert, so the exit code says not to (1, or 2 for usage).
 *    A thrown value that is not a SluiceError is a bug or a failure nobody classified: terminal.
 * 2. **What does the user do about it?** The class: fix the configuration, the connection,
 *    the data, the schema, the state store, free a resource, or report a bug. Messages name
 *    the setting, table or column involved and say what to do.
 *
 * The CLI's exit status is `exitCode`: 75 for any transient error, else 2 for usage and
 * configuration problems, 1 for a pipeline that failed while running.
 */

/** The process exit statuses sluice uses (sysexits.h's EX_TEMPFAIL for "try again later"). */
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_TEMPFAIL = 75;
export type ExitCode = typeof EXIT_FAILURE | typeof EXIT_USAGE | typeof EXIT_TEMPFAIL;

/**
 * What a database server said about a failure, field by field, as its protocol sent them
 * (PostgreSQL's ErrorResponse: SQLSTATE `code`, `detail`, `hint`, the `schema`, `table`,
 * `column`, `constraint` and `dataType` involved, and `where` it happened).
 */
export interface ServerErrorFields {
  code?: string;
  detail?: string;
  hint?: string;
  schema?: string;
  table?: string;
  column?: string;
  constraint?: string;
  dataType?: string;
  where?: string;
}

export interface SluiceErrorOptions {
  cause?: unknown;
  /** A retry of the same work, later and unchanged, can succeed. Default false (terminal). */
  transient?: boolean;
  /** The server's own fields, when a server reported the failure. */
  server?: ServerErrorFields;
}

export abstract class SluiceError extends Error {
  /**
   * True when the same work, tried again later without anyone changing anything, can succeed
   * (see the top of this file). False unless whoever made the error knew better: an error that
   * is wrongly terminal costs one manual rerun, one wrongly transient costs retries that cannot
   * help and hide the alert.
   */
  readonly transient: boolean;
  /** The server's fields, when a server reported the failure (they are in `message` too). */
  readonly server: ServerErrorFields | undefined;
  /** The exit status of a command that failed with a terminal error of this kind. */
  protected abstract readonly terminalExitCode: typeof EXIT_FAILURE | typeof EXIT_USAGE;

  constructor(message: string, options?: SluiceErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.transient = options?.transient ?? false;
    this.server = options?.server;
  }

  /** The process exit status: 75 when a retry can help, else the kind's own (1 or 2). */
  get exitCode(): ExitCode {
    return this.transient ? EXIT_TEMPFAIL : this.terminalExitCode;
  }
}

/**
 * The project file, a setting or the command line is wrong. Each problem names its path.
 * Never transient: the same file fails the same way.
 */
export class ConfigError extends SluiceError {
  protected readonly terminalExitCode = EXIT_USAGE;
  readonly problems: readonly string[];
  constructor(problems: string | readonly string[], options?: { cause?: unknown }) {
    const list = typeof problems === "string" ? [problems] : problems;
    super(
      list.length === 1 ? list[0]! : `${list.length} problems:\n${list.map((p) => `  - ${p}`).join("\n")}`,
      options,
    );
    this.problems = list;
  }
}

/**
 * A source, warehouse or service could not be reached, dropped us, or turned a request down.
 * Transient when that is about the moment: a server down, restarting or out of connections, a
 * connection lost, a deadlock or a lock held elsewhere, a rate limit. Terminal when a setting
 * or a grant is wrong: a host that does not exist, a refused password, a missing privilege, a
 * certificate that does not match.
 */
export class ConnectionError extends SluiceError {
  protected readonly terminalExitCode = EXIT_FAILURE;
}

/**
 * A value or row could not be moved as it is (a value the warehouse cannot hold, a bad Singer
 * line, a key that is not unique). Terminal, but for a warehouse job that failed for a reason
 * of its own (BigQuery's backendError).
 */
export class DataError extends SluiceError {
  protected readonly terminalExitCode = EXIT_FAILURE;
}

/** Source and warehouse schemas cannot be reconciled (an incompatible type change, a missing key). */
export class SchemaError extends SluiceError {
  protected readonly terminalExitCode = EXIT_FAILURE;
}

/**
 * The state store refused a read, a write or a lock. State is left where it was. Transient when
 * the store could not be reached, was busy, or another run holds the lock; terminal when it
 * refused (a permission, a trigger, a corrupt file). The runner never retries these in the same
 * process: the run's lock lives in the store, and a store that went away may have dropped it.
 */
export class StateError extends SluiceError {
  protected readonly terminalExitCode = EXIT_FAILURE;
}

/**
 * The machine or a server ran out of something the run needs: the disk under the warehouse file
 * is full (terminal: free it, or point the setting elsewhere, and run again), or a server is out
 * of connections or memory for now (transient). State is where the last commit left it.
 */
export class ResourceError extends SluiceError {
  protected readonly terminalExitCode = EXIT_FAILURE;
}

/** Anything else that stops a run: a bug or an engine failure we did not classify. */
export class PipelineError extends SluiceError {
  protected readonly terminalExitCode = EXIT_FAILURE;
}

/** True when `error` is a SluiceError that a retry, later and unchanged, can get past. */
export function isTransient(error: unknown): boolean {
  return error instanceof SluiceError && error.transient;
}

/** The exit status for a command that failed with `error`: 75, 2 or 1 (see the top of this file). */
export function exitCodeOf(error: unknown): ExitCode {
  return error instanceof SluiceError ? error.exitCode : EXIT_FAILURE;
}

/** The message of any thrown value, for logs. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
