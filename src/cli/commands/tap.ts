import type { Command } from "commander";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import type { ExtractorDefinition, PluginConfig } from "../../connectors/connector.js";
import type { PluginIdentity } from "../../connectors/plugin-identity.js";
import { ConfigError } from "../../errors.js";
import type { Catalog } from "../../protocol/catalog.js";
import type { CliContext, Runtime } from "../cli-context.js";
import type { Wrap } from "../program.js";

export const TAP_CAPABILITIES = ["about", "catalog", "discover", "properties", "state"] as const;

export function registerTapCommand(program: Command, wrap: Wrap): void {
  addTapOptions(
    program
      .command("tap")
      .description(
        "Run a built-in extractor as a Singer tap: Singer messages on stdout (for Meltano and pipes)",
      )
      .argument("<extractor>", "built-in extractor, e.g. tap-postgres"),
  ).action(wrap(async (context, name: string, options: TapOptions) => tapAction(context, name, options)));
}

/** The Singer tap's options, for `sluice tap` and `sluice invoke <extractor>`. */
export function addTapOptions(command: Command): Command {
  return command
    .option("--config <file>", "JSON file of the extractor's settings")
    .option("--discover", "print the catalog and stop")
    .option("--catalog <file>", "catalog whose `selected` metadata chooses the streams")
    .option("--properties <file>", "the same, for tools that pass --properties")
    .option("--state <file>", "Singer state to continue from")
    .option(
      "--state-id <id>",
      "LOG_BASED: name a new state's replication slot after this pipeline (default: the slot the state recorded, else pipelinewise_<dbname>[_<tap_id>])",
    )
    .option("--about", "print the capabilities and settings as JSON")
    .option("--format <format>", "with --about: json (default) or markdown");
}

/** What the project gives `sluice invoke`: a plugin's resolved settings and who it is. */
export interface ProjectPluginSettings {
  config: PluginConfig;
  plugin: PluginIdentity;
}

/**
 * Runs a built-in extractor as a Singer tap: its settings from `--config`, or from the project
 * (`fromProject`, for `sluice invoke`).
 */
export async function tapAction(
  context: CliContext,
  name: string,
  options: TapOptions,
  fromProject?: ProjectPluginSettings,
): Promise<number> {
  const runtime = await context.runtime();
  const {
    aboutText,
    readSingerConfig,
    runSingerTap,
    secretValues,
    SingerWriter,
    spoolBase,
    spoolDirFor,
    sweepAbandonedSpoolDirs,
    toSingerState,
  } = runtime;
  const definition = builtinExtractor(runtime, name);
  if (options.about) {
    context.output.result(aboutText(definition, TAP_CAPABILITIES, options.format));
    return 0;
  }
  let extractor;
  if (fromProject) {
    // `sluice invoke`: the project's settings, resolved (secrets registered) as for a run.
    extractor = await definition.create(fromProject.config, { plugin: fromProject.plugin });
  } else {
    if (!options.config) throw new ConfigError("--config <file> is required");
    const config = readSingerConfig(definition, options.config, (message) => context.output.warn(message));
    context.redactor.addAll(secretValues(config, definition.settings));
    // Settings come from the --config file alone: no variable sets them.
    extractor = await definition.create(config, { plugin: { name, envPrefixes: [] } });
  }
  if (options.discover) {
    try {
      // bigint's bounds written exactly.
      const { formatSchemaJson } = await import("../../protocol/catalog.js");
      context.output.result(formatSchemaJson(await extractor.discover(), 2));
    } finally {
      await extractor.close();
    }
    return 0;
  }
  if (options.catalog && options.properties) {
    throw new ConfigError("give either --catalog or --properties, not both");
  }
  const catalogFile = options.catalog ?? options.properties;
  if (!catalogFile) {
    throw new ConfigError(
      "--catalog <file> (or --properties <file>) is required to extract; --discover prints one",
    );
  }
  const catalog = readJsonFile(runtime, catalogFile, "--catalog") as Catalog;
  if (!Array.isArray((catalog as { streams?: unknown }).streams)) {
    throw new ConfigError(`--catalog ${catalogFile}: a catalog needs a "streams" list`);
  }
  let state;
  if (options.state) {
    try {
      // Exactly: a bookmark beyond double precision must not move.
      state = toSingerState(readJsonFile(runtime, options.state, "--state", { keepDigits: true }));
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      throw new ConfigError(`--state ${options.state}: ${(error as Error).message}`, { cause: error });
    }
  }
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  const base = spoolBase();
  sweepAbandonedSpoolDirs(base);
  try {
    await runSingerTap({
      extractor,
      catalog,
      state,
      writer: new SingerWriter(process.stdout),
      spoolDir: spoolDirFor(base, randomUUID()),
      signal: controller.signal,
      ...(options.stateId !== undefined ? { stateId: options.stateId } : {}),
    });
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
  return 0;
}

export interface TapOptions {
  config?: string;
  discover?: boolean;
  catalog?: string;
  properties?: string;
  state?: string;
  stateId?: string;
  about?: boolean;
  format?: string;
}

function builtinExtractor({ builtinPlugins, findBuiltinPlugin }: Runtime, name: string): ExtractorDefinition {
  const definition = findBuiltinPlugin(name);
  if (definition?.type !== "extractor") {
    const names = builtinPlugins.filter((p) => p.type === "extractor").map((p) => p.name);
    throw new ConfigError(`"${name}" is not a built-in extractor (${names.join(", ")})`);
  }
  return definition;
}

function readJsonFile(
  { parseExactJson, toPlain }: Runtime,
  file: string,
  option: string,
  exact?: { keepDigits: boolean },
): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError(`${option} ${file}: cannot read the file (${(error as Error).message})`, {
      cause: error,
    });
  }
  try {
    return exact ? toPlain(parseExactJson(text), exact) : (JSON.parse(text) as unknown);
  } catch (error) {
    throw new ConfigError(`${option} ${file}: not valid JSON (${(error as Error).message})`, {
      cause: error,
    });
  }
}
