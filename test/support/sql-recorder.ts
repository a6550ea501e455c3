import { DuckDBConnection } from "@duckdb/node-api";
import { BigQuery } from "@google-cloud/bigquery";
import pg from "pg";

/**
 * Records the SQL text a loader sends through its driver (DuckDB, pg, the BigQuery client),
 * without changing what the driver does: the statements go to the real engine as before. Used to
 * keep a snapshot of the SQL each loader renders, so that moving the rules that make it shows up
 * as a diff.
 */
export interface SqlRecorder {
  /** Statements sent since the last `take`, in order. */
  take(): string[];
  stop(): void;
}

type Method = (this: unknown, ...args: unknown[]) => unknown;

export function recordSql(): SqlRecorder {
  let statements: string[] = [];
  const restores: (() => void)[] = [];
  const wrap = (prototype: object, name: string, textOf: (args: unknown[]) => string | undefined) => {
    const target = prototype as Record<string, Method>;
    const original = target[name]!;
    target[name] = function (this: unknown, ...args: unknown[]) {
      const text = textOf(args);
      // The BigQuery emulator runs in-process on DuckDB too: its statements are not the loader's.
      if (text !== undefined && !/[/\\]emulators[/\\]/.test(new Error().stack ?? "")) statements.push(text);
      return original.apply(this, args);
    };
    restores.push(() => {
      target[name] = original;
    });
  };
  const firstString = (args: unknown[]): string | undefined => {
    const [first] = args;
    if (typeof first === "string") return first;
    // pg: a query config or a submittable (a COPY stream) carries its text.
    if (first && typeof first === "object" && "text" in first && typeof first.text === "string")
      return first.text;
    return undefined;
  };
  wrap(DuckDBConnection.prototype, "run", firstString);
  wrap(DuckDBConnection.prototype, "runAndReadAll", firstString);
  wrap(pg.Client.prototype, "query", firstString);
  wrap(BigQuery.prototype, "createQueryJob", (args) => {
    const [options] = args;
    return options && typeof options === "object" && "query" in options ? String(options.query) : undefined;
  });
  return {
    take: () => {
      const taken = statements;
      statements = [];
      return taken;
    },
    stop: () => {
      for (const restore of restores.splice(0).reverse()) restore();
    },
  };
}
