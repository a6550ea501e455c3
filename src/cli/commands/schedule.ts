import { Option, type Command } from "commander";
import type { Wrap } from "../program.js";

export function registerScheduleCommand(program: Command, wrap: Wrap): void {
  const schedule = program
    .command("schedule")
    .description("The schedules of the project file: list them, or run one now");

  schedule
    .command("list")
    .description("List schedules with what they run and their next run time (UTC)")
    .addOption(new Option("--format <format>", "text or json").choices(["text", "json"]).default("text"))
    .action(
      wrap(async (context, options: { format: string }) => {
        const { project } = (await context.openProject()).loaded;
        const { describeSteps, nextRunTime, scheduleSteps } = await context.runtime();
        const now = new Date();
        const rows = project.schedules.map((entry) => {
          const plan = scheduleSteps(project, entry);
          const next = nextRunTime(entry.interval, now);
          return {
            name: entry.name,
            interval: entry.interval,
            ...(entry.job !== undefined ? { job: entry.job } : {}),
            steps: plan.steps,
            runs: describeSteps(plan),
            next_run: next?.toISOString() ?? null,
          };
        });
        if (options.format === "json") {
          context.output.result(JSON.stringify(rows, null, 2));
          return 0;
        }
        if (rows.length === 0) {
          context.output.result("no schedules in the project file");
          return 0;
        }
        const lines = rows.map((row) => [
          row.name,
          row.interval,
          row.runs,
          row.next_run ?? (row.interval === "@once" ? "once (when first deployed)" : "never"),
        ]);
        context.output.result(formatTable([["NAME", "INTERVAL", "RUNS", "NEXT RUN (UTC)"], ...lines]));
        return 0;
      }),
    );

  schedule
    .command("run")
    .description("Run a schedule now: its extractor into its loader, or each task of its job in order")
    .argument("<name>", "schedule name")
    .option("--full-refresh", "ignore the stored state and reload every selected stream")
    .action(
      wrap(async (context, name: string, options: { fullRefresh?: boolean }) => {
        const projectContext = await context.openProject();
        const { describeStep, findSchedule, runProjectPipeline, scheduleSteps } = await context.runtime();
        const { project } = projectContext.loaded;
        const plan = scheduleSteps(project, findSchedule(project, name));
        const controller = new AbortController();
        const stop = (signal: NodeJS.Signals): void => {
          if (controller.signal.aborted) process.exit(130);
          context.output.warn(
            `${signal} received: stopping after the current batch (send again to quit now)`,
          );
          controller.abort();
        };
        process.on("SIGINT", stop);
        process.on("SIGTERM", stop);
        // The schedule's `env:` is given to its runs, as Meltano does.
        const restoreEnv = applyEnv(plan.schedule.env);
        try {
          for (const [index, step] of plan.steps.entries()) {
            if (controller.signal.aborted) break;
            context.output.info(
              `schedule ${name}: ${describeStep(step)}${plan.steps.length > 1 ? ` (${index + 1} of ${plan.steps.length})` : ""}`,
            );
            await runProjectPipeline(projectContext, {
              extractor: step.extractor,
              ...(step.mappings ? { mappings: step.mappings } : {}),
              loader: step.loader,
              fullRefresh: options.fullRefresh ?? false,
              observer: (event) => context.output.runEvent(event),
              warn: (message) => context.output.warn(message),
              signal: controller.signal,
            });
          }
          return 0;
        } finally {
          restoreEnv();
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
        }
      }),
    );
}

function applyEnv(vars: Record<string, string>): () => void {
  const previous = new Map<string, string | undefined>();
  for (const [key, value] of Object.entries(vars)) {
    previous.set(key, process.env[key]);
    process.env[key] = value;
  }
  return () => {
    for (const [key, value] of previous) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  };
}

function formatTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows
    .map((row) =>
      row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join("  "),
    )
    .join("\n");
}
