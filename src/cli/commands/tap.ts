import type { Command } from "commander";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import type { ExtractorDefinition } from "../../connectors/connector.js";
import { ConfigError } from "../../errors.js";
import type { Catalog } from "../../protocol/catalog.js";
import type { CliContext } from "../cli-context.js";
import type { Wrap } from "../program.js";

type Runtime = Awaited<ReturnType<CliContext["runtime"]>>;

export const TAP_CAPABILITIES = ["about", "catalog", "discover", "properties", "state"] as const;

export function registerTapCommand(program: Command, wrap: Wrap): void {
  program
    .command("tap")
    .description(
      "Run a built-in extractor as a Singer tap: Singer messages on stdout (for Meltano and pipes)",
    )
    .argument("<extractor>", "built-in extractor, e.g. tap-postgres")
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
    .option("--format <format>", "with --about: json (default) or markdown")
    .action(
      wrap(async (context, name: string, options: TapOptions) => {
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
        if (!options.config) throw new ConfigError("--config <file> is required");
        const config = readSingerConfig(definition, options.config, (message) =>
          context.output.warn(message),
        );
        context.redactor.addAll(secretValues(config, definition.settings));
        // Settings come from the --config file alone: no variable sets them.
        const extractor = await definition.create(config, { plugin: { name, envPrefixes: [] } });
        if (options.discover) {
          try {
            context.output.result(JSON.stringify(await extractor.discover(), null, 2));
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
      }),
    );
}

interface TapOptions {
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
