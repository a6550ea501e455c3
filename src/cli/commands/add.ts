import type { Command } from "commander";
import { basename } from "node:path";
import { ConfigError } from "../../errors.js";
import { suggestionSuffix } from "../../project/did-you-mean.js";
import type { PluginType } from "../../project/project-file.js";
import type { Wrap } from "../program.js";

const TYPES: Record<string, PluginType> = {
  extractor: "extractor",
  extractors: "extractor",
  loader: "loader",
  loaders: "loader",
};

interface AddOptions {
  variant?: string;
  pipUrl?: string;
  inheritFrom?: string;
  as?: string;
}

/**
 * `sluice add <type> <name>`: a plugin entry in the project file, as `meltano add` writes it
 * (comments and order of the file kept). A built-in name needs nothing else; any other name is
 * an external Singer plugin installed from `pip_url` by `sluice install`. Meltano Hub cannot be
 * asked here, so an external plugin's `pip_url` defaults to its name: the PyPI name of most taps.
 */
export function registerAddCommand(program: Command, wrap: Wrap): void {
  program
    .command("add")
    .description("Add an extractor or loader to the project file, as `meltano add` does")
    .argument("<type>", "extractor or loader")
    .argument("<name>", "plugin name, e.g. tap-postgres, target-bigquery or tap-github")
    .option("--variant <variant>", "the variant (e.g. transferwise, meltanolabs, adswerve)")
    .option("--pip-url <url>", "an external plugin's pip install argument (default: its name)")
    .option(
      "--inherit-from <plugin>",
      "a plugin of the project (or a built-in) this one inherits settings from",
    )
    .option("--as <name>", "add <name> under another name, inheriting from it (meltano add --as)")
    .action(
      wrap(async (context, typeText: string, name: string, options: AddOptions) => {
        const type = TYPES[typeText];
        if (!type) {
          const hint =
            typeText === "mapper" || typeText === "mappers"
              ? "mappers are not supported yet: run a mapper as an external Singer target, or transform in the warehouse"
              : `use extractor or loader${suggestionSuffix(typeText, Object.keys(TYPES))}`;
          throw new ConfigError(`sluice add ${typeText}: unknown plugin type "${typeText}"; ${hint}`);
        }
        const { findBuiltinPlugin, findProjectFile, ProjectFileEditor } = await context.runtime();
        const path = findProjectFile(context.projectDir);
        const inheritFrom = options.as !== undefined ? name : options.inheritFrom;
        const entryName = options.as ?? name;
        const base = findBuiltinPlugin(inheritFrom ?? name);
        if (base && base.type !== type) {
          throw new ConfigError(
            `${inheritFrom ?? name} is a built-in ${base.type}, not ${type === "extractor" ? "an" : "a"} ${type}: sluice add ${base.type} ${name}`,
          );
        }
        const external = !base && inheritFrom === undefined;
        const entry: Record<string, unknown> = {
          name: entryName,
          ...(inheritFrom !== undefined ? { inherit_from: inheritFrom } : {}),
          ...(options.variant !== undefined ? { variant: options.variant } : {}),
          ...(external || options.pipUrl !== undefined ? { pip_url: options.pipUrl ?? name } : {}),
          ...(external ? { namespace: name.replace(/-/g, "_") } : {}),
        };
        const editor = ProjectFileEditor.open(path);
        editor.addPlugin(type, entry);
        editor.save();
        const next = base
          ? `it is built in: set its settings with \`sluice config ${entryName} set <setting> <value>\`, then \`sluice test ${entryName}\``
          : external
            ? `it runs as an external Singer plugin: \`sluice install\` puts ${String(entry.pip_url)} into a virtualenv of its own (check that pip_url is right first)`
            : `it inherits from ${inheritFrom}`;
        context.output.result(`added ${type} ${entryName} to ${basename(path)}; ${next}`);
      }),
    );
}
