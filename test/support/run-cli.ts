import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import { fileURLToPath } from "node:url";

/** The built CLI, as `npm install` puts it on a user's PATH (`bin: dist/cli/main.js`). */
export const CLI_PATH = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));

export interface CliResult {
  /** The exit code; null when the process was killed (then `signal` says by what). */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** Project folder, passed as `-C <dir>` before the arguments. */
  projectDir?: string;
  /** Variables added to the child's environment (undefined removes one). */
  env?: Record<string, string | undefined>;
  /** Kill the process after this long and fail (`done` rejects, with what it printed). Default 60 s. */
  timeoutMs?: number;
  /** Working directory of the process (relative paths in arguments resolve against it). */
  cwd?: string;
  /** Written to the process's standard input, which is then closed. Default: no input. */
  stdin?: string;
}

/**
 * Variables of the test process that would change what the CLI does (a developer's
 * TAP_POSTGRES_PASSWORD, SLUICE_ENVIRONMENT, ...). Removed so that each test says what it sets.
 */
const ISOLATED_PREFIXES = ["TAP_", "TARGET_", "SLUICE_", "MELTANO_"];

/** The environment a CLI the tests start gets: the test process's without ISOLATED_PREFIXES, plus `extra`. */
export function cliEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!ISOLATED_PREFIXES.some((prefix) => name.startsWith(prefix))) env[name] = value;
  }
  env.NO_COLOR = "1";
  for (const [name, value] of Object.entries(extra)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

/** A CLI process started by `startCli`. */
export interface RunningCli {
  child: ChildProcess;
  /** What the process has written so far. */
  output(): { stdout: string; stderr: string };
  /** Resolves when the process ends, killed or not (or rejects when it outlives `timeoutMs`). */
  done: Promise<CliResult>;
}

/**
 * Starts `sluice <args>` as a user would, without waiting for it: for a process the test stops
 * (a kill test, `sluice ui`, the scheduler) or watches while it runs.
 */
export function startCli(args: readonly string[], options: CliOptions = {}): RunningCli {
  if (!fs.existsSync(CLI_PATH)) {
    throw new Error(`${CLI_PATH} does not exist: run \`npm run build\` first (npm test does)`);
  }
  const argv = [CLI_PATH, ...(options.projectDir ? ["-C", options.projectDir] : []), ...args];
  const child = spawn(process.execPath, argv, {
    env: cliEnv(options.env),
    ...(options.cwd ? { cwd: options.cwd } : {}),
    stdio: [options.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
  });
  if (options.stdin !== undefined) child.stdin!.end(options.stdin);
  const timeoutMs = options.timeoutMs ?? 60_000;
  let stdout = "";
  let stderr = "";
  const done = new Promise<CliResult>((resolve, reject) => {
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(
          `sluice ${args.join(" ")} did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`,
        ),
      );
    }, timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, done, output: () => ({ stdout, stderr }) };
}

/** Runs `sluice <args>` to the end and returns its exit code and output. */
export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return startCli(args, options).done;
}

/** Text for an assertion message: the command's whole output. */
export function describeResult(result: CliResult): string {
  return `exit ${result.code ?? result.signal}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
}

/** A run as `sluice runs --format json` lists it, and as the `run-finished` event of a run's JSON log sums it up. */
export interface RunRecord {
  runId: string;
  stateId: string;
  status: string;
  streams: Record<string, { rows: number }>;
  error?: string;
  pid?: number;
}

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
