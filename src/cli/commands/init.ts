import type { Command } from "commander";
import path from "node:path";
import type { Wrap } from "../program.js";

export function registerInitCommand(program: Command, wrap: Wrap): void {
  program
    .command("init")
    .description("Create a starter sluice.yml in a folder (default: the project folder)")
    .argument("[dir]", "folder to create the project in")
    .action(
      wrap(async (context, dir: string | undefined) => {
        const { initProject } = await context.runtime();
        const target = path.resolve(context.projectDir, dir ?? ".");
        const result = initProject(target);
        context.output.result(
          `created ${path.relative(process.cwd(), result.projectFile) || result.projectFile}\nnext: set TAP_POSTGRES_PASSWORD, edit the file, then \`sluice test tap-postgres\` and \`sluice run tap-postgres target-duckdb\``,
        );
      }),
    );
}
