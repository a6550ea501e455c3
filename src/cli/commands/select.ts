import type { Command } from "commander";
import { listSelection } from "../../protocol/selection.js";
import { createExtractor } from "../../runner/compose-pipeline.js";
import { selectedCatalog } from "../../runner/plan-streams.js";
import { resolvePluginForRun } from "../../runner/project-context.js";
import type { Wrap } from "../program.js";

export function registerSelectCommand(program: Command, wrap: Wrap): void {
  program
    .command("select")
    .description("List which streams and columns the project's `select` rules pick")
    .argument("<extractor>", "extractor plugin name")
    .option("--all", "also list streams and columns that are not selected")
    .action(
      wrap(async (context, name: string, options: { all?: boolean }) => {
        const project = context.openProject();
        const plugin = await resolvePluginForRun(project, name, "extractor");
        const extractor = createExtractor(project, plugin);
        try {
          const { catalog, warnings } = await selectedCatalog(extractor, plugin);
          for (const warning of warnings) context.output.warn(warning);
          const lines: string[] = [];
          for (const stream of listSelection(catalog)) {
            if (!stream.selected && !options.all) continue;
            lines.push(`${stream.selected ? "[selected]" : "[excluded]"} ${stream.streamId}`);
            for (const p of stream.properties) {
              if (!p.selected && !options.all) continue;
              lines.push(
                `    ${p.selected ? "[selected]" : "[excluded]"} ${p.name}${p.inclusion === "automatic" ? " (automatic)" : ""}`,
              );
            }
          }
          context.output.result(lines.join("\n") || "no stream is selected");
        } finally {
          await extractor.close();
        }
      }),
    );
}
