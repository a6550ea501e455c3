import { spawn } from "node:child_process";
import { CLI_PATH } from "../../support/run-cli.js";

/** The test process's environment without variables that would change what sluice does. */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!["TAP_", "TARGET_", "SLUICE_", "MELTANO_"].some((p) => name.startsWith(p))) env[name] = value;
  }
  env.NO_COLOR = "1";
  return env;
}

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A command run to its end; `stdin` is written and closed. */
export function runProcess(
  command: string,
  args: readonly string[],
  options: { stdin?: string; cwd?: string; timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<Finished> {
  const child = spawn(command, args, {
    env: { ...cleanEnv(), ...options.env },
    cwd: options.cwd,
    stdio: [options.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (c: string) => (stdout += c));
  child.stderr!.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  if (options.stdin !== undefined) child.stdin!.end(options.stdin);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${args.join(" ")} did not finish\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, options.timeoutMs ?? 90_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** `sluice <args>` with `stdin` on its standard input. */
export function sluice(
  args: readonly string[],
  options: { stdin?: string; cwd?: string; env?: Record<string, string> } = {},
): Promise<Finished> {
  return runProcess(process.execPath, [CLI_PATH, ...args], options);
}

/** `sh -c` quoting of one argument. */
export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

export const SLUICE = `${shellQuote(process.execPath)} ${shellQuote(CLI_PATH)}`;

export function describeFinished(result: Finished): string {
  return `exit ${result.code ?? result.signal}\n--- stdout\n${result.stdout.slice(0, 4000)}\n--- stderr\n${result.stderr.slice(0, 4000)}`;
}
