import type { Command } from "commander";
import { ConfigError } from "../../errors.js";
import type { RunRecord } from "../../state/run-history.js";
import { formatCount, rate } from "../output.js";
import { addFormatOption, outputFormatOf, type FormatOptions } from "../output-format.js";
import type { Wrap } from "../program.js";

interface RunsOptions extends FormatOptions {
  stateId?: string;
  limit: string;
}

export function registerRunsCommand(program: Command, wrap: Wrap): void {
  const command = program
    .command("runs")
    .description("Show the run history: run id, status, duration, rows per stream, errors")
    .option("--state-id <id>", "only runs of this state id")
    .option("--limit <n>", "at most this many runs", "20");
  addFormatOption(command).action(
    wrap(async (context, options: RunsOptions) => {
      if (!/^\d+$/.test(options.limit) || Number(options.limit) < 1) {
        throw new ConfigError(`--limit: expected a whole number >= 1, got "${options.limit}"`);
      }
      const format = outputFormatOf(options, context.output);
      const { openStores } = await context.runtime();
      const stores = await openStores(await context.openProject());
      try {
        const runs = await stores.runHistory.list({
          ...(options.stateId ? { stateId: options.stateId } : {}),
          limit: Number(options.limit),
        });
        if (format === "json") {
          context.output.result(JSON.stringify(runs, null, 2));
          return;
        }
        context.output.result(runs.length === 0 ? "no runs yet" : runsTable(runs));
      } finally {
        await stores.close();
      }
    }),
  );
}

const HEADER = ["RUN ID", "STARTED (UTC)", "STATUS", "STATE ID", "DURATION", "ROWS", "ROWS/S", "STREAMS"];

/** One line per run under a header, columns aligned; an error on the line below its run. */
function runsTable(runs: RunRecord[]): string {
  const rows = runs.map((run) => {
    const seconds = run.endedAt ? (run.endedAt.getTime() - run.startedAt.getTime()) / 1000 : undefined;
    const rowCount = Object.values(run.streams).reduce((n, s) => n + s.rows, 0);
    return {
      cells: [
        run.runId,
        run.startedAt
          .toISOString()
          .replace("T", " ")
          .replace(/\.\d+Z$/, ""),
        run.status,
        run.stateId,
        seconds === undefined ? "-" : `${seconds.toFixed(1)}s`,
        formatCount(rowCount),
        seconds ? formatCount(rate(rowCount, seconds)) : "-",
        Object.entries(run.streams)
          .map(([id, s]) => `${id}=${formatCount(s.rows)}`)
          .join(" ") || "-",
      ],
      error: run.error,
    };
  });
  const widths = HEADER.map((title, i) => Math.max(title.length, ...rows.map((row) => row.cells[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [
    line(HEADER),
    ...rows.flatMap((row) => [line(row.cells), ...(row.error ? [`  error: ${row.error}`] : [])]),
  ].join("\n");
}
