import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import type { SingerState } from "../../src/protocol/state.js";
import type { TestDatabase } from "./pg.js";

/** The built CLI (`npm run build` makes it; `npm test` builds first). */
export const SLUICE_CLI = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));

/** The state id of a project without environments. */
export const PROJECT_STATE_ID = "tap-postgres-to-target-duckdb";

/**
 * Writes a `sluice.yml` (JSON is YAML) for tap-postgres → target-duckdb on `db`, without the
 * password: the CLI gets it from TAP_POSTGRES_PASSWORD, as the README says.
 */
export function writeProject(
  dir: string,
  db: TestDatabase,
  options: {
    select: string[];
    metadata?: Record<string, Record<string, unknown>>;
    tap?: Record<string, unknown>;
    target?: Record<string, unknown>;
  },
): void {
  const project = {
    plugins: {
      extractors: [
        {
          name: "tap-postgres",
          variant: "transferwise",
          config: {
            host: db.host,
            port: db.port,
            user: db.user,
            dbname: db.name,
            filter_schemas: "public",
            ...options.tap,
          },
          select: options.select,
          metadata: options.metadata ?? {},
        },
      ],
      loaders: [{ name: "target-duckdb", config: { path: "warehouse.duckdb", ...options.target } }],
    },
  };
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "sluice.yml"), JSON.stringify(project, null, 2));
}

export interface SluiceProcess {
  child: ChildProcess;
  /** Everything the process wrote so far. */
  output: () => { stdout: string; stderr: string };
  /** Resolves when the process has ended (killed or not). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

/**
 * Starts `sluice -C <projectDir> <args>` in a child process with only the variables a user would
 * set (TAP_POSTGRES_PASSWORD and SLUICE_SPOOL_DIR inside the project, so a killed run's spool
 * files stay where the test can see and remove them).
 */
export function startSluice(projectDir: string, db: TestDatabase, args: readonly string[]): SluiceProcess {
  if (!fs.existsSync(SLUICE_CLI))
    throw new Error(`${SLUICE_CLI} does not exist: run \`npm run build\` first`);
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^(TAP_|TARGET_|SLUICE_|MELTANO_)/.test(name)) env[name] = value;
  }
  env.NO_COLOR = "1";
  env.TAP_POSTGRES_PASSWORD = db.password;
  env.SLUICE_SPOOL_DIR = spoolDirOf(projectDir);
  fs.mkdirSync(env.SLUICE_SPOOL_DIR, { recursive: true });
  const child = spawn(process.execPath, [SLUICE_CLI, "-C", projectDir, ...args], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    stdout: string;
    stderr: string;
  }>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, output: () => ({ stdout, stderr }), exited };
}

/** Runs sluice to its end; fails with its output unless it exits with `expectCode` (0). */
export async function runSluice(
  projectDir: string,
  db: TestDatabase,
  args: readonly string[],
  options: { timeoutMs?: number; expectCode?: number } = {},
): Promise<{ stdout: string; stderr: string }> {
  const running = startSluice(projectDir, db, args);
  const timeoutMs = options.timeoutMs ?? 60_000;
  const timer = setTimeout(() => running.child.kill("SIGKILL"), timeoutMs);
  try {
    const result = await running.exited;
    const expected = options.expectCode ?? 0;
    if (result.code !== expected) {
      throw new Error(
        `sluice ${args.join(" ")} ended with ${result.code ?? result.signal} (expected ${expected})\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`,
      );
    }
    return result;
  } finally {
    clearTimeout(timer);
  }
}

export function spoolDirOf(projectDir: string): string {
  return path.join(projectDir, "spool");
}

export function systemDatabaseOf(projectDir: string): string {
  return path.join(projectDir, ".sluice", "sluice.db");
}

/**
 * The state stored for `stateId`, read straight from the SQLite system database (read-only, so it
 * can be polled while a run writes it); undefined while there is none.
 */
export function readStoredState(projectDir: string, stateId: string): SingerState | undefined {
  const file = systemDatabaseOf(projectDir);
  if (!fs.existsSync(file)) return undefined;
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true, timeout: 5_000 });
    const row = db
      .prepare<[string], { state: string }>("SELECT state FROM state WHERE state_id = ?")
      .get(stateId);
    return row === undefined ? undefined : (JSON.parse(row.state) as SingerState);
  } catch (error) {
    // Before the first run created the tables there is nothing to read.
    if (/no such table/i.test((error as Error).message)) return undefined;
    throw error;
  } finally {
    db?.close();
  }
}

/** The run history rows of a project, newest last. */
export function readRuns(
  projectDir: string,
): { run_id: string; state_id: string; status: string; error: string | null }[] {
  const db = new Database(systemDatabaseOf(projectDir), { readonly: true, fileMustExist: true });
  try {
    return db
      .prepare<[], { run_id: string; state_id: string; status: string; error: string | null }>(
        "SELECT run_id, state_id, status, error FROM runs ORDER BY started_at, rowid",
      )
      .all();
  } finally {
    db.close();
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
