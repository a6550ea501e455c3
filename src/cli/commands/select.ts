import type { Command } from "commander";
import { basename } from "node:path";
import { ConfigError } from "../../errors.js";
import type { CliContext } from "../cli-context.js";
import { addFormatOption, outputFormatOf, type FormatOptions } from "../output-format.js";
import type { Wrap } from "../program.js";

interface SelectOptions extends FormatOptions {
  all?: boolean;
  list?: boolean;
  exclude?: boolean;
}

/**
 * `sluice select <extractor> <entity> [<attribute>] [--exclude]` adds a rule to the extractor's
 * `select` in the project file, as `meltano select` does; `sluice select <extractor> [--list]`
 * lists what the rules pick (connecting to discover the streams).
 */
export function registerSelectCommand(program: Command, wrap: Wrap): void {
  const command = program
    .command("select")
    .description(
      "Add a select rule to the project file (`select <extractor> <entity> <attribute> [--exclude]`), or list what the rules pick",
    )
    .argument("<extractor>", "extractor plugin name")
    .argument("[entity]", "stream pattern, e.g. public-events or 'public-*'")
    .argument("[attribute]", "column pattern (default *)")
    .option("--exclude", "add the rule as an exclusion (!entity.attribute)")
    .option("--list", "list the streams and columns the rules pick (the default without an entity)")
    .option("--all", "with --list: also the streams and columns that are not selected");
  addFormatOption(command).action(
    wrap(
      async (
        context,
        name: string,
        entity: string | undefined,
        attribute: string | undefined,
        options: SelectOptions,
      ) => {
        if (entity === undefined || options.list) {
          await listSelected(context, name, options);
          return;
        }
        const project = await context.openProject();
        const { findBuiltinPlugin, pluginShape, ProjectFileEditor } = await context.runtime();
        const shape = pluginShape(project.loaded.project, name, findBuiltinPlugin);
        if (shape.found.type !== "extractor") {
          throw new ConfigError(`${name} is a loader; select rules belong to an extractor`);
        }
        const rule = `${options.exclude ? "!" : ""}${entity}.${attribute ?? "*"}`;
        const environment = context.options.environment;
        const editor = ProjectFileEditor.open(project.loaded.path);
        const added = editor.addSelectRule(
          { type: shape.found.type, name, ...(environment !== undefined ? { environment } : {}) },
          rule,
        );
        if (added) editor.save();
        context.output.result(
          added
            ? `added select rule ${rule} to ${name} in ${basename(project.loaded.path)}${environment !== undefined ? ` (environment ${environment})` : ""}; \`sluice select ${name} --list\` shows what it picks`
            : `${name} already has select rule ${rule}; nothing changed`,
        );
      },
    ),
  );
}

async function listSelected(context: CliContext, name: string, options: SelectOptions): Promise<void> {
  const project = await context.openProject();
  const { createExtractor, listSelection, resolvePluginForRun, selectedCatalog } = await context.runtime();
  const plugin = await resolvePluginForRun(project, name, "extractor");
  const extractor = await createExtractor(project, plugin);
  try {
    const { catalog, warnings } = await selectedCatalog(extractor, plugin);
    for (const warning of warnings) context.output.warn(warning);
    const streams = listSelection(catalog).filter((stream) => stream.selected || options.all);
    if (outputFormatOf(options, context.output) === "json") {
      context.output.result(
        JSON.stringify(
          streams.map((stream) => ({
            ...stream,
            properties: stream.properties.filter((p) => p.selected || options.all),
          })),
          null,
          2,
        ),
      );
      return;
    }
    const lines: string[] = [];
    for (const stream of streams) {
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
}
