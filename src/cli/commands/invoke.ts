import { Command, CommanderError } from "commander";
import { ConfigError } from "../../errors.js";
import type { Wrap } from "../program.js";
import { addTapOptions, tapAction, type TapOptions } from "./tap.js";
import { addTargetOptions, targetAction, type TargetOptions } from "./target.js";

/**
 * `sluice invoke <plugin> [args...]`, as `meltano invoke`: the plugin run on its own with the
 * project's settings (environment, variables and secret references resolved as for a run). A
 * built-in extractor is its Singer tap (`--discover`, `--catalog <file>`, `--state <file>`,
 * `--about`), a built-in loader its Singer target (messages on stdin), in this process: its
 * settings never go through a file on disk. An external plugin's executable is started with a
 * `--config` file (private, removed when it ends) and the arguments as given, its stdin, stdout
 * and exit code passed through (`runner/invoke-external-plugin.ts`).
 */
export function registerInvokeCommand(program: Command, wrap: Wrap): void {
  program
    .command("invoke")
    .description(
      "Run a plugin on its own with the project's settings, as `meltano invoke`: a built-in extractor as a Singer tap (--discover, --catalog, --state), a built-in loader as a Singer target (stdin), an external plugin's executable with --config and the arguments given",
    )
    .argument("<plugin>", "plugin name in the project")
    .argument("[args...]", "the plugin's own arguments, e.g. --discover")
    .allowUnknownOption()
    .helpOption(false)
    .action(
      wrap(async (context, name: string, args: string[]) => {
        const project = await context.openProject();
        const { resolvePluginForRun, invokeExternalPlugin } = await context.runtime();
        const plugin = await resolvePluginForRun(project, name);
        if (!plugin.builtin) {
          if (args.some((arg) => arg === "--config" || arg.startsWith("--config="))) throw configGiven(name);
          return invokeExternalPlugin(project, plugin, args, {
            warn: (message) => context.output.warn(message),
          });
        }
        const fromProject = {
          config: plugin.config,
          plugin: { name: plugin.name, envPrefixes: plugin.envPrefixes },
        };
        if (plugin.type === "extractor") {
          const options = parseArguments<TapOptions>(
            addTapOptions(new Command(`invoke ${name}`)),
            args,
            name,
          );
          if (options.config !== undefined) throw configGiven(name);
          return tapAction(context, plugin.baseName, options, fromProject);
        }
        const options = parseArguments<TargetOptions>(
          addTargetOptions(new Command(`invoke ${name}`)),
          args,
          name,
        );
        if (options.config !== undefined) throw configGiven(name);
        return targetAction(context, plugin.baseName, options, {
          ...fromProject,
          projectDir: project.loaded.dir,
        });
      }),
    );
}

/** The plugin's own arguments, read by the Singer command's own options; a mistake names them. */
function parseArguments<T extends object>(command: Command, args: string[], name: string): T {
  command.exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  try {
    command.parse(args, { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) {
      throw new ConfigError(
        `sluice invoke ${name} ${args.join(" ")}: ${error.message.replace(/^error: /, "")}`,
      );
    }
    throw error;
  }
  return command.opts<T>();
}

function configGiven(name: string): ConfigError {
  return new ConfigError(
    `sluice invoke ${name}: --config is not for invoke, which takes the project's settings (\`sluice config ${name}\` shows them); to run with a file of your own, use \`sluice tap\`/\`sluice target\` (a built-in) or the plugin's executable itself`,
  );
}
