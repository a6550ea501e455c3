import type { Command } from "commander";
import { Output } from "../output.js";
import type { Wrap } from "../program.js";

export function registerDemoCommand(program: Command, wrap: Wrap): void {
  program
    .command("demo")
    .description("Start an embedded PostgreSQL with sample data, load it into DuckDB, change it, load again")
    .option("--dir <dir>", "folder for the demo project and DuckDB file", "sluice-demo")
    .option("--events <n>", "event rows to generate", "100000")
    .option("--accounts <n>", "account rows to generate", "5000")
    .action(
      wrap(async (context, options: { dir: string; events: string; accounts: string }) => {
        // Loaded on demand: only the demo needs the embedded server and the sample data.
        const { runDemo } = await import("../../demo/run-demo.js");
        await runDemo({
          dir: options.dir,
          events: Number(options.events),
          accounts: Number(options.accounts),
          // The demo is read by a person: plain text even when piped, unless --log-format says otherwise.
          output: context.options.logFormat
            ? context.output
            : new Output({ format: "text", redact: (t) => context.redactor.redact(t) }),
        });
      }),
    );
}
