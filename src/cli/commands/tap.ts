import type { Command } from "commander";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import { aboutText, readSingerConfig } from "../../connectors/singer/singer-config.js";
import { runSingerTap } from "../../connectors/singer/singer-tap.js";
import { builtinPlugins, findBuiltinPlugin } from "../../connectors/registry.js";
import type { ExtractorDefinition } from "../../connectors/connector.js";
import { ConfigError } from "../../errors.js";
import type { Catalog } from "../../protocol/catalog.js";
import { parseExactJson, toPlain } from "../../protocol/exact-json.js";
import { SingerWriter } from "../../protocol/singer-writer.js";
import { toSingerState } from "../../protocol/state.js";
import { secretValues } from "../../project/redaction.js";
import { spoolBase, spoolDirFor, sweepAbandonedSpoolDirs } from "../../runner/spool-dir.js";
import type { Wrap } from "../program.js";

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
    .option("--about", "print the capabilities and settings as JSON")
    .option("--format <format>", "with --about: json (default) or markdown")
    .action(
      wrap(async (context, name: string, options: TapOptions) => {
        const definition = builtinExtractor(name);
        if (options.about) {
          context.output.result(aboutText(definition, TAP_CAPABILITIES, options.format));
          return 0;
        }
        if (!options.config) throw new ConfigError("--config <file> is required");
        const config = readSingerConfig(definition, options.config, (message) =>
          context.output.warn(message),
        );
        context.redactor.addAll(secretValues(config, definition.settings));
        const extractor = definition.create(config);
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
        const catalog = readJsonFile(catalogFile, "--catalog") as Catalog;
        if (!Array.isArray((catalog as { streams?: unknown }).streams)) {
          throw new ConfigError(`--catalog ${catalogFile}: a catalog needs a "streams" list`);
        }
        let state;
        if (options.state) {
          try {
            // Exactly: a bookmark beyond double precision must not move.
            state = toSingerState(readJsonFile(options.state, "--state", { keepDigits: true }));
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
  about?: boolean;
  format?: string;
}

function builtinExtractor(name: string): ExtractorDefinition {
  const definition = findBuiltinPlugin(name);
  if (definition?.type !== "extractor") {
    const names = builtinPlugins.filter((p) => p.type === "extractor").map((p) => p.name);
    throw new ConfigError(`"${name}" is not a built-in extractor (${names.join(", ")})`);
  }
  return definition;
}

export function readJsonFile(file: string, option: string, exact?: { keepDigits: boolean }): unknown {
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
