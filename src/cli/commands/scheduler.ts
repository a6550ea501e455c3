import { Option, type Command } from "commander";
import { ConfigError, EXIT_FAILURE, EXIT_TEMPFAIL } from "../../errors.js";
import type { ProjectContext } from "../../runner/project-context.js";
import type { ScheduleExecutor, SchedulerEvent } from "../../runner/scheduler.js";
import type { CliContext, Runtime } from "../cli-context.js";
import type { Wrap } from "../program.js";

interface SchedulerCommandOptions {
  once?: boolean;
  schedule?: string[];
  maxConcurrent: string;
}

/** Pretends the clock reads this (ISO 8601) when the scheduler starts, then lets it run: for tests. */
const FAKE_NOW_VARIABLE = "SLUICE_SCHEDULER_NOW";

export function registerSchedulerCommand(program: Command, wrap: Wrap): void {
  program
    .command("scheduler")
    .description(
      "Run the project's schedules on time until stopped (SIGTERM/Ctrl-C); runs of one state id never overlap",
    )
    .option("--once", "run what is due now (including one catch-up run after downtime), then exit")
    .option("--schedule <name...>", "run only these schedules")
    .addOption(
      new Option(
        "--max-concurrent <n>",
        "schedules run at the same time (never two of one state id)",
      ).default("1"),
    )
    .action(
      wrap(async (context, options: SchedulerCommandOptions) => {
        const projectContext = await context.openProject();
        const runtime = await context.runtime();
        const { Scheduler, sleep } = runtime;
        const maxConcurrent = Number(options.maxConcurrent);
        const scheduler = new Scheduler({
          project: projectContext.loaded.project,
          executor: projectExecutor(context, projectContext, runtime),
          now: clock(),
          sleep,
          maxConcurrent,
          ...(options.schedule ? { only: options.schedule } : {}),
          onEvent: (event) => logEvent(context, event),
        });
        const stop = (signal: NodeJS.Signals): void => {
          if (scheduler.stopping) process.exit(130);
          context.output.warn(
            `${signal} received: starting no new run; the running one stops after its current batch (send again to quit now)`,
          );
          scheduler.stop();
        };
        process.on("SIGINT", stop);
        process.on("SIGTERM", stop);
        try {
          if (options.once) {
            const result = await scheduler.runOnce();
            context.output.info(
              `scheduler: ${result.started} run(s) started, ${result.succeeded} succeeded, ${result.failed} failed, ${result.cancelled} cancelled, ${result.skipped} skipped`,
              { event: "scheduler-finished", ...result },
            );
            if (result.failed === 0) return 0;
            // As `sluice run`: 75 only when a retry can help every run that failed.
            return result.failedTransiently === result.failed ? EXIT_TEMPFAIL : EXIT_FAILURE;
          }
          context.output.info("scheduler running (SIGTERM or Ctrl-C stops it)", {
            event: "scheduler-running",
          });
          const result = await scheduler.run();
          context.output.info("scheduler stopped", { event: "scheduler-finished", ...result });
          return 0;
        } finally {
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
        }
      }),
    );
}

/** Runs each step as `sluice run` does, with the schedule's `env:` applied, as Meltano does. */
function projectExecutor(
  context: CliContext,
  projectContext: ProjectContext,
  { ABANDONED_RUN_ERROR, openStores, resolvePlugin, runProjectPipeline, stateIdFor }: Runtime,
): ScheduleExecutor {
  return {
    stateIdOf(step, schedule) {
      return withEnv(schedule.env, () => {
        const extractor = resolvePlugin(projectContext, step.extractor, "extractor");
        const loader = resolvePlugin(projectContext, step.loader, "loader");
        return stateIdFor(extractor.environment, extractor.name, loader.name, extractor.stateIdSuffix);
      });
    },
    async runStep(step, { schedule, signal }) {
      // Settings are resolved before the first `await` of runProjectPipeline, so the schedule's
      // variables are set only while that happens and never leak into another schedule's run.
      const run = withEnv(schedule.env, () =>
        runProjectPipeline(projectContext, {
          extractor: step.extractor,
          ...(step.mappings ? { mappings: step.mappings } : {}),
          loader: step.loader,
          observer: (event) => context.output.runEvent(event),
          warn: (message) => context.output.warn(message),
          signal,
        }),
      );
      await run;
    },
    async lastRun(stateIds) {
      const stores = await openStores(projectContext);
      try {
        let oldest: Date | undefined;
        for (const stateId of stateIds) {
          const runs = await stores.runHistory.list({ stateId, limit: 50 });
          // A run whose process died (ABANDONED_RUN_ERROR) did not end: it is caught up, as a cancelled one.
          const ended = runs.find(
            (run) =>
              run.status === "success" || (run.status === "failed" && run.error !== ABANDONED_RUN_ERROR),
          );
          if (!ended) return undefined;
          const at = ended.endedAt ?? ended.startedAt;
          if (oldest === undefined || at < oldest) oldest = at;
        }
        return oldest;
      } finally {
        await stores.close();
      }
    },
  };
}

function withEnv<T>(vars: Record<string, string>, fn: () => T): T {
  const previous = new Map<string, string | undefined>();
  for (const [key, value] of Object.entries(vars)) {
    previous.set(key, process.env[key]);
    process.env[key] = value;
  }
  try {
    return fn();
  } finally {
    for (const [key, value] of previous) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}

function clock(): () => Date {
  const fake = process.env[FAKE_NOW_VARIABLE];
  if (fake === undefined || fake === "") return () => new Date();
  const start = new Date(fake);
  if (Number.isNaN(start.getTime())) {
    throw new ConfigError(`${FAKE_NOW_VARIABLE}: "${fake}" is not an ISO 8601 time`);
  }
  const realStart = Date.now();
  return () => new Date(start.getTime() + (Date.now() - realStart));
}

function logEvent(context: CliContext, event: SchedulerEvent): void {
  const { type, ...fields } = event;
  const log = (level: "info" | "warning" | "error", message: string): void =>
    context.output.log(level, message, { event: type, ...fields });
  switch (event.type) {
    case "schedule-planned":
      log(
        "info",
        `schedule ${event.schedule} (${event.interval}): last run ${event.lastRun ?? "never"}, next run ${event.nextRun ?? "never"}`,
      );
      break;
    case "schedule-started":
      log(
        "info",
        `schedule ${event.schedule} started (due ${event.dueAt}${event.catchUp ? ", catching up once after downtime" : ""})`,
      );
      break;
    case "schedule-finished":
      log(
        event.status === "success" ? "info" : event.status === "cancelled" ? "warning" : "error",
        `schedule ${event.schedule} ${event.status === "success" ? "succeeded" : event.status} in ${event.seconds.toFixed(1)} s${event.error ? `: ${event.error}` : ""}`,
      );
      break;
    case "schedule-skipped":
      log("warning", `schedule ${event.schedule} skipped its run due ${event.dueAt}: ${event.reason}`);
      break;
    case "scheduler-stopping":
      log(
        "warning",
        event.running.length > 0
          ? `scheduler stopping: waiting for ${event.running.join(", ")} to stop`
          : "scheduler stopping",
      );
      break;
  }
}
