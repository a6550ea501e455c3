import type { Command } from "commander";
import { ConfigError } from "../../errors.js";
import { openStores } from "../../runner/project-context.js";
import { formatCount, rate } from "../output.js";
import type { Wrap } from "../program.js";

export function registerRunsCommand(program: Command, wrap: Wrap): void {
  program
    .command("runs")
    .description("Show the run history: status, duration, rows per stream, errors")
    .option("--state-id <id>", "only runs of this state id")
    .option("--limit <n>", "at most this many runs", "20")
    .option("--json", "print JSON")
    .action(
      wrap(async (context, options: { stateId?: string; limit: string; json?: boolean }) => {
        if (!/^\d+$/.test(options.limit) || Number(options.limit) < 1) {
          throw new ConfigError(`--limit: expected a whole number >= 1, got "${options.limit}"`);
        }
        const stores = await openStores(context.openProject());
        try {
          const runs = await stores.runHistory.list({
            ...(options.stateId ? { stateId: options.stateId } : {}),
            limit: Number(options.limit),
          });
          if (options.json) {
            context.output.result(JSON.stringify(runs, null, 2));
            return;
          }
          const lines = runs.map((run) => {
            const seconds = run.endedAt
              ? (run.endedAt.getTime() - run.startedAt.getTime()) / 1000
              : undefined;
            const rows = Object.values(run.streams).reduce((n, s) => n + s.rows, 0);
            const streams = Object.entries(run.streams)
              .map(([id, s]) => `${id}=${formatCount(s.rows)}`)
              .join(" ");
            return [
              run.startedAt.toISOString(),
              run.status.padEnd(9),
              run.stateId,
              seconds === undefined ? "-" : `${seconds.toFixed(1)}s`,
              `${formatCount(rows)} rows`,
              seconds ? `${formatCount(rate(rows, seconds))} rows/s` : "",
              streams,
              run.error ? `error: ${run.error}` : "",
            ]
              .filter(Boolean)
              .join("  ");
          });
          context.output.result(lines.join("\n") || "no runs yet");
        } finally {
          await stores.close();
        }
      }),
    );
}
