import type { Command } from "commander";
import type { Wrap } from "../program.js";

export function registerTestCommand(program: Command, wrap: Wrap): void {
  program
    .command("test")
    .description("Check that a plugin can connect, and say what is wrong if not")
    .argument("<plugin>", "plugin name")
    .action(
      wrap(async (context, name: string) => {
        const project = await context.openProject();
        const { createExtractor, createLoader, planStreams, resolvePluginForRun } = await context.runtime();
        const plugin = await resolvePluginForRun(project, name);
        if (plugin.type === "extractor") {
          const extractor = await createExtractor(project, plugin);
          try {
            await extractor.test();
            // Then what the selected streams' replication methods need (LOG_BASED: wal_level,
            // REPLICATION, a free slot, keys), once the connection itself is known to work.
            const plans = await planStreams(extractor, plugin, [], (m) => context.output.warn(m));
            if (plans.some((p) => p.replicationMethod === "LOG_BASED")) await extractor.test(plans);
          } finally {
            await extractor.close();
          }
        } else {
          const loader = await createLoader(project, plugin);
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
