import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { stringify } from "yaml";
import { freePort } from "@sluice/postgres-server/free-port";
import type { TestDatabase } from "../support/pg.js";
import { runCli, type CliOptions, type CliResult } from "./run-cli.js";

/** The project file as a test builds it: meltano.yml's shape, edited freely before writing. */
export interface ProjectSpec {
  default_environment?: string;
  environments?: { name: string; [key: string]: unknown }[];
  plugins: {
    extractors: { name: string; config: Record<string, unknown>; [key: string]: unknown }[];
    loaders: { name: string; config: Record<string, unknown>; [key: string]: unknown }[];
  };
  [key: string]: unknown;
}

/** Where target-duckdb writes, relative to the project folder. */
export const DUCKDB_FILE = "output/warehouse.duckdb";

/**
 * A project reading `db` into DuckDB, with environments dev (the default) and prod. The password
 * is not in the file: `TestProject.env` passes it as TAP_POSTGRES_PASSWORD, as a user would.
 */
export function projectSpec(db: TestDatabase, extractor: Record<string, unknown> = {}): ProjectSpec {
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
          },
          ...extractor,
        },
      ],
      loaders: [{ name: "target-duckdb", config: { path: DUCKDB_FILE } }],
    },
  };
}

/** A temporary project folder, and the CLI run in it. */
export class TestProject {
  readonly dir: string;
  /** Variables every command gets (the password, by default). */
  env: Record<string, string | undefined>;

  constructor(options: { env?: Record<string, string | undefined>; prefix?: string } = {}) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), options.prefix ?? "sluice-e2e-"));
    this.env = { ...options.env };
  }

  static forDatabase(db: TestDatabase, spec: ProjectSpec = projectSpec(db)): TestProject {
    const project = new TestProject({ env: { TAP_POSTGRES_PASSWORD: db.password } });
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

  /** `sluice -C <dir> <args>` with the project's variables and `extraEnv`. */
  run(args: readonly string[], extraEnv: Record<string, string | undefined> = {}, options: CliOptions = {}) {
    return runCli(args, { ...options, projectDir: this.dir, env: { ...this.env, ...extraEnv } });
  }

  /** Text logs, so that a test reads messages as a person would. */
  runText(args: readonly string[], extraEnv: Record<string, string | undefined> = {}): Promise<CliResult> {
    return this.run(["--log-format", "text", ...args], extraEnv);
  }

  /** `sluice state list`, one `[stateId, updatedAt]` per stored state. */
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

  /** `sluice runs --json`, newest first. */
  async runs(): Promise<RunRecord[]> {
    const result = await this.runText(["runs", "--json"]);
    if (result.code !== 0) throw new Error(`runs --json failed: ${result.stderr}`);
    return JSON.parse(result.stdout) as RunRecord[];
  }

  /** Rows of a query on the project's DuckDB file. */
  duckdb(sql: string): Promise<Record<string, unknown>[]> {
    return duckdbRows(this.file(DUCKDB_FILE), sql);
  }

  remove(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface RunRecord {
  runId: string;
  stateId: string;
  status: string;
  streams: Record<string, { rows: number }>;
  error?: string;
  pid?: number;
}

export async function duckdbRows(file: string, sql: string): Promise<Record<string, unknown>[]> {
  const instance = await DuckDBInstance.create(file);
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

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export const closedPort = freePort;

/** The JSON objects of JSON-lines output; throws on a line that is not JSON. */
export function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new Error(`not a JSON line: ${line}`);
      }
    });
}

/** The summary a run logs last with `--log-format json`: status and rows per stream. */
export function runFinished(stderr: string): RunRecord {
  const event = jsonLines(stderr).find((line) => line.event === "run-finished");
  if (!event) throw new Error(`no run-finished event in:\n${stderr}`);
  return event as unknown as RunRecord;
}
