import type { Command } from "commander";
import type { Wrap } from "../program.js";

export function registerDiscoverCommand(program: Command, wrap: Wrap): void {
  program
    .command("discover")
    .description("Print the extractor's Singer catalog (streams, columns, metadata) as JSON")
    .argument("<extractor>", "extractor plugin name")
    .action(
      wrap(async (context, name: string) => {
        const project = await context.openProject();
        const { createExtractor, resolvePluginForRun } = await context.runtime();
        const extractor = await createExtractor(
          project,
          await resolvePluginForRun(project, name, "extractor"),
        );
        try {
          // bigint's bounds written exactly.
          const { formatSchemaJson } = await import("../../protocol/catalog.js");
          context.output.result(formatSchemaJson(await extractor.discover(), 2));
        } finally {
          await extractor.close();
        }
      }),
    );
}
