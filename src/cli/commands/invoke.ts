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
 * settings never go through a file on disk.
 */
export function registerInvokeCommand(program: Command, wrap: Wrap): void {
  program
    .command("invoke")
    .description(
      "Run a plugin on its own with the project's settings, as `meltano invoke`: an extractor as a Singer tap (--discover, --catalog, --state), a loader as a Singer target (stdin)",
    )
    .argument("<plugin>", "plugin name in the project")
    .argument("[args...]", "the plugin's own arguments, e.g. --discover")
    .allowUnknownOption()
    .helpOption(false)
    .action(
      wrap(async (context, name: string, args: string[]) => {
        const project = await context.openProject();
        const { resolvePluginForRun } = await context.runtime();
        const plugin = await resolvePluginForRun(project, name);
        if (!plugin.builtin) {
          throw new ConfigError(
            `sluice invoke ${name}: ${name} is an external Singer plugin; sluice invoke runs built-in plugins (run an external one through \`sluice run\`, or its executable under .sluice/plugins/ with a config file of your own)`,
          );
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
    `sluice invoke ${name}: --config is not for invoke, which takes the project's settings (\`sluice config ${name}\` shows them); use \`sluice tap\`/\`sluice target\` to run with a file of your own`,
  );
}
