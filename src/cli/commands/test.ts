import type { Command } from "commander";
import { createExtractor, createLoader, resolvePlugin } from "../../runner/project-pipeline.js";
import type { Wrap } from "../program.js";

export function registerTestCommand(program: Command, wrap: Wrap): void {
  program
    .command("test")
    .description("Check that a plugin can connect, and say what is wrong if not")
    .argument("<plugin>", "plugin name")
    .action(
      wrap(async (context, name: string) => {
        const project = context.openProject();
        const plugin = resolvePlugin(project, name);
        if (plugin.type === "extractor") {
          const extractor = createExtractor(plugin);
          try {
            await extractor.test();
          } finally {
            await extractor.close();
          }
        } else {
          const loader = createLoader(project, plugin);
          try {
            await loader.test();
          } finally {
            await loader.close();
          }
        }
        // On a terminal stdout and stderr show together: say it once there, and log it for JSON readers.
        if (context.output.format === "json") context.output.info(`${name}: OK`);
        context.output.result(`${name}: OK`);
      }),
    );
}
