import type { Command } from "commander";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import type { LoaderDefinition } from "../../connectors/connector.js";
import { ConfigError } from "../../errors.js";
import type { CliContext, Runtime } from "../cli-context.js";
import type { ProjectPluginSettings } from "./tap.js";
import type { Wrap } from "../program.js";

export const TARGET_CAPABILITIES = ["about", "activate-version"] as const;

export function registerTargetCommand(program: Command, wrap: Wrap): void {
  addTargetOptions(
    program
      .command("target")
      .description(
        "Run a built-in loader as a Singer target: Singer messages on stdin, each state on stdout once the data before it is durable",
      )
      .argument("<loader>", "built-in loader, e.g. target-duckdb"),
  ).action(
    wrap(async (context, name: string, options: TargetOptions) => targetAction(context, name, options)),
  );
}

/** The Singer target's options, for `sluice target` and `sluice invoke <loader>`. */
export function addTargetOptions(command: Command): Command {
  return command
    .option("--config <file>", "JSON file of the loader's settings (relative paths: from the current folder)")
    .option("--about", "print the capabilities and settings as JSON")
    .option("--format <format>", "with --about: json (default) or markdown")
    .option("--batch-size-rows <n>", "rows per batch handed to the loader", toPositiveInteger, 100_000)
    .option("--batch-size-mb <n>", "MB per batch handed to the loader", toPositiveInteger, 16);
}

/**
 * Runs a built-in loader as a Singer target: its settings from `--config`, or from the project
 * (`fromProject`, for `sluice invoke`; relative paths from the project folder).
 */
export async function targetAction(
  context: CliContext,
  name: string,
  options: TargetOptions,
  fromProject?: ProjectPluginSettings & { projectDir: string },
): Promise<number | void> {
  const runtime = await context.runtime();
  const {
    aboutText,
    readSingerConfig,
    readSingerMessages,
    runSingerTarget,
    secretValues,
    SingerWriter,
    spoolBase,
    spoolDirFor,
    sweepAbandonedSpoolDirs,
  } = runtime;
  const definition = builtinLoader(runtime, name);
  if (options.about) {
    context.output.result(aboutText(definition, TARGET_CAPABILITIES, options.format));
    return 0;
  }
  let loader;
  if (fromProject) {
    // `sluice invoke`: the project's settings, resolved (secrets registered) as for a run.
    loader = await definition.create(fromProject.config, {
      projectDir: fromProject.projectDir,
      plugin: fromProject.plugin,
      warn: (message) => context.output.warn(message),
    });
  } else {
    if (!options.config) throw new ConfigError("--config <file> is required");
    const config = readSingerConfig(definition, options.config, (message) => context.output.warn(message));
    context.redactor.addAll(secretValues(config, definition.settings));
    // Settings come from the --config file alone: no variable sets them.
    loader = await definition.create(config, {
      projectDir: process.cwd(),
      plugin: { name, envPrefixes: [] },
      warn: (message) => context.output.warn(message),
    });
  }
  const base = spoolBase();
  sweepAbandonedSpoolDirs(base);
  const spoolDir = spoolDirFor(base, randomUUID());
  fs.mkdirSync(spoolDir, { recursive: true });
  const out = new SingerWriter(process.stdout);
  try {
    await loader.test();
    await runSingerTarget(
      readSingerMessages(process.stdin, {
        pluginName: `${name} (stdin)`,
        warn: (message) => context.output.warn(message),
      }),
      {
        loader,
        inputName: `${name} (stdin)`,
        spoolDir,
        emitState: async (json) => {
          await out.line(json);
          await out.flush();
        },
        warn: (message) => context.output.warn(message),
        maxBatchRows: options.batchSizeRows,
        maxBatchBytes: options.batchSizeMb * 1024 * 1024,
      },
    );
  } finally {
    await loader.close().catch(() => undefined);
    fs.rmSync(spoolDir, { recursive: true, force: true });
  }
  return 0;
}

export interface TargetOptions {
  config?: string;
  about?: boolean;
  format?: string;
  batchSizeRows: number;
  batchSizeMb: number;
}

function toPositiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new ConfigError(`expected a positive integer, got "${value}"`);
  return n;
}

function builtinLoader({ builtinPlugins, findBuiltinPlugin }: Runtime, name: string): LoaderDefinition {
  const definition = findBuiltinPlugin(name);
  if (definition?.type !== "loader") {
    const names = builtinPlugins.filter((p) => p.type === "loader").map((p) => p.name);
    throw new ConfigError(`"${name}" is not a built-in loader (${names.join(", ")})`);
  }
  return definition;
}
