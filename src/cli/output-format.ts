import { Option, type Command } from "commander";
import type { Output } from "./output.js";

export type OutputFormat = "text" | "json";

/** What a command with `addFormatOption` gets among its options. */
export interface FormatOptions {
  format?: OutputFormat;
  json?: boolean;
}

/**
 * `--format text|json` on a command that prints a result, spelled as Meltano spells it; `--json`
 * (sluice's first spelling) is kept as a hidden, deprecated alias so scripts keep working.
 */
export function addFormatOption(command: Command): Command {
  return command
    .addOption(new Option("--format <format>", "how to print the result").choices(["text", "json"]))
    .addOption(new Option("--json", "deprecated: use --format json").hideHelp());
}

/** The format a command's options ask for; a warning when the deprecated `--json` is used. */
export function outputFormatOf(options: FormatOptions, output: Output): OutputFormat {
  if (options.json) {
    output.warn("--json is deprecated: use --format json");
    return "json";
  }
  return options.format ?? "text";
}
