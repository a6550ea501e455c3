import { Command, CommanderError, Option } from "commander";
import { createRequire } from "node:module";
import { ConfigError, exitCodeOf, isTransient, messageOf } from "../errors.js";
import { CliContext, type GlobalOptions } from "./cli-context.js";
import { LOG_LEVELS } from "./output.js";
import { registerAddCommand } from "./commands/add.js";
import { registerCdcCommand } from "./commands/cdc.js";
import { registerConfigCommand } from "./commands/config.js";
import { registerDeployCommand } from "./commands/deploy.js";
import { registerDiscoverCommand } from "./commands/discover.js";
import { registerEnvironmentCommand } from "./commands/environment.js";
import { registerInitCommand } from "./commands/init.js";
import { registerInstallCommand } from "./commands/install.js";
import { registerInvokeCommand } from "./commands/invoke.js";
import { registerRunCommand } from "./commands/run.js";
import { registerRunsCommand } from "./commands/runs.js";
import { registerScheduleCommand } from "./commands/schedule.js";
import { registerSchedulerCommand } from "./commands/scheduler.js";
import { registerSelectCommand } from "./commands/select.js";
import { registerStateCommand } from "./commands/state.js";
import { registerTapCommand } from "./commands/tap.js";
import { registerTargetCommand } from "./commands/target.js";
import { registerTestCommand } from "./commands/test.js";
import { registerUiCommand } from "./commands/ui.js";
import { registerVerifyCommand } from "./commands/verify.js";

const { version } = createRequire(import.meta.url)("../../package.json") as { version: string };

/** A command's action: gets the shared context and returns the exit code. */
export type Action<A extends unknown[]> = (context: CliContext, ...args: A) => Promise<number | void>;

/**
 * Builds the `sluice` command line. Each command lives in `commands/<name>.ts` and stays thin:
 * parse, call the part that does the work, print. Exit codes: 0 success, 1 pipeline failure,
 * 2 usage or configuration error, 75 (EX_TEMPFAIL) a failure a later retry can get past (see
 * `errors.ts`): what an orchestrator should retry.
 */
export function buildProgram(setExitCode: (code: number) => void): Command {
  const program = new Command("sluice")
    .description(
      "Move data from PostgreSQL into DuckDB and other warehouses: full, incremental, Singer-compatible",
    )
    .version(version, "-V, --version")
    .option("-C, --project-dir <dir>", "project folder (default: SLUICE_PROJECT_ROOT or the current folder)")
    .option("-e, --environment <name>", "environment of the project file (default: default_environment)")
    .addOption(
      new Option("--log-format <format>", "text on a terminal, json otherwise").choices(["text", "json"]),
    )
    .addOption(
      new Option(
        "--log-level <level>",
        "least important messages printed (debug adds stack traces to errors)",
      )
        .choices(LOG_LEVELS)
        .default("info"),
    )
    .showHelpAfterError()
    .exitOverride();

  const wrap =
    <A extends unknown[]>(action: Action<A>) =>
    async (...args: A) => {
      const context = new CliContext(program.opts<GlobalOptions>());
      try {
        const code = await action(context, ...args);
        setExitCode(code ?? 0);
      } catch (error) {
        reportError(context, error);
        setExitCode(exitCodeOf(error));
      }
    };

  registerRunCommand(program, wrap);
  registerDiscoverCommand(program, wrap);
  registerSelectCommand(program, wrap);
  registerConfigCommand(program, wrap);
  registerTestCommand(program, wrap);
  registerStateCommand(program, wrap);
  registerRunsCommand(program, wrap);
  registerInitCommand(program, wrap);
  registerAddCommand(program, wrap);
  registerEnvironmentCommand(program, wrap);
  registerInstallCommand(program, wrap);
  registerScheduleCommand(program, wrap);
  registerSchedulerCommand(program, wrap);
  registerDeployCommand(program, wrap);
  registerTapCommand(program, wrap);
  registerTargetCommand(program, wrap);
  registerInvokeCommand(program, wrap);
  registerCdcCommand(program, wrap);
  registerVerifyCommand(program, wrap);
  registerUiCommand(program, wrap);
  return program;
}

export type Wrap = <A extends unknown[]>(action: Action<A>) => (...args: A) => Promise<void>;

function reportError(context: CliContext, error: unknown): void {
  if (error instanceof ConfigError && error.problems.length > 1) {
    context.output.error(`${error.problems.length} problems:`, { problems: error.problems });
    if (context.output.format === "text") {
      for (const problem of error.problems) process.stderr.write(`  - ${context.redactor.redact(problem)}\n`);
    }
    return;
  }
  const fields: Record<string, unknown> = { error: error instanceof Error ? error.name : "Error" };
  // For whoever reads JSON logs to decide on a retry, as the exit code (75) does.
  if (isTransient(error)) fields.transient = true;
  const debug = Boolean(process.env.SLUICE_DEBUG) || context.output.level === "debug";
  if (debug && error instanceof Error && error.stack) fields.stack = error.stack;
  context.output.error(messageOf(error), fields);
  if (fields.stack !== undefined && context.output.format === "text") {
    process.stderr.write(`${context.redactor.redact(String(fields.stack))}\n`);
  }
}

/** Runs the CLI and returns the process exit code. */
export async function runCli(argv: string[]): Promise<number> {
  let exitCode = 0;
  const program = buildProgram((code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here with code 0; usage mistakes with 2.
      return error.exitCode === 0 ? 0 : 2;
    }
    throw error;
  }
  return exitCode;
}
