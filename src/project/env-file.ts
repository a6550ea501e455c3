import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parse } from "dotenv";
import { ConfigError } from "../errors.js";

/** Environment variables as Node gives them: some may be declared and undefined. */
export type EnvSource = Readonly<Record<string, string | undefined>>;

/**
 * The variables of the project's `.env` file, parsed with dotenv's rules. `process.env` is never
 * modified: the CLI may run several pipelines and a test several projects in one process.
 * A project without `.env` has none.
 */
export function readEnvFile(projectDir: string): Record<string, string> {
  const path = join(projectDir, ".env");
  if (!existsSync(path)) return {};
  try {
    return parse(readFileSync(path));
  } catch (error) {
    throw new ConfigError(`cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * The variables a project sees, later layers winning: the yml `env:` layers given (project,
 * environment, plugin, in that order), then `.env`, then the process environment, as Meltano
 * does. `SLUICE_PROJECT_ROOT` and `MELTANO_PROJECT_ROOT` are always the project folder.
 */
export function projectEnv(options: {
  projectDir: string;
  processEnv?: EnvSource;
  dotEnv?: Readonly<Record<string, string>>;
  fileLayers?: readonly Readonly<Record<string, string>>[];
}): Record<string, string> {
  const projectDir = resolve(options.projectDir);
  const merged: Record<string, string> = {};
  for (const layer of options.fileLayers ?? []) Object.assign(merged, layer);
  Object.assign(merged, options.dotEnv ?? readEnvFile(projectDir));
  for (const [name, value] of Object.entries(options.processEnv ?? process.env)) {
    if (value !== undefined) merged[name] = value;
  }
  merged.SLUICE_PROJECT_ROOT = projectDir;
  merged.MELTANO_PROJECT_ROOT = projectDir;
  return merged;
}
