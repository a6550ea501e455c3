import type { Command } from "commander";
import { redactConfig } from "../../project/redaction.js";
import { resolvePlugin } from "../../runner/project-context.js";
import type { Wrap } from "../program.js";

export function registerConfigCommand(program: Command, wrap: Wrap): void {
  program
    .command("config")
    .description("Print a plugin's resolved settings (secrets redacted) and where each came from")
    .argument("<plugin>", "plugin name")
    .action(
      wrap(async (context, name: string) => {
        const plugin = resolvePlugin(context.openProject(), name);
        const shown = {
          name: plugin.name,
          type: plugin.type,
          builtin: plugin.builtin,
          environment: plugin.environment ?? null,
          // A secret reference is shown as written: it says where the value is, never the value.
          config: {
            ...redactConfig(plugin.config, plugin.definitionSettings),
            ...Object.fromEntries(Object.entries(plugin.references).map(([key, ref]) => [key, ref.text])),
          },
          sources: plugin.sources,
          ...(plugin.type === "extractor"
            ? { select: plugin.select, metadata: plugin.metadata, schema: plugin.schema }
            : {}),
        };
        context.output.result(JSON.stringify(shown, null, 2));
      }),
    );
}
