import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import Database from "better-sqlite3";
import { stringify } from "yaml";
import type { SingerState } from "../../src/protocol/state.js";
import type { TestDatabase } from "./pg.js";
import {
  runCli,
  startCli,
  type CliOptions,
  type CliResult,
  type RunningCli,
  type RunRecord,
} from "./run-cli.js";

/** A plugin of a project file as a test builds it. */
export interface PluginSpec {
  name: string;
  config: Record<string, unknown>;
  [key: string]: unknown;
}

/** The project file as a test builds it: meltano.yml's shape, edited freely before writing. */
export interface ProjectSpec {
  default_environment?: string;
  environments?: { name: string; [key: string]: unknown }[];
  plugins: { extractors: PluginSpec[]; loaders: PluginSpec[] };
  [key: string]: unknown;
}

/** Where target-duckdb writes, relative to the project folder. */
export const DUCKDB_FILE = "output/warehouse.duckdb";

/** The state id of `projectSpec`'s pipeline in its default environment. */
export const PROJECT_STATE_ID = "dev:tap-postgres-to-target-duckdb";

/** What `projectSpec` adds to its project. */
export interface ProjectSpecOptions {
  /** tap-postgres's `select` patterns. Default: none, every stream. */
  select?: string[];
  /** tap-postgres's stream metadata (`replication-method`, ...). */
  metadata?: Record<string, Record<string, unknown>>;
  /** tap-postgres settings beside (or instead of) those for the database. */
  tap?: Record<string, unknown>;
  /** target-duckdb settings beside (or instead of) `path: output/warehouse.duckdb`. */
  target?: Record<string, unknown>;
}

/**
 * A project reading `db` (every table of `public`, FULL_TABLE unless `metadata` says otherwise)
 * into DuckDB at DUCKDB_FILE, with environments dev (the default) and prod. The password is not
 * in the file: `TestProject.forDatabase` passes it as TAP_POSTGRES_PASSWORD, as a user would.
 */
export function projectSpec(db: TestDatabase, options: ProjectSpecOptions = {}): ProjectSpec {
  return {
    default_environment: "dev",
    environments: [{ name: "dev" }, { name: "prod" }],
    plugins: {
      extractors: [
        {
          name: "tap-postgres",
          variant: "transferwise",
          pip_url: "pipelinewise-tap-postgres",
          config: {
            host: db.host,
            port: db.port,
            user: db.user,
            dbname: db.name,
            filter_schemas: "public",
            default_replication_method: "FULL_TABLE",
            ...options.tap,
          },
          ...(options.select ? { select: options.select } : {}),
          ...(options.metadata ? { metadata: options.metadata } : {}),
        },
      ],
      loaders: [{ name: "target-duckdb", config: { path: DUCKDB_FILE, ...options.target } }],
    },
  };
}

export interface TestProjectOptions {
  /** Variables every command run in the project gets. */
  env?: Record<string, string | undefined>;
  /** How the folder's name starts (it is made in the temporary folder). Default `sluice-test-`. */
  prefix?: string;
  /**
   * Spool files in `<project>/spool` (SLUICE_SPOOL_DIR) rather than the system's temporary
   * folder: a test can then search them, and those a killed run leaves go with the project.
   * Default false.
   */
  localSpool?: boolean;
}

/** What a command run in a project takes besides its arguments (see `CliOptions`). */
export type ProjectRunOptions = Pick<CliOptions, "env" | "timeoutMs" | "stdin">;

/** A run as the system database's run history holds it. */
export interface StoredRun {
  run_id: string;
  state_id: string;
  status: string;
  error: string | null;
}

/**
 * A project folder in the temporary folder, and the built CLI run in it (`sluice -C <dir>`). What
 * the project stored is read either as a user sees it, through the CLI (`state`, `stateIds`,
 * `runs`), or straight from its SQLite system database (`storedState`, `storedRuns`: no process to
 * start, and safe to poll while a run holds the state's lock). `remove` deletes the folder.
 */
export class TestProject {
  readonly dir: string;
  /** Variables every command gets (the password, by default). */
  env: Record<string, string | undefined>;

  constructor(options: TestProjectOptions = {}) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), options.prefix ?? "sluice-test-"));
    this.env = { ...options.env };
    if (options.localSpool) {
      this.env.SLUICE_SPOOL_DIR = this.file("spool");
      fs.mkdirSync(this.env.SLUICE_SPOOL_DIR);
    }
  }

  /**
   * A project whose file is `spec` (by default `projectSpec(db)`), the password of `db` given as a
   * user would (TAP_POSTGRES_PASSWORD).
   */
  static forDatabase(
    db: TestDatabase,
    spec: ProjectSpec = projectSpec(db),
    options: TestProjectOptions = {},
  ): TestProject {
    const project = new TestProject({
      ...options,
      env: { TAP_POSTGRES_PASSWORD: db.password, ...options.env },
    });
    project.write(spec);
    return project;
  }

  write(spec: ProjectSpec, fileName: "sluice.yml" | "meltano.yml" = "sluice.yml"): void {
    this.writeText(stringify(spec), fileName);
  }

  writeText(text: string, fileName = "sluice.yml"): void {
    fs.writeFileSync(path.join(this.dir, fileName), text);
  }

  file(relative: string): string {
    return path.join(this.dir, relative);
  }

  /** `sluice -C <dir> <args>` to its end, with the project's variables and `options.env`. */
  run(args: readonly string[], options: ProjectRunOptions = {}): Promise<CliResult> {
    return runCli(args, this.cliOptions(options));
  }

  /** Text logs, so that a test reads messages as a person would. */
  runText(args: readonly string[], options: ProjectRunOptions = {}): Promise<CliResult> {
    return this.run(["--log-format", "text", ...args], options);
  }

  /** `sluice -C <dir> <args>` started, for a test that stops it or watches it run. */
  start(args: readonly string[], options: ProjectRunOptions = {}): RunningCli {
    return startCli(args, this.cliOptions(options));
  }

  private cliOptions(options: ProjectRunOptions): CliOptions {
    return { ...options, projectDir: this.dir, env: { ...this.env, ...options.env } };
  }

  /** `sluice state list`: the stored state ids. */
  async stateIds(): Promise<string[]> {
    const result = await this.runText(["state", "list"]);
    if (result.code !== 0) throw new Error(`state list failed: ${result.stderr}`);
    const text = result.stdout.trim();
    return text === "no state" ? [] : text.split("\n").map((line) => line.split("\t")[0]!);
  }

  /** `sluice state get <id>` parsed, or undefined when none is stored. */
  async state(stateId: string): Promise<unknown> {
    const result = await this.runText(["state", "get", stateId]);
    if (result.code !== 0) return undefined;
    return JSON.parse(result.stdout) as unknown;
  }

  /** `sluice runs --format json`, newest first. */
  async runs(): Promise<RunRecord[]> {
    const result = await this.runText(["runs", "--format", "json"]);
    if (result.code !== 0) throw new Error(`runs --json failed: ${result.stderr}`);
    return JSON.parse(result.stdout) as RunRecord[];
  }

  /** The SQLite system database (`.sluice/sluice.db`), where runs keep state and history by default. */
  private get systemDatabase(): string {
    return this.file(".sluice/sluice.db");
  }

  /**
   * The state stored for `stateId`, read from the system database (read-only, so it can be
   * polled while a run writes it); undefined while there is none.
   */
  storedState(stateId: string): SingerState | undefined {
    if (!fs.existsSync(this.systemDatabase)) return undefined;
    let db: Database.Database | undefined;
    try {
      db = new Database(this.systemDatabase, { readonly: true, fileMustExist: true, timeout: 5_000 });
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

  /** The run history in the system database, oldest first. */
  storedRuns(): StoredRun[] {
    const db = new Database(this.systemDatabase, { readonly: true, fileMustExist: true });
    try {
      return db
        .prepare<[], StoredRun>("SELECT run_id, state_id, status, error FROM runs ORDER BY started_at, rowid")
        .all();
    } finally {
      db.close();
    }
  }

  /** Rows of a query on the project's DuckDB file, values as JavaScript has them. */
  async duckdb(sql: string): Promise<Record<string, unknown>[]> {
    const instance = await DuckDBInstance.create(this.file(DUCKDB_FILE));
    try {
      const connection = await instance.connect();
      try {
        return (await connection.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[];
      } finally {
        connection.closeSync();
      }
    } finally {
      instance.closeSync();
    }
  }

  remove(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The projects a test file makes as it goes, removed together (in its `afterAll` or `afterEach`). */
export class TestProjects {
  private readonly made: TestProject[] = [];

  add(project: TestProject): TestProject {
    this.made.push(project);
    return project;
  }

  removeAll(): void {
    for (const project of this.made.splice(0)) project.remove();
  }
}
