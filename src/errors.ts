/**
 * Every public error of sluice, grouped by how a user recovers from it.
 * The CLI maps `exitCode` to the process exit status: 2 for usage and configuration problems
 * (fix the command or the project file), 1 for a pipeline that failed while running.
 */
export abstract class SluiceError extends Error {
  abstract readonly exitCode: 1 | 2;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The project file, a setting or the command line is wrong. Each problem names its path. */
export class ConfigError extends SluiceError {
  readonly exitCode = 2;
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

/** A source or warehouse could not be reached or refused us (host, auth, database). Often transient. */
export class ConnectionError extends SluiceError {
  readonly exitCode = 1;
  readonly transient: boolean;
  constructor(message: string, options?: { cause?: unknown; transient?: boolean }) {
    super(message, options);
    this.transient = options?.transient ?? false;
  }
}

/** A value or row could not be moved as it is (a value the warehouse cannot hold, a bad Singer line). */
export class DataError extends SluiceError {
  readonly exitCode = 1;
}

/** Source and warehouse schemas cannot be reconciled (an incompatible type change, a missing key). */
export class SchemaError extends SluiceError {
  readonly exitCode = 1;
}

/** The state store refused a read, a write or a lock. State is left where it was. */
export class StateError extends SluiceError {
  readonly exitCode = 1;
}

/**
 * The machine ran out of something the run needs: the disk under the warehouse file is full.
 * Free it (or point the setting elsewhere) and run again; state is where the last commit left it.
 */
export class ResourceError extends SluiceError {
  readonly exitCode = 1;
}

/** Anything else that stops a run: a bug or an engine failure we did not classify. */
export class PipelineError extends SluiceError {
  readonly exitCode = 1;
}

export function exitCodeOf(error: unknown): 1 | 2 {
  return error instanceof SluiceError ? error.exitCode : 1;
}

/** The message of any thrown value, for logs. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
