import type { Command } from "commander";
import { runProjectPipeline } from "../../runner/project-pipeline.js";
import type { Wrap } from "../program.js";

export function registerRunCommand(program: Command, wrap: Wrap): void {
  program
    .command("run")
    .description("Run an extractor into a loader, continuing from the stored state")
    .argument("<extractor>", "extractor plugin name, e.g. tap-postgres")
    .argument("<loader>", "loader plugin name, e.g. target-duckdb")
    .option("--full-refresh", "ignore the stored state and reload every selected stream")
    .option("--select <stream...>", "only these streams (tap_stream_id globs, e.g. public-events)")
    .option("--state-id <id>", "state id to use instead of <environment>:<extractor>-to-<loader>")
    .option("--dry-run", "resolve, discover and plan, then stop before moving data")
    .option(
      "--follow",
      "LOG_BASED: keep streaming changes until stopped (SIGTERM/Ctrl-C stops cleanly) instead of stopping at the WAL end",
    )
    .action(
      wrap(async (context, extractor: string, loader: string, options: RunOptions) => {
        const project = context.openProject();
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
        try {
          const result = await runProjectPipeline(project, {
            extractor,
            loader,
            fullRefresh: options.fullRefresh ?? false,
            ...(options.select ? { select: options.select } : {}),
            ...(options.stateId ? { stateId: options.stateId } : {}),
            dryRun: options.dryRun ?? false,
            follow: options.follow ?? false,
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
          return 0;
        } finally {
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
        }
      }),
    );
}

interface RunOptions {
  fullRefresh?: boolean;
  select?: string[];
  stateId?: string;
  dryRun?: boolean;
  follow?: boolean;
}
