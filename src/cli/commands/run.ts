import { InvalidArgumentError, Option, type Command } from "commander";
import { ConfigError } from "../../errors.js";
import type { CliContext } from "../cli-context.js";
import type { Wrap } from "../program.js";

export function registerRunCommand(program: Command, wrap: Wrap): void {
  addRunOptions(
    program
      .command("run")
      .description(
        "Run an extractor into a loader (through mappings, if named between), or a job's tasks, continuing from the stored state (`run tap-postgres target-duckdb`, `run tap-postgres hash-pii target-duckdb`, `run <job>`, or a sequence of these)",
      )
      .argument(
        "<blocks...>",
        "a job name, or an extractor followed by a loader, with mapping names between (e.g. tap-postgres target-duckdb); several run in order",
      ),
  ).action(
    wrap(async (context, blocks: string[], options: RunOptions) => runBlocks(context, blocks, options)),
  );

  // Meltano's older spelling of one pipeline: `meltano el <extractor> <loader> --state-id ...`.
  addRunOptions(
    program
      .command("el")
      .description(
        "Run one extractor into one loader (as `meltano el`; the same as `sluice run <extractor> <loader>`)",
      )
      .argument("<extractor>")
      .argument("<loader>"),
  ).action(
    wrap(async (context, extractor: string, loader: string, options: RunOptions) =>
      runBlocks(context, [extractor, loader], options),
    ),
  );
  addRunOptions(
    program
      .command("elt")
      .description(
        "As `el`: sluice has no transform step, so `--transform` may only be skip (run dbt after it)",
      )
      .argument("<extractor>")
      .argument("<loader>")
      .addOption(
        new Option("--transform <when>", "run | skip | only (meltano elt)").choices(["run", "skip", "only"]),
      ),
  ).action(
    wrap(async (context, extractor: string, loader: string, options: RunOptions & { transform?: string }) => {
      if (options.transform !== undefined && options.transform !== "skip") {
        throw new ConfigError(
          `--transform ${options.transform}: sluice runs no transformers; drop the option (or use skip) and run dbt (or your transform tool) after the load`,
        );
      }
      return runBlocks(context, [extractor, loader], options);
    }),
  );
}

function addRunOptions(command: Command): Command {
  return command
    .option(
      "--full-refresh",
      "reload every stream of this run from the start (with --select, only those: the others keep their bookmarks)",
    )
    .option("--select <stream...>", "only these streams (tap_stream_id globs, e.g. public-events)")
    .option("--state-id <id>", "state id to use instead of <environment>:<extractor>-to-<loader>")
    .option("--dry-run", "resolve, discover and plan, then stop before moving data")
    .option(
      "--max-retries <n>",
      "retries of a transient failure within the run (a batch, or the streams that had not finished); default: the project's max_retries, else 5; 0 turns them off",
      parseRetries,
    )
    .option(
      "--follow",
      "LOG_BASED: keep streaming changes until stopped (SIGTERM/Ctrl-C stops cleanly) instead of stopping at the WAL end",
    );
}

async function runBlocks(context: CliContext, blocks: string[], options: RunOptions): Promise<number> {
  const project = await context.openProject();
  const { describeStep, resolveRunBlocks, runProjectPipeline } = await context.runtime();
  const steps = resolveRunBlocks(project.loaded.project, blocks);
  if (steps.length === 0) throw new ConfigError(`sluice run ${blocks.join(" ")}: nothing to run`);
  if (steps.length > 1 && options.stateId) {
    throw new ConfigError(
      `--state-id names one pipeline's state, but ${blocks.join(" ")} runs ${steps.length}`,
    );
  }
  if (steps.length > 1 && options.follow) {
    throw new ConfigError(
      `--follow runs until stopped, so only one pipeline; ${blocks.join(" ")} runs ${steps.length}`,
    );
  }
  const controller = new AbortController();
  const stop = (signal: NodeJS.Signals): void => {
    if (controller.signal.aborted) process.exit(130);
    context.output.warn(`${signal} received: stopping after the current batch (send again to quit now)`);
    controller.abort();
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  try {
    for (const [index, step] of steps.entries()) {
      const { extractor, mappings, loader, job } = step;
      if (controller.signal.aborted) break;
      if (steps.length > 1 || job !== undefined) {
        context.output.info(
          `${job !== undefined ? `job ${job}: ` : ""}${describeStep(step)}${steps.length > 1 ? ` (${index + 1} of ${steps.length})` : ""}`,
        );
      }
      const result = await runProjectPipeline(project, {
        extractor,
        ...(mappings ? { mappings } : {}),
        loader,
        fullRefresh: options.fullRefresh ?? false,
        ...(options.select ? { select: options.select } : {}),
        ...(options.stateId ? { stateId: options.stateId } : {}),
        dryRun: options.dryRun ?? false,
        follow: options.follow ?? false,
        ...(options.maxRetries !== undefined ? { maxRetries: options.maxRetries } : {}),
        observer: (event) => context.output.runEvent(event),
        warn: (message) => context.output.warn(message),
        log: (message) => context.output.info(message),
        signal: controller.signal,
      });
      if (options.dryRun) {
        context.output.result(
          result.plans
            .map(
              (p) =>
                `${p.schema.streamId}\t${p.replicationMethod}${p.replicationKey ? ` by ${p.replicationKey}` : ""}\t${p.schema.columns.length} columns`,
            )
            .join("\n"),
        );
      }
    }
    return 0;
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
}

function parseRetries(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n)) {
    throw new InvalidArgumentError("expected a whole number, 0 or more");
  }
  return n;
}

interface RunOptions {
  maxRetries?: number;
  fullRefresh?: boolean;
  select?: string[];
  stateId?: string;
  dryRun?: boolean;
  follow?: boolean;
}
