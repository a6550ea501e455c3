import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { targetDuckdbSettings } from "../../../src/connectors/target-duckdb/duckdb-settings.js";
import { targetJsonlSettings } from "../../../src/connectors/target-jsonl/jsonl-settings.js";
import { tapPostgresSettings } from "../../../src/connectors/tap-postgres/postgres-settings.js";
import { ConfigError } from "../../../src/errors.js";
import type { PluginLookup } from "../../../src/project/plugin-config.js";

/** The built-in plugins as the registry will describe them, built from the settings lists. */
export const builtinLookup: PluginLookup = (name) => {
  switch (name) {
    case "tap-postgres":
      return { type: "extractor", settings: tapPostgresSettings };
    case "target-duckdb":
      return { type: "loader", settings: targetDuckdbSettings };
    case "target-jsonl":
      return { type: "loader", settings: targetJsonlSettings };
    default:
      return undefined;
  }
};

/** A fresh project folder holding the given files. */
export function projectDirWith(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "sluice-project-"));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return dir;
}

/** The problems of the ConfigError `run` throws; fails when it throws nothing or something else. */
export function problemsOf(run: () => unknown): readonly string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error("expected a ConfigError, but nothing was thrown");
}

/** The message of the ConfigError `run` throws. */
export function configErrorOf(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("expected a ConfigError, but nothing was thrown");
}
