import type { Command } from "commander";
import { addFormatOption, outputFormatOf, type FormatOptions } from "../output-format.js";
import type { Wrap } from "../program.js";

/** `sluice environment list`: the project's environments, which is the default and which is active. */
export function registerEnvironmentCommand(program: Command, wrap: Wrap): void {
  const environment = program
    .command("environment")
    .description("The project's environments (meltano environment)");
  addFormatOption(
    environment
      .command("list")
      .description("List the environments; the default and the active one are marked"),
  ).action(
    wrap(async (context, options: FormatOptions) => {
      const project = await context.openProject();
      const { projectEnv, selectEnvironment } = await context.runtime();
      const file = project.loaded.project;
      const active = selectEnvironment(
        file,
        context.options.environment,
        projectEnv({ projectDir: project.loaded.dir }),
      )?.name;
      const environments = file.environments.map((entry) => ({
        name: entry.name,
        default: entry.name === file.default_environment,
        active: entry.name === active,
      }));
      if (outputFormatOf(options, context.output) === "json") {
        context.output.result(JSON.stringify(environments, null, 2));
        return;
      }
      context.output.result(
        environments
          .map((e) => `${e.name}${e.default ? " (default)" : ""}${e.active ? " (active)" : ""}`)
          .join("\n") || "the project defines no environments",
      );
    }),
  );
}
