import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { PipelineError } from "../../errors.js";

export type PluginKind = "extractor" | "loader" | "mapper";

/** How many of the install log's last lines a failure shows. */
const LOG_TAIL_LINES = 15;

/** `.sluice/plugins/<extractors|loaders|mappers>/<name>`: the plugin's virtualenv and install log. */
export function pluginInstallDir(projectDir: string, type: PluginKind, name: string): string {
  return path.join(projectDir, ".sluice", "plugins", `${type}s`, name);
}

/**
 * The program to start for an external plugin: `executable` as a path (relative to the project)
 * when it has a `/`; else the program of that name (default: the plugin's base name, as
 * Meltano) in the plugin's virtualenv when `sluice install` put it there; else that name on PATH.
 */
export function executableFor(options: {
  projectDir: string;
  type: PluginKind;
  name: string;
  baseName: string;
  executable: string | undefined;
}): string {
  const program = options.executable ?? options.baseName;
  if (program.includes("/")) return path.resolve(options.projectDir, program);
  for (const owner of new Set([options.name, options.baseName])) {
    const inVenv = path.join(
      pluginInstallDir(options.projectDir, options.type, owner),
      "venv",
      "bin",
      program,
    );
    if (fs.existsSync(inVenv)) return inVenv;
  }
  return program;
}

export interface InstallResult {
  venv: string;
  logPath: string;
  seconds: number;
}

/**
 * Installs a plugin's `pip_url` into a virtualenv of its own, from scratch:
 * `python3 -m venv .sluice/plugins/<type>s/<name>/venv`, then `pip install <pip_url>` run in the
 * project folder (so a local path is relative to it; the words of `pip_url` are passed as
 * separate arguments, as Meltano does, so it may carry pip options). Both commands' output goes
 * to `install.log` beside the venv; a failure names the log and shows its tail.
 * `SLUICE_PYTHON` picks another interpreter.
 */
export async function installPlugin(options: {
  projectDir: string;
  type: PluginKind;
  name: string;
  pipUrl: string;
  env?: Readonly<Record<string, string>>;
}): Promise<InstallResult> {
  const started = Date.now();
  const dir = pluginInstallDir(options.projectDir, options.type, options.name);
  const venv = path.join(dir, "venv");
  const logPath = path.join(dir, "install.log");
  fs.mkdirSync(dir, { recursive: true });
  fs.rmSync(venv, { recursive: true, force: true });
  const log = fs.openSync(logPath, "w");
  try {
    const python = process.env.SLUICE_PYTHON ?? "python3";
    const env = { ...process.env, ...options.env };
    const step = async (what: string, command: string, args: string[]): Promise<void> => {
      fs.writeSync(log, `$ ${[command, ...args].join(" ")}\n`);
      const status = await run(command, args, { cwd: options.projectDir, env, log });
      if (status !== 0) {
        throw new PipelineError(
          `${options.name}: ${what} failed (${typeof status === "number" ? `exit status ${status}` : status}); the log is ${logPath}${logTail(logPath)}`,
        );
      }
    };
    const words = options.pipUrl.split(/\s+/).filter((w) => w !== "");
    if (await pipTakesPython(python, env)) {
      // Several times faster than seeding every venv with its own pip (ensurepip).
      await step("creating the virtualenv", python, ["-m", "venv", "--without-pip", venv]);
      const venvPython = path.join(venv, "bin", "python");
      await step(`pip install ${options.pipUrl}`, python, [
        "-m",
        "pip",
        "--python",
        venvPython,
        "install",
        ...words,
      ]);
    } else {
      await step("creating the virtualenv", python, ["-m", "venv", venv]);
      await step(`pip install ${options.pipUrl}`, path.join(venv, "bin", "pip"), ["install", ...words]);
    }
  } finally {
    fs.closeSync(log);
  }
  return { venv, logPath, seconds: (Date.now() - started) / 1000 };
}

/** Whether `python -m pip` can install into another interpreter's venv (`--python`, pip 22.3+). */
async function pipTakesPython(python: string, env: NodeJS.ProcessEnv): Promise<boolean> {
  const output = await new Promise<string>((resolve) => {
    const child = spawn(python, ["-m", "pip", "--version"], { env, stdio: ["ignore", "pipe", "ignore"] });
    let text = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
    child.on("error", () => resolve(""));
    child.on("close", (code) => resolve(code === 0 ? text : ""));
  });
  const m = /^pip (\d+)\.(\d+)/.exec(output);
  return m !== null && (Number(m[1]) > 22 || (Number(m[1]) === 22 && Number(m[2]) >= 3));
}

function run(
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; log: number },
): Promise<string | number> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ["ignore", options.log, options.log],
    });
    child.on("error", (error) => {
      fs.writeSync(options.log, `${error.message}\n`);
      resolve(`could not start ${command}: ${(error as NodeJS.ErrnoException).code ?? error.message}`);
    });
    child.on("close", (code, signal) => resolve(code ?? `killed by ${signal ?? "a signal"}`));
  });
}

function logTail(logPath: string): string {
  const lines = fs.readFileSync(logPath, "utf8").trimEnd().split("\n").slice(-LOG_TAIL_LINES);
  return lines.length > 0 ? `; its last lines:\n${lines.map((l) => `  ${l}`).join("\n")}` : "";
}
