import fs from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { DuckDBInstance } from "@duckdb/node-api";
import type { TestDatabase } from "../../support/pg.js";
import { duckdbRows } from "../../support/pipeline.js";
import type { RunningCli } from "../../support/run-cli.js";
import type { RowTexts } from "../../support/table-diff.js";

/**
 * How many SIGKILL points each replication method gets. The CI default keeps each loop file near
 * 40 s on 2 shared cores; `SLUICE_FAULT_ITERATIONS=200` runs a longer loop locally (docs/testing.md).
 */
export const FAULT_ITERATIONS = (() => {
  const text = process.env.SLUICE_FAULT_ITERATIONS;
  if (text === undefined || text === "") return 20;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`SLUICE_FAULT_ITERATIONS must be a positive integer, not ${JSON.stringify(text)}`);
  }
  return n;
})();

export const RUN_ARGS = ["--log-format", "json", "run", "tap-postgres", "target-duckdb"] as const;

export const randomBetween = (min: number, max: number): number =>
  Math.round(min + Math.random() * (max - min));

/** Polls `ready` every 10 ms; fails naming `what` if the process ends first or after `timeoutMs`. */
export async function waitFor(
  run: RunningCli,
  what: string,
  ready: () => boolean | Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const start = Date.now();
  let ended = false;
  // Ended either way: `done` rejects when the process outlived its time limit (and was killed).
  const end = (): void => void (ended = true);
  run.done.then(end, end);
  while (!(await ready())) {
    if (ended) throw new Error(`sluice ended before ${what}:\n${run.output().stderr.slice(-3000)}`);
    if (Date.now() - start > timeoutMs) {
      run.child.kill("SIGKILL");
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}:\n${run.output().stderr.slice(-3000)}`,
      );
    }
    await sleep(10);
  }
}

/** The JSON log lines of a run's stderr (text lines, e.g. a crash's stack, are left out). */
export function logLines(stderr: string): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  for (const line of stderr.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // A line cut by SIGKILL mid-write.
    }
  }
  return lines;
}

/** The last run event a run logged: how far it got before it was killed. */
export function lastEvent(stderr: string): string {
  const events = logLines(stderr)
    .map((l) => l.event)
    .filter((e): e is string => typeof e === "string");
  return events.at(-1) ?? "(none: starting)";
}

/** The `level: error` messages of a run, joined. */
export function errorMessages(stderr: string): string {
  return logLines(stderr)
    .filter((l) => l.level === "error")
    .map((l) => String(l.message))
    .join("\n");
}

/** Tables of a DuckDB file (none when it does not exist yet). */
export async function duckdbTables(file: string): Promise<string[]> {
  if (!fs.existsSync(file)) return [];
  return (await duckdbRows(file, "SELECT table_name FROM duckdb_tables() ORDER BY table_name")).map((r) =>
    String(r.table_name),
  );
}

/**
 * Commits small random transactions into the source, one at a time (so that a sequence-valued
 * replication key follows commit order), until `stop` is called.
 */
export function startWriter(
  db: TestDatabase,
  transaction: () => string[],
  /** The longest pause between two transactions. */
  maxPauseMs = 10,
): { stop: () => Promise<number> } {
  let writing = true;
  let transactions = 0;
  const loop = (async () => {
    while (writing) {
      await db.query(`BEGIN; ${transaction().join("; ")}; COMMIT;`);
      transactions += 1;
      // Leaves the two cores to sluice: a few hundred changes a second are enough to race it.
      await sleep(randomBetween(0, maxPauseMs));
    }
  })();
  return {
    stop: async () => {
      writing = false;
      await loop;
      return transactions;
    },
  };
}

/**
 * One transaction of `most` or fewer random changes to `table (id, v, body)`: inserts of new ids
 * (after `ids.last`, which it advances), updates that raise `v` (so a row's version only grows)
 * and deletes.
 */
export function randomChanges(table: string, ids: { last: number }, most: number): string[] {
  const statements: string[] = [];
  for (let i = randomBetween(1, most); i > 0; i--) {
    const op = Math.random();
    const id = randomBetween(1, ids.last);
    if (op < 0.4) statements.push(`INSERT INTO ${table} VALUES (${++ids.last}, 0, 'new ${ids.last}')`);
    else if (op < 0.85) statements.push(`UPDATE ${table} SET v = v + 1, body = body || '.' WHERE id = ${id}`);
    else statements.push(`DELETE FROM ${table} WHERE id = ${id}`);
  }
  return statements;
}

/** Counts of values, for a failure message or a log line: `a: 3, b: 1`. */
export function tally(values: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts].map(([k, n]) => `${k}: ${n}`).join(", ");
}

/**
 * `duckdbRowTexts` of `schema.table` (the `sql` reads it), or undefined when the table does not
 * exist yet (a run killed before creating it). Every handle is closed, whatever happens: a
 * connection left open keeps DuckDB's file lock, and the next run could not open the file.
 */
export async function loadedRowTexts(
  file: string,
  table: string,
  sql: string,
): Promise<{ rows: RowTexts; duplicates: string[]; count: number } | undefined> {
  if (!fs.existsSync(file)) return undefined;
  const [schema, name] = table.split(".") as [string, string];
  const instance = await DuckDBInstance.create(file);
  try {
    const connection = await instance.connect();
    try {
      const exists = await connection.runAndReadAll(
        `SELECT 1 FROM duckdb_tables() WHERE schema_name = '${schema}' AND table_name = '${name}'`,
      );
      if (exists.currentRowCount === 0) return undefined;
      const reader = await connection.runAndReadAll(sql);
      const rows: RowTexts = new Map();
      const duplicates: string[] = [];
      let count = 0;
      for (const row of reader.getRowObjectsJS()) {
        const k = String(row.k);
        if (rows.has(k)) duplicates.push(k);
        rows.set(k, String(row.v));
        count += 1;
      }
      return { rows, duplicates, count };
    } finally {
      connection.closeSync();
    }
  } finally {
    instance.closeSync();
  }
}

/** Ids held more than once in `schema.table` (counted in DuckDB), or undefined when there is no table. */
export async function keysHeldTwice(file: string, table: string, key = "id"): Promise<string[] | undefined> {
  const found = await loadedRowTexts(
    file,
    table,
    `SELECT CAST(${key} AS VARCHAR) AS k, CAST(count(*) AS VARCHAR) AS v FROM ${table} GROUP BY ${key} HAVING count(*) > 1`,
  );
  return found === undefined ? undefined : [...found.rows.keys()];
}
